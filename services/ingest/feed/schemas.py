"""API models of the pull feed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.ninjs import EventType, NinjsItem


class FeedItem(BaseModel):
    cursor: str = Field(description="resume after this item with ?cursor=")
    type: EventType
    published_at: datetime
    data: NinjsItem


class FeedPage(BaseModel):
    """Like AP's ``next_page``: always a cursor to go on from, even when nothing was new."""

    items: list[FeedItem]
    next_cursor: str
    next: str = Field(description="the next page's URL")
