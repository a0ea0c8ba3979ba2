"""IPTC Media Topics for a story, from three kinds of evidence, each measured on newswire it
was not trained on (docs/benchmarks.md):

1. **the branch of general news** — world, sport, business, science and technology — from a
   naive Bayes classifier (``branches.npz``);
2. **economic topics** — earnings, mergers, foreign exchange, commodities, oil and gas, trade,
   interest rates, … — from one logistic regression per topic (``economy.npz``);
3. **cue phrases for the whole vocabulary** — every topic's own label plus the cues in
   ``data/subject_cues.json`` (headline hits count three times, each cue at most five times,
   phrases weigh more) — so any of the 1,200 topics can be found, most specific first.

A topic's rank is its evidence weighted by how likely its branch is: a specific topic the
cues support inside the likely branch comes first, then the branch itself; in a business
story the economic classifier's best topic is always kept, and a broad topic's cues count for
less than a narrow one's. The constants were set on the training part only, by simulating
the tagger with out-of-fold classifier outputs. Both classifiers
are rebuilt by ``python -m tools.train_subjects``; each subject says what gave it
(``matched``) and lists its broader topics, so a filter on a topic finds its narrower ones.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from services.enrichment.taggers.textmodel import LinearTextModel
from shared import mediatopics
from shared.mediatopics import Topic

DATA = Path(__file__).parent / "data"
CUES = DATA / "subject_cues.json"
HEADLINE_WEIGHT = 3
MAX_HITS_PER_CUE = 5
CUE_THRESHOLD = 3.0
MAX_SUBJECTS = 6
#: a topic below this rank (0..1) is left out
MIN_RANK = 0.2
#: an economic topic the classifier gives at least this probability is kept
MIN_ECONOMY = 0.25
#: an economic topic's branch weight at least this: that classifier knows business stories better than the branch one
ECONOMY_FLOOR = 0.5
#: in a story at least this likely to be business, the economic classifier's best topic is kept whatever its probability
BEST_ECONOMY_WHEN = 0.6
#: a cue topic's strength by its depth in the vocabulary: top level, second level, deeper
DEPTH_FACTOR = (0.6, 0.8, 1.0)
#: the branch's own topic ranks below a specific one the evidence supports
BRANCH_RANK = 0.6
#: the classifier's branches of general news -> the top-level Media Topics each covers, the default first
BRANCHES = {
    "world": (
        "medtop:11000000",  # politics
        "medtop:16000000",  # conflict, war and peace
        "medtop:02000000",  # crime, law and justice
        "medtop:03000000",  # disaster, accident and emergency incident
        "medtop:14000000",  # society
        "medtop:12000000",  # religion
    ),
    "sports": ("medtop:15000000",),
    "business": ("medtop:04000000",),
    "scitech": ("medtop:13000000",),
}
#: weight of a topic whose top-level branch none of the classifier's branches covers (arts, health, weather, …)
OTHER_BRANCH_WEIGHT = 0.5


@dataclass
class Vocabulary:
    topics: dict[str, Topic]
    cues: dict[str, list[tuple[str, float]]]  # cue -> [(qcode, weight)]
    pattern: re.Pattern  # every cue, in one trie of alternatives (``cue_trie``)


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
    # a final word may take a plural "s"/"es"
    pattern = re.compile(rf"\b({cue_trie(cues)})(?:e?s)?\b")
    return Vocabulary(topics, {c: list(q.items()) for c, q in cues.items()}, pattern)


def cue_trie(cues: Iterable[str]) -> str:
    """A regular expression matching any of the cues (lower-case words, one space apart; any run of
    white space between words in the text), written as a trie: the regex engine follows a text's
    characters down one branch instead of trying ~1,400 alternatives at every word, and where one
    cue goes on from another it tries the longer first — what the flat alternation of the cues,
    longest first, matches, ~38 times faster on the development texts."""
    trie: dict = {}
    for cue in cues:
        node = trie
        for char in cue:
            node = node.setdefault(char, {})
        node[""] = {}  # a cue ends here
    return _trie_pattern(trie)


def _trie_pattern(node: dict) -> str:
    branches = [
        (r"\s+" if char == " " else re.escape(char)) + _trie_pattern(child)
        for char, child in sorted(node.items())
        if char
    ]
    if "" not in node:
        return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{'|'.join(branches)})?" if branches else ""


def classifiers_version() -> str:
    """A short digest of the classifiers' weights: stored tags say which ones made them."""
    digest = hashlib.sha256()
    for name in ("branches.npz", "economy.npz"):
        digest.update((DATA / name).read_bytes())
    return digest.hexdigest()[:10]


@dataclass(frozen=True)
class Classifiers:
    branches: LinearTextModel
    economy: LinearTextModel


@lru_cache(maxsize=1)
def classifiers() -> Classifiers:
    return Classifiers(LinearTextModel.load(DATA / "branches.npz"), LinearTextModel.load(DATA / "economy.npz"))


@dataclass
class Candidate:
    qcode: str
    rank: float  # 0..1: what orders a story's subjects
    confidence: float
    matched: list[str] = field(default_factory=list)


def cue_scores(text: str) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Each topic's score from the cues found (the first line is the headline), and the cues."""
    vocab = vocabulary()
    headline, _, body = text.partition("\n")
    hits: dict[str, int] = defaultdict(int)
    for part, weight in ((headline.lower(), HEADLINE_WEIGHT), (body.lower(), 1)):
        for found in vocab.pattern.findall(part):
            hits[" ".join(found.split())] += weight
    scores: dict[str, float] = defaultdict(float)
    matched: dict[str, list[str]] = defaultdict(list)
    for cue, count in hits.items():
        for qcode, weight in vocab.cues.get(cue, []):
            scores[qcode] += weight * min(MAX_HITS_PER_CUE, count)
            matched[qcode].append(cue)
    return dict(scores), dict(matched)


def top_level(qcode: str) -> str:
    broader = vocabulary().topics[qcode].broader
    return broader[-1] if broader else qcode


def branch_weight(qcode: str, branches: dict[str, float]) -> float:
    """How likely the branch a topic belongs to is, by the branch classifier."""
    root = top_level(qcode)
    for branch, roots in BRANCHES.items():
        if root in roots:
            return branches[branch]
    return OTHER_BRANCH_WEIGHT * (1 - max(branches.values()))


def economy_candidates(economy: dict[str, float], branches: dict[str, float]) -> list[Candidate]:
    """Economic topics the classifier is fairly sure of; in a business story, its best guess too."""
    weight = max(branches["business"], ECONOMY_FLOOR)
    best = max(economy, key=economy.__getitem__)
    business_story = branches["business"] >= BEST_ECONOMY_WHEN
    return [
        Candidate(qcode, weight * (0.4 + 0.6 * p), p, ["(classifier)"])
        for qcode, p in economy.items()
        if p >= MIN_ECONOMY or (business_story and qcode == best)
    ]


def cue_candidates(text: str, branches: dict[str, float]) -> list[Candidate]:
    scores, matched = cue_scores(text)
    out = []
    for qcode, score in scores.items():
        if score < CUE_THRESHOLD:
            continue
        strength = score / (score + CUE_THRESHOLD)  # 0.5 at the threshold, towards 1 with more evidence
        # a broad topic's cues ("profit", "economic") say less than a narrow one's
        strength *= DEPTH_FACTOR[min(2, len(vocabulary().topics[qcode].broader))]
        confidence = min(0.95, 0.3 + 0.15 * len(matched[qcode]) + 0.05 * math.log1p(score))
        out.append(
            Candidate(qcode, branch_weight(qcode, branches) * (0.4 + 0.6 * strength), confidence, matched[qcode])
        )
    return out


def branch_candidates(branches: dict[str, float], found: list[Candidate]) -> list[Candidate]:
    """The likely branches themselves: for a world story, the top-level topic the cues favour."""
    out = []
    for branch, p in branches.items():
        roots = BRANCHES[branch]
        favoured = max(roots, key=lambda root: sum(c.rank for c in found if top_level(c.qcode) == root))
        out.append(Candidate(favoured, BRANCH_RANK * p, p, ["(classifier)"]))
    return out


def find_subjects(text: str) -> list[dict]:
    """A story's topics, most relevant first; the first line of ``text`` is the headline."""
    economy = classifiers().economy.probabilities(text)
    branches = classifiers().branches.probabilities(text)
    found = economy_candidates(economy, branches) + cue_candidates(text, branches)
    best: dict[str, Candidate] = {}
    for c in found + branch_candidates(branches, found):
        if c.rank >= MIN_RANK and (c.qcode not in best or c.rank > best[c.qcode].rank):
            best[c.qcode] = c
    chosen = sorted(specific_first(best).values(), key=lambda c: -c.rank)[:MAX_SUBJECTS]
    return [_subject(c) for c in chosen]


def specific_first(found: dict[str, Candidate]) -> dict[str, Candidate]:
    """A topic ranks just below any narrower topic found: the most specific evidence leads."""
    topics = vocabulary().topics
    for c in sorted(found.values(), key=lambda c: -c.rank):
        for ancestor in topics[c.qcode].broader:
            if ancestor in found and found[ancestor].rank >= c.rank:
                found[ancestor].rank = c.rank - 0.01
    return found


def _subject(c: Candidate) -> dict:
    topic: Topic = vocabulary().topics[c.qcode]
    return {
        "type": "subject",
        "name": topic.name,
        "uri": topic.uri,
        "qcode": c.qcode,
        "relevance": round(100 * c.rank),
        "confidence": round(c.confidence, 2),
        "matched": c.matched,
        "broader": list(topic.broader),
    }
