"""World regions (the UN geoscheme's sub-regions, from the ``countryinfo`` package) and the
countries in them, under the names news uses: "Central Asia", "East Asia", "Southeast Asia",
"Latin America", "the Caribbean", "North Africa", and their adjectives ("Central Asian")."""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache

import countryinfo

_COMPASS = {"Eastern": "East", "Western": "West", "Northern": "North", "Southern": "South"}


def _names(subregion: str) -> set[str]:
    """ "South-eastern Asia" -> "South-eastern Asia", "Southeast Asia", "South-East Asia", "South East Asia"."""
    names = set()
    for part in subregion.split(" and the "):
        part = part.strip()
        names.add(part)
        first, _, rest = part.partition(" ")
        if first in _COMPASS and rest:
            names.add(f"{_COMPASS[first]} {rest}")
        if first.lower() == "south-eastern":
            names.update({f"Southeast {rest}", f"South-East {rest}", f"South East {rest}"})
    return names


@lru_cache(maxsize=1)
def regions() -> dict[str, frozenset[str]]:
    """Region name -> ISO codes of its countries."""
    members: dict[str, set[str]] = defaultdict(set)
    for country in countryinfo.all_countries():
        try:
            subregion, code = country.subregion(), country.iso(2)
        except (KeyError, AttributeError, ValueError):  # a territory without the field
            continue
        if subregion and code:
            for name in _names(subregion):
                members[name].add(code)
    return {name: frozenset(codes) for name, codes in members.items()}


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern:
    alternation = "|".join(re.escape(n) for n in sorted(regions(), key=len, reverse=True))
    return re.compile(rf"\b({alternation})n?\b", re.IGNORECASE)


def countries_of_regions_in(text: str) -> set[str]:
    """The countries of every region ``text`` names."""
    by_lower = {name.lower(): codes for name, codes in regions().items()}
    found: set[str] = set()
    for m in _pattern().finditer(text):
        found |= by_lower[m.group(1).lower()]
    return found
