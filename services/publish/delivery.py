"""Deliveries on the database, in batches: ``claim`` takes the leases of many deliveries at
once and decides which may go now; ``record`` writes many attempts and their outcomes at once.
The delivery engine (``engine.py``) calls them from a worker thread; everything here is a plain
function on the database, testable without a network.

The rules ``decide`` applies to a claimed delivery:

* the story was killed and this is not the kill: it is withdrawn, never sent;
* the subscriber is disabled: it stays pending (held) and goes once the subscriber is enabled;
* an earlier version of the story is still pending for this subscriber: it waits for it, so
  versions arrive in order (a kill instead withdraws those not in flight and waits only for a
  send in flight).

Results are fenced by the lease that produced them: a worker that overran its lease cannot
overwrite the result of the worker that took the delivery over.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from services.publish import formats
from shared import metrics
from shared.config import Settings
from shared.db import session_scope
from shared.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    Story,
    StoryVersion,
    Subscriber,
    VersionKind,
)
from shared.queue import DELIVERY_QUEUE_LEASE
from shared.timeutil import as_utc, isoformat, utcnow
from shared.webhook_client import SendResult, signing_secrets

log = logging.getLogger(__name__)

#: A later version waits this long past the earlier one's next try before it looks again (it is
#: woken at once when the earlier one is delivered).
ORDER_WAIT = timedelta(seconds=1)
DELIVERIES, SUBSCRIBERS, VERSIONS, STORIES = (m.__table__ for m in (Delivery, Subscriber, StoryVersion, Story))
_LATER, _EARLIER = DELIVERIES.alias("later"), DELIVERIES.alias("earlier")


# Statements every delivery runs, built once: building one costs several times what running it
# does (``python -m bench.statements``); values are bound at each run.
_TAKE_LEASES = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id.in_(bindparam("ids", expanding=True)), DELIVERIES.c.state == DeliveryState.pending)
    .where(DELIVERIES.c.next_attempt_at <= bindparam("now"))
    .where(or_(DELIVERIES.c.lease_until.is_(None), DELIVERIES.c.lease_until < bindparam("now")))
    .values(lease_until=bindparam("lease"), queued_until=None)
    .returning(DELIVERIES.c.id, DELIVERIES.c.version)
)
_EARLIER_PENDING = (
    select(_LATER.c.id, _EARLIER.c.id, _EARLIER.c.next_attempt_at, _EARLIER.c.lease_until)
    .join(
        _EARLIER,
        and_(
            _EARLIER.c.subscriber_id == _LATER.c.subscriber_id,
            _EARLIER.c.story_id == _LATER.c.story_id,
            _EARLIER.c.version < _LATER.c.version,
        ),
    )
    .where(_LATER.c.id.in_(bindparam("ids", expanding=True)), _EARLIER.c.state == DeliveryState.pending)
)
#: What sending each claimed delivery needs: its row, its subscriber, its version and story.
_CLAIMED_ROWS = (
    select(
        DELIVERIES.c.id,
        DELIVERIES.c.subscriber_id,
        DELIVERIES.c.story_id,
        DELIVERIES.c.version_id,
        DELIVERIES.c.message_id,
        DELIVERIES.c.attempts,
        DELIVERIES.c.attempt_limit,
        SUBSCRIBERS.c.url,
        SUBSCRIBERS.c.format,
        SUBSCRIBERS.c.channel,
        SUBSCRIBERS.c.credentials,
        SUBSCRIBERS.c.secret,
        SUBSCRIBERS.c.previous_secret,
        SUBSCRIBERS.c.previous_secret_expires_at,
        SUBSCRIBERS.c.active,
        SUBSCRIBERS.c.deleted_at,
        VERSIONS.c.kind,
        VERSIONS.c.received_at,
        DELIVERIES.c.version,
        STORIES.c.killed_at,
    )
    .join(SUBSCRIBERS, SUBSCRIBERS.c.id == DELIVERIES.c.subscriber_id)
    .join(VERSIONS, VERSIONS.c.id == DELIVERIES.c.version_id)
    .join(STORIES, STORIES.c.id == DELIVERIES.c.story_id)
    .where(DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
)
_RENDERED = select(VERSIONS.c.id, VERSIONS.c.kind, VERSIONS.c.ninjs, VERSIONS.c.published_at).where(
    VERSIONS.c.id.in_(bindparam("ids", expanding=True))
)
#: The result of attempts, written under their lease; the columns to set are given at run time.
_WRITE_OUTCOME = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id.in_(bindparam("ids", expanding=True)), DELIVERIES.c.lease_until == bindparam("held_lease"))
    .where(DELIVERIES.c.state == DeliveryState.pending)
    .returning(DELIVERIES.c.id)
)
_NEVER_TRIED_LATER = (
    select(DELIVERIES.c.id, DELIVERIES.c.subscriber_id, DELIVERIES.c.story_id, DELIVERIES.c.priority)
    .where(DELIVERIES.c.story_id.in_(bindparam("stories", expanding=True)))
    .where(DELIVERIES.c.state == DeliveryState.pending, DELIVERIES.c.lease_until.is_(None))
    .where(DELIVERIES.c.next_attempt_at > bindparam("now"), DELIVERIES.c.attempts == 0)
)

#: After a delivery to them succeeded: subscribers that were failing are failing no more.
_STREAK_ENDED = (
    update(SUBSCRIBERS)
    .where(SUBSCRIBERS.c.id.in_(bindparam("ids", expanding=True)), SUBSCRIBERS.c.failing_since.is_not(None))
    .values(failing_since=None, last_failed_at=None)
)


@dataclass(frozen=True)
class Due:
    """What a delivery message carries: ids, and the queue priority (0 = flash or kill)."""

    delivery_id: str
    subscriber_id: str
    priority: int = 4


@dataclass(frozen=True)
class Outgoing:
    """One signed POST to make, read out of the database before the network call."""

    delivery_id: str
    subscriber_id: str
    story_id: str
    lease: datetime
    url: str
    secrets: tuple[str, ...]
    message_id: str
    attempt_no: int
    attempt_limit: int
    body: bytes
    #: When the POST of the version arrived (the ``delivered`` stage is timed from it).
    received_at: datetime | None = None
    #: The version's number (for the log line of the attempt).
    version: int | None = None
    #: The body's content type (the subscriber's format) and the event it announces.
    content_type: str = "application/json"
    event_type: str | None = None
    #: A file channel's settings and sealed credentials (None: a webhook to ``url``), and the format.
    channel: dict | None = None
    credentials: str | None = None
    format: str = "ninjs"


@dataclass(frozen=True)
class Earlier:
    """A pending delivery of an earlier version of the same story to the same subscriber."""

    delivery_id: str
    next_attempt_at: datetime
    in_flight: bool


@dataclass(frozen=True)
class Decision:
    action: str  # "send" | "withdraw" | "hold" | "wait"
    until: datetime | None = None
    withdraw_earlier: tuple[str, ...] = ()


def decide(
    *,
    is_kill: bool,
    story_killed: bool,
    active: bool,
    earlier: Iterable[Earlier],
    now: datetime,
    deleted: bool = False,
) -> Decision:
    """What to do with a claimed delivery (see the module's docstring)."""
    if deleted or (story_killed and not is_kill):
        return Decision("withdraw")
    if not active:
        return Decision("hold")
    earlier = list(earlier)
    withdraw: tuple[str, ...] = ()
    if is_kill:
        withdraw = tuple(e.delivery_id for e in earlier if not e.in_flight)
        earlier = [e for e in earlier if e.in_flight]
    if earlier:
        until = max(max(e.next_attempt_at for e in earlier), now) + ORDER_WAIT
        return Decision("wait", until, withdraw)
    return Decision("send", None, withdraw)


def _take_leases(connection: Connection, ids: list[str], lease: datetime, now: datetime) -> dict[str, int]:
    """Lease what is due and free; returns the leased deliveries' version numbers."""
    return dict(connection.execute(_TAKE_LEASES, {"ids": ids, "now": now, "lease": lease}).all())


def _earlier_pending(connection: Connection, ids: list[str], now: datetime) -> dict[str, list[Earlier]]:
    rows = connection.execute(_EARLIER_PENDING, {"ids": ids}).all()
    found: dict[str, list[Earlier]] = {}
    for later_id, earlier_id, next_at, lease in rows:
        found.setdefault(later_id, []).append(Earlier(earlier_id, next_at, lease is not None and lease > now))
    return found


def _apply(connection: Connection, decisions: dict[str, Decision]) -> None:
    """Write what the decisions mean for the deliveries that do not go now."""
    withdraw = [i for i, d in decisions.items() if d.action == "withdraw"]
    withdraw += [e for d in decisions.values() for e in d.withdraw_earlier]
    if withdraw:
        connection.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id.in_(withdraw), DELIVERIES.c.state == DeliveryState.pending)
            .values(state=DeliveryState.withdrawn, lease_until=None, last_error="the story was killed")
        )
    held = [i for i, d in decisions.items() if d.action == "hold"]
    if held:
        connection.execute(update(DELIVERIES).where(DELIVERIES.c.id.in_(held)).values(lease_until=None))
    waits = [{"b_id": i, "b_until": d.until} for i, d in decisions.items() if d.action == "wait"]
    if waits:
        connection.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == bindparam("b_id"))
            .values(lease_until=None, next_attempt_at=bindparam("b_until")),
            waits,
        )


def _claimed_rows(connection: Connection, ids: list[str]) -> list[Any]:
    return connection.execute(_CLAIMED_ROWS, {"ids": ids}).all()


def _bodies(connection: Connection, wanted: set[tuple[int, str]]) -> dict[tuple[int, str], formats.Rendition]:
    """Each (version, format)'s body, rendered once however many subscribers get it."""
    if not wanted:
        return {}
    rows = connection.execute(_RENDERED, {"ids": sorted({version_id for version_id, _ in wanted})}).all()
    versions = {row.id: row for row in rows}
    return {
        (version_id, name): formats.body(
            name,
            versions[version_id].ninjs,
            VersionKind(versions[version_id].kind),
            isoformat(as_utc(versions[version_id].published_at)),
        )
        for version_id, name in wanted
    }


def claim(delivery_ids: list[str], *, settings: Settings) -> dict[str, Outgoing | None]:
    """Take the leases of the given deliveries that are due and free, and return what to send
    for each one that may go now (None for the others: not due, held, waiting, withdrawn)."""
    return claim_and_record(delivery_ids, [], settings=settings)[0]


def _claim(connection: Connection, delivery_ids: list[str], settings: Settings) -> dict[str, Outgoing | None]:
    now = utcnow()
    lease = now + timedelta(seconds=settings.delivery_lease_seconds)
    outgoing: dict[str, Outgoing | None] = dict.fromkeys(delivery_ids)
    leased = _take_leases(connection, list(outgoing), lease, now)
    if not leased:
        return outgoing
    rows = _claimed_rows(connection, list(leased))
    later_versions = [i for i, version in leased.items() if version > 1]  # a first version waits for none
    earlier = _earlier_pending(connection, later_versions, now) if later_versions else {}
    decisions = {
        row.id: decide(
            is_kill=row.kind == VersionKind.kill,
            story_killed=row.killed_at is not None,
            active=row.active,
            earlier=earlier.get(row.id, ()),
            now=now,
            deleted=row.deleted_at is not None,
        )
        for row in rows
    }
    sending = [row for row in rows if decisions[row.id].action == "send"]
    bodies = _bodies(connection, {(row.version_id, row.format) for row in sending})
    for row in sending:
        outgoing[row.id] = _outgoing(row, bodies[(row.version_id, row.format)], lease, now)
    _apply(connection, decisions)
    return outgoing


def _outgoing(row: Any, rendition: formats.Rendition, lease: datetime, now: datetime) -> Outgoing:
    return Outgoing(
        row.id,
        row.subscriber_id,
        row.story_id,
        lease,
        row.url,
        signing_secrets(row, now),
        row.message_id,
        row.attempts + 1,
        row.attempt_limit,
        rendition.body,
        row.received_at,
        row.version,
        rendition.content_type,
        VersionKind(row.kind).event_type,
        row.channel,
        row.credentials,
        row.format,
    )


def keep_queued(delivery_ids: list[str]) -> None:
    """The engine still holds these (waiting for a slot): keep the sweep from queuing them again."""
    with session_scope() as session:
        session.connection().execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id.in_(delivery_ids), DELIVERIES.c.state == DeliveryState.pending)
            .where(DELIVERIES.c.lease_until.is_(None))
            .values(queued_until=utcnow() + DELIVERY_QUEUE_LEASE)
        )


#: The longest back-off between two tries (before jitter and Retry-After).
MAX_BACKOFF = 6 * 3600.0


def backoff(attempt: int, retry_after: float | None = None, base_seconds: float = 5.0) -> timedelta:
    """Delay before the next try after ``attempt`` failed tries: ``base_seconds`` doubling up to
    6 h, ±20 % jitter. A receiver's Retry-After wins when it is longer (capped at a day)."""
    base = min(base_seconds * 2 ** (attempt - 1), MAX_BACKOFF)
    delay = base * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 86400.0))
    return timedelta(seconds=delay)


@dataclass
class Attempt:
    """One finished attempt, to be recorded."""

    outgoing: Outgoing
    started: datetime
    result: SendResult


@dataclass
class Recorded:
    outcomes: dict[str, str] = field(default_factory=dict)  # delivery id -> what happened
    follow_ups: list[Due] = field(default_factory=list)  # later versions that may go now


def _outcome(attempt: Attempt, settings: Settings, now: datetime) -> tuple[str, dict[str, Any]]:
    result, number = attempt.result, attempt.outgoing.attempt_no
    if result.ok:
        return "delivered", {"state": DeliveryState.delivered, "delivered_at": now}
    if result.gone:
        return "gone", {"state": DeliveryState.failed}
    if number >= attempt.outgoing.attempt_limit:
        return "failed", {"state": DeliveryState.failed}
    delay = backoff(number, result.retry_after_seconds, settings.delivery_retry_base_seconds)
    return "retry", {"next_attempt_at": now + delay}


def record(attempts: list[Attempt], *, settings: Settings) -> Recorded:
    """Write the attempts, and each delivery's new state where its lease still holds. Results
    whose lease was lost (another worker took the delivery over) count for nothing else."""
    return claim_and_record([], attempts, settings=settings)[1]


def claim_and_record(
    delivery_ids: list[str], attempts: list[Attempt], *, settings: Settings
) -> tuple[dict[str, Outgoing | None], Recorded]:
    """``record`` the attempts and ``claim`` the deliveries in one transaction: the delivery
    engine's results and its next claims, when both wait for the database, take one write
    transaction instead of two (on SQLite, one turn at the write lock every stage queues for)."""
    with session_scope() as session:
        connection = session.connection()
        recorded, by_outcome = _record(connection, attempts, settings) if attempts else (Recorded(), {})
        claimed = _claim(connection, delivery_ids, settings) if delivery_ids else {}
    _after_recording(attempts, recorded, by_outcome)
    return claimed, recorded


#: Attempts by outcome, each with the values its delivery's row was given.
ByOutcome = dict[str, list[tuple[Attempt, dict[str, Any]]]]


def _record(connection: Connection, attempts: list[Attempt], settings: Settings) -> tuple[Recorded, ByOutcome]:
    now, recorded = utcnow(), Recorded()
    connection.execute(insert(DeliveryAttempt.__table__), [_attempt_row(a) for a in attempts])
    by_outcome: ByOutcome = {}
    for attempt in attempts:
        outcome, values = _outcome(attempt, settings, now)
        by_outcome.setdefault(outcome, []).append((attempt, values))
    written = set().union(*(_write_outcome(connection, group) for group in by_outcome.values()))
    if len(written) != len(attempts):
        log.warning(
            "%d of %d results came after their lease ran out; only their attempts are recorded",
            len(attempts) - len(written),
            len(attempts),
        )
    held = {o: [(a, v) for a, v in g if a.outgoing.delivery_id in written] for o, g in by_outcome.items()}
    recorded.outcomes = {a.outgoing.delivery_id: o for o, g in held.items() for a, _ in g}
    recorded.follow_ups = _wake_later_versions(connection, [a for a, _ in held.get("delivered", [])], now)
    _track_subscribers(connection, held, settings, now)
    return recorded, by_outcome


def _after_recording(attempts: list[Attempt], recorded: Recorded, by_outcome: ByOutcome) -> None:
    """Metrics and log lines of recorded attempts, once committed."""
    for attempt in attempts:
        outcome = recorded.outcomes.get(attempt.outgoing.delivery_id, "lease_lost")
        metrics.delivery_attempt(outcome, attempt.result.latency_ms / 1000, attempt.outgoing.received_at)
    _log_attempts(by_outcome, recorded.outcomes)


_LEVELS = {"delivered": logging.INFO, "retry": logging.WARNING, "gone": logging.WARNING, "failed": logging.ERROR}


def _log_attempts(by_outcome: ByOutcome, written: dict[str, str]) -> None:
    """One ``delivery attempted`` line per attempt, once committed: its outcome (delivered, retry,
    failed, gone; ``lease_lost`` when its lease had run out and the result changed nothing)."""
    for outcome, group in by_outcome.items():
        for attempt, values in group:
            out, result = attempt.outgoing, attempt.result
            held = out.delivery_id in written
            retry_at = values.get("next_attempt_at") if held else None
            fields = {
                "delivery_id": out.delivery_id,
                "subscriber_id": out.subscriber_id,
                "story_id": out.story_id,
                "version": out.version,
                "outcome": outcome if held else "lease_lost",
                "attempt": out.attempt_no,
                "status_code": result.status_code,
                "latency_ms": round(result.latency_ms, 1),
                "error": result.error,
                "next_attempt_at": isoformat(retry_at) if retry_at else None,
            }
            level = _LEVELS[outcome] if held else logging.WARNING
            log.log(level, "delivery attempted", extra={k: v for k, v in fields.items() if v is not None})


def _attempt_row(attempt: Attempt) -> dict[str, Any]:
    result = attempt.result
    return {
        "delivery_id": attempt.outgoing.delivery_id,
        "number": attempt.outgoing.attempt_no,
        "started_at": attempt.started,
        "status_code": result.status_code,
        "latency_ms": round(result.latency_ms, 2),
        "error": result.error,
        "response_excerpt": result.response_excerpt,
    }


def _write_outcome(connection: Connection, group: list[tuple[Attempt, dict[str, Any]]]) -> set[str]:
    """Write a group of attempts with the same outcome, each fenced by its lease: one UPDATE per
    set of identical values (deliveries claimed together share their lease, so a fan-out's
    successes are one statement). Returns the deliveries written."""
    same: dict[tuple, list[str]] = {}
    for attempt, values in group:
        out = attempt.outgoing
        fields = {"attempts": out.attempt_no, "last_error": attempt.result.error, **values}
        same.setdefault((out.lease, tuple(sorted(fields.items()))), []).append(out.delivery_id)
    written: set[str] = set()
    for (lease, fields), ids in same.items():
        params = {"ids": ids, "held_lease": lease, "lease_until": None, **dict(fields)}
        written.update(connection.execute(_WRITE_OUTCOME, params).scalars())
    return written


def _wake_later_versions(connection: Connection, delivered: list[Attempt], now: datetime) -> list[Due]:
    """Later versions that were waiting for these deliveries (same story, same subscriber) may
    go now. Only those never tried yet: one backing off after its own failure keeps its back-off."""
    if not delivered:
        return []
    finished = {(a.outgoing.subscriber_id, a.outgoing.story_id) for a in delivered}
    stories = sorted({story for _, story in finished})
    waiting = connection.execute(_NEVER_TRIED_LATER, {"stories": stories, "now": now}).all()
    woken = [
        Due(row.id, row.subscriber_id, row.priority) for row in waiting if (row.subscriber_id, row.story_id) in finished
    ]
    if woken:
        connection.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id.in_([d.delivery_id for d in woken]))
            .values(next_attempt_at=now, queued_until=now + DELIVERY_QUEUE_LEASE)
        )
    return woken


def _track_subscribers(
    connection: Connection,
    by_outcome: dict[str, list[tuple[Attempt, dict[str, Any]]]],
    settings: Settings,
    now: datetime,
) -> None:
    """A 410 disables the subscriber; so does failing continuously for longer than
    ``NEWSWIRE_SUBSCRIBER_DISABLE_AFTER_SECONDS``. Any success ends a failing streak, and so does
    a gap between two failures longer than that period and than the longest back-off (nothing is
    known of the endpoint in between)."""
    subs = SUBSCRIBERS.c
    succeeded = {a.outgoing.subscriber_id for a, _ in by_outcome.get("delivered", [])}
    failing = {a.outgoing.subscriber_id for o in ("retry", "failed") for a, _ in by_outcome.get(o, [])} - succeeded
    gone = {a.outgoing.subscriber_id for a, _ in by_outcome.get("gone", [])}
    period = timedelta(seconds=settings.subscriber_disable_after_seconds)
    if succeeded:
        connection.execute(_STREAK_ENDED, {"ids": list(succeeded)})
    if failing:
        gap = max(period, timedelta(seconds=MAX_BACKOFF))
        stale = or_(subs.failing_since.is_(None), subs.last_failed_at.is_(None), subs.last_failed_at < now - gap)
        connection.execute(update(SUBSCRIBERS).where(subs.id.in_(failing), stale).values(failing_since=now))
        connection.execute(update(SUBSCRIBERS).where(subs.id.in_(failing)).values(last_failed_at=now))
        connection.execute(
            update(SUBSCRIBERS)
            .where(subs.id.in_(failing), subs.active.is_(True), subs.failing_since < now - period)
            .values(
                active=False, disabled_reason=f"every delivery failed for over {period.total_seconds() / 86400:g} days"
            )
        )
    if gone:
        connection.execute(
            update(SUBSCRIBERS)
            .where(subs.id.in_(gone))
            .values(active=False, disabled_reason="endpoint answered 410 Gone")
        )
