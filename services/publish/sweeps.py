"""The scheduler's sweeps over publishing: embargoes that have lifted, deliveries due for a
(re)try. Each looks in a read first and opens its write transaction only when it found work, so
an idle sweep never queues with the pipeline's writers (SQLite takes one writer at a time)."""

from __future__ import annotations

from sqlalchemy import or_, update
from sqlmodel import select

from services.publish.delivery import Due
from shared import events
from shared.db import finds_any, session_scope
from shared.models import Delivery, DeliveryState, StoryVersion, Subscriber, VersionState
from shared.queue import DELIVERY_QUEUE_LEASE
from shared.timeutil import utcnow


def release_due_embargoes(limit: int = 200) -> list[int]:
    """Scheduler sweep: embargoed versions whose time has come get a publish event."""
    now = utcnow()
    lifted = (StoryVersion.state == VersionState.embargoed, StoryVersion.embargoed_until <= now)
    if not finds_any(select(StoryVersion.id).where(*lifted)):
        return []
    event_ids = []
    with session_scope() as session:
        due = session.exec(select(StoryVersion.id, StoryVersion.urgency).where(*lifted).limit(limit)).all()
        for version_id, urgency in due:
            result = session.exec(
                update(StoryVersion)
                .where(StoryVersion.id == version_id, StoryVersion.state == VersionState.embargoed)
                .values(state=VersionState.releasing)
            )
            if result.rowcount == 1:
                event_ids.append(events.record(session, "version.released", version_id, urgency))
        return event_ids


def due_deliveries(limit: int = 2000) -> list[tuple[Due, int]]:
    """Scheduler sweep: pending deliveries to active subscribers that are due, that no worker
    holds and that have no send task on its way; they are marked queued before they are handed
    back. (A disabled subscriber's deliveries wait here until it is enabled.)"""
    now = utcnow()
    query = (
        select(Delivery.id, Delivery.subscriber_id, Delivery.priority)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Subscriber.active.is_(True))
        .where(Delivery.state == DeliveryState.pending, Delivery.next_attempt_at <= now)
        .where(or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
        .where(or_(Delivery.queued_until.is_(None), Delivery.queued_until < now))
        .order_by(Delivery.priority, Delivery.next_attempt_at)
    )
    if not finds_any(query):
        return []
    with session_scope() as session:
        due = list(session.exec(query.limit(limit)).all())
        if due:
            session.exec(
                update(Delivery)
                .where(Delivery.id.in_([d for d, _, _ in due]))
                .values(queued_until=now + DELIVERY_QUEUE_LEASE)
            )
        return [(Due(delivery_id, subscriber_id, priority), priority) for delivery_id, subscriber_id, priority in due]
