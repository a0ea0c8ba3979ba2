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
from datetime import datetime, timedelta
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
#: A queued send task is trusted to arrive this long before the sweep queues another.
QUEUE_LEASE = timedelta(seconds=60)
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
        # Locks the story (PostgreSQL) so that an editor's tag change either lands before this
        # render or, seeing it published, goes out as the next version.
        story = session.get(Story, version.story_id, with_for_update=True)
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
                queued_until=now + QUEUE_LEASE,  # the publish task queues them right away
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


@lru_cache(maxsize=256)
def http_client(hostname: str) -> httpx.Client:
    """A pooled client per webhook host (thread-safe), so that a kept-alive connection, which is
    opened to a checked IP address, is only ever reused for the host it was opened for."""
    settings = get_settings()
    return httpx.Client(
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
    )


def _claim(session, delivery_id: str) -> datetime | None:
    """Take the delivery's lease; returns it (the fencing token for the result) or None."""
    # Past the lease (a killed or stuck worker) the sweep may hand the delivery to another worker;
    # the first worker's result is then written only if it still holds the lease.
    now = utcnow()
    lease = now + timedelta(seconds=get_settings().delivery_lease_seconds)
    result = session.exec(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.pending, Delivery.next_attempt_at <= now)
        .where(or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
        .values(lease_until=lease, queued_until=None)
    )
    return lease if result.rowcount == 1 else None


def send_delivery(delivery_id: str) -> str:
    """One delivery attempt. Returns what happened (for logs and tests)."""
    settings = get_settings()
    with session_scope() as session:
        lease = _claim(session, delivery_id)
        if lease is None:
            return "skipped"
        delivery = session.get(Delivery, delivery_id)
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        earlier = session.exec(
            select(Delivery.next_attempt_at).where(
                Delivery.subscriber_id == delivery.subscriber_id,
                Delivery.story_id == delivery.story_id,
                Delivery.version < delivery.version,
                Delivery.state == DeliveryState.pending,
            ).order_by(Delivery.next_attempt_at.desc())
        ).first()
        if earlier is not None:
            # Versions reach a subscriber in order: wait until the earlier one's next try.
            delivery.lease_until = None
            delivery.next_attempt_at = max(earlier, utcnow()) + ORDER_WAIT
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
        target = check_url(url, settings.webhook_allowed_networks)
        result = webhook.send(http_client(target.hostname), target, body,
                              webhook.signed_headers(secret, message_id, body))
    except TargetRefused as exc:
        result = webhook.SendResult(None, 0.0, str(exc), None, None)
    return _record(delivery_id, lease, attempt_no, started, result, settings)


def _record(delivery_id: str, lease: datetime, attempt_no: int, started: datetime,
            result: webhook.SendResult, settings) -> str:
    """Write the attempt, and the delivery's new state if this worker still holds its lease."""
    if result.ok:
        outcome, values = "delivered", {"state": DeliveryState.delivered, "delivered_at": utcnow()}
    elif result.gone:
        outcome, values = "gone", {"state": DeliveryState.failed}
    elif attempt_no >= settings.delivery_max_attempts:
        outcome, values = "failed", {"state": DeliveryState.failed}
    else:
        retry_at = utcnow() + backoff(attempt_no, result.retry_after_seconds, settings.delivery_retry_base_seconds)
        outcome, values = "retry", {"next_attempt_at": retry_at}
    with session_scope() as session:
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
        fenced = session.exec(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.lease_until == lease, Delivery.state == DeliveryState.pending)
            .values(attempts=attempt_no, lease_until=None, last_error=result.error, **values)
        )
        if fenced.rowcount != 1:
            log.warning("delivery %s: lease lost during attempt %s; its result is only logged", delivery_id, attempt_no)
            return "lease-lost"
        if result.gone:
            delivery = session.get(Delivery, delivery_id)
            session.exec(
                update(Subscriber)
                .where(Subscriber.id == delivery.subscriber_id)
                .values(active=False, disabled_reason="endpoint answered 410 Gone")
            )
    return outcome


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
    """Scheduler sweep: pending deliveries that are due, that no worker holds and that have no
    send task on its way; they are marked queued before they are handed back."""
    now = utcnow()
    with session_scope() as session:
        due = list(
            session.exec(
                select(Delivery.id, Delivery.priority)
                .where(Delivery.state == DeliveryState.pending, Delivery.next_attempt_at <= now)
                .where(or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
                .where(or_(Delivery.queued_until.is_(None), Delivery.queued_until < now))
                .order_by(Delivery.priority, Delivery.next_attempt_at)
                .limit(limit)
            ).all()
        )
        if due:
            session.exec(
                update(Delivery).where(Delivery.id.in_([d for d, _ in due])).values(queued_until=now + QUEUE_LEASE)
            )
        return due
