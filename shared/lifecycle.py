"""Moves of a story version that more than one service makes: failing it, and letting the next
version of the same story go once an earlier one is finished.

Versions of a story go out in order: a version is rendered only when no earlier version of the
story is still in the pipeline (``waiting_on_earlier``). Whoever finishes a version calls
``wake_next`` in the same transaction, which writes the publish event of the next version
that was waiting; the stuck-work sweep is the net under it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, bindparam, exists, or_, update
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from shared import events, logs
from shared.db import finds_any, session_scope
from shared.models import IN_PIPELINE_STATES, OutboxEvent, StoryVersion, VersionState
from shared.timeutil import utcnow

log = logging.getLogger(__name__)

#: States of a version that is ready to render and may be waiting on an earlier one.
READY_STATES = (VersionState.enriched, VersionState.releasing)

_earlier = aliased(StoryVersion)


def waiting_on_earlier():
    """SQL condition: an earlier version of the same story is still in the pipeline."""
    return exists().where(
        _earlier.story_id == StoryVersion.story_id,
        _earlier.version < StoryVersion.version,
        _earlier.state.in_(list(IN_PIPELINE_STATES)),
    )


def ready_to_render():
    """SQL condition on ``StoryVersion``: ready to render, and nothing earlier holds it back."""
    return and_(StoryVersion.state.in_(list(READY_STATES)), ~waiting_on_earlier())


# Statements every story's stages run, built once: building one costs several times what running
# it does (``python -m bench.statements``); values are bound at each run.
_NEXT_READY = (
    select(StoryVersion)
    .where(StoryVersion.story_id == bindparam("story_id"), ready_to_render())
    .order_by(StoryVersion.version)
    .limit(1)
)
_VERSIONS = StoryVersion.__table__
_COUNT_TRY = (
    update(_VERSIONS)
    .where(_VERSIONS.c.id == bindparam("version_id"), _VERSIONS.c.state == bindparam("current_state"))
    .values(tries=_VERSIONS.c.tries + 1)
    .returning(_VERSIONS.c.tries, _VERSIONS.c.error)
)


def wake_next(session: Session, story_id: str) -> list[int]:
    """Write the publish event of the story's next ready version, if nothing earlier holds it
    back. Returns outbox event ids to relay after commit."""
    ready = session.exec(_NEXT_READY, params={"story_id": story_id}).first()
    if ready is None:
        return []
    return [events.record(session, events.EVENT_FOR_STATE[VersionState(ready.state)], ready.id, ready.queue_urgency)]


def fail(session: Session, version: StoryVersion, error: str) -> list[int]:
    """Mark the version ``failed`` (if it is still where the caller found it), log it once, and
    let the story's next version go. Returns outbox event ids to relay after commit."""
    was = version.state
    moved = session.exec(
        update(StoryVersion)
        .where(StoryVersion.id == version.id, StoryVersion.state == was)
        .values(state=VersionState.failed, error=error[:2000], failed_at=utcnow())
    )
    if moved.rowcount != 1:
        return []
    log.error("story %s version %s failed (it was %s): %s", version.story_id, version.version, was, error)
    return wake_next(session, version.story_id)


@dataclass
class Taken:
    """A worker's hold on a version's step: the version to work on (None: leave it), and
    outbox events to relay after commit (the next version's, when this one just failed)."""

    version: StoryVersion | None
    event_ids: list[int] = field(default_factory=list)


def take_up(session: Session, version: StoryVersion, max_tries: int) -> Taken:
    """Count a worker's try at the version's current step, before the work starts and in a
    transaction of its own (the caller commits it), so a worker that dies mid-step leaves the
    try counted. A version tried more than ``max_tries`` times (it kills its worker every time)
    is failed instead of tried again."""
    state = version.state
    counted = session.execute(_COUNT_TRY, {"version_id": version.id, "current_state": state}).first()
    if counted is None:
        return Taken(None)
    # what the row holds now, without reading the whole row again
    set_committed_value(version, "tries", counted.tries)
    set_committed_value(version, "error", counted.error)
    return tried_out(session, version, max_tries)


def tried_out(session: Session, version: StoryVersion, max_tries: int) -> Taken:
    """After a try was counted: a version tried more than ``max_tries`` times (it kills its
    worker every time) is failed instead of tried again."""
    if version.tries > max_tries:
        error = f"a worker took up its {version.state} step {version.tries - 1} times and never finished; " + (
            f"the last try failed with {version.error}" if version.error else "see the worker logs"
        )
        return Taken(None, fail(session, version, error))
    return Taken(version)


def each_version(version_ids: int | Iterable[int], step: Callable[[int], object]) -> None:
    """A worker's step on each version a message names (one id, or a group's), in order: a version
    whose step raised keeps its error (``step_errors_noted``) and the others still go; then the
    first error is raised, so that the task fails with it."""
    raised: list[Exception] = []
    for version_id in [version_ids] if isinstance(version_ids, int) else version_ids:
        try:
            with logs.bound(version_id=version_id), step_errors_noted(version_id):  # the step binds the story
                step(version_id)
        except Exception as exc:
            raised.append(exc)
    if raised:
        raise raised[0]


@contextmanager
def step_errors_noted(version_id: int) -> Iterator[None]:
    """Around a worker's step: a step that raises (the database gone for a moment, a bug) leaves
    its version where it was, for the stuck sweep to queue again, and its try counted; the error
    is kept on the version, so that a version whose tries run out fails saying why."""
    try:
        yield
    except Exception as exc:
        _note_error(version_id, f"{type(exc).__name__}: {exc}")
        raise


def _note_error(version_id: int, error: str) -> None:
    try:
        with session_scope() as session:
            session.exec(
                update(StoryVersion)
                .where(StoryVersion.id == version_id, StoryVersion.state.in_(list(IN_PIPELINE_STATES)))
                .values(error=error[:2000])
            )
    except Exception:  # the database may be what failed: the try stays counted all the same
        log.warning("could not keep the error on version %s", version_id, exc_info=True)


def requeue_stuck(stuck_after: timedelta, idle_states: list[VersionState], limit: int = 200) -> list[int]:
    """Scheduler sweep: a version in one of ``idle_states`` (states whose stage's queue is
    empty) whose latest event was sent longer than ``stuck_after`` ago lost its message (Redis
    restart, worker killed): write a fresh event for it. The task is idempotent, so a late
    original does no harm. A stage with a backlog is left alone: its versions are waiting, not
    lost, and re-queuing them would only pile duplicates behind the backlog. A version held back
    by an earlier one of its story is not stuck either."""
    states = [s for s in events.EVENT_FOR_STATE if s in idle_states]
    if not states:
        return []
    cutoff = utcnow() - stuck_after
    recent = exists().where(
        OutboxEvent.version_id == StoryVersion.id,
        or_(OutboxEvent.sent_at.is_(None), OutboxEvent.sent_at > cutoff),
    )
    is_stuck = (StoryVersion.state.in_(states), ~recent, ~waiting_on_earlier())
    if not finds_any(select(StoryVersion.id).where(*is_stuck)):  # looked at in a read first
        return []
    with session_scope() as session:
        stuck = session.exec(select(StoryVersion).where(*is_stuck).limit(limit)).all()
        new = [
            events.record(session, events.EVENT_FOR_STATE[VersionState(v.state)], v.id, v.queue_urgency) for v in stuck
        ]
        for version in stuck:
            log.warning("re-queued story %s version %s (%s)", version.story_id, version.version, version.state)
        return new
