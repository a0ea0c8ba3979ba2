"""Publish a story version and deliver it: plain functions the tasks and the scheduler call.

* ``render_version`` renders ninjs, marks the version published and creates one delivery
  per subscriber in its audience, in one transaction; a version under embargo is parked, one
  whose earlier version is still on its way waits for it, one that cannot be rendered fails.
* ``send_delivery`` claims one delivery with a lease, keeps versions in order per story and
  subscriber, holds deliveries to disabled subscribers, withdraws those of killed stories,
  signs and POSTs, records the attempt and schedules any retry.
* ``release_due_embargoes`` and ``due_delivery_ids`` are the scheduler's sweeps.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import httpx
from pydantic import ValidationError
from sqlalchemy import or_, update
from sqlmodel import Session, select

from services.publish.channels import webhook
from services.publish.formats import ninjs
from shared import events, lifecycle, queue
from shared.config import get_settings
from shared.db import session_scope
from shared.lifecycle import READY_STATES
from shared.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    PubStatus,
    Story,
    StoryVersion,
    Subscriber,
    VersionKind,
    VersionState,
)
from shared.netguard import TargetRefused, check_url
from shared.queue import priority_for_urgency
from shared.tags import EditorTagChanges, StoryTags, effective_tags
from shared.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)

#: A queued send task is trusted to arrive this long before the sweep queues another.
QUEUE_LEASE = timedelta(seconds=60)
#: A later version waits this long for the earlier one to the same subscriber to land.
ORDER_WAIT = timedelta(seconds=1)


@dataclass
class Rendered:
    """What a render leaves to do after commit: deliveries to queue, outbox events to relay."""

    deliveries: list[tuple[str, int]] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)


def render_version(version_id: int) -> Rendered:
    """Publish the version if it is ready and no earlier version of its story is still on its
    way; park it while its embargo holds; fail it if it cannot be rendered (or if rendering it
    killed its worker too often). Two transactions: the first counts the try, so a worker that
    dies while rendering leaves a trace; the second renders and publishes."""
    with session_scope() as session:
        ready = _ready(session, version_id)
        if ready is None:
            return Rendered()
        _story, version = ready
        if version.embargoed_until and version.embargoed_until > utcnow():
            _park(session, version)
            return Rendered()
        taken = lifecycle.take_up(session, version, get_settings().max_tries)
        if taken.version is None:
            return Rendered(event_ids=taken.event_ids)
    with session_scope() as session:
        ready = _ready(session, version_id)
        return Rendered() if ready is None else _publish(session, *ready)


def _ready(session: Session, version_id: int) -> tuple[Story, StoryVersion] | None:
    """The version and its story, locked, if it is ready and nothing earlier holds it back."""
    version = session.get(StoryVersion, version_id)
    if version is None:
        return None
    # Lock the story (PostgreSQL; SQLite writers are serialised anyway), then re-read the
    # version: an editor's kill, update or tag change lands wholly before or after this.
    story = session.get(Story, version.story_id, with_for_update=True)
    session.refresh(version)
    if version.state not in READY_STATES or lifecycle.earlier_in_pipeline(session, version):
        return None
    return story, version


def _park(session: Session, version: StoryVersion) -> None:
    session.exec(
        update(StoryVersion)
        .where(StoryVersion.id == version.id, StoryVersion.state == version.state)
        .values(state=VersionState.embargoed, pubstatus=PubStatus.withheld, tries=0)
    )


def _envelope(story: Story, version: StoryVersion, pubstatus: str) -> ninjs.Envelope:
    tags = effective_tags(StoryTags.from_stored(version.tags), EditorTagChanges.from_stored(story.manual_tags))
    return ninjs.Envelope(
        story_id=story.id,
        version=version.version,
        pubstatus=pubstatus,
        first_created=story.created_at,
        version_created=version.stored_at,
        tags=tags,
        ed_note=version.note,
    )


def _publish(session: Session, story: Story, version: StoryVersion) -> Rendered:
    now = utcnow()
    pubstatus = PubStatus.usable if version.pubstatus == PubStatus.withheld else version.pubstatus
    try:
        item = ninjs.render(version, _envelope(story, version, pubstatus))
    except ninjs.InvalidNinjs as exc:
        return Rendered(event_ids=lifecycle.fail(session, version, f"invalid ninjs: {exc}"))
    except ValidationError as exc:  # stored tags that no longer read back: fail, do not loop
        return Rendered(event_ids=lifecycle.fail(session, version, f"unreadable tags: {exc}"))
    result = session.exec(
        update(StoryVersion)
        .where(StoryVersion.id == version.id, StoryVersion.state == version.state)
        .values(state=VersionState.published, ninjs=item, published_at=now, pubstatus=pubstatus, tries=0)
    )
    if result.rowcount != 1:
        return Rendered()
    priority = priority_for_urgency(version.queue_urgency)
    deliveries = [
        Delivery(
            subscriber_id=subscriber_id,
            version_id=version.id,
            story_id=version.story_id,
            version=version.version,
            priority=priority,
            next_attempt_at=now,
            queued_until=now + QUEUE_LEASE,  # the publish task queues them right away
        )
        for subscriber_id in sorted(audience(session, version))
    ]
    session.add_all(deliveries)
    session.flush()
    return Rendered([(d.id, d.priority) for d in deliveries], lifecycle.wake_next(session, version.story_id))


def audience(session: Session, version: StoryVersion) -> set[str]:
    """Who gets the version: every active subscriber, except for a kill; and for a kill or a
    correction, everyone who may hold an earlier version (a disabled one gets it once enabled)."""
    kind = VersionKind(version.kind)
    subscribers: set[str] = set()
    if kind != VersionKind.kill:
        subscribers.update(session.exec(select(Subscriber.id).where(Subscriber.active.is_(True))).all())
    if kind in (VersionKind.kill, VersionKind.correction):
        subscribers.update(earlier_recipients(session, version))
    return subscribers


def earlier_recipients(session: Session, version: StoryVersion) -> set[str]:
    """Subscribers that may hold an earlier version of the story: it was delivered, or at least
    one attempt was made (a timed-out POST may still have landed), or a worker holds or held its
    lease without recording a result (a send in flight, or a worker killed mid-send). Every path
    that claims a delivery and does not send clears its lease, so a lease left means a POST may
    have gone out: a kill errs towards reaching a site rather than missing one."""
    rows = session.exec(
        select(Delivery.subscriber_id)
        .where(Delivery.story_id == version.story_id, Delivery.version < version.version)
        .where(
            or_(
                Delivery.state == DeliveryState.delivered,
                Delivery.attempts > 0,
                Delivery.lease_until.is_not(None),
            )
        )
        .distinct()
    ).all()
    return set(rows)


def dispatch(deliveries: list[tuple[str, int]]) -> None:
    """Queue send tasks for (delivery id, priority) pairs; one lost here is picked up by the
    scheduler's sweep."""
    for delivery_id, priority in deliveries:
        try:
            queue.send("delivery.send", delivery_id, priority)
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


@dataclass
class Outgoing:
    """One signed POST to make, read out of the database before the network call."""

    url: str
    secret: str
    message_id: str
    attempt_no: int
    body: bytes


def send_delivery(delivery_id: str) -> str:
    """One delivery attempt. Returns what happened (for logs and tests)."""
    settings = get_settings()
    with session_scope() as session:
        lease = _claim(session, delivery_id)
        if lease is None:
            return "skipped"
        delivery = session.get(Delivery, delivery_id)
        held = _hold_back(session, delivery)
        if held:
            return held
        outgoing = _outgoing(session, delivery)

    started = utcnow()
    try:
        target = check_url(outgoing.url, settings.webhook_allowed_networks)
        headers = webhook.signed_headers(outgoing.secret, outgoing.message_id, outgoing.body)
        result = webhook.send(http_client(target.hostname), target, outgoing.body, headers)
    except TargetRefused as exc:
        result = webhook.SendResult(None, 0.0, str(exc), None, None)
    return _record(delivery_id, lease, outgoing.attempt_no, started, result, settings)


def _outgoing(session: Session, delivery: Delivery) -> Outgoing:
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    version = session.get(StoryVersion, delivery.version_id)
    event_type = VersionKind(version.kind).event_type
    body = webhook.event_body(event_type, isoformat(version.published_at), version.ninjs)
    return Outgoing(subscriber.url, subscriber.secret, delivery.message_id, delivery.attempts + 1, body)


def _hold_back(session: Session, delivery: Delivery) -> str | None:
    """Why the claimed delivery must not go now (its row already updated), or None.

    * The story was killed and this is not the kill: it is withdrawn, never sent.
    * The subscriber is disabled: it stays pending, and goes when the subscriber is enabled.
    * An earlier version of the story is still pending for this subscriber: it waits for it
      (a kill instead withdraws what it can and waits only for a send in flight).
    """
    story = session.get(Story, delivery.story_id)
    is_kill = VersionKind(session.get(StoryVersion, delivery.version_id).kind) == VersionKind.kill
    if story.killed_at is not None and not is_kill:
        _withdraw(session, [delivery.id])
        return "withdrawn"
    if not session.get(Subscriber, delivery.subscriber_id).active:
        delivery.lease_until = None
        return "held-subscriber-disabled"
    earlier = session.exec(
        select(Delivery).where(
            Delivery.subscriber_id == delivery.subscriber_id,
            Delivery.story_id == delivery.story_id,
            Delivery.version < delivery.version,
            Delivery.state == DeliveryState.pending,
        )
    ).all()
    now = utcnow()
    if is_kill:
        _withdraw(session, [d.id for d in earlier if not (d.lease_until and d.lease_until > now)])
        earlier = [d for d in earlier if d.lease_until and d.lease_until > now]
    if not earlier:
        return None
    # Versions reach a subscriber in order: wait until the earlier one's next try.
    delivery.lease_until = None
    delivery.next_attempt_at = max(max(d.next_attempt_at for d in earlier), now) + ORDER_WAIT
    return "waiting-for-earlier-version"


def _withdraw(session: Session, delivery_ids: list[str]) -> None:
    if delivery_ids:
        session.exec(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.pending)
            .values(state=DeliveryState.withdrawn, lease_until=None, last_error="the story was killed")
        )


def _record(
    delivery_id: str, lease: datetime, attempt_no: int, started: datetime, result: webhook.SendResult, settings
) -> str:
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
    """Scheduler sweep: pending deliveries to active subscribers that are due, that no worker
    holds and that have no send task on its way; they are marked queued before they are handed
    back. (A disabled subscriber's deliveries wait here until it is enabled.)"""
    now = utcnow()
    with session_scope() as session:
        due = list(
            session.exec(
                select(Delivery.id, Delivery.priority)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Subscriber.active.is_(True))
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
