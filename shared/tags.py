"""Editors stay in charge of tags: their additions and removals live on the story (so they
carry over to every later version) and are merged over the automatic tags, which a re-run
of the taggers may replace but never the editor's choices."""

from __future__ import annotations

import copy
from typing import Any

#: Tag type -> the list it lives in, in a version's tags.
LISTS = {"place": "places", "person": "people", "organisation": "organisations", "subject": "subjects",
         "keyword": "keywords"}


def tag_key(tag: dict) -> tuple[str, str]:
    """What makes two tags the same tag: a subject by URI, anything else by name."""
    if tag["type"] == "subject":
        return ("subject", tag["uri"])
    return (tag["type"], tag["name"].strip().casefold())


def effective_tags(auto: dict[str, Any] | None, manual: dict[str, Any] | None) -> dict[str, Any]:
    """The automatic tags with the editor's removals taken out and additions put in."""
    tags = copy.deepcopy(auto or {})
    manual = manual or {}
    removed = {tag_key(t) for t in manual.get("remove", [])}
    added = manual.get("add", [])
    added_keys = {tag_key(t) for t in added}
    for tag_type, list_name in LISTS.items():
        kept = [
            {**t, "source": t.get("source", "auto")}
            for t in tags.get(list_name, [])
            if tag_key({**t, "type": tag_type}) not in removed | added_keys
        ]
        kept += [{**t, "source": "editor", "confidence": 1.0} for t in added if t["type"] == tag_type]
        tags[list_name] = kept
    return tags
