"""Media Topics: the classifiers and cues together, on stories written for these tests."""

import re

import numpy as np
import pytest

from services.enrichment.taggers import subjects, textmodel
from services.enrichment.taggers.subjects import Candidate, find_subjects, specific_first
from shared import mediatopics

EARNINGS = """ACME WIDGETS INC 4TH QTR NET PROFIT RISES
Acme Widgets Inc said fourth-quarter net profit rose to 12.4 mln dlrs, or 1.10 dlrs a share, from
9.8 mln dlrs, or 87 cts a share, a year earlier. Revenues rose to 210 mln dlrs from 185 mln.
For the full year the company earned 41 mln dlrs on sales of 790 mln dlrs."""

FOOTBALL = """Late goal sends United into the cup final
A header four minutes from time gave United a 2-1 win over City on Saturday and a place in the cup
final. The visitors had led at half-time through their striker, but the home side's manager said his
players never stopped believing. The final will be played at the national stadium next month."""

TAKEOVER = """Bolt Tools agrees to buy rival Nutcorp for 300 mln dlrs
Bolt Tools Corp said it agreed to acquire Nutcorp Inc in a cash tender offer valued at about 300 mln
dlrs, or 24 dlrs a share. The boards of both companies approved the merger, which is subject to
regulatory approval and to Nutcorp shareholders tendering a majority of the shares."""


def first(text: str) -> dict:
    return find_subjects(text)[0]


def test_earnings_report_leads_with_corporate_earnings():
    assert first(EARNINGS)["qcode"] == "medtop:20000178"


def test_takeover_leads_with_merger_or_acquisition():
    assert first(TAKEOVER)["qcode"] == "medtop:20000204"


def test_football_report_is_sport_first():
    best = first(FOOTBALL)
    assert "medtop:15000000" in (best["qcode"], *best["broader"])


def test_seed_story_leads_with_diplomacy(seed_story):
    subjects = find_subjects(f"{seed_story['headline']}\n\n{seed_story['body_text']}")
    assert subjects[0]["name"] in {"diplomacy", "international relations"}
    assert "medtop:11000000" in subjects[0]["broader"]


def test_subjects_are_ranked_and_carry_their_broader_chain():
    subjects = find_subjects(EARNINGS)
    relevance = [s["relevance"] for s in subjects]
    assert relevance == sorted(relevance, reverse=True) and len(subjects) <= 6
    topics = mediatopics.topics()
    for s in subjects:
        assert list(topics[s["qcode"]].broader) == s["broader"] and 0 < s["confidence"] <= 1


def test_a_broader_topic_never_outranks_a_narrower_one_found():
    found = {
        "medtop:04000000": Candidate("medtop:04000000", 0.9, 0.9),  # economy, business and finance
        "medtop:20000178": Candidate("medtop:20000178", 0.7, 0.7),  # corporate earnings, under it
    }
    ranked = specific_first(found)
    assert ranked["medtop:04000000"].rank < ranked["medtop:20000178"].rank


def test_text_with_no_evidence_gets_few_or_no_subjects():
    assert len(find_subjects("x\ny")) <= 1


def test_terms_are_words_and_pairs_without_numbers():
    assert textmodel.terms("Oil rose 3.5 pct") == ["oil", "rose", "pct", "oil rose", "rose pct"]


def test_linear_model_round_trip(tmp_path):
    path = tmp_path / "m.npz"
    textmodel.save(
        path,
        classes=["a", "b"],
        terms_list=["oil", "goal"],
        idf=[1.0, 1.0],
        weights=[[2.0, -2.0], [-2.0, 2.0]],
        bias=[0.0, 0.0],
        link="softmax",
        temperature=1.0,
    )
    model = textmodel.LinearTextModel.load(path)
    p = model.probabilities("oil oil oil")
    assert p["a"] > 0.9 and sum(p.values()) == pytest.approx(1.0)
    assert model.probabilities("nothing known") == pytest.approx({"a": 0.5, "b": 0.5})
    columns, values = model.vector("oil goal")
    assert np.linalg.norm(values) == pytest.approx(1.0) and sorted(columns) == [0, 1]


def _flat(cues):
    """The plain alternation of the cues, longest first: what the trie must match."""
    alternation = "|".join(
        r"\s+".join(re.escape(w) for w in cue.split()) for cue in sorted(cues, key=len, reverse=True)
    )
    return re.compile(rf"\b({alternation})(?:e?s)?\b")


def test_the_cue_trie_matches_what_the_plain_alternation_matches():
    cues = ["tax", "tax cut", "tax cuts for", "taxation", "taxi", "oil", "oil price", "oil prices", "b.c.", "price"]
    trie = re.compile(rf"\b({subjects.cue_trie(cues)})(?:e?s)?\b")
    texts = [
        "tax cuts for all: taxes, taxation and a taxi; tax  cut\nfor oil.",
        "oil   prices rose; the oil price fell; oilprices; oil pricey; b.c. prices",
        "taxcut taxed taxis taxies oiles oils tax\tcuts for",
    ]
    for text in texts:
        assert trie.findall(text) == _flat(cues).findall(text)
    assert trie.findall(texts[0]) == ["tax cuts for", "tax", "taxation", "taxi", "tax  cut", "oil"]


def test_the_vocabulary_pattern_finds_the_longest_cue():
    found = subjects.vocabulary().pattern.findall("the central bank raised interest rates")
    assert [" ".join(f.split()) for f in found] == _flat(subjects.vocabulary().cues).findall(
        "the central bank raised interest rates"
    )
