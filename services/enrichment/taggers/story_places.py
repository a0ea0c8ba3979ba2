"""The places a story names, one entry per country, each marked as what the story is about
(``rel: subject``) or only ``mentioned``, so that a place filter can choose.

A country is a subject when the story is filed from it (the dateline, or the editor's
``located``), when the headline names it (or a city, region or people of it, or a world region
it is in, and the story names it: "Central Asia" and Kyrgyzstan), or when the
body keeps coming back to it: named in the lead and again later (or the only country named),
or named at least ``REPEATED`` times and at least half as often as the most-named country.
Cities and regions keep entries of their own (with their GeoNames identifiers); they count
towards their country and never repeat its code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from services.enrichment.taggers.datelines import Dateline
from services.enrichment.taggers.entities import Entity
from services.enrichment.taggers.places import PlaceEntry, gazetteer, place_for_name
from services.enrichment.taggers.world_regions import countries_of_regions_in

#: the lead: the first characters of the body
LEAD_CHARS = 250
#: a country named this often in the body is a subject ...
REPEATED = 2
#: ... when it is named at least this share as often as the most-named country
SHARE_OF_MOST = 0.5


def geonames_uri(geonames_id: int | None) -> str | None:
    return f"https://sws.geonames.org/{geonames_id}/" if geonames_id else None


@dataclass
class CountryEvidence:
    code: str
    mentions: int = 0  # names of the country, its cities and regions, its people ("Uzbek")
    in_headline: bool = False
    in_lead: bool = False
    filed_from: bool = False
    confidence: float = 0.0
    first: int = 1 << 30

    def is_subject(self, most: int, alone: bool) -> bool:
        if self.filed_from or self.in_headline:
            return True
        if self.in_lead and (self.mentions >= REPEATED or alone):
            return True
        return self.mentions >= REPEATED and self.mentions >= SHARE_OF_MOST * most


@dataclass
class StoryPlaces:
    headline_end: int
    body_start: int
    countries: dict[str, CountryEvidence] = field(default_factory=dict)
    others: dict[str, dict[str, Any]] = field(default_factory=dict)  # cities and regions by name

    def evidence(self, code: str) -> CountryEvidence:
        return self.countries.setdefault(code, CountryEvidence(code))

    def mention(self, entry: PlaceEntry, start: int, confidence: float) -> None:
        found = self.evidence(entry.country_code)
        found.mentions += 1
        found.first = min(found.first, start)
        found.in_headline |= start < self.headline_end
        found.in_lead |= self.body_start <= start < self.body_start + LEAD_CHARS
        found.confidence = max(found.confidence, confidence)
        if entry.kind != "country":
            self.other(entry, "mentioned", confidence)["mentions"] += 1

    def filed(self, entry: PlaceEntry | None, country_code: str | None) -> None:
        if country_code:
            found = self.evidence(country_code)
            found.filed_from = True
            found.confidence = max(found.confidence, 0.95)
        if entry is not None and entry.kind != "country":
            self.other(entry, "dateline", 0.95)["rel"] = "dateline"

    def other(self, entry: PlaceEntry, rel: str, confidence: float) -> dict[str, Any]:
        tag = self.others.setdefault(entry.name, _tag(entry, rel))
        tag["confidence"] = round(max(tag["confidence"], confidence), 2)
        return tag


def _tag(entry: PlaceEntry, rel: str) -> dict[str, Any]:
    return {
        "type": "place",
        "name": entry.name,
        "kind": entry.kind,
        "code": entry.country_code,
        "geonames_id": entry.geonames_id,
        "uri": geonames_uri(entry.geonames_id),
        "rel": rel,
        "mentions": 0,
        "confidence": 0.0,
    }


def find_story_places(text: str, entities: list[Entity], dateline: Dateline | None, located: str | None) -> list[dict]:
    """Every country the story names (subject or mentioned), then its cities and regions."""
    headline_end = text.find("\n") if "\n" in text else len(text)
    body_start = len(text) - len(text[headline_end:].lstrip())
    found = StoryPlaces(headline_end, body_start)
    for e in entities:
        if e.place is not None and e.type in ("LOC", "MISC") and (e.type == "LOC" or e.place.via_demonym):
            found.mention(e.place, e.start, e.confidence if e.type == "LOC" else 0.5)
    for code in countries_of_regions_in(text[:headline_end]):
        if code in found.countries:
            found.countries[code].in_headline = True
    if dateline is not None:
        found.filed(dateline.place, dateline.country_code)
    if located:
        entry = place_for_name(located)
        if entry is not None:
            found.filed(entry, entry.country_code)
    return _country_tags(found) + sorted(found.others.values(), key=lambda t: (-t["mentions"], t["name"]))


def _country_tags(found: StoryPlaces) -> list[dict]:
    most = max((c.mentions for c in found.countries.values()), default=0)
    tags = []
    for evidence in sorted(found.countries.values(), key=lambda c: (-c.filed_from, -c.mentions, c.first)):
        entry = _country(evidence.code)
        tag = _tag(entry, "subject" if evidence.is_subject(most, len(found.countries) == 1) else "mentioned")
        tag["mentions"] = evidence.mentions
        tag["confidence"] = round(min(0.99, evidence.confidence + 0.03 * max(0, evidence.mentions - 1)), 2)
        tags.append(tag)
    return tags


def _country(code: str) -> PlaceEntry:
    return _countries().get(code) or PlaceEntry(code, "country", code, None)


@lru_cache(maxsize=1)
def _countries() -> dict[str, PlaceEntry]:
    countries: dict[str, PlaceEntry] = {}
    for entry in gazetteer().names.values():
        if entry.kind == "country" and not entry.via_demonym:
            countries.setdefault(entry.country_code, entry)
    return countries
