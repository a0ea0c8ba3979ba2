"""Story text helpers shared by ingest (sanitising) and enrichment (plain text to tag)."""

from __future__ import annotations

import html
import re

import nh3

_BLOCK_TAGS = re.compile(r"</?(p|div|br|li|h[1-6]|blockquote|tr)\b[^>]*>", re.IGNORECASE)


def sanitize_html(body_html: str) -> str:
    """Keep safe markup only (no scripts, styles, event handlers or javascript: links)."""
    return nh3.clean(body_html)


#: A tag as the sanitiser writes it: attribute values in double quotes (they may hold ``>``); text
#: never holds a bare ``<``, and comments are gone.
_SANITISED_TAG = re.compile(r'<[^>"]*(?:"[^"]*"[^>"]*)*>')


def has_text(sanitised_html: str) -> bool:
    """Whether HTML that ``sanitize_html`` returned has any text besides its markup (read without
    parsing it again)."""
    return bool(html.unescape(_SANITISED_TAG.sub("", sanitised_html)).strip())


def html_to_text(body_html: str) -> str:
    """Plain text of an HTML body, block elements turned into line breaks."""
    spaced = _BLOCK_TAGS.sub("\n", body_html)
    return html.unescape(nh3.clean(spaced, tags=set())).strip()
