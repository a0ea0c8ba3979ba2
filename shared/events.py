"""Transactional outbox: write an event with the change, relay it to Celery after commit.

``record`` adds the event to the caller's session (same transaction as the change), leased to
the process that writes it: nobody else sends it while that process relays it. ``relay`` reads
the events it was given, hands them to Celery (consecutive events for one stage at one priority
share a message, up to a few versions: ``messages``) and marks them sent (one write per batch, no
claim: the lease was taken with the change). Whatever a crash or a Redis outage leaves unsent,
the scheduler's ``relay_unsent`` claims (a conditional UPDATE: SQLite has no SKIP LOCKED) and
sends once the lease has run out; a relay that cannot send releases its events at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, insert, or_, update
from sqlmodel import Session, select

from shared import queue
from shared.config import Settings, get_settings
from shared.db import read_scope, session_scope
from shared.models import OutboxEvent, VersionState
from shared.queue import FLASH_URGENCIES, priority_for_urgency
from shared.timeutil import utcnow

log = logging.getLogger(__name__)

#: What each event kind asks for next.
TASK_FOR_EVENT = {
    "version.stored": "enrichment.tag_version",
    "version.enriched": "publish.render_version",
    "version.released": "publish.render_version",
}

#: Tasks that take several version ids in one message (a list), when events for them wait at the
#: same priority, with the setting that caps a group: a tagging batch's versions then cost the
#: publish workers one Celery hop (and one delivery message) in all, and a burst's stored versions
#: cost the enrichment workers a hop for every few of them instead of one each (its batches are
#: formed where the versions wait, so a message names the versions it was sent for, not a batch).
GROUPED_TASKS = {
    "publish.render_version": "publish_group_versions",
    "enrichment.tag_version": "enrichment_group_versions",
}
#: ... except at these priorities: a flash is tagged alone, so it goes to enrichment alone.
ALONE_PRIORITIES = {"enrichment.tag_version": frozenset(priority_for_urgency(u) for u in FLASH_URGENCIES)}

#: The event that moves a version on from each waiting state.
EVENT_FOR_STATE = {
    VersionState.stored: "version.stored",
    VersionState.enriched: "version.enriched",
    VersionState.releasing: "version.released",
}

#: The queue whose worker moves a version on from each waiting state.
QUEUE_FOR_STATE = {state: TASK_FOR_EVENT[event].split(".", 1)[0] for state, event in EVENT_FOR_STATE.items()}

#: (id, kind, version id, priority) of an event to send.
Event = tuple[int, str, int, int]
OUTBOX = OutboxEvent.__table__
_EVENT_COLUMNS = (OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.version_id, OUTBOX.c.priority)

# Statements every stage runs for every story, built once: building one costs several times what
# running it does (``python -m bench.statements``); values are bound at each run.
_INSERT = insert(OUTBOX).returning(OUTBOX.c.id)
_UNSENT = select(*_EVENT_COLUMNS).where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)), OUTBOX.c.sent_at.is_(None))
_MARK_SENT = (
    update(OUTBOX).where(OUTBOX.c.id.in_(bindparam("ids", expanding=True))).values(sent_at=bindparam("sent_at"))
)

LEASE = timedelta(seconds=30)
#: The lease an event is born with: the writer relays it within moments of its commit; if the
#: writer dies first, the sweep sends it once this has run out.
BIRTH_LEASE = timedelta(seconds=5)
#: Events younger than this are left to the relay of the process that wrote them.
SWEEP_GRACE = timedelta(seconds=2)


class RecordedId(int):
    """The id of an event this process recorded, as ``record`` returns it: an int, which also
    carries what the relay sends, so relaying it after commit needs no read of the row."""

    event: Event

    def __new__(cls, event_id: int, kind: str, version_id: int, priority: int) -> RecordedId:
        recorded = super().__new__(cls, event_id)
        recorded.event = (event_id, kind, version_id, priority)
        return recorded


def record(session: Session, kind: str, version_id: int, urgency: int) -> RecordedId:
    """Add an event to the caller's transaction and return its id; ``urgency`` sets its queue
    priority. It is born leased (and counted as one send attempt): the writer relays it after
    commit, and the sweep leaves it alone unless the writer died or gave it back. The caller has
    flushed the version it announces."""
    if kind not in TASK_FOR_EVENT:
        raise ValueError(f"unknown event kind {kind!r}")
    now = utcnow()
    row = {
        "kind": kind,
        "version_id": version_id,
        "priority": priority_for_urgency(urgency),
        "created_at": now,
        "lease_until": now + BIRTH_LEASE,
        "send_attempts": 1,
    }
    return RecordedId(session.execute(_INSERT, row).scalar_one(), kind, version_id, row["priority"])


#: Events read (or claimed) and sent together at most, then marked sent with one UPDATE.
BATCH = 200


def relay(event_ids: Iterable[int]) -> int:
    """Send events this process recorded (after their transaction committed). Returns how many
    were sent. Never raises: whatever fails here is left to the scheduler's sweep, because the
    change itself is already safe in the database. The events are read (a read takes no write
    lock) unless ``record`` returned them to this process, sent most urgent first, and marked
    sent together. While the broker is resting after a failure, or when a send fails, the events
    not sent are released at once, so the sweep's next pass may send them (only a relay that died
    mid-send leaves a lease to run out)."""
    return _relay(list(event_ids), _recorded_or_leased_to_us)


def _relay(ids: list[int], take: Callable[[list[int]], list[Event]]) -> int:
    sent = 0
    for start in range(0, len(ids), BATCH):
        if queue.resting():
            _release(ids[start:])
            break
        sent += _relay_batch(ids[start : start + BATCH], take)
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
        return self.drain() if self.offer(event_ids) else 0

    def offer(self, event_ids: Iterable[int]) -> bool:
        """Hand the events over (no I/O: an event loop may call this). True: nobody is relaying,
        so the caller must now call ``drain`` (in a thread of its own)."""
        with self._lock:
            self._pending.extend(event_ids)
            if self._relaying:
                return False
            self._relaying = True
            return True

    def drain(self) -> int:
        """Relay whatever gathers until nothing is left (the caller took the turn in ``offer``)."""
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


@dataclass
class Message:
    """One message to a stage: the versions it moves on and the events it sends."""

    task: str
    priority: int
    version_ids: list[int] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)

    @property
    def argument(self) -> int | list[int]:
        """A version id, or a list of them for a group (``GROUPED_TASKS``)."""
        return self.version_ids if len(self.version_ids) > 1 else self.version_ids[0]


def group_sizes(settings: Settings) -> dict[str, int]:
    """Task → versions at most in one of its messages (``GROUPED_TASKS``)."""
    return {task: getattr(settings, name) for task, name in GROUPED_TASKS.items()}


def messages(events: list[Event], sizes: dict[str, int]) -> list[Message]:
    """The messages that send the events, in their order: consecutive events for a task in
    ``sizes`` at the same priority share one, up to its size in versions (never at its
    ``ALONE_PRIORITIES``; a version named twice, by an event and the sweep's fresh one, is named
    once)."""
    out: list[Message] = []
    for event_id, kind, version_id, priority in events:
        task, last = TASK_FOR_EVENT[kind], out[-1] if out else None
        size = 1 if priority in ALONE_PRIORITIES.get(task, ()) else sizes.get(task, 1)
        joins = (
            last is not None
            and (last.task, last.priority) == (task, priority)
            and (version_id in last.version_ids or len(last.version_ids) < size)
        )
        if not joins:
            last = Message(task, priority)
            out.append(last)
        if version_id not in last.version_ids:
            last.version_ids.append(version_id)
        last.event_ids.append(event_id)
    return out


def _relay_batch(event_ids: list[int], take: Callable[[list[int]], list[Event]]) -> int:
    try:
        claimed = take(event_ids)
    except Exception:  # the database is the trouble: the sweep sends them later
        log.warning("outbox events %s not read; the sweep will retry", event_ids, exc_info=True)
        return 0
    sent: list[int] = []
    try:
        for message in messages(claimed, group_sizes(get_settings())):
            queue.send(message.task, message.argument, message.priority)
            sent += message.event_ids
    except Exception:  # broker trouble: the rest is released for the sweep
        log.warning("outbox events not sent; the sweep will retry", exc_info=True)
        _release([event[0] for event in claimed[len(sent) :]])
    if sent:
        _mark_sent(sent)
    return len(sent)


def _most_urgent_first(rows: Iterable[Any]) -> list[Event]:
    return sorted((tuple(row) for row in rows), key=lambda event: (event[3], event[0]))


def _recorded_or_leased_to_us(event_ids: list[int]) -> list[Event]:
    """What to send for each event: carried by the id when this process recorded it (its
    transaction committed a moment ago, and its lease keeps the sweep off it), else read."""
    recorded = [event_id.event for event_id in event_ids if isinstance(event_id, RecordedId)]
    others = [event_id for event_id in event_ids if not isinstance(event_id, RecordedId)]
    return _most_urgent_first(recorded + (_leased_to_us(others) if others else []))


def _leased_to_us(event_ids: list[int]) -> list[Event]:
    """The events not sent yet, most urgent first (their lease was taken when they were written)."""
    with read_scope() as session:
        return _most_urgent_first(session.connection().execute(_UNSENT, {"ids": event_ids}))


def _claim(event_ids: list[int]) -> list[Event]:
    """Lease the events nobody sent or holds, most urgent first."""
    now = utcnow()
    with session_scope() as session:
        rows = session.connection().execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(event_ids), OUTBOX.c.sent_at.is_(None))
            .where(or_(OUTBOX.c.lease_until.is_(None), OUTBOX.c.lease_until < now))
            .values(lease_until=now + LEASE, send_attempts=OUTBOX.c.send_attempts + 1)
            .returning(*_EVENT_COLUMNS)
        )
        return _most_urgent_first(rows)


def _mark_sent(event_ids: list[int]) -> None:
    try:
        with session_scope() as session:
            session.connection().execute(_MARK_SENT, {"ids": event_ids, "sent_at": utcnow()})
    except Exception:  # they were sent: once the lease runs out the sweep sends them again, harmlessly
        log.warning("outbox events %s sent but not marked; the sweep may send them again", event_ids, exc_info=True)


def _release(event_ids: list[int]) -> None:
    if not event_ids:
        return
    try:
        with session_scope() as session:
            session.connection().execute(
                update(OUTBOX).where(OUTBOX.c.id.in_(event_ids), OUTBOX.c.sent_at.is_(None)).values(lease_until=None)
            )
    except Exception:  # the database is the trouble: the lease runs out instead
        log.warning("outbox events %s keep their lease until it runs out", event_ids, exc_info=True)


#: Events nobody sent: older than a relay in progress needs, and not leased (or the lease ran out).
_FORGOTTEN = (
    select(OUTBOX.c.id)
    .where(OUTBOX.c.sent_at.is_(None), OUTBOX.c.created_at < bindparam("created_before"))
    .where(or_(OUTBOX.c.lease_until.is_(None), OUTBOX.c.lease_until < bindparam("now")))
    .order_by(OUTBOX.c.priority, OUTBOX.c.id)
    .limit(bindparam("limit"))
)


def relay_unsent(limit: int = 500) -> int:
    """Scheduler sweep: send events that nobody sent (crash, broker outage). They are found in a
    read (an idle sweep never queues with the writers); the claim takes each one only if it is
    still unsent and not leased."""
    now = utcnow()
    params = {"created_before": now - SWEEP_GRACE, "now": now, "limit": limit}
    with read_scope() as session:
        ids = [event_id for (event_id,) in session.connection().execute(_FORGOTTEN, params)]
    return _relay(ids, _claim)
