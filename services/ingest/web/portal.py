"""The subscriber portal (``/portal``): an admin sees every subscriber, a subscriber's own key
only its own (the API's ``own_subscriber`` check). A subscriber's page lists its deliveries with
every attempt, failed ones first; redeliver, replay a time range, rotate the secret (shown once),
send a test event; the feed URL and how to verify a signature."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request
from starlette.concurrency import run_in_threadpool

from services.ingest.auth import own_subscriber
from services.ingest.deliveries import schemas as delivery_schemas
from services.ingest.deliveries import service as deliveries
from services.ingest.deliveries.router import queue_after_response as queue_deliveries
from services.ingest.deliveries.router import replay_and_queue
from services.ingest.exceptions import Forbidden, Refused
from services.ingest.paths import DeliveryId, SubscriberId
from services.ingest.subscribers import service as subscribers
from services.ingest.subscribers import testevent
from services.ingest.web import forms, pages, portalpage
from services.ingest.web.pages import PortalUser
from shared import db
from shared.config import get_settings
from shared.models import Role

router = APIRouter(prefix="/portal", include_in_schema=False)


def _mine(me, subscriber_id: str) -> None:
    try:
        own_subscriber(me.key, subscriber_id)
    except Forbidden as exc:
        raise pages.PageRefused(403, exc.message) from None


def _back(subscriber_id: str) -> str:
    return f"/portal/subscribers/{subscriber_id}"


@router.get("")
def portal_home(request: Request, me: PortalUser):
    if me.key.role == Role.subscriber:
        return pages.redirect(_back(me.key.subscriber_id))
    return _subscriber_list(request, me)


def _subscriber_list(request: Request, me):
    with db.read_scope() as session:
        rows = portalpage.subscriber_rows(session=session)
    return pages.render(request, "portal/index.html", me, rows=rows)


@router.get("/subscribers/{subscriber_id}")
def subscriber_page(
    request: Request,
    subscriber_id: SubscriberId,
    me: PortalUser,
    filters: Annotated[portalpage.DeliveryListFilters, Query()],
):
    _mine(me, subscriber_id)
    with db.read_scope() as session:
        page = portalpage.build(session=session, subscriber_id=subscriber_id, filters=filters, request=request)
    return pages.render(request, "portal/subscriber.html", me, page=page, filters=filters, secret=None, test=None)


@router.post("/subscribers/{subscriber_id}/deliveries/{delivery_id}/redeliver")
def redeliver(subscriber_id: SubscriberId, delivery_id: DeliveryId, me: PortalUser, background: BackgroundTasks):
    _mine(me, subscriber_id)
    try:
        with db.session_scope() as session:
            delivery = deliveries.redeliver(
                session=session, settings=get_settings(), delivery_id=delivery_id, subscriber_id=subscriber_id
            )
    except Refused as exc:
        return pages.redirect(_back(subscriber_id), f"Not sent again: {exc.message}", "error")
    queue_deliveries(background, [delivery])
    return pages.redirect(_back(subscriber_id), f"Delivery {delivery.message_id} queued again (same webhook-id).")


@router.post("/subscribers/{subscriber_id}/replay")
async def replay(request: Request, subscriber_id: SubscriberId, me: PortalUser, background: BackgroundTasks):
    _mine(me, subscriber_id)
    values = forms.text_values(await request.form())
    try:
        body = forms.parsed(delivery_schemas.ReplayRequest, values, portalpage.replay_body(values))
        done = await run_in_threadpool(replay_and_queue, subscriber_id, body, background)
    except (forms.FormRefused, Refused, ValueError) as exc:
        errors = forms.messages(exc)
        return pages.redirect(_back(subscriber_id), "Nothing replayed: " + "; ".join(errors), "error")
    said = f"Replay queued: {len(done.resent)} sent again, {len(done.created)} sent for the first time."
    return pages.redirect(_back(subscriber_id), said)


@router.post("/subscribers/{subscriber_id}/rotate-secret")
def rotate_secret(request: Request, subscriber_id: SubscriberId, me: PortalUser):
    """The new secret is shown on this answer only (not stored in any page or cookie)."""
    _mine(me, subscriber_id)
    with db.session_scope() as session:
        rotated = subscribers.rotate_secret(session=session, subscriber_id=subscriber_id, overlap=timedelta(hours=24))
        secret, expires = rotated.secret, rotated.previous_secret_expires_at
    with db.read_scope() as session:
        page = portalpage.build(
            session=session, subscriber_id=subscriber_id, filters=portalpage.DeliveryListFilters(), request=request
        )
    return pages.render(
        request, "portal/subscriber.html", me, page=page, filters=page.filters, secret=(secret, expires), test=None
    )


@router.post("/subscribers/{subscriber_id}/test-event")
async def send_test_event(subscriber_id: SubscriberId, me: PortalUser):
    _mine(me, subscriber_id)
    try:
        result = await testevent.send_test_event(subscriber_id, get_settings())
    except Refused as exc:
        return pages.redirect(_back(subscriber_id), f"No test event: {exc.message}", "error")
    answer = f"HTTP {result.status_code}" if result.status_code else (result.error or "no answer")
    said = f"Test event {result.message_id}: {answer} in {result.latency_ms:.0f} ms."
    return pages.redirect(_back(subscriber_id), said, "ok" if result.delivered else "error")
