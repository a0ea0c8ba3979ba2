"""Publishing a story version: render it as ninjs, mark it published and create one delivery
per subscriber in its audience, in one transaction; then queue the deliveries.

A version under embargo is parked; one whose earlier version is still on its way waits for it
(versions go out in order); one that cannot be rendered fails. Rendering takes two
transactions: the first counts the worker's try (so a worker that dies rendering leaves a
trace, and a version that kills every worker ends ``failed``), the second renders and publishes.
A group's message counts the first tries of its versions in one transaction for all of them
(``count_first_tries``); a version on a later try is counted alone, so a version that kills its
worker costs its group mates one try at most.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import Row, bindparam, insert, or_, update
from sqlmodel import Session, select

from services.publish.delivery import Due
from services.publish.formats import ninjs
from shared import db, lifecycle, logs, metrics, queue
from shared.config import get_settings
from shared.db import session_scope
from shared.filters import SubscriberFilters, VersionFacts, facts_of, matches
from shared.models import (
    Delivery,
    DeliveryState,
    PubStatus,
    Story,
    StoryVersion,
    Subscriber,
    VersionKind,
    VersionState,
    may_have_arrived,
    new_id,
)
from shared.queue import DELIVERY_QUEUE_LEASE, priority_for_urgency
from shared.tags import EditorTagChanges, StoryTags, effective_tags
from shared.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass
class Rendered:
    """What a render leaves to do after commit: deliveries to queue, outbox events to relay."""

    deliveries: list[tuple[Due, int]] = field(default_factory=list)  # with their queue priority
    event_ids: list[int] = field(default_factory=list)
    #: When the POST of the version arrived, if this render published it.
    published_received_at: datetime | None = None

    def __iadd__(self, other: Rendered) -> Rendered:
        """Gather what several renders leave to do (a group's)."""
        self.deliveries += other.deliveries
        self.event_ids += other.event_ids
        return self


def render_version(version_id: int, *, try_counted: bool = False) -> Rendered:
    """Publish the version if it is ready and no earlier version of its story is still on its
    way; park it while its embargo holds; fail it if it cannot be rendered (or if rendering it
    killed its worker too often). Two transactions: the first counts the try, so a worker that
    dies while rendering leaves a trace; the second renders and publishes. ``try_counted``: the
    first was done already, for a group (``count_first_tries``)."""
    if not try_counted:
        go_on, rendered = _count_try(version_id)
        if not go_on:
            return rendered
    with session_scope() as session:
        ready = _ready(session, version_id)
        rendered = Rendered() if ready is None else _publish(session, *ready)
    if rendered.published_received_at is not None:
        metrics.story_stage("published", rendered.published_received_at)
        log.info("version published", extra={"deliveries": len(rendered.deliveries)})
    return rendered


def _count_try(version_id: int) -> tuple[bool, Rendered]:
    """The first transaction: count a try at the version if it is ready, park it under an embargo,
    fail it once it has killed its worker too often. Whether to go on and render it, and what is
    left to do if not."""
    with session_scope() as session:
        counted = _count_try_if_ready(session, version_id)
        if counted is None:
            return False, Rendered()
        logs.bind(story_id=counted.story_id, version=counted.version)
        if counted.embargoed_until and counted.embargoed_until > utcnow():
            _park(session, version_id, counted.state)
            return False, Rendered()
        max_tries = get_settings().max_tries
        if counted.tries > max_tries:
            version = session.get(StoryVersion, version_id)
            return False, Rendered(event_ids=lifecycle.tried_out(session, version, max_tries).event_ids)
    return True, Rendered()


def count_first_tries(version_ids: list[int]) -> set[int]:
    """Count a try at each version of a group that is ready, on its first try and under no
    embargo, in one transaction; returns their ids. Each would otherwise take a transaction of
    its own — on SQLite each a turn at the one write lock every stage queues for. The versions
    left out (not ready yet, embargoed, or tried before: one that killed its worker is tried
    alone from then on) are taken up alone by ``render_version``, as is the whole group if the
    database fails here."""
    if len(version_ids) < 2:
        return set()
    try:
        with session_scope() as session:
            session.execute(_LOCK_STORIES_OF_VERSIONS, {"ids": version_ids}).all()
            return {row.id for row in session.execute(_COUNT_FIRST_TRIES, {"ids": version_ids})}
    except Exception:
        log.warning(
            "could not count the tries of a group of %d versions; each is taken up alone",
            len(version_ids),
            exc_info=True,
        )
        return set()


# Statements every story runs, built once: building one costs several times what running it does
# (``python -m bench.statements``); values are bound at each run.
_OF_THE_VERSION = Story.id == (
    select(StoryVersion.story_id).where(StoryVersion.id == bindparam("version_id")).scalar_subquery()
)
_LOCK_STORY_OF_VERSION = select(Story).where(_OF_THE_VERSION).with_for_update()
_LOCK_STORY_ID_OF_VERSION = select(Story.id).where(_OF_THE_VERSION).with_for_update()
_READY_VERSION = select(StoryVersion).where(StoryVersion.id == bindparam("version_id"), lifecycle.ready_to_render())
_VERSIONS = StoryVersion.__table__
#: Set the columns given at run time, if the version is still in the state it was read in.
_UPDATE_VERSION = update(_VERSIONS).where(
    _VERSIONS.c.id == bindparam("version_id"), _VERSIONS.c.state == bindparam("current_state")
)
_COUNT_READY_TRY = (
    update(_VERSIONS)
    .where(_VERSIONS.c.id == bindparam("version_id"), lifecycle.ready_to_render())
    .values(tries=_VERSIONS.c.tries + 1)
    .returning(
        _VERSIONS.c.state,
        _VERSIONS.c.tries,
        _VERSIONS.c.error,
        _VERSIONS.c.embargoed_until,
        _VERSIONS.c.story_id,
        _VERSIONS.c.version,
    )
)
_IN_GROUP = _VERSIONS.c.id.in_(bindparam("ids", expanding=True))
#: The stories of a group's versions, locked in one order (PostgreSQL) before their versions are
#: written, as every writer of versions does (``tag_index.lock_stories``).
_LOCK_STORIES_OF_VERSIONS = (
    select(Story.id)
    .where(Story.id.in_(select(_VERSIONS.c.story_id).where(_IN_GROUP)))
    .order_by(Story.id)
    .with_for_update()
)
_COUNT_FIRST_TRIES = (
    update(_VERSIONS)
    .where(_IN_GROUP, lifecycle.ready_to_render(), _VERSIONS.c.tries == 0, _VERSIONS.c.embargoed_until.is_(None))
    .values(tries=_VERSIONS.c.tries + 1)
    .returning(_VERSIONS.c.id)
)
_ADD_DELIVERIES = insert(Delivery.__table__)
_ACTIVE_SUBSCRIBERS = select(Subscriber.id, Subscriber.filters).where(
    Subscriber.active.is_(True), Subscriber.deleted_at.is_(None)
)


def _count_try_if_ready(session: Session, version_id: int) -> Row | None:
    """Lock the version's story and count a try at rendering the version, if it is ready and
    nothing earlier holds it back: two statements, reading only what deciding needs. Returns the
    version's state, tries, error, embargo, story and number, or None (nothing to do)."""
    if session.exec(_LOCK_STORY_ID_OF_VERSION, params={"version_id": version_id}).first() is None:
        return None
    return session.execute(_COUNT_READY_TRY, {"version_id": version_id}).first()


def _ready(session: Session, version_id: int) -> tuple[Story, StoryVersion] | None:
    """The version and its story, locked, if it is ready and nothing earlier holds it back. Two
    statements: lock the story (PostgreSQL; SQLite writers are serialised anyway), then read the
    version only if it is ready: an editor's kill, update or tag change lands wholly before or
    after this."""
    story = session.exec(_LOCK_STORY_OF_VERSION, params={"version_id": version_id}).first()
    if story is None:
        return None
    version = session.exec(_READY_VERSION, params={"version_id": version_id}).first()
    if version is None:
        return None
    logs.bind(story_id=story.id, version=version.version)
    return story, version


def _park(session: Session, version_id: int, state: str) -> None:
    parked = {"state": VersionState.embargoed, "pubstatus": PubStatus.withheld, "tries": 0, "error": None}
    session.execute(_UPDATE_VERSION, {"version_id": version_id, "current_state": state, **parked})


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


#: PostgreSQL advisory lock under which published versions are numbered for the feed.
FEED_SEQUENCE_LOCK = 7_204_552


def _publish(session: Session, story: Story, version: StoryVersion) -> Rendered:
    pubstatus = PubStatus.usable if version.pubstatus == PubStatus.withheld else version.pubstatus
    envelope = None
    try:
        envelope = _envelope(story, version, pubstatus)
        item = ninjs.render(version, envelope)
    except ninjs.InvalidNinjs as exc:
        return Rendered(event_ids=lifecycle.fail(session, version, f"invalid ninjs: {exc}"))
    except ValidationError as exc:  # stored tags that no longer read back: fail, do not loop
        return Rendered(event_ids=lifecycle.fail(session, version, f"unreadable tags: {exc}"))
    seq = db.next_in_sequence(session, StoryVersion.published_seq, FEED_SEQUENCE_LOCK)
    now = utcnow()  # after the sequence lock: publication times follow the feed's order
    published = {
        "state": VersionState.published,
        "ninjs": item,
        "published_at": now,
        "pubstatus": pubstatus,
        "tries": 0,
        "error": None,
        "published_seq": seq,
    }
    result = session.execute(_UPDATE_VERSION, {"version_id": version.id, "current_state": version.state, **published})
    if result.rowcount != 1:
        return Rendered()
    facts = facts_of(
        event_type=VersionKind(version.kind).event_type,
        urgency=version.urgency,
        language=version.language,
        tags=envelope.tags,
    )
    dues = _create_deliveries(session, version, audience(session, version, facts), now)
    # the story's newest version has none after it to wake (its row is locked: none is being filed)
    woken = [] if version.version == story.current_version else lifecycle.wake_next(session, version.story_id)
    return Rendered(dues, woken, version.received_at)


def _create_deliveries(session: Session, version: StoryVersion, subscribers: set[str], now) -> list[tuple[Due, int]]:
    """One delivery per subscriber, in one INSERT; queued by the publish task right away."""
    priority, limit = priority_for_urgency(version.queue_urgency), get_settings().delivery_max_attempts
    rows = [
        {
            "id": new_id(),
            "message_id": "msg_" + new_id(),
            "subscriber_id": subscriber_id,
            "version_id": version.id,
            "story_id": version.story_id,
            "version": version.version,
            "priority": priority,
            "state": "pending",
            "attempts": 0,
            "attempt_limit": limit,
            "next_attempt_at": now,
            "created_at": now,
            "queued_until": now + DELIVERY_QUEUE_LEASE,
        }
        for subscriber_id in sorted(subscribers)
    ]
    if rows:
        session.execute(_ADD_DELIVERIES, rows)
    return [(Due(row["id"], row["subscriber_id"], priority), priority) for row in rows]


def audience(session: Session, version: StoryVersion, facts: VersionFacts) -> set[str]:
    """Who gets the version: every active subscriber whose filters it matches, except for a
    kill; and for a kill or a correction, everyone who may hold an earlier version, whatever
    their filters say now (a disabled one gets it once enabled; a deleted one never)."""
    kind = VersionKind(version.kind)
    subscribers: set[str] = set()
    if kind != VersionKind.kill:
        rows = session.exec(_ACTIVE_SUBSCRIBERS).all()
        subscribers.update(i for i, raw in rows if matches(SubscriberFilters.from_stored(raw), facts))
    if kind == VersionKind.kill:
        subscribers.update(earlier_recipients(session, version))
    elif kind == VersionKind.correction:  # also those an earlier version is still on its way to
        subscribers.update(earlier_recipients(session, version, on_the_way=True))
    return subscribers


def earlier_recipients(session: Session, version: StoryVersion, on_the_way: bool = False) -> set[str]:
    """Subscribers that may hold an earlier version of the story (``may_have_arrived``), and
    with ``on_the_way`` also those an earlier version is still pending for. A kill errs towards
    reaching a site rather than missing one."""
    reached = may_have_arrived()
    if on_the_way:
        reached = or_(reached, Delivery.state == DeliveryState.pending)
    rows = session.exec(
        select(Delivery.subscriber_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.story_id == version.story_id, Delivery.version < version.version)
        .where(Subscriber.deleted_at.is_(None), reached)
        .distinct()
    ).all()
    return set(rows)


def dispatch(deliveries: list[tuple[Due, int]]) -> None:
    """Queue the deliveries (a lost message is picked up by the scheduler's sweep)."""
    queue.send_deliveries([(due.delivery_id, due.subscriber_id, priority) for due, priority in deliveries])
