"""Taggers: pure functions from story text to tags. The enrichment worker and the
``bench.tagging`` benchmark both call ``tag_text``, so what is measured is what runs.

Every tag has a ``type``, a ``name``, a ``code`` and/or ``uri`` where one exists, and a
``confidence`` in 0..1. A tagger that raises, or overruns its time budget, is recorded
under ``failures`` and the others' tags still stand: enrichment never blocks the wire.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from services.enrichment.taggers.budget import BudgetExceeded, within_budget
from services.enrichment.taggers.datelines import Dateline, find_dateline, subdivisions, towns
from services.enrichment.taggers.entities import Entity, canonical_names, find_entities, subdivision_gazetteer
from services.enrichment.taggers.keywords import keywords
from services.enrichment.taggers.language import counts, detect_language
from services.enrichment.taggers.ner import MODEL, MODEL_VERSION, model
from services.enrichment.taggers.ner import read_ahead as read_ahead_texts
from services.enrichment.taggers.places import find_places, gazetteer, place_for_name
from services.enrichment.taggers.story_places import find_story_places, geonames_uri
from services.enrichment.taggers.subjects import classifiers, classifiers_version, find_subjects, vocabulary
from services.enrichment.taggers.world_regions import regions as world_regions

log = logging.getLogger(__name__)

TAGGER_VERSION = f"newswire-3 ({MODEL} {MODEL_VERSION} + rules; subject classifiers {classifiers_version()})"


def warm_up() -> None:
    """Load the model, gazetteers and vocabulary once per worker process, not once per story."""
    model()
    gazetteer()
    subdivisions()
    towns()
    world_regions()
    subdivision_gazetteer()
    vocabulary()
    classifiers()
    detect_language("warm up the language profiles")


def _entity_tags(entities: list[Entity], names: dict[int, str]) -> list[dict]:
    out = []
    for i, e in enumerate(entities):
        tag = {
            "type": e.type,
            "text": e.text,
            "name": names[i],
            "start": e.start,
            "end": e.end,
            "confidence": round(e.confidence, 2),
            "source": e.source,
        }
        if e.place is not None and e.type in ("LOC", "MISC"):
            tag["code"] = e.place.country_code
        out.append(tag)
    return out


def _located(dateline: Dateline | None, located: str | None) -> dict | None:
    """Where the story was filed from: the editor's ``located``, else the text's dateline."""
    if located:
        entry, source, name = place_for_name(located), "editor", located
        code = entry.country_code if entry else None
    elif dateline is not None:
        entry, source, name, code = dateline.place, "dateline", dateline.city, dateline.country_code
    else:
        return None
    result = {"name": entry.name if entry else name.title() if name.isupper() else name, "source": source}
    if code:
        result["code"] = code
    if entry is not None:
        result.update(geonames_id=entry.geonames_id, uri=geonames_uri(entry.geonames_id))
    return result


def _named(entities: list[Entity], names: dict[int, str], entity_type: str, tag_type: str) -> list[dict]:
    grouped: dict[str, dict[str, Any]] = {}
    for i, e in enumerate(entities):
        if e.type != entity_type:
            continue
        tag = grouped.setdefault(names[i], {"type": tag_type, "name": names[i], "mentions": 0, "confidence": 0.0})
        tag["mentions"] += 1
        tag["confidence"] = round(min(0.99, max(tag["confidence"], e.confidence) + 0.02 * (tag["mentions"] - 1)), 2)
    return sorted(grouped.values(), key=lambda t: (-t["mentions"], t["name"]))


def tag_text(
    text: str, *, located: str | None = None, language: str | None = None, budget_seconds: float | None = None
) -> dict:
    """All tags for one text. Each tagger runs on its own, within ``budget_seconds`` if given."""
    tags: dict[str, Any] = {"tagger_version": TAGGER_VERSION, "failures": [], "timings_ms": {}}

    def run(name: str, fn, *args, default=None, **kwargs):
        started = time.perf_counter()
        try:
            return within_budget(budget_seconds, fn, *args, **kwargs)
        except BudgetExceeded:
            tags["failures"].append({"tagger": name, "error": f"over its {budget_seconds:g} s budget"})
        except Exception as exc:  # a tagger bug must not stop the story
            log.exception("tagger %s failed", name)
            tags["failures"].append({"tagger": name, "error": f"{exc.__class__.__name__}: {exc}"})
        finally:
            tags["timings_ms"][name] = round((time.perf_counter() - started) * 1000, 2)
        return default

    entities = run("entities", find_entities, text, default=None)
    if entities is None:  # fall back to the gazetteer alone: places still get their codes
        entities = run("places", _gazetteer_entities, text, default=[])
    names = canonical_names(entities)
    tags["entities"] = _entity_tags(entities, names)
    dateline = run("dateline", find_dateline, text)
    tags["located"] = _located(dateline, located)
    tags["places"] = run("places", find_story_places, text, entities, dateline, located, default=[])
    tags["people"] = _named(entities, names, "PER", "person")
    tags["organisations"] = _named(entities, names, "ORG", "organisation")
    tags["subjects"] = run("subjects", find_subjects, text, default=[])
    tags["keywords"] = [{"type": "keyword", **k} for k in run("keywords", keywords, text, default=[])]
    if language:
        tags["language"] = {"code": language, "confidence": 1.0, "source": "editor"}
    else:
        detected = run("language", detect_language, text, default={"code": None, "confidence": 0.0})
        tags["language"] = {**detected, "source": "detected"}
    return tags


def _gazetteer_entities(text: str) -> list[Entity]:
    return [
        Entity("MISC" if m.entry.via_demonym else "LOC", m.text, m.start, m.end, 0.6, "gazetteer", m.entry)
        for m in find_places(text)
    ]


def tag_story(
    *,
    headline: str,
    body: str,
    located: str | None = None,
    language: str | None = None,
    budget_seconds: float | None = None,
) -> dict:
    tags = tag_text(story_text(headline, body), located=located, language=language, budget_seconds=budget_seconds)
    tags["counts"] = counts(body)
    return tags


def story_text(headline: str, body: str) -> str:
    """The text the taggers read: the headline as the first line, then the body."""
    return f"{headline}\n\n{body}"


def read_ahead(stories: list[tuple[str, str]], budget_seconds: float | None = None) -> None:
    """Let the model read several stories' (headline, body) in one batch before ``tag_story``
    tags each (faster, the same tags). Within the time budget of one story: past it, or if the
    batch fails, each story is read on its own as ever."""
    try:
        within_budget(budget_seconds, read_ahead_texts, [story_text(*story) for story in stories])
    except BudgetExceeded:
        log.warning("reading %d stories ahead overran the tagging budget; each is read on its own", len(stories))
    except Exception:
        log.exception("reading %d stories ahead failed; each is read on its own", len(stories))


__all__ = ["TAGGER_VERSION", "read_ahead", "story_text", "tag_story", "tag_text", "warm_up"]
