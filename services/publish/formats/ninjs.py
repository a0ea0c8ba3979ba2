"""IPTC ninjs 3.1 rendering, validated against the official schema on every render.

Places carry their ISO 3166-1 alpha-2 country code in ``literal`` (a city carries its
country's code) and their GeoNames URI in ``uri``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from shared.models import story_uri
from shared.timeutil import isoformat

SCHEMA_DIR = Path(__file__).parent / "schema"


@dataclass
class StoryDocument:
    """What the renderer needs of a story version (decoupled from the table class)."""

    story_id: str
    version: int
    headline: str
    body_text: str | None
    body_html: str | None
    byline: str | None
    located: str | None
    slugline: str | None
    language: str | None
    urgency: int
    pubstatus: str
    embargoed_until: datetime | None
    first_created: datetime
    version_created: datetime
    tags: dict[str, Any]


class InvalidNinjs(ValueError):
    pass


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    ninjs = json.loads((SCHEMA_DIR / "ninjs-schema_3.1.json").read_text())
    geojson = json.loads((SCHEMA_DIR / "GeoJSON-schema.json").read_text())
    registry = Registry().with_resource(geojson["$id"], Resource.from_contents(geojson))
    return Draft202012Validator(ninjs, registry=registry)


def validate(item: dict) -> None:
    errors = sorted(validator().iter_errors(item), key=lambda e: list(e.path))
    if errors:
        raise InvalidNinjs("; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors))


def _places(tags: dict) -> list[dict]:
    out = []
    for place in tags.get("places", []):
        item = {"name": place["name"], "rel": place.get("rel", "mentioned")}
        if place.get("code"):
            item["literal"] = place["code"]
        if place.get("uri"):
            item["uri"] = place["uri"]
        out.append(item)
    return out


def _subjects(tags: dict) -> list[dict]:
    subjects = []
    for subject in tags.get("subjects", []):
        creator = "newswire-editor" if subject.get("source") == "editor" else "newswire-enrichment"
        item = {"name": subject["name"], "uri": subject["uri"], "rel": "about", "creator": creator}
        if "relevance" in subject:
            item["relevance"] = int(subject["relevance"])
        if "confidence" in subject:
            item["confidence"] = int(round(subject["confidence"] * 100))
        subjects.append(item)
    for keyword in tags.get("keywords", []):
        subjects.append(
            {"name": keyword["name"], "literal": keyword["name"], "rel": "keyword",
             "confidence": int(round(keyword.get("confidence", 0) * 100))}
        )
    return subjects


def render(doc: StoryDocument) -> dict:
    tags = doc.tags or {}
    counts = tags.get("counts", {})
    body: dict[str, Any]
    if doc.body_html:
        body = {"role": "main", "contentType": "text/html", "value": doc.body_html}
    else:
        body = {"role": "main", "contentType": "text/plain", "value": doc.body_text or ""}
    if counts:
        body["wordCount"] = counts["words"]
        body["charCount"] = counts["characters"]
    item: dict[str, Any] = {
        "uri": story_uri(doc.story_id),
        "type": "text",
        "profile": "text-only",
        "version": str(doc.version),
        "firstCreated": isoformat(doc.first_created),
        "versionCreated": isoformat(doc.version_created),
        "pubStatus": doc.pubstatus,
        "urgency": doc.urgency,
        "headlines": [{"role": "main", "value": doc.headline}],
        "bodies": [body],
        "altIds": [{"role": "newswire-story-id", "value": doc.story_id}],
    }
    language = doc.language or (tags.get("language") or {}).get("code")
    optional = {
        "language": language,
        "by": doc.byline,
        "located": doc.located or (tags.get("located") or {}).get("name"),
        "slugline": doc.slugline,
        "embargoedUntil": isoformat(doc.embargoed_until),
        "people": [{"name": p["name"], "rel": "mentioned"} for p in tags.get("people", [])],
        "organisations": [{"name": o["name"], "rel": "mentioned"} for o in tags.get("organisations", [])],
        "places": _places(tags),
        "subjects": _subjects(tags),
    }
    item.update({k: v for k, v in optional.items() if v})
    validate(item)
    return item
