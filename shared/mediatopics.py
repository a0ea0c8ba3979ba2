"""The IPTC Media Topics vocabulary (en-GB, 2025-10-09 release, CC BY 4.0): topics by URI and
qcode with their broader topics, for the subject tagger, editors' tag edits and filters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

VOCABULARY = Path(__file__).parent / "data" / "iptc-mediatopics-en-GB.json"
URI_PREFIX = "http://cv.iptc.org/newscodes/mediatopic/"


@dataclass(frozen=True)
class Topic:
    qcode: str
    uri: str
    name: str
    broader: tuple[str, ...]  # qcodes, nearest first


def qcode_of(uri: str) -> str:
    return "medtop:" + uri.rstrip("/").rsplit("/", 1)[-1]


@lru_cache(maxsize=1)
def topics() -> dict[str, Topic]:
    """Every current (not retired) topic by qcode."""
    raw = json.loads(VOCABULARY.read_text())
    concepts = {c["uri"]: c for c in raw["conceptSet"] if not c.get("retired")}
    parent = {uri: (c.get("broader") or [None])[0] for uri, c in concepts.items()}

    def ancestors(uri: str) -> tuple[str, ...]:
        chain, up = [], parent.get(uri)
        while up and up in concepts and qcode_of(up) not in chain:
            chain.append(qcode_of(up))
            up = parent.get(up)
        return tuple(chain)

    return {
        qcode_of(uri): Topic(qcode_of(uri), uri, c["prefLabel"]["en-GB"], ancestors(uri)) for uri, c in concepts.items()
    }


def find(reference: str) -> Topic | None:
    """A topic by URI, qcode ("medtop:20000639") or bare code ("20000639")."""
    reference = reference.strip()
    if reference.startswith(URI_PREFIX):
        reference = qcode_of(reference)
    elif not reference.startswith("medtop:"):
        reference = "medtop:" + reference
    return topics().get(reference)
