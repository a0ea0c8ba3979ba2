"""IPTC ninjs 3.1 rendering, validated against the official schema on every render.

The check is ``jsonschema-rs`` (the same JSON Schema 2020-12 rules, compiled): about 7 µs an
item against about 1 ms for the pure-Python ``jsonschema``, which was an eighth of the publish
worker's CPU on a short story (``python -m bench.ninjs_validation`` measures both and compares
their verdicts; the tests still check renders with the pure-Python one).

The renderer takes a version's ``StoryContent`` (the fields an editor files, declared once in
``shared.models``) and an ``Envelope`` (identity, status, tags, editorial note), and builds the
typed ``shared.ninjs.NinjsItem``.

Places carry their ISO 3166-1 alpha-2 country code in ``literal`` (a city carries its
country's code) and their GeoNames URI in ``uri``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import jsonschema_rs
from pydantic import ValidationError

from shared.models import StoryContent, story_uri
from shared.ninjs import NinjsBody, NinjsEntity, NinjsItem, NinjsPlace, NinjsSubject, NinjsText
from shared.tags import StoryTags
from shared.timeutil import isoformat

SCHEMA_DIR = Path(__file__).parent / "schema"


@dataclass(frozen=True)
class Envelope:
    """What the renderer needs of a version besides its content."""

    story_id: str
    version: int
    pubstatus: str
    first_created: datetime
    version_created: datetime
    tags: StoryTags
    ed_note: str | None = None


class InvalidNinjs(ValueError):
    pass


def schemas() -> tuple[dict, dict]:
    """The ninjs 3.1 schema and the GeoJSON schema it refers to, as the project ships them."""
    ninjs = json.loads((SCHEMA_DIR / "ninjs-schema_3.1.json").read_text())
    geojson = json.loads((SCHEMA_DIR / "GeoJSON-schema.json").read_text())
    return ninjs, geojson


@lru_cache(maxsize=1)
def validator() -> jsonschema_rs.Draft202012Validator:
    """Compiled once per process; it never fetches anything (the GeoJSON schema is given)."""
    ninjs, geojson = schemas()
    registry = jsonschema_rs.Registry([(geojson["$id"], geojson)])
    return jsonschema_rs.Draft202012Validator(ninjs, registry=registry, offline=True)


def validate(item: dict) -> None:
    errors = sorted(validator().iter_errors(item), key=lambda e: list(e.instance_path))
    if errors:
        raise InvalidNinjs("; ".join(f"{'/'.join(map(str, e.instance_path)) or '<root>'}: {e.message}" for e in errors))


def places(tags: StoryTags) -> list[NinjsPlace]:
    """One entry per place; the ISO code (``literal``) once per country, on the country's own
    entry where there is one: a city or region keeps its name and GeoNames URI."""
    ordered = sorted(tags.places, key=lambda p: p.kind not in ("country", None))
    coded: set[str] = set()
    out = []
    for p in ordered:
        literal = p.code if p.code and p.code not in coded else None
        coded.add(p.code or "")
        out.append(NinjsPlace(name=p.name, rel=p.rel, literal=literal, uri=p.uri))
    return out


def _confidence(value: float) -> int:
    return int(round(value * 100))


def _subjects(tags: StoryTags) -> list[NinjsSubject]:
    subjects = [
        NinjsSubject(
            name=s.name,
            uri=s.uri,
            rel="about",
            creator="newswire-editor" if s.source == "editor" else "newswire-enrichment",
            relevance=s.relevance,
            confidence=_confidence(s.confidence),
        )
        for s in tags.subjects
    ]
    subjects += [
        NinjsSubject(name=k.name, literal=k.name, rel="keyword", confidence=_confidence(k.confidence))
        for k in tags.keywords
    ]
    return subjects


def _body(content: StoryContent, tags: StoryTags) -> NinjsBody:
    if content.body_html:
        body = NinjsBody(contentType="text/html", value=content.body_html)
    else:
        body = NinjsBody(contentType="text/plain", value=content.body_text or "")
    if tags.counts:
        body.wordCount, body.charCount = tags.counts.words, tags.counts.characters
    return body


def _item(content: StoryContent, envelope: Envelope) -> NinjsItem:
    tags = envelope.tags
    return NinjsItem(
        uri=story_uri(envelope.story_id),
        version=str(envelope.version),
        firstCreated=isoformat(envelope.first_created),
        versionCreated=isoformat(envelope.version_created),
        pubStatus=envelope.pubstatus,
        urgency=content.urgency,
        headlines=[NinjsText(role="main", value=content.headline)],
        bodies=[_body(content, tags)],
        altIds=[NinjsText(role="newswire-story-id", value=envelope.story_id)],
        language=content.language or (tags.language.code if tags.language else None),
        by=content.byline,
        located=content.located or (tags.located.name if tags.located else None),
        slugline=content.slugline,
        embargoedUntil=isoformat(content.embargoed_until),
        edNote=envelope.ed_note,
        people=[NinjsEntity(name=p.name) for p in tags.people],
        organisations=[NinjsEntity(name=o.name) for o in tags.organisations],
        places=places(tags),
        subjects=_subjects(tags),
    )


def render(content: StoryContent, envelope: Envelope) -> dict:
    """The version as a ninjs item (a JSON object), checked against the IPTC schema."""
    try:
        item = _item(content, envelope).wire()
    except ValidationError as exc:
        raise InvalidNinjs(str(exc)) from None
    validate(item)
    return item
