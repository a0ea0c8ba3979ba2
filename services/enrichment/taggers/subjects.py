"""IPTC Media Topics, by a method an editor can check: each topic has cue phrases — its
own label, plus the cues in ``data/subject_cues.json`` — and a story scores a topic by the
cues it contains (headline hits count three times, each cue at most five times, phrases of
several words weigh more). Half of a topic's score flows to its broader topic. The best
topics above a threshold are kept; each says which cues matched and lists its broader
topics, so a subscriber filter on a topic can match its descendants.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared import mediatopics
from shared.mediatopics import Topic

DATA = Path(__file__).parent / "data"
CUES = DATA / "subject_cues.json"
HEADLINE_WEIGHT = 3
MAX_HITS_PER_CUE = 5
BROADER_SHARE = 0.5
THRESHOLD = 3.0
MAX_SUBJECTS = 6


@dataclass
class Vocabulary:
    topics: dict[str, Topic]
    cues: dict[str, list[tuple[str, float]]]  # cue -> [(qcode, weight)]
    pattern: re.Pattern  # every cue, longest first, in one alternation


def _label_cues(label: str) -> list[str]:
    label = re.sub(r"\(.*?\)", "", label).strip().lower()
    return [part.strip() for part in re.split(r",| and ", label) if len(part.strip()) > 3]


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    topics = mediatopics.topics()
    by_label = {topic.name.lower(): qcode for qcode, topic in topics.items()}
    cues: dict[str, dict[str, float]] = defaultdict(dict)

    def add(cue: str, qcode: str, curated: bool) -> None:
        cue = " ".join(cue.lower().split())
        words = len(cue.split())
        # A one-word label ("game", "women") is weak evidence; curated cues and phrases weigh more.
        weight = (1.0 if curated else 0.5) + 0.5 * (words - 1)
        cues[cue][qcode] = max(weight, cues[cue].get(qcode, 0.0))

    for qcode, topic in topics.items():
        for cue in _label_cues(topic.name):
            add(cue, qcode, curated=False)
    for label, listed in json.loads(CUES.read_text()).items():
        if label.startswith("_"):
            continue
        qcode = by_label.get(label.lower())
        if qcode is None:
            raise ValueError(f"subject_cues.json names {label!r}, which is not an IPTC Media Topic label")
        for cue in listed:
            add(cue, qcode, curated=True)
    alternation = "|".join(
        r"\s+".join(re.escape(w) for w in cue.split()) for cue in sorted(cues, key=len, reverse=True)
    )
    # a final word may take a plural "s"/"es"
    pattern = re.compile(rf"\b({alternation})(?:e?s)?\b")
    return Vocabulary(topics, {c: list(q.items()) for c, q in cues.items()}, pattern)


def find_subjects(text: str) -> list[dict]:
    """Topics for a story; the first line of ``text`` is taken as the headline."""
    vocab = vocabulary()
    headline, _, body = text.partition("\n")
    headline, body = headline.lower(), body.lower()
    scores: dict[str, float] = defaultdict(float)
    matched: dict[str, list[str]] = defaultdict(list)
    hits: dict[str, int] = defaultdict(int)
    for part, weight in ((headline, HEADLINE_WEIGHT), (body, 1)):
        for found in vocab.pattern.findall(part):
            hits[" ".join(found.split())] += weight
    for cue, count in hits.items():
        for qcode, weight in vocab.cues.get(cue, []):
            scores[qcode] += weight * min(MAX_HITS_PER_CUE, count)
            matched[qcode].append(cue)
    direct = dict(scores)
    for qcode, score in direct.items():
        share = score
        for ancestor in vocab.topics[qcode].broader:
            share *= BROADER_SHARE
            scores[ancestor] += share
    # A topic needs cues of its own, except a top-level one ("sport"), which sums its children.
    eligible = (q for q, s in scores.items() if s >= THRESHOLD and (q in direct or not vocab.topics[q].broader))
    chosen = sorted(eligible, key=lambda q: -scores[q])[:MAX_SUBJECTS]
    if not chosen:
        return []
    top = scores[chosen[0]]
    subjects = []
    for qcode in chosen:
        topic = vocab.topics[qcode]
        evidence = matched.get(qcode, [])
        subjects.append(
            {
                "type": "subject",
                "name": topic.name,
                "uri": topic.uri,
                "qcode": qcode,
                "relevance": round(100 * scores[qcode] / top),
                "confidence": round(min(0.95, 0.3 + 0.15 * len(evidence) + 0.05 * math.log1p(scores[qcode])), 2),
                "matched": evidence or ["(through its narrower topics)"],
                "broader": list(topic.broader),
            }
        )
    return subjects
