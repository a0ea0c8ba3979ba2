"""The desk, live: the story list (the same query as ``GET /v1/stories`` plus how many
subscribers have each story's newest version) and a story page's status, timeline and versions,
rendered on the server and pushed as Server-Sent Events whenever they change (the browser runs no
polling loop; htmx's SSE extension swaps them in). A stream re-checks its session every tick, so
signing out or revoking the key ends it, and ends itself after a few minutes (the browser
reconnects)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from services.ingest.exceptions import Refused
from services.ingest.paths import PRINTABLE
from services.ingest.stories import queries, schemas
from services.ingest.web import forms, pages, sessions
from shared import db, mediatopics

STATUSES = get_args(schemas.Status)
#: How often a stream looks for changes, and how long one stream lives before the browser reconnects.
TICK_SECONDS = 1.0
STREAM_SECONDS = 300.0
LIST_LENGTH = 100


class ListFilters(BaseModel):
    """The desk list's filters: those of ``GET /v1/stories`` an editor uses most."""

    model_config = ConfigDict(extra="ignore")
    _drop_empty = model_validator(mode="before")(forms.without_empty)

    status: schemas.Status | None = None
    urgency_max: int | None = Field(default=None, ge=1, le=9)
    place: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    subject: str | None = Field(default=None, max_length=200)
    q: str | None = Field(default=None, max_length=200, pattern=PRINTABLE)
    #: First filed at or after / before, as the form's ``datetime-local`` fields give them (UTC).
    since: str | None = Field(default=None, max_length=40)
    until: str | None = Field(default=None, max_length=40)
    #: An older page (``next_cursor`` of the one before); only the newest page is live.
    cursor: str | None = Field(default=None, max_length=500)

    def query(self) -> queries.StoryFilters:
        topic = mediatopics.find(self.subject) if self.subject else None
        if self.subject and topic is None:
            raise Refused("invalid_subject", f"{self.subject!r} is not a current IPTC Media Topic")
        try:
            since, until = forms.utc_time(self.since), forms.utc_time(self.until)
        except ValueError as exc:
            raise Refused("invalid_time", str(exc)) from None
        return queries.StoryFilters(
            status=self.status,
            urgency_max=self.urgency_max,
            place=self.place.upper() if self.place else None,
            subject=topic.qcode if topic else None,
            since=since,
            until=until,
            q=self.q,
        )


@dataclass(frozen=True)
class Row:
    story: schemas.StorySummary
    reach: queries.Reach

    @property
    def stage(self) -> str:
        """How far the newest version got: its status, and once published, its deliveries."""
        status, reach = self.story.status, self.reach
        if status != "published" or reach.total == 0:
            return status
        return "delivered" if reach.delivered + reach.withdrawn == reach.total else "delivering"


def listing(filters: ListFilters) -> tuple[list[Row], str | None]:
    """A page of the list (the page ``filters.cursor`` names, else the newest) and the next page's cursor."""
    query = filters.query()
    with db.read_scope() as session:
        stories, older = queries.list_stories(session=session, filters=query, limit=LIST_LENGTH, cursor=filters.cursor)
        reach = queries.reach(session=session, versions=[(s.id, s.version) for s in stories])
    return [Row(s, reach[(s.id, s.version)]) for s in stories], older


def _chosen(filters: ListFilters, **changes: str | None) -> str:
    chosen = {**filters.model_dump(), **changes}
    return urlencode({name: value for name, value in chosen.items() if value is not None})


def stream_url(filters: ListFilters) -> str:
    """The newest page's stream (an older page stays as it was loaded)."""
    query = _chosen(filters, cursor=None)
    return "/desk/live" + (f"?{query}" if query else "")


def page_url(filters: ListFilters, cursor: str | None) -> str:
    return f"/desk?{_chosen(filters, cursor=cursor)}"


#: Sent when the session is gone; the page closes its stream on it (``sse-close``) and shows it.
SIGNED_OUT = (
    '<span class="flash flash-error">Signed out: this page no longer updates. <a href="/signin">Sign in</a></span>'
)


def signed_out_stream() -> Response:
    """What a stream without a session gets: one ``signedout`` event, so the page stops
    reconnecting (an error status would make it retry for ever)."""
    return Response(
        _event("signedout", SIGNED_OUT), media_type="text/event-stream", headers={"cache-control": "no-store"}
    )


def _event(name: str, html: str) -> str:
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return f"event: {name}\n{data}\n\n"


def _still_signed_in(token: str | None) -> bool:
    with db.read_scope() as session:
        return sessions.signed_in(session=session, token=token) is not None


def rows_html(filters: ListFilters) -> str:
    newest = filters.model_copy(update={"cursor": None})
    return pages.templates.get_template("desk/_rows.html").render(rows=listing(newest)[0])


def stream(request: Request, render: Callable[[], str], event: str) -> StreamingResponse:
    """Server-Sent Events: ``render()`` (a blocking read and render, run in a thread) each tick,
    sent as ``event`` whenever it changed; the session is checked every tick."""
    token = request.cookies.get(sessions.COOKIE)

    async def events():
        sent = None
        ends = time.monotonic() + STREAM_SECONDS
        yield "retry: 2000\n\n"
        while time.monotonic() < ends and not await request.is_disconnected():
            if not await run_in_threadpool(_still_signed_in, token):
                yield _event("signedout", SIGNED_OUT)
                return
            html = await run_in_threadpool(render)
            if html != sent:
                yield _event(event, html)
                sent = html
            await asyncio.sleep(TICK_SECONDS)

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
