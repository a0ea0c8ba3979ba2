"""Moves of a story version that more than one service makes: failing it, and letting the next
version of the same story go once an earlier one is finished.

Versions of a story go out in order: a version is rendered only when no earlier version of the
story is still in the pipeline (``waiting_on_earlier``). Whoever finishes a version calls
``wake_next`` in the same transaction, which writes the publish event of the next version
that was waiting; the stuck-work sweep is the net under it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from shared import events
from shared.db import session_scope
from shared.models import IN_PIPELINE_STATES, OutboxEvent, Story, StoryVersion, VersionKind, VersionState
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


def earlier_in_pipeline(session: Session, version: StoryVersion) -> bool:
    return (
        session.exec(
            select(StoryVersion.id).where(
                StoryVersion.story_id == version.story_id,
                StoryVersion.version < version.version,
                StoryVersion.state.in_(list(IN_PIPELINE_STATES)),
            )
        ).first()
        is not None
    )


def wake_next(session: Session, story_id: str) -> list[int]:
    """Write the publish event of the story's next ready version, if nothing earlier holds it
    back. Returns outbox event ids to relay after commit."""
    ready = session.exec(
        select(StoryVersion)
        .where(StoryVersion.story_id == story_id, StoryVersion.state.in_(list(READY_STATES)))
        .where(~waiting_on_earlier())
        .order_by(StoryVersion.version)
    ).first()
    if ready is None:
        return []
    event = events.record(session, events.EVENT_FOR_STATE[VersionState(ready.state)], ready.id, ready.queue_urgency)
    session.flush()
    return [event.id]


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


def requeue_stuck(stuck_after: timedelta, max_requeues: int, limit: int = 200) -> list[int]:
    """Scheduler sweep: a version still waiting in a state whose latest event was sent longer
    than ``stuck_after`` ago lost its message (Redis restart, worker killed mid-task): write a
    fresh event for it (the task is idempotent, so a late original does no harm). A version
    re-queued ``max_requeues`` times is failed instead: something keeps killing its task.
    A version held back by an earlier one of its story is not stuck."""
    cutoff = utcnow() - stuck_after
    recent = exists().where(
        OutboxEvent.version_id == StoryVersion.id,
        or_(OutboxEvent.sent_at.is_(None), OutboxEvent.sent_at > cutoff),
    )
    event_ids: list[int] = []
    with session_scope() as session:
        stuck = session.exec(
            select(StoryVersion.id, StoryVersion.story_id)
            .where(StoryVersion.state.in_(list(events.EVENT_FOR_STATE)), ~recent, ~waiting_on_earlier())
            .limit(limit)
        ).all()
        for version_id, story_id in stuck:
            session.get(Story, story_id, with_for_update=True)  # as a render or a kill would
            version = session.get(StoryVersion, version_id, populate_existing=True)
            if version.state in events.EVENT_FOR_STATE:
                event_ids += _requeue_or_fail(session, version, max_requeues)
    return event_ids


def _requeue_or_fail(session: Session, version: StoryVersion, max_requeues: int) -> list[int]:
    # A kill is never given up on: the sites that hold the story must hear of it.
    if version.requeues >= max_requeues and version.kind != VersionKind.kill:
        tries = version.requeues + 1
        return fail(
            session, version, f"no worker finished the {version.state} step after {tries} tries; see the worker logs"
        )
    version.requeues += 1
    event = events.record(
        session, events.EVENT_FOR_STATE[VersionState(version.state)], version.id, version.queue_urgency
    )
    session.flush()
    log.warning("re-queued story %s version %s (%s)", version.story_id, version.version, version.state)
    return [event.id]
