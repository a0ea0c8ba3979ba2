"""``/v1/feed`` (a subscriber's own key): the stories a site wants, in publication order, from a
cursor, as JSON (with long-polling) or as Atom."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from feedgen.feed import FeedGenerator

from services.ingest import cursors, errors
from services.ingest.auth import FeedReader
from services.ingest.common import Timestamp
from services.ingest.exceptions import Invalid
from services.ingest.feed import schemas, service
from services.ingest.subscribers.service import get_subscriber
from shared import db
from shared.ninjs import NinjsItem

router = APIRouter(prefix="/v1", tags=["feed"], responses=errors.responses(401, 403, 500))

Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]
Since = Annotated[Timestamp | None, Query(description="without a cursor: start with what was published from then")]
Limit = Annotated[int, Query(ge=1, le=200)]
#: How often a long-polling request looks again.
POLL_INTERVAL = 0.25


def _read(subscriber_id: str, cursor: str | None, since: datetime | None, limit: int):
    with db.read_scope() as session:
        subscriber = get_subscriber(session=session, subscriber_id=subscriber_id)
        if cursor:
            after = service.decode_cursor(cursor)
        elif since:
            if since.tzinfo is None:
                raise Invalid("invalid_request", "since needs a timezone (e.g. 2026-11-28T00:00:00Z)")
            after = service.position_at(session=session, since=since)
        else:
            after = 0
        return subscriber, *service.read(session=session, subscriber=subscriber, after=after, limit=limit)


def _next(request: Request, position: int) -> tuple[str, str]:
    cursor = service.encode_cursor(position)
    return cursor, cursors.next_url(request, cursor, drop=("since",))


@router.get(
    "/feed",
    response_model=schemas.FeedPage,
    response_model_exclude_none=True,
    responses=errors.responses(400, 404, 422),
)
async def read_feed(
    request: Request,
    key: FeedReader,
    cursor: Cursor = None,
    since: Since = None,
    limit: Limit = 50,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for something new")] = 0,
) -> schemas.FeedPage:
    """Items after the cursor, oldest first. With nothing new, waits up to ``wait`` seconds for
    it (long-poll). Resume from ``next_cursor`` — across restarts — to see every item once."""
    deadline = time.monotonic() + wait
    while True:
        _subscriber, entries, position = await run_in_threadpool(_read, key.subscriber_id, cursor, since, limit)
        if entries or time.monotonic() >= deadline:
            break
        cursor, since = service.encode_cursor(position), None  # look again only past what was scanned
        await asyncio.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
    items = [
        schemas.FeedItem(
            cursor=service.encode_cursor(e.position),
            type=e.event_type,
            published_at=e.published_at,
            data=NinjsItem.model_validate(e.item),
        )
        for e in entries
    ]
    next_cursor, next_url = _next(request, position)
    return schemas.FeedPage(items=items, next_cursor=next_cursor, next=next_url)


@router.get(
    "/feed.atom",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}, **errors.responses(400, 404, 422)},
)
def read_feed_atom(
    request: Request, key: FeedReader, cursor: Cursor = None, since: Since = None, limit: Limit = 50
) -> Response:
    """The same items as an Atom feed (RFC 4287), with a ``next`` link (RFC 5005) to page on."""
    subscriber, entries, position = _read(key.subscriber_id, cursor, since, limit)
    feed = FeedGenerator()
    feed.id(f"urn:newswire:feed:{subscriber.id}")
    feed.title(f"Newswire for {subscriber.name}")
    feed.link(href=str(request.url), rel="self")
    feed.link(href=str(request.base_url).rstrip("/") + _next(request, position)[1], rel="next")
    feed.updated(max((e.published_at for e in entries), default=subscriber.created_at))
    for entry in entries:
        _atom_entry(feed, entry)
    return Response(feed.atom_str(pretty=True), media_type="application/atom+xml")


def _atom_entry(feed: FeedGenerator, entry: service.Entry) -> None:
    item = entry.item
    atom = feed.add_entry(order="append")
    atom.id(f"{item['uri']}:v{item['version']}")
    atom.title(item["headlines"][0]["value"])
    atom.updated(entry.published_at)
    atom.published(item.get("firstCreated"))
    body = item["bodies"][0]
    atom.content(body["value"], type="html" if body["contentType"] == "text/html" else "text")
    if item.get("edNote"):
        atom.summary(item["edNote"])
    if item.get("by"):
        atom.author({"name": item["by"]})
    atom.category(
        [{"term": entry.event_type}]
        + [{"term": s["uri"], "label": s["name"]} for s in item.get("subjects") or [] if s.get("rel") == "about"]
    )
