"""What changed between two versions of a story, word by word, for the desk's side-by-side view."""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass

import nh3

_WORDS = re.compile(r"\S+|\s+")


@dataclass(frozen=True)
class Piece:
    """A run of text and whether it is only in the older version, only in the newer, or in both."""

    text: str
    change: str  # "same" | "removed" | "added"


def plain_text(body_text: str | None, body_html: str | None) -> str:
    """The body as an editor reads it: the text, or the HTML without its markup, paragraphs on lines."""
    if body_text:
        return body_text
    marked = re.sub(r"(?i)</(p|h[1-6]|li|blockquote|div)>|<br\s*/?>", "\n", body_html or "")
    return html.unescape(nh3.clean(marked, tags=set())).strip()


def word_diff(old: str, new: str) -> tuple[list[Piece], list[Piece]]:
    """Both texts cut into pieces, the older marking what was removed, the newer what was added."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    left: list[Piece] = []
    right: list[Piece] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(Piece("".join(a[i1:i2]), "same"))
            right.append(Piece("".join(b[j1:j2]), "same"))
            continue
        if i2 > i1:
            left.append(Piece("".join(a[i1:i2]), "removed"))
        if j2 > j1:
            right.append(Piece("".join(b[j1:j2]), "added"))
    return left, right
