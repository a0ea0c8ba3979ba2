"""Deliveries: one per (subscriber, story version), with every attempt recorded; listed a page
at a time, sent again one by one (``redeliver``) or by the range (``replay``), with the same
``webhook-id`` where one was sent before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from services.ingest import cursors
from services.ingest.exceptions import BadCursor, Conflict, Invalid, NotFound
from services.ingest.subscribers.service import get_subscriber
from shared.config import Settings
from shared.filters import SubscriberFilters, facts_of, matches
from shared.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
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

#: A replay sends at most this many deliveries; narrow the range for more.
REPLAY_LIMIT = 10_000


@dataclass(frozen=True)
class DeliveryFilters:
    subscriber_id: str | None = None
    state: str | None = None
    story_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_deliveries(
    *, session: Session, filters: DeliveryFilters, limit: int = 50, cursor: str | None = None
) -> tuple[list[tuple[Delivery, list[DeliveryAttempt]]], str | None]:
    """Newest first, a page at a time, each with its attempts in order."""
    if filters.subscriber_id:
        get_subscriber(session=session, subscriber_id=filters.subscriber_id)
    query = select(Delivery).where(*_conditions(filters))
    if cursor:
        created_text, delivery_id = cursors.decode("delivery", cursor, 2)
        try:
            created = datetime.fromisoformat(created_text)
        except ValueError:
            raise BadCursor() from None
        query = query.where(
            or_(Delivery.created_at < created, and_(Delivery.created_at == created, Delivery.id < delivery_id))
        )
    rows = list(session.exec(query.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit + 1)))
    page, more = rows[:limit], len(rows) > limit
    attempts: dict[str, list[DeliveryAttempt]] = {d.id: [] for d in page}
    if attempts:
        for attempt in session.exec(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(list(attempts)))
            .order_by(DeliveryAttempt.number)
        ):
            attempts[attempt.delivery_id].append(attempt)
    next_cursor = cursors.encode("delivery", page[-1].created_at.isoformat(), page[-1].id) if more else None
    return [(d, attempts[d.id]) for d in page], next_cursor


def _conditions(filters: DeliveryFilters) -> list:
    found = []
    for column, value in (
        (Delivery.subscriber_id, filters.subscriber_id),
        (Delivery.state, filters.state),
        (Delivery.story_id, filters.story_id),
    ):
        if value:
            found.append(column == value)
    if filters.since:
        found.append(Delivery.created_at >= filters.since)
    if filters.until:
        found.append(Delivery.created_at < filters.until)
    return found


def _send_again(delivery: Delivery, settings: Settings, now: datetime) -> None:
    delivery.state, delivery.next_attempt_at, delivery.lease_until = DeliveryState.pending, now, None
    delivery.queued_until = now + DELIVERY_QUEUE_LEASE
    delivery.attempt_limit = delivery.attempts + settings.delivery_max_attempts
    delivery.delivered_at = None


def redeliver(*, session: Session, settings: Settings, delivery_id: str, subscriber_id: str | None = None) -> Delivery:
    """Send one delivery again, with the same webhook-id (a dead letter, or one a site lost).
    With ``subscriber_id``, only a delivery of that subscriber is found (a subscriber's own key)."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or (subscriber_id is not None and delivery.subscriber_id != subscriber_id):
        raise NotFound(f"delivery {delivery_id}")
    _refuse_redelivery(session, delivery)
    if delivery.state != DeliveryState.pending:  # a pending one is on its way already
        _send_again(delivery, settings, utcnow())
        session.add(delivery)
        session.flush()
    return delivery


def _refuse_redelivery(session: Session, delivery: Delivery) -> None:
    if session.get(Subscriber, delivery.subscriber_id).deleted_at is not None:
        raise Conflict("subscriber_deleted", "the subscriber was deleted")
    if delivery.state == DeliveryState.withdrawn:
        raise Conflict("withdrawn", "the story was killed before this delivery went out; it is never sent")
    story = session.get(Story, delivery.story_id)
    kind = session.get(StoryVersion, delivery.version_id).kind
    if story.killed_at is not None and kind != VersionKind.kill:
        raise Conflict("story_killed", "the story was killed: only its kill can be sent again")
    if _newest_delivered(session, delivery.subscriber_id, delivery.story_id) > delivery.version:
        raise Conflict(
            "superseded", "a later version of the story reached this subscriber; this one would arrive out of order"
        )


def _newest_delivered(session: Session, subscriber_id: str, story_id: str) -> int:
    newest = session.exec(
        select(func.max(Delivery.version)).where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.story_id == story_id,
            Delivery.state == DeliveryState.delivered,
        )
    ).one()
    return newest or 0


@dataclass
class Replay:
    resent: list[Delivery]  # existing deliveries, sent again with their webhook-ids
    created: list[Delivery]  # versions it never had a delivery for


def replay(
    *,
    session: Session,
    settings: Settings,
    subscriber_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    story_id: str | None = None,
) -> Replay:
    """Send the subscriber again what was published in a time range (or of one story), in
    publication order: its deliveries there go again with their webhook-ids; versions it should
    have had (as its filters and the correction/kill rules decide) but has no delivery for — it
    was disabled when they went out — get one. Nothing of a killed story but its kill, to those
    who had the story; never a version older than one the subscriber already has."""
    subscriber = get_subscriber(session=session, subscriber_id=subscriber_id)
    versions = _published(session, since, until, story_id)
    if len(versions) > REPLAY_LIMIT:
        raise Invalid("replay_too_large", f"more than {REPLAY_LIMIT} versions in range; narrow it")
    plan = _ReplayPlan(session, subscriber, settings, utcnow())
    for version, killed, manual in versions:
        plan.consider(version, killed, manual)
    session.flush()
    return plan.result


class _ReplayPlan:
    """Walks the versions in publication order, deciding for each what the subscriber gets."""

    def __init__(self, session: Session, subscriber: Subscriber, settings: Settings, now: datetime):
        self.session, self.subscriber, self.settings, self.now = session, subscriber, settings, now
        self.filters = SubscriberFilters.from_stored(subscriber.filters)
        self.result = Replay([], [])
        self.had: dict[str, bool] = {}  # story -> the subscriber has (or is now sent) a version of it
        self.newest: dict[str, int] = {}  # story -> the newest version it has been delivered

    def consider(self, version: StoryVersion, killed: bool, manual: dict | None) -> None:
        story = version.story_id
        if story not in self.had:
            self.had[story] = _had_story(self.session, self.subscriber.id, story, version.version)
            self.newest[story] = _newest_delivered(self.session, self.subscriber.id, story)
        if (killed and version.kind != VersionKind.kill) or version.version < self.newest[story]:
            return
        existing = self.session.exec(
            select(Delivery).where(Delivery.subscriber_id == self.subscriber.id, Delivery.version_id == version.id)
        ).first()
        if existing is not None:
            if existing.state in (DeliveryState.delivered, DeliveryState.failed):
                _send_again(existing, self.settings, self.now)
                self.result.resent.append(existing)
                self.had[story] = True
        elif self._wanted(version, manual):
            self.result.created.append(
                _new_delivery(self.session, self.subscriber.id, version, self.settings, self.now)
            )
            self.had[story] = True

    def _wanted(self, version: StoryVersion, manual: dict | None) -> bool:
        """What ``render.audience`` would have decided, had the subscriber been active."""
        if version.kind == VersionKind.kill:
            return self.had[version.story_id]
        matched = _matches(version, manual, self.filters)
        return matched or (version.kind == VersionKind.correction and self.had[version.story_id])


def _had_story(session: Session, subscriber_id: str, story_id: str, before: int) -> bool:
    """It may hold an earlier version (the rule a kill's audience follows)."""
    found = session.exec(
        select(Delivery.id).where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.story_id == story_id,
            Delivery.version < before,
            may_have_arrived(),
        )
    ).first()
    return found is not None


def _published(session: Session, since, until, story_id) -> list[tuple[StoryVersion, bool, dict | None]]:
    if not (since or until or story_id):
        raise Invalid("replay_range_missing", "give a time range (since, until) or a story_id")
    query = (
        select(StoryVersion, Story.killed_at, Story.manual_tags)
        .join(Story, Story.id == StoryVersion.story_id)
        .where(StoryVersion.state == VersionState.published)
    )
    if story_id:
        query = query.where(StoryVersion.story_id == story_id)
    if since:
        query = query.where(StoryVersion.published_at >= since)
    if until:
        query = query.where(StoryVersion.published_at < until)
    rows = session.exec(query.order_by(StoryVersion.published_seq).limit(REPLAY_LIMIT + 1)).all()
    return [(version, killed_at is not None, manual) for version, killed_at, manual in rows]


def _matches(version: StoryVersion, manual: dict | None, filters: SubscriberFilters | None) -> bool:
    tags = effective_tags(StoryTags.from_stored(version.tags), EditorTagChanges.from_stored(manual))
    facts = facts_of(
        event_type=VersionKind(version.kind).event_type, urgency=version.urgency, language=version.language, tags=tags
    )
    return matches(filters, facts)


def _new_delivery(
    session: Session, subscriber_id: str, version: StoryVersion, settings: Settings, now: datetime
) -> Delivery:
    delivery = Delivery(
        id=new_id(),
        subscriber_id=subscriber_id,
        version_id=version.id,
        story_id=version.story_id,
        version=version.version,
        priority=priority_for_urgency(version.queue_urgency),
        next_attempt_at=now,
        queued_until=now + DELIVERY_QUEUE_LEASE,
        attempt_limit=settings.delivery_max_attempts,
    )
    session.add(delivery)
    return delivery
