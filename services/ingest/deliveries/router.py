"""Deliveries (admin): listed a page at a time with every attempt; sent again one by one or
by the range, with the same webhook-ids."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request

from services.ingest import cursors, errors
from services.ingest.auth import Admin, SubscriberOrAdmin, own_subscriber
from services.ingest.common import Timestamp
from services.ingest.deliveries import schemas, service
from services.ingest.paths import DeliveryId, StoryIdFilter, SubscriberId, SubscriberIdFilter
from shared import db, queue
from shared.config import get_settings
from shared.models import Delivery, DeliveryState

router = APIRouter(prefix="/v1", tags=["deliveries"], responses=errors.responses(401, 403, 500))

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")]


def _page(request: Request, filters: service.DeliveryFilters, limit: int, cursor: str | None) -> schemas.DeliveryPage:
    with db.read_scope() as session:
        rows, next_cursor = service.list_deliveries(session=session, filters=filters, limit=limit, cursor=cursor)
    next_url = cursors.next_url(request, next_cursor) if next_cursor else None
    items = [schemas.DeliveryPublic.of(d, attempts) for d, attempts in rows]
    return schemas.DeliveryPage(items=items, next_cursor=next_cursor, next=next_url)


@router.get("/deliveries", response_model=schemas.DeliveryPage, responses=errors.responses(400, 404, 422))
def list_deliveries(
    request: Request,
    _key: Admin,
    subscriber_id: SubscriberIdFilter = None,
    state: Annotated[DeliveryState | None, Query(description="failed: the dead letters")] = None,
    story_id: StoryIdFilter = None,
    since: Annotated[Timestamp | None, Query(description="created at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="created before")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> schemas.DeliveryPage:
    """Deliveries, newest first, each with every attempt (status, latency, the start of the answer)."""
    filters = service.DeliveryFilters(subscriber_id, state, story_id, since, until)
    return _page(request, filters, limit, cursor)


@router.get(
    "/subscribers/{subscriber_id}/deliveries",
    response_model=schemas.DeliveryPage,
    responses=errors.responses(400, 404, 422),
)
def list_subscriber_deliveries(
    request: Request,
    subscriber_id: SubscriberId,
    key: SubscriberOrAdmin,
    state: DeliveryState | None = None,
    story_id: StoryIdFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> schemas.DeliveryPage:
    """One subscriber's deliveries, newest first (a subscriber's own key reads its own)."""
    own_subscriber(key, subscriber_id)
    return _page(request, service.DeliveryFilters(subscriber_id, state, story_id), limit, cursor)


def queue_after_response(background: BackgroundTasks, deliveries: list[Delivery]) -> None:
    """Queue after the response went out (what is not queued is pending, and the sweep queues it)."""
    background.add_task(queue.send_deliveries, [(d.id, d.subscriber_id, d.priority) for d in deliveries])


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=schemas.DeliveryPublic,
    responses=errors.responses(404, 409),
)
def redeliver(delivery_id: DeliveryId, key: SubscriberOrAdmin, background: BackgroundTasks) -> schemas.DeliveryPublic:
    """Send one delivery again with its webhook-id (held while its subscriber is disabled). A
    subscriber's own key finds its own deliveries only."""
    with db.session_scope() as session:
        delivery = service.redeliver(
            session=session, settings=get_settings(), delivery_id=delivery_id, subscriber_id=key.subscriber_id
        )
    queue_after_response(background, [delivery])
    return schemas.DeliveryPublic.of(delivery, [])


@router.post(
    "/subscribers/{subscriber_id}/replay",
    status_code=202,
    response_model=schemas.ReplayAccepted,
    responses=errors.responses(404, 422),
)
def replay(
    subscriber_id: SubscriberId, body: schemas.ReplayRequest, key: SubscriberOrAdmin, background: BackgroundTasks
) -> schemas.ReplayAccepted:
    """Send again what was published in a time range (or of one story): deliveries there go again
    with their webhook-ids, and versions it never had (it was disabled then) go for the first
    time. Sites dedupe on webhook-id, so a replay that overlaps what arrived is harmless."""
    own_subscriber(key, subscriber_id)
    done = replay_and_queue(subscriber_id, body, background)
    return schemas.ReplayAccepted(resent=len(done.resent), created=len(done.created))


def replay_and_queue(subscriber_id: str, body: schemas.ReplayRequest, background: BackgroundTasks):
    """The replay in one transaction, its deliveries queued after the response (the portal's too)."""
    with db.session_scope() as session:
        done = service.replay(
            session=session,
            settings=get_settings(),
            subscriber_id=subscriber_id,
            since=body.since,
            until=body.until,
            story_id=body.story_id,
        )
    queue_after_response(background, done.resent + done.created)
    return done
