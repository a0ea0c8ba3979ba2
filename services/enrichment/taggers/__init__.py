"""Taggers: pure functions from story text to tags. The enrichment worker and the
``bench.tagging`` benchmark both call ``tag_story``, so what is measured is what runs.

Every tag has a ``type``, a ``name``, a ``code`` and/or ``uri`` where one exists, and a
``confidence`` in 0..1. A tagger that raises is recorded under ``failures`` and the
others' tags still stand: enrichment never blocks the wire.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from services.enrichment.taggers.entities import find_organisations, find_people
from services.enrichment.taggers.keywords import keywords
from services.enrichment.taggers.language import counts, detect_language
from services.enrichment.taggers.places import find_places, gazetteer, place_for_name

log = logging.getLogger(__name__)

TAGGER_VERSION = "rules-1"


def geonames_uri(geonames_id: int | None) -> str | None:
    return f"https://sws.geonames.org/{geonames_id}/" if geonames_id else None


def warm_up() -> None:
    """Load what the taggers need once per worker process, not once per story."""
    gazetteer()
    detect_language("warm up the language profiles")


def _places(text: str, located: str | None, skip: list[tuple[int, int]]) -> list[dict]:
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for mention in find_places(text):
        if any(a <= mention.start < b for a, b in skip):
            continue
        entry = mention.entry
        key = (entry.kind, entry.name)
        tag = grouped.setdefault(
            key,
            {
                "type": "place",
                "name": entry.name,
                "kind": entry.kind,
                "code": entry.country_code,
                "geonames_id": entry.geonames_id,
                "uri": geonames_uri(entry.geonames_id),
                "rel": "subject" if entry.via_demonym else "mentioned",
                "mentions": 0,
                "confidence": 0.0,
            },
        )
        tag["mentions"] += 1
        if not entry.via_demonym:
            tag["rel"] = "mentioned"
            tag["direct_mentions"] = tag.get("direct_mentions", 0) + 1
        direct = tag.get("direct_mentions", 0)
        tag["confidence"] = round(min(0.99, 0.6 + 0.1 * direct), 2) if direct else 0.5
    if located:
        entry = place_for_name(located)
        if entry is not None:
            key = (entry.kind, entry.name)
            tag = grouped.setdefault(
                key,
                {"type": "place", "name": entry.name, "kind": entry.kind, "code": entry.country_code,
                 "geonames_id": entry.geonames_id, "uri": geonames_uri(entry.geonames_id), "mentions": 0},
            )
            tag["rel"] = "dateline"
            tag["confidence"] = 0.95
    return sorted(grouped.values(), key=lambda t: (-t["mentions"], t["name"]))


def _merge_people(mentions) -> list[dict]:
    people: dict[str, dict[str, Any]] = {}
    full_names = sorted({m.text for m in mentions}, key=len, reverse=True)
    for mention in mentions:
        canonical = next((n for n in full_names if n != mention.text and n.split()[-1] == mention.text), mention.text)
        tag = people.setdefault(canonical, {"type": "person", "name": canonical, "mentions": 0, "confidence": 0.0})
        tag["mentions"] += 1
        tag["confidence"] = round(max(tag["confidence"], mention.confidence) + 0.02 * (tag["mentions"] - 1), 2)
        tag["confidence"] = min(tag["confidence"], 0.95)
    return sorted(people.values(), key=lambda t: (-t["mentions"], t["name"]))


def _organisations(mentions) -> list[dict]:
    orgs: dict[str, dict[str, Any]] = {}
    for mention in mentions:
        tag = orgs.setdefault(mention.text, {"type": "organisation", "name": mention.text, "mentions": 0,
                                             "confidence": mention.confidence})
        tag["mentions"] += 1
    return sorted(orgs.values(), key=lambda t: (-t["mentions"], t["name"]))


def tag_story(*, headline: str, body: str, located: str | None = None, language: str | None = None) -> dict:
    """All tags for one story. Each tagger runs on its own; one failing leaves the others."""
    text = f"{headline}\n\n{body}"
    tags: dict[str, Any] = {"tagger_version": TAGGER_VERSION, "failures": [], "timings_ms": {}}
    results: dict[str, Any] = defaultdict(list)

    def run(name: str, fn, *args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # a tagger bug must not stop the story
            log.exception("tagger %s failed", name)
            tags["failures"].append({"tagger": name, "error": f"{exc.__class__.__name__}: {exc}"})
            return None
        finally:
            tags["timings_ms"][name] = round((time.perf_counter() - started) * 1000, 2)

    org_mentions = run("organisations", find_organisations, text) or []
    org_spans = [(m.start, m.end) for m in org_mentions]
    results["organisations"] = _organisations(org_mentions)
    results["places"] = run("places", _places, text, located, org_spans) or []
    place_spans = [(m.start, m.end) for m in find_places(text)]
    people = run("people", find_people, text, org_spans + place_spans) or []
    results["people"] = _merge_people(people)
    results["keywords"] = [{"type": "keyword", **k} for k in (run("keywords", keywords, text) or [])]
    if language:
        results["language"] = {"code": language, "confidence": 1.0, "source": "editor"}
    else:
        detected = run("language", detect_language, text) or {"code": None, "confidence": 0.0}
        results["language"] = {**detected, "source": "detected"}
    results["counts"] = counts(body)
    results["subjects"] = []
    tags.update(results)
    return tags


__all__ = ["TAGGER_VERSION", "tag_story", "warm_up"]
