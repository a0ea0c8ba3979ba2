"""Reading stories back: one story with its timeline, its versions, a version's ninjs as
sent, and the story list (newest first, keyset-paginated, filtered)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func
from sqlmodel import Session, select

from services.ingest import cursors
from services.ingest.common import Links
from services.ingest.exceptions import NotFound
from services.ingest.stories import schemas
from services.ingest.stories.status import status_condition, status_of
from shared.models import (
    Delivery,
    DeliveryState,
    Story,
    StoryTag,
    StoryVersion,
    Subscriber,
    VersionKind,
    story_uri,
)
from shared.ninjs import NinjsItem
from shared.tags import EditorTagChanges, StoryTags, effective_tags

DELIVERY_EVENTS = {
    DeliveryState.delivered: "delivered",
    DeliveryState.failed: "delivery_failed",
    DeliveryState.withdrawn: "delivery_withdrawn",
}


def _story(session: Session, story_id: str) -> Story:
    story = session.get(Story, story_id)
    if story is None:
        raise NotFound(f"story {story_id}")
    return story


def _versions(session: Session, story_id: str) -> list[StoryVersion]:
    return list(
        session.exec(select(StoryVersion).where(StoryVersion.story_id == story_id).order_by(StoryVersion.version))
    )


def _timeline(session: Session, version: StoryVersion) -> list[schemas.TimelineEntry]:
    entry = schemas.TimelineEntry
    timeline = [entry(event="received", at=version.received_at), entry(event="stored", at=version.stored_at)]
    if version.enriched_at:
        failures = (StoryTags.from_stored(version.tags) or StoryTags()).failures
        detail = "; ".join(f"{f.tagger}: {f.error}" for f in failures) or None
        timeline.append(entry(event="enriched", at=version.enriched_at, detail=detail))
    if version.published_at:
        timeline.append(entry(event="published", at=version.published_at))
    if version.failed_at:
        timeline.append(entry(event="failed", at=version.failed_at, detail=version.error))
    rows = session.exec(
        select(Delivery, Subscriber)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.version_id == version.id)
        .order_by(Delivery.created_at)
    ).all()
    timeline += [
        entry(
            event=DELIVERY_EVENTS.get(DeliveryState(d.state), "delivery_pending"),
            at=d.delivered_at or d.next_attempt_at,
            subscriber_id=s.id,
            subscriber=s.name,
            attempts=d.attempts,
            detail=d.last_error,
        )
        for d, s in rows
    ]
    return timeline


def story_view(*, session: Session, story_id: str) -> schemas.StoryPublic:
    """The story's newest version, its status, tags (newest tagged version, editors' changes
    applied) and timeline."""
    story = _story(session, story_id)
    versions = _versions(session, story_id)
    version = versions[-1]
    manual = EditorTagChanges.from_stored(story.manual_tags)
    tagged = next((v.tags for v in reversed(versions) if v.tags), None)
    tags = effective_tags(StoryTags.from_stored(tagged), manual) if tagged else None
    language = version.language or (tags.language.code if tags and tags.language else None)
    return schemas.StoryPublic(
        **{**version.content(), "language": language},
        id=story.id,
        uri=story_uri(story.id),
        version=version.version,
        kind=version.kind,
        status=status_of(version.state, version.pubstatus),
        pubstatus=version.pubstatus,
        state=version.state,
        note=version.note,
        killed_at=story.killed_at,
        tags=tags,
        editor_tags=manual,
        timeline=_timeline(session, version),
        links=Links(self=f"/v1/stories/{story.id}"),
    )


def list_versions(*, session: Session, story_id: str) -> list[schemas.VersionSummary]:
    _story(session, story_id)
    return version_summaries(story_id, _versions(session, story_id))


def version_summaries(story_id: str, rows: list[StoryVersion]) -> list[schemas.VersionSummary]:
    """The versions list's entries for version rows already read."""
    return [
        schemas.VersionSummary(
            version=v.version,
            kind=v.kind,
            event_type=VersionKind(v.kind).event_type,
            state=v.state,
            filed_by=v.filed_by,
            filed_at=v.received_at,
            published_at=v.published_at,
            note=v.note,
            error=v.error,
            links=schemas.VersionLinks(ninjs=f"/v1/stories/{story_id}/versions/{v.version}"),
        )
        for v in rows
    ]


def version_ninjs(*, session: Session, story_id: str, number: int) -> NinjsItem:
    """The ninjs item of one version, exactly as it was sent."""
    _story(session, story_id)
    version = session.exec(
        select(StoryVersion).where(StoryVersion.story_id == story_id, StoryVersion.version == number)
    ).first()
    if version is None:
        raise NotFound(f"version {number} of story {story_id}")
    if version.ninjs is None:
        raise NotFound(f"ninjs for version {number} of story {story_id}: it is {version.state}, not published")
    return NinjsItem.model_validate(version.ninjs)


@dataclass(frozen=True)
class StoryFilters:
    status: str | None = None
    urgency_max: int | None = None
    place: str | None = None
    subject: str | None = None  # a Media Topic qcode; narrower topics match too
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


def _like(word: str) -> str:
    escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(filters: StoryFilters) -> list:
    conditions = []
    if filters.status:
        conditions.append(status_condition(filters.status))
    if filters.urgency_max is not None:
        conditions.append(StoryVersion.urgency <= filters.urgency_max)
    for kind, code in (("place", filters.place), ("subject", filters.subject)):
        if code:
            tagged = select(StoryTag.story_id).where(StoryTag.kind == kind, StoryTag.code == code)
            conditions.append(Story.id.in_(tagged))
    if filters.since:
        conditions.append(Story.created_at >= filters.since)
    if filters.until:
        conditions.append(Story.created_at < filters.until)
    for word in (filters.q or "").split():
        conditions.append(func.lower(StoryVersion.headline).like(_like(word), escape="\\"))
    return conditions


def list_stories(
    *, session: Session, filters: StoryFilters, limit: int, cursor: str | None = None
) -> tuple[list[schemas.StorySummary], str | None]:
    """A page of stories, newest first (in the order they were stored), and the cursor of the
    next page. Stories filed while a client pages land before its first page, so paging never
    repeats or skips one."""
    newest = and_(StoryVersion.story_id == Story.id, StoryVersion.version == Story.current_version)
    query = select(Story, StoryVersion).join(StoryVersion, newest).where(*_conditions(filters))
    if cursor:
        query = query.where(Story.seq < cursors.decode_position("story", cursor))
    rows = session.exec(query.order_by(Story.seq.desc()).limit(limit + 1)).all()
    page = [_summary(story, version) for story, version in rows[:limit]]
    next_cursor = cursors.encode("story", rows[limit - 1][0].seq) if len(rows) > limit else None
    return page, next_cursor


def _summary(story: Story, version: StoryVersion) -> schemas.StorySummary:
    return schemas.StorySummary(
        id=story.id,
        uri=story_uri(story.id),
        version=version.version,
        status=status_of(version.state, version.pubstatus),
        headline=version.headline,
        slugline=version.slugline,
        urgency=version.urgency,
        created_at=story.created_at,
        updated_at=version.received_at,
        links=Links(self=f"/v1/stories/{story.id}"),
    )


@dataclass(frozen=True)
class Reach:
    """How far one version got to its subscribers: deliveries by state."""

    delivered: int = 0
    pending: int = 0
    failed: int = 0
    withdrawn: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.pending + self.failed + self.withdrawn


def reach(*, session: Session, versions: list[tuple[str, int]]) -> dict[tuple[str, int], Reach]:
    """For each (story id, version): how many subscribers have it, wait for it, or failed to get it."""
    if not versions:
        return {}
    story_ids = {story_id for story_id, _ in versions}
    rows = session.exec(
        select(Delivery.story_id, Delivery.version, Delivery.state, func.count())
        .where(Delivery.story_id.in_(story_ids))
        .group_by(Delivery.story_id, Delivery.version, Delivery.state)
    ).all()
    counts: dict[tuple[str, int], dict[str, int]] = {}
    for story_id, version, state, count in rows:
        counts.setdefault((story_id, version), {})[state] = count
    return {wanted: Reach(**counts.get(wanted, {})) for wanted in versions}


def story_versions(*, session: Session, story_id: str) -> list[StoryVersion]:
    """Every version row of the story, oldest first (404 for an unknown story)."""
    _story(session, story_id)
    return _versions(session, story_id)
