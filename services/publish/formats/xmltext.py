"""What the XML formats share: the story's text as paragraphs, and XML-safe strings.

NewsML-G2 and NITF carry the body as paragraphs (XHTML ``<p>`` and NITF ``<p>``). The body a
version stores is either plain text (paragraphs separated by blank lines) or HTML that was
sanitised when it was filed; its block elements become paragraph breaks, and inline markup
(emphasis, links) is not carried over.
"""

from __future__ import annotations

import re

from shared.text import html_to_text

#: Characters XML 1.0 cannot carry at all (C0 controls other than tab, line feed, carriage return).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


def paragraphs(body: dict) -> list[str]:
    """The body (a ninjs body: ``contentType`` and ``value``) as paragraphs of plain text: blank
    lines separate paragraphs in plain text; single line breaks inside one are kept as spaces."""
    value = xml_safe(body.get("value") or "")
    if body.get("contentType") == "text/html":
        chunks = html_to_text(value).split("\n")
    else:
        chunks = _PARAGRAPH_BREAK.split(value)
    return [text for text in (" ".join(chunk.split()) for chunk in chunks) if text]
