"""Word tokens with character offsets, shared by the gazetteer taggers."""

from __future__ import annotations

import re
from typing import NamedTuple

_TOKEN = re.compile(r"\w+(?:[.'’\-]\w+)*\.?", re.UNICODE)


class Token(NamedTuple):
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        word = match.group()
        end = match.end()
        # keep the dot of abbreviations like "U.S." but not a sentence-final one
        if word.endswith(".") and not re.fullmatch(r"(?:\w\.)+", word):
            word, end = word[:-1], end - 1
        tokens.append(Token(word, match.start(), end))
    return tokens
