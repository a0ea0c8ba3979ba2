"""Transactional outbox: write an event with the change, relay it to Celery after commit.

``record`` adds the event to the caller's session (same transaction as the change).
``relay`` claims events with a lease column (SQLite has no SKIP LOCKED), hands each to
Celery, and marks it sent. Whatever a crash or a Redis outage leaves unsent, the
scheduler's ``relay_unsent`` sends again once the lease has run out.
"""

from __future__ import annotations

import logging
import threading
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


#: Events claimed and sent together at most (one UPDATE to claim them, one to mark them sent).
BATCH = 200


def relay(event_ids: Iterable[int]) -> int:
    """Send the given events (after their transaction committed). Returns how many were sent.
    Never raises: whatever fails here is left to the scheduler's sweep, because the change
    itself is already safe in the database. The events are claimed together (one conditional
    UPDATE sets their lease), sent most urgent first, and marked sent together. While the broker
    is resting after a failure, nothing is claimed; events whose send failed are released at
    once, so the sweep's next pass may send them (only a relay that died mid-send leaves a lease
    to run out)."""
    ids = list(event_ids)
    sent = 0
    for start in range(0, len(ids), BATCH):
        if queue.resting():
            break
        sent += _relay_batch(ids[start : start + BATCH])
    return sent


class Coalescer:
    """``relay`` for many threads at once (the API's requests): a thread that finds another one
    relaying leaves its events to it and returns; the one relaying sends whatever has gathered
    meanwhile, a batch at a time, until nothing is left. Under load, N requests' events cost
    one claim and one mark-sent instead of N of each; alone, a thread relays its own events
    before it returns, as ``relay`` does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[int] = []
        self._relaying = False

    def relay(self, event_ids: Iterable[int]) -> int:
        with self._lock:
            self._pending.extend(event_ids)
            if self._relaying:
                return 0
            self._relaying = True
        sent = 0
        try:
            while batch := self._next_batch():
                sent += relay(batch)
        except BaseException:
            with self._lock:
                self._relaying = False
            raise
        return sent

    def _next_batch(self) -> list[int]:
        """The next batch; when there is none, this thread stops relaying (in the same lock, so
        events added a moment later find nobody relaying and are sent by their own thread)."""
        with self._lock:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            if not batch:
                self._relaying = False
            return batch


#: The API's relay: every request's events, after its response went out.
api_relay = Coalescer()


def _relay_batch(event_ids: list[int]) -> int:
    try:
        claimed = _claim(event_ids)
    except Exception:  # the database is the trouble: the sweep sends them later
        log.warning("outbox events %s not claimed; the sweep will retry", event_ids, exc_info=True)
        return 0
    sent: list[int] = []
    try:
        for event_id, kind, version_id, priority in claimed:
            queue.send(TASK_FOR_EVENT[kind], version_id, priority)
            sent.append(event_id)
    except Exception:  # broker trouble: the rest is released for the sweep
        log.warning("outbox events not sent; the sweep will retry", exc_info=True)
        _release([event[0] for event in claimed[len(sent) :]])
    if sent:
        _mark_sent(sent)
    return len(sent)


def _claim(event_ids: list[int]) -> list[tuple[int, str, int, int]]:
    """Lease the events nobody sent or holds; (id, kind, version id, priority), most urgent first."""
    now = utcnow()
    with session_scope() as session:
        rows = session.exec(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(event_ids), OutboxEvent.sent_at.is_(None))
            .where(or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now))
            .values(lease_until=now + LEASE, send_attempts=OutboxEvent.send_attempts + 1)
            .returning(OutboxEvent.id, OutboxEvent.kind, OutboxEvent.version_id, OutboxEvent.priority)
        ).all()
    return sorted((tuple(row) for row in rows), key=lambda event: (event[3], event[0]))


def _mark_sent(event_ids: list[int]) -> None:
    try:
        with session_scope() as session:
            session.exec(update(OutboxEvent).where(OutboxEvent.id.in_(event_ids)).values(sent_at=utcnow()))
    except Exception:  # they were sent: once the lease runs out the sweep sends them again, harmlessly
        log.warning("outbox events %s sent but not marked; the sweep may send them again", event_ids, exc_info=True)


def _release(event_ids: list[int]) -> None:
    if not event_ids:
        return
    try:
        with session_scope() as session:
            session.exec(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(event_ids), OutboxEvent.sent_at.is_(None))
                .values(lease_until=None)
            )
    except Exception:  # the database is the trouble: the lease runs out instead
        log.warning("outbox events %s keep their lease until it runs out", event_ids, exc_info=True)


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
