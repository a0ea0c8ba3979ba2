"""Publishing a story version: render it as ninjs, mark it published and create one delivery
per subscriber in its audience, in one transaction; then queue the deliveries.

A version under embargo is parked; one whose earlier version is still on its way waits for it
(versions go out in order); one that cannot be rendered fails. Rendering takes two
transactions: the first counts the worker's try (so a worker that dies rendering leaves a
trace, and a version that kills every worker ends ``failed``), the second renders and publishes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import insert, or_, update
from sqlmodel import Session, select

from services.publish.delivery import Due
from services.publish.formats import ninjs
from shared import lifecycle, queue
from shared.config import get_settings
from shared.db import session_scope
from shared.lifecycle import READY_STATES
from shared.models import (
    Delivery,
    DeliveryState,
    PubStatus,
    Story,
    StoryVersion,
    Subscriber,
    VersionKind,
    VersionState,
    new_id,
)
from shared.queue import priority_for_urgency
from shared.tags import EditorTagChanges, StoryTags, effective_tags
from shared.timeutil import utcnow

log = logging.getLogger(__name__)

#: A queued send message is trusted to arrive this long before the sweep queues another.
QUEUE_LEASE = timedelta(seconds=60)
#: Deliveries per message to the delivery queue.
MESSAGE_SIZE = 200


@dataclass
class Rendered:
    """What a render leaves to do after commit: deliveries to queue, outbox events to relay."""

    deliveries: list[tuple[Due, int]] = field(default_factory=list)  # with their queue priority
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
            "next_attempt_at": now,
            "created_at": now,
            "queued_until": now + QUEUE_LEASE,
        }  # the publish task queues them right away
        for subscriber_id in sorted(audience(session, version))
    ]
    if rows:  # one INSERT for the whole fan-out
        session.execute(insert(Delivery.__table__), rows)
    dues = [(Due(row["id"], row["subscriber_id"]), priority) for row in rows]
    return Rendered(dues, lifecycle.wake_next(session, version.story_id))


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


def dispatch(deliveries: list[tuple[Due, int]]) -> None:
    """Queue the deliveries, ``MESSAGE_SIZE`` to a message, each message at its priority. One
    lost here is picked up by the scheduler's sweep."""
    by_priority: dict[int, list[Due]] = {}
    for due, priority in deliveries:
        by_priority.setdefault(priority, []).append(due)
    for priority, dues in sorted(by_priority.items()):
        for start in range(0, len(dues), MESSAGE_SIZE):
            chunk = [[d.delivery_id, d.subscriber_id] for d in dues[start : start + MESSAGE_SIZE]]
            try:
                queue.send("delivery.send", chunk, priority)
            except Exception:
                log.warning("%d deliveries not queued; the sweep will retry", len(chunk), exc_info=True)
