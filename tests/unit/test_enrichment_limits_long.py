"""Long stories: the model reads them in pieces (so its memory is that of one piece), the pieces'
readings join into one with the whole story's offsets, and the end of a story the model does not
read is still tagged by the rules and gazetteers (``ner`` says why the model stops)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from services.enrichment.taggers import ner, tag_story, warm_up
from services.enrichment.taggers.entities import find_entities
from shared.config import Settings

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "seeds" / "stories" / "us-returns-to-central-asia.json"
#: names that appear nowhere in the seed story
LAST_PARAGRAPH = "In Ulaanbaatar, Gulnara Tokhtarova of the Steppe Heritage Foundation welcomed the visit."


def long_body(chars: int) -> str:
    """The seed story's paragraphs repeated to about ``chars`` characters, then LAST_PARAGRAPH."""
    paragraphs = [p for p in json.loads(SEED.read_text())["body_text"].split("\n\n") if p.strip()]
    out, size = [], 0
    while size < chars - len(LAST_PARAGRAPH):
        out.append(paragraphs[len(out) % len(paragraphs)])
        size += len(out[-1]) + 2
    return "\n\n".join([*out, LAST_PARAGRAPH])


@pytest.fixture(scope="module", autouse=True)
def loaded():
    warm_up()


@pytest.fixture
def small_pieces(monkeypatch):
    """The model reads pieces of 2,000 characters, up to 6,000; each test parses afresh."""
    monkeypatch.setattr(ner, "CHUNK_CHARS", 2_000)
    monkeypatch.setattr(ner, "MODEL_CHARS", 6_000)
    ner.parse.cache_clear()
    yield
    ner.parse.cache_clear()


def test_a_500k_story_stays_under_the_worker_memory_limit():
    """In a fresh process (peak RSS is per process): tag a 500,000-character story as the worker
    does and report the peak. Read whole, the model took 1.7 GiB for it."""
    script = textwrap.dedent(
        f"""
        import json, resource
        from services.enrichment.taggers import tag_story, warm_up
        from tests.unit.test_enrichment_limits_long import long_body
        warm_up()
        body = long_body(500_000)
        tags = tag_story(headline="The United States returns to Central Asia.", body=body)
        print(json.dumps({{
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "last_paragraph_at": len("The United States returns to Central Asia.") + 2 + body.index({LAST_PARAGRAPH!r}),
            "entities": [(e["text"], e["type"], e["start"], e["end"]) for e in tags["entities"]],
            "people": [p["name"] for p in tags["people"]],
            "failures": tags["failures"],
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["peak_mib"] < Settings().enrichment_max_memory_mib
    assert result["failures"] == []
    at = result["last_paragraph_at"]
    found_at_the_end = {(text, kind) for text, kind, start, _end in result["entities"] if start >= at}
    assert {("Ulaanbaatar", "LOC"), ("Steppe Heritage Foundation", "ORG")} <= found_at_the_end
    assert "John Kerry" in result["people"]


def test_pieces_end_at_paragraph_breaks_and_cover_the_text():
    text = long_body(30_000)
    pieces = ner.chunks(text, 5_000)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))  # no gap, no overlap
    assert all(0 < end - start <= 5_000 for start, end in pieces)
    assert all(text[end - 2 : end] == "\n\n" for _start, end in pieces[:-1])
    assert ner.chunks("short text") == [(0, 10)]


def test_pieces_of_a_text_without_paragraphs():
    one_line = "word " * 3_000  # 15,000 characters, no line break: cut at spaces
    pieces = ner.chunks(one_line, 4_000)
    assert all(one_line[end - 1] == " " for _start, end in pieces[:-1])
    endless = "x" * 10_000  # no place to cut at all: cut where the piece is full
    assert ner.chunks(endless, 4_000) == [(0, 4_000), (4_000, 8_000), (8_000, 10_000)]


def test_the_model_reads_pieces_as_it_reads_the_whole(small_pieces, monkeypatch):
    monkeypatch.setattr(ner, "MODEL_CHARS", 100_000)
    text = long_body(8_000)
    assert len(ner.model_pieces(text)) > 1 and ner.model_pieces(text)[-1][1] == len(text)
    whole = ner.model()(ner.recase(text))
    in_pieces = ner.parse(text)
    assert [(e.label_, e.start_char, e.end_char) for e in in_pieces.ents] == [
        (e.label_, e.start_char, e.end_char) for e in whole.ents
    ]
    assert in_pieces.text == whole.text
    assert [(t.idx, t.text, t.pos_, t.whitespace_) for t in in_pieces] == [
        (t.idx, t.text, t.pos_, t.whitespace_) for t in whole
    ]
    assert ("PER", "Gulnara Tokhtarova") in {(s.type, text[s.start : s.end]) for s in ner.find_spans(text)}


def test_past_the_model_the_rules_still_tag(small_pieces):
    body = long_body(20_000)
    tags = tag_story(headline="The United States returns to Central Asia.", body=body)
    text = f"The United States returns to Central Asia.\n\n{body}"
    read = max(end for _start, end in ner.model_pieces(text))
    assert read <= ner.MODEL_CHARS < len(text)
    assert all(s.end <= read for s in ner.find_spans(text))  # the model stopped there
    at = text.index(LAST_PARAGRAPH)
    late = {(e["text"], e["type"]) for e in tags["entities"] if e["start"] >= at}
    assert {("Ulaanbaatar", "LOC"), ("Steppe Heritage Foundation", "ORG")} <= late
    kerry_late = [e for e in find_entities(text) if e.start > read and e.text == "Kerry"]
    assert kerry_late and all(e.type == "PER" for e in kerry_late)  # named in full before the cut
    assert {k["name"] for k in tags["keywords"]} & {"Central Asia", "John Kerry"}
