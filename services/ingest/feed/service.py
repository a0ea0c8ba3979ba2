"""The pull feed: every published version a subscriber should see, in publication order, from
a cursor. Positions are ``story_version.published_seq``, numbered in commit order, so a client
that resumes from its cursor — across API restarts — sees every item once.

What a subscriber sees is what its webhooks would carry: versions whose ninjs matches its
filters; corrections and kills of stories it had (an earlier version matched its filters or was
delivered to it), whatever its filters say now; nothing of a killed story but the kill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, select

from services.ingest import cursors
from shared.filters import SubscriberFilters, facts_of_item, matches
from shared.models import Delivery, DeliveryState, Story, StoryVersion, Subscriber, VersionKind

#: Versions read from the database at a time, and at most per request, looking for matches.
SCAN, MAX_SCAN = 500, 5000


def encode_cursor(position: int) -> str:
    return cursors.encode("feed", position)


def decode_cursor(cursor: str) -> int:
    return cursors.decode_position("feed", cursor)


def position_at(*, session: Session, since: datetime) -> int:
    """The position just before the first version published at or after ``since``."""
    before = session.exec(select(func.max(StoryVersion.published_seq)).where(StoryVersion.published_at < since)).one()
    return before or 0


@dataclass
class Entry:
    position: int
    event_type: str
    published_at: datetime
    item: dict


@dataclass
class _Reader:
    session: Session
    subscriber: Subscriber
    filters: SubscriberFilters | None
    had: dict[str, bool] = field(default_factory=dict)

    def visible(self, row) -> bool:
        kind = VersionKind(row.kind)
        if row.killed_at is not None and kind != VersionKind.kill:
            return False
        if kind == VersionKind.kill:
            return self.had_story(row.story_id, row.version)
        wanted = matches(self.filters, facts_of_item(kind.event_type, row.ninjs))
        return wanted or (kind == VersionKind.correction and self.had_story(row.story_id, row.version))

    def had_story(self, story_id: str, version: int) -> bool:
        if story_id not in self.had:
            self.had[story_id] = self._delivered(story_id) or self._matched_before(story_id, version)
        return self.had[story_id]

    def _delivered(self, story_id: str) -> bool:
        return (
            self.session.exec(
                select(Delivery.id).where(
                    Delivery.story_id == story_id,
                    Delivery.subscriber_id == self.subscriber.id,
                    or_(Delivery.state == DeliveryState.delivered, Delivery.attempts > 0),
                )
            ).first()
            is not None
        )

    def _matched_before(self, story_id: str, version: int) -> bool:
        earlier = self.session.exec(
            select(StoryVersion.kind, StoryVersion.ninjs).where(
                StoryVersion.story_id == story_id,
                StoryVersion.version < version,
                StoryVersion.published_seq.is_not(None),
                StoryVersion.kind != VersionKind.kill,
            )
        ).all()
        return any(matches(self.filters, facts_of_item(VersionKind(k).event_type, item)) for k, item in earlier)


def read(*, session: Session, subscriber: Subscriber, after: int, limit: int) -> tuple[list[Entry], int]:
    """Up to ``limit`` entries after position ``after``, and the position to go on from (past
    what was looked at, matching or not)."""
    reader = _Reader(session, subscriber, SubscriberFilters.from_stored(subscriber.filters))
    entries: list[Entry] = []
    position, scanned = after, 0
    while len(entries) < limit and scanned < MAX_SCAN:
        rows = session.exec(
            select(
                StoryVersion.published_seq,
                StoryVersion.kind,
                StoryVersion.story_id,
                StoryVersion.version,
                StoryVersion.published_at,
                StoryVersion.ninjs,
                Story.killed_at,
            )
            .join(Story, Story.id == StoryVersion.story_id)
            .where(StoryVersion.published_seq > position)
            .order_by(StoryVersion.published_seq)
            .limit(SCAN)
        ).all()
        if not rows:
            break
        for row in rows:
            position, scanned = row.published_seq, scanned + 1
            if reader.visible(row):
                entries.append(Entry(row.published_seq, VersionKind(row.kind).event_type, row.published_at, row.ninjs))
                if len(entries) == limit:
                    break
    return entries, position
