"""Opaque page cursors: what a client passes back to get the next page. They say where the
last page ended (a position, or a timestamp and an id); a cursor from elsewhere, or edited,
is refused with 400."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from services.ingest.exceptions import BadCursor


def encode(kind: str, *parts: object) -> str:
    text = "|".join([kind, *map(str, parts)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(kind: str, cursor: str, count: int) -> list[str]:
    """The ``count`` parts of a cursor of this ``kind``."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error):
        raise BadCursor() from None
    found, *parts = text.split("|", count)
    if found != kind or len(parts) != count or not all(parts):
        raise BadCursor()
    return parts


def decode_position(kind: str, cursor: str) -> int:
    (number,) = decode(kind, cursor, 1)
    if not number.isdigit():
        raise BadCursor()
    return int(number)


def next_url(request: Request, cursor: str, drop: tuple[str, ...] = ()) -> str:
    """This request's path and query, with the cursor of the next page."""
    url = request.url.remove_query_params(list(drop)).include_query_params(cursor=cursor)
    return f"{url.path}?{url.query}"
