"""Transactional outbox: write an event with the change, relay it to Celery after commit.

``record`` adds the event to the caller's session (same transaction as the change).
``relay`` claims events with a lease column (SQLite has no SKIP LOCKED), hands each to
Celery, and marks it sent. Whatever a crash or a Redis outage leaves unsent, the
scheduler's ``relay_unsent`` sends again once the lease has run out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, select

from shared import queue
from shared.db import session_scope
from shared.models import OutboxEvent, VersionState
from shared.queue import priority_for_urgency
from shared.timeutil import utcnow

log = logging.getLogger(__name__)

#: What each event kind asks for next.
TASK_FOR_EVENT = {
    "version.stored": "enrichment.tag_version",
    "version.enriched": "publish.render_version",
    "version.released": "publish.render_version",
}

#: The event that moves a version on from each waiting state.
EVENT_FOR_STATE = {
    VersionState.stored: "version.stored",
    VersionState.enriched: "version.enriched",
    VersionState.releasing: "version.released",
}

#: The queue whose worker moves a version on from each waiting state.
QUEUE_FOR_STATE = {state: TASK_FOR_EVENT[event].split(".", 1)[0] for state, event in EVENT_FOR_STATE.items()}

LEASE = timedelta(seconds=30)
#: Events younger than this are left to the relay of the process that wrote them.
SWEEP_GRACE = timedelta(seconds=2)


def record(session: Session, kind: str, version_id: int, urgency: int) -> OutboxEvent:
    """Add an event to the caller's transaction; ``urgency`` sets its queue priority."""
    if kind not in TASK_FOR_EVENT:
        raise ValueError(f"unknown event kind {kind!r}")
    event = OutboxEvent(kind=kind, version_id=version_id, priority=priority_for_urgency(urgency))
    session.add(event)
    return event


def _claim(session: Session, event_id: int) -> bool:
    now = utcnow()
    result = session.exec(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.sent_at.is_(None))
        .where(or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now))
        .values(lease_until=now + LEASE, send_attempts=OutboxEvent.send_attempts + 1)
    )
    return result.rowcount == 1


def relay(event_ids: Iterable[int]) -> int:
    """Send the given events (after their transaction committed). Returns how many were sent.
    Never raises: whatever fails here is left to the scheduler's sweep, because the change
    itself is already safe in the database. While the broker is resting after a failure, nothing
    is claimed; an event whose send failed is released at once, so the sweep's next pass may
    send it (only a relay that died mid-send leaves a lease to run out)."""
    sent = 0
    for event_id in event_ids:
        if queue.resting():
            break
        try:
            sent += _relay_one(event_id)
        except Exception:  # broker or database trouble: the sweep tries again
            log.warning("outbox event %s not sent; the sweep will retry", event_id, exc_info=True)
            _release(event_id)
    return sent


def _relay_one(event_id: int) -> int:
    with session_scope() as session:
        if not _claim(session, event_id):
            return 0
        event = session.get(OutboxEvent, event_id)
    queue.send(TASK_FOR_EVENT[event.kind], event.version_id, event.priority)
    with session_scope() as session:
        session.exec(update(OutboxEvent).where(OutboxEvent.id == event_id).values(sent_at=utcnow()))
    return 1


def _release(event_id: int) -> None:
    try:
        with session_scope() as session:
            session.exec(
                update(OutboxEvent)
                .where(OutboxEvent.id == event_id, OutboxEvent.sent_at.is_(None))
                .values(lease_until=None)
            )
    except Exception:  # the database is the trouble: the lease runs out instead
        log.warning("outbox event %s keeps its lease until it runs out", event_id, exc_info=True)


def relay_unsent(limit: int = 500) -> int:
    """Scheduler sweep: send events that nobody sent (crash, broker outage)."""
    now = utcnow()
    with session_scope() as session:
        ids = session.exec(
            select(OutboxEvent.id)
            .where(OutboxEvent.sent_at.is_(None), OutboxEvent.created_at < now - SWEEP_GRACE)
            .where(or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now))
            .order_by(OutboxEvent.priority, OutboxEvent.id)
            .limit(limit)
        ).all()
    return relay(ids)
