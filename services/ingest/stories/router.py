"""``/v1/stories`` (editor): file, update, correct and kill stories; change their tags; list
them; read their versions. Handlers parse, call ``service``/``queries`` and relay the outbox
events after the transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from services.ingest import cursors, errors
from services.ingest.auth import Editor
from services.ingest.common import Links, Timestamp
from services.ingest.exceptions import Invalid
from services.ingest.paths import PRINTABLE, StoryId, VersionNumber
from services.ingest.stories import idempotency, queries, schemas, service
from services.ingest.stories.status import status_of
from shared import db, events, logs, mediatopics
from shared.config import get_settings
from shared.models import story_uri
from shared.ninjs import NinjsItem

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/stories", tags=["stories"], responses=errors.responses(401, 403, 500))

FILING_ERRORS = errors.responses(400, 404, 409, 413, 422)


async def _idempotency_key(
    key: Editor,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="Send the same key again (within 24 hours) and the request files nothing new: the "
            "answer names the version the first one filed. Another body → 409. Keys are your API key's own: "
            "another client's key of the same text is another key.",
        ),
    ] = None,
) -> idempotency.Key | None:
    """The request's Idempotency-Key, scoped to the API key that sent it; an empty one is refused
    (it would name every request that sends one)."""
    if idempotency_key is None:
        return None
    if not idempotency_key.strip():
        raise Invalid(
            "invalid_idempotency_key",
            "the Idempotency-Key header is empty: send a key that names this request (a UUID, say) or leave it out",
        )
    return idempotency.Key(idempotency_key, key.id, get_settings().idempotency_ttl_seconds)


IdempotencyKey = Annotated[idempotency.Key | None, Depends(_idempotency_key)]


def _accepted(filed: service.Filed) -> schemas.StoryAccepted:
    version = filed.version
    return schemas.StoryAccepted(
        id=filed.story.id,
        uri=story_uri(filed.story.id),
        version=version.version,
        status=status_of(version.state, version.pubstatus),
        links=Links(self=f"/v1/stories/{filed.story.id}"),
    )


async def relay_after_response(event_ids: list[int]) -> None:
    """Hand the events to the process's relay on the event loop; a thread is taken only by the
    request that finds nobody relaying (under load, one request relays for many)."""
    if events.api_relay.offer(event_ids):
        await run_in_threadpool(events.api_relay.drain)


async def file_and_relay(
    action: Callable[..., service.Filed], background: BackgroundTasks, **kwargs
) -> tuple[schemas.StoryAccepted, bool]:
    """Run one filing action in a transaction, in a thread of the pool; its events are relayed
    after the response went out, so a slow or dead broker never holds the editor's request (the
    scheduler's sweep sends whatever the relay could not). The handlers that call this are
    ``async``, so a request takes one thread (the filing), not two (FastAPI checks the answer of
    a plain ``def`` handler in a thread of its own too)."""
    return await run_in_threadpool(_file_in_transaction, action, background, **kwargs)


def _file_in_transaction(
    action: Callable[..., service.Filed], background: BackgroundTasks, **kwargs
) -> tuple[schemas.StoryAccepted, bool]:
    with db.session_scope() as session:
        filed = action(session=session, **kwargs)
        accepted = _accepted(filed)
    logs.bind(story_id=accepted.id, version=accepted.version)
    log.info("story filed" if filed.created else "story filed before (same idempotency key): nothing new")
    background.add_task(relay_after_response, filed.event_ids)
    return accepted, filed.created


@router.post("", status_code=202, response_model=schemas.StoryAccepted, responses=errors.responses(400, 409, 413, 422))
async def create_story(
    payload: schemas.StoryCreate, key: Editor, background: BackgroundTasks, idempotency_key: IdempotencyKey
) -> schemas.StoryAccepted:
    """File a new story. It goes out as version 1 (`story.published`) once tagged and rendered,
    or when its embargo lifts."""
    accepted, _ = await file_and_relay(
        service.create_story, background, payload=payload, filed_by=key.name, idempotency_key=idempotency_key
    )
    return accepted


@router.get("", response_model=schemas.StoryPage, responses=errors.responses(400, 422))
def list_stories(
    request: Request,
    _key: Editor,
    status: Annotated[schemas.Status | None, Query(description="the newest version's status")] = None,
    urgency_max: Annotated[int | None, Query(ge=1, le=9, description="urgency 1 (flash) up to this")] = None,
    place: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2 code")] = None,
    subject: Annotated[
        str | None, Query(max_length=200, description="Media Topic qcode or URI; narrower topics match too")
    ] = None,
    since: Annotated[Timestamp | None, Query(description="first filed at or after (ISO 8601)")] = None,
    until: Annotated[Timestamp | None, Query(description="first filed before (ISO 8601)")] = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=PRINTABLE, description="words that must all be in the headline")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
) -> schemas.StoryPage:
    """Stories, newest first, a page at a time. Follow `next` (or pass `next_cursor`) to page on:
    stories filed meanwhile never make a page repeat or skip one."""
    filters = queries.StoryFilters(
        status=status,
        urgency_max=urgency_max,
        place=place.upper() if place else None,
        subject=_topic(subject),
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        q=q,
    )
    with db.read_scope() as session:
        items, next_cursor = queries.list_stories(session=session, filters=filters, limit=limit, cursor=cursor)
    next_url = cursors.next_url(request, next_cursor) if next_cursor else None
    return schemas.StoryPage(items=items, next_cursor=next_cursor, next=next_url)


def _topic(reference: str | None) -> str | None:
    if not reference:
        return None
    topic = mediatopics.find(reference)
    if topic is None:
        raise Invalid("invalid_subject", f"{reference!r} is not a current IPTC Media Topic")
    return topic.qcode


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Invalid("invalid_request", f"{name} needs a timezone (e.g. 2026-11-28T00:00:00Z)")
    return value


@router.get("/{story_id}", response_model=schemas.StoryPublic, responses=errors.responses(404))
def get_story(story_id: StoryId, _key: Editor) -> schemas.StoryPublic:
    """The story as it stands: newest version, status, tags and timeline."""
    with db.read_scope() as session:
        return queries.story_view(session=session, story_id=story_id)


@router.put(
    "/{story_id}",
    status_code=202,
    response_model=schemas.StoryAccepted,
    responses={
        200: {"model": schemas.StoryAccepted, "description": "Same content as the newest version: nothing filed."},
        **FILING_ERRORS,
    },
)
async def update_story(
    story_id: StoryId,
    payload: schemas.StoryCreate,
    key: Editor,
    response: Response,
    background: BackgroundTasks,
    idempotency_key: IdempotencyKey,
) -> schemas.StoryAccepted:
    """Replace the story's content: it goes out as the next version (`story.updated`). Leave out
    `embargoed_until` to keep the story's embargo; send `null` to lift it."""
    accepted, created = await file_and_relay(
        service.update_story,
        background,
        story_id=story_id,
        payload=payload,
        filed_by=key.name,
        idempotency_key=idempotency_key,
    )
    if not created and not idempotency_key:
        response.status_code = 200
    return accepted


@router.post("/{story_id}/corrections", status_code=202, response_model=schemas.StoryAccepted, responses=FILING_ERRORS)
async def correct_story(
    story_id: StoryId,
    payload: schemas.StoryCorrection,
    key: Editor,
    background: BackgroundTasks,
    idempotency_key: IdempotencyKey,
) -> schemas.StoryAccepted:
    """Correct the story: the corrected content and a `note` go out as the next version
    (`story.corrected`, the note in ninjs `edNote`), also to every site that got an earlier one."""
    accepted, _ = await file_and_relay(
        service.correct_story,
        background,
        story_id=story_id,
        payload=payload,
        filed_by=key.name,
        idempotency_key=idempotency_key,
    )
    return accepted


@router.post("/{story_id}/kill", status_code=202, response_model=schemas.StoryAccepted, responses=FILING_ERRORS)
async def kill_story(
    story_id: StoryId,
    payload: schemas.StoryKill,
    key: Editor,
    background: BackgroundTasks,
    idempotency_key: IdempotencyKey,
) -> schemas.StoryAccepted:
    """Withdraw the story (`story.killed`, ninjs `pubStatus: canceled`, the reason in `edNote`).
    It goes to every site that may hold an earlier version, and to nobody else; versions not yet
    out never go. The story then takes no updates, corrections or tag changes (409)."""
    accepted, _ = await file_and_relay(
        service.kill_story,
        background,
        story_id=story_id,
        payload=payload,
        filed_by=key.name,
        idempotency_key=idempotency_key,
    )
    return accepted


@router.put("/{story_id}/tags", response_model=schemas.StoryPublic, responses=FILING_ERRORS)
def set_story_tags(
    story_id: StoryId, changes: schemas.TagsUpdate, key: Editor, background: BackgroundTasks
) -> schemas.StoryPublic:
    """Set the editors' tag additions and removals. They win over automatic tags, survive
    re-runs of the taggers and carry over to later versions. A published story goes out
    again as a new version with the corrected tags."""
    with db.session_scope() as session:
        event_ids = service.set_editor_tags(session=session, story_id=story_id, changes=changes, filed_by=key.name)
    background.add_task(relay_after_response, event_ids)
    with db.read_scope() as session:
        return queries.story_view(session=session, story_id=story_id)


@router.get("/{story_id}/versions", response_model=list[schemas.VersionSummary], responses=errors.responses(404))
def list_story_versions(story_id: StoryId, _key: Editor) -> list[schemas.VersionSummary]:
    """Every version: number, kind, who filed it and when, its state, the note, any error."""
    with db.read_scope() as session:
        return queries.list_versions(session=session, story_id=story_id)


@router.get(
    "/{story_id}/versions/{number}",
    response_model=NinjsItem,
    response_model_exclude_none=True,
    responses=errors.responses(404),
)
def get_story_version(story_id: StoryId, number: VersionNumber, _key: Editor) -> NinjsItem:
    """The version's ninjs item exactly as subscribers got it (404 until it is published)."""
    with db.read_scope() as session:
        return queries.version_ninjs(session=session, story_id=story_id, number=number)


@router.post(
    "/{story_id}/versions/{number}/retry",
    status_code=202,
    response_model=schemas.StoryAccepted,
    responses=errors.responses(404, 409),
)
async def retry_story_version(
    story_id: StoryId, number: VersionNumber, _key: Editor, background: BackgroundTasks
) -> schemas.StoryAccepted:
    """Send a failed version through the pipeline again (refused once a newer version is out)."""
    accepted, _ = await file_and_relay(service.retry_version, background, story_id=story_id, number=number)
    return accepted
