"""Publish a story version and deliver it: plain functions the tasks and the scheduler call.

* ``render_version`` renders ninjs, marks the version published and creates one delivery
  per (active subscriber, version) in one transaction; a version under embargo is parked.
* ``send_delivery`` claims one delivery with a lease, keeps versions in order per story and
  subscriber, signs and POSTs it, records the attempt and schedules any retry.
* ``release_due_embargoes`` and ``due_delivery_ids`` are the scheduler's sweeps.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from functools import lru_cache

import httpx
from sqlalchemy import or_, update
from sqlmodel import select

from services.publish.channels import webhook
from services.publish.formats import ninjs
from shared import events
from shared.config import get_settings
from shared.db import session_scope
from shared.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    PubStatus,
    Story,
    StoryVersion,
    Subscriber,
    VersionState,
)
from shared.netguard import TargetRefused, check_url
from shared.queue import get_celery, priority_for_urgency
from shared.tags import effective_tags
from shared.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)

PUBLISHABLE = (VersionState.enriched, VersionState.releasing)
#: Pending deliveries younger than this are left to the task already queued for them.
SWEEP_GRACE = timedelta(seconds=3)
#: A sending worker holds a delivery this long; past it, the sweep may hand it to another.
SEND_LEASE = timedelta(seconds=90)
#: A later version waits this long for the earlier one to the same subscriber to land.
ORDER_WAIT = timedelta(seconds=1)


def render_version(version_id: int) -> list[tuple[str, int]]:
    """Publish the version if it is ready; returns (id, priority) of the deliveries created."""
    now = utcnow()
    with session_scope() as session:
        version = session.get(StoryVersion, version_id)
        if version is None or version.state not in PUBLISHABLE:
            return []
        if version.embargoed_until and version.embargoed_until > now:
            session.exec(
                update(StoryVersion)
                .where(StoryVersion.id == version_id, StoryVersion.state.in_(PUBLISHABLE))
                .values(state=VersionState.embargoed, pubstatus=PubStatus.withheld)
            )
            return []
        story = session.get(Story, version.story_id)
        pubstatus = PubStatus.usable if version.pubstatus == PubStatus.withheld else version.pubstatus
        item = ninjs.render(
            ninjs.StoryDocument(
                story_id=version.story_id,
                version=version.version,
                headline=version.headline,
                body_text=version.body_text,
                body_html=version.body_html,
                byline=version.byline,
                located=version.located,
                slugline=version.slugline,
                language=version.language,
                urgency=version.urgency,
                pubstatus=pubstatus,
                embargoed_until=version.embargoed_until,
                first_created=story.created_at,
                version_created=version.stored_at,
                tags=effective_tags(version.tags, story.manual_tags),
            )
        )
        result = session.exec(
            update(StoryVersion)
            .where(StoryVersion.id == version_id, StoryVersion.state == version.state)
            .values(state=VersionState.published, ninjs=item, published_at=now, pubstatus=pubstatus)
        )
        if result.rowcount != 1:
            session.rollback()
            return []
        subscribers = session.exec(select(Subscriber).where(Subscriber.active.is_(True))).all()
        deliveries = [
            Delivery(
                subscriber_id=sub.id,
                version_id=version_id,
                story_id=version.story_id,
                version=version.version,
                priority=priority_for_urgency(version.urgency),
                next_attempt_at=now,
            )
            for sub in subscribers
        ]
        session.add_all(deliveries)
        session.flush()
        return [(d.id, d.priority) for d in deliveries]


def dispatch(deliveries: list[tuple[str, int]]) -> None:
    """Queue send tasks for (delivery id, priority) pairs; one lost here is picked up by the
    scheduler's sweep."""
    celery = get_celery()
    for delivery_id, priority in deliveries:
        try:
            celery.send_task("delivery.send", args=[delivery_id], priority=priority)
        except Exception:
            log.warning("delivery %s not queued; the sweep will retry", delivery_id, exc_info=True)


def backoff(attempt: int, retry_after: float | None = None, base_seconds: float = 5.0) -> timedelta:
    """Delay before the next try after ``attempt`` failed tries: ``base_seconds`` doubling up to
    6 h, ±20 % jitter. A receiver's Retry-After wins when it is longer (capped at a day)."""
    base = min(base_seconds * 2 ** (attempt - 1), 6 * 3600.0)
    delay = base * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 86400.0))
    return timedelta(seconds=delay)


@lru_cache(maxsize=1)
def http_client() -> httpx.Client:
    """One pooled client per worker process (thread-safe); never follows redirects."""
    settings = get_settings()
    return httpx.Client(
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )


def _claim(session, delivery_id: str) -> bool:
    now = utcnow()
    result = session.exec(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.pending, Delivery.next_attempt_at <= now)
        .where(or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
        .values(lease_until=now + SEND_LEASE)
    )
    return result.rowcount == 1


def send_delivery(delivery_id: str) -> str:
    """One delivery attempt. Returns what happened (for logs and tests)."""
    settings = get_settings()
    with session_scope() as session:
        if not _claim(session, delivery_id):
            return "skipped"
        delivery = session.get(Delivery, delivery_id)
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        earlier_pending = session.exec(
            select(Delivery.id).where(
                Delivery.subscriber_id == delivery.subscriber_id,
                Delivery.story_id == delivery.story_id,
                Delivery.version < delivery.version,
                Delivery.state == DeliveryState.pending,
            )
        ).first()
        if earlier_pending is not None:
            delivery.lease_until = None
            delivery.next_attempt_at = utcnow() + ORDER_WAIT
            return "waiting-for-earlier-version"
        if not subscriber.active:
            delivery.state, delivery.lease_until = DeliveryState.failed, None
            delivery.last_error = f"subscriber disabled: {subscriber.disabled_reason}"
            return "subscriber-disabled"
        version = session.get(StoryVersion, delivery.version_id)
        event_type = "story.published" if version.version == 1 else "story.updated"
        body = webhook.event_body(event_type, isoformat(version.published_at), version.ninjs)
        url, secret, attempt_no = subscriber.url, subscriber.secret, delivery.attempts + 1
        message_id = delivery.message_id

    started = utcnow()
    try:
        check_url(url, settings.webhook_allowed_networks)
        result = webhook.send(http_client(), url, body, webhook.signed_headers(secret, message_id, body))
    except TargetRefused as exc:
        result = webhook.SendResult(None, 0.0, str(exc), None, None)

    with session_scope() as session:
        delivery = session.get(Delivery, delivery_id)
        session.add(
            DeliveryAttempt(
                delivery_id=delivery_id,
                number=attempt_no,
                started_at=started,
                status_code=result.status_code,
                latency_ms=round(result.latency_ms, 2),
                error=result.error,
                response_excerpt=result.response_excerpt,
            )
        )
        delivery.attempts = attempt_no
        delivery.lease_until = None
        delivery.last_error = result.error
        if result.ok:
            delivery.state, delivery.delivered_at = DeliveryState.delivered, utcnow()
            return "delivered"
        if result.gone:
            delivery.state = DeliveryState.failed
            session.exec(
                update(Subscriber)
                .where(Subscriber.id == delivery.subscriber_id)
                .values(active=False, disabled_reason="endpoint answered 410 Gone")
            )
            return "gone"
        if attempt_no >= settings.delivery_max_attempts:
            delivery.state = DeliveryState.failed
            return "failed"
        delivery.next_attempt_at = utcnow() + backoff(
            attempt_no, result.retry_after_seconds, settings.delivery_retry_base_seconds
        )
        return "retry"


def release_due_embargoes(limit: int = 200) -> list[int]:
    """Scheduler sweep: embargoed versions whose time has come get a publish event."""
    now = utcnow()
    event_ids = []
    with session_scope() as session:
        due = session.exec(
            select(StoryVersion.id, StoryVersion.urgency)
            .where(StoryVersion.state == VersionState.embargoed, StoryVersion.embargoed_until <= now)
            .limit(limit)
        ).all()
        for version_id, urgency in due:
            result = session.exec(
                update(StoryVersion)
                .where(StoryVersion.id == version_id, StoryVersion.state == VersionState.embargoed)
                .values(state=VersionState.releasing)
            )
            if result.rowcount == 1:
                event_ids.append(events.record(session, "version.released", version_id, urgency))
        session.flush()
        return [e.id for e in event_ids]


def due_delivery_ids(limit: int = 500) -> list[tuple[str, int]]:
    """Scheduler sweep: pending deliveries that are due and that no worker holds."""
    now = utcnow()
    with session_scope() as session:
        return list(
            session.exec(
                select(Delivery.id, Delivery.priority)
                .where(Delivery.state == DeliveryState.pending, Delivery.next_attempt_at <= now - SWEEP_GRACE)
                .where(or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
                .order_by(Delivery.priority, Delivery.next_attempt_at)
                .limit(limit)
            ).all()
        )
