"""Plain functions behind the ingest API: store stories, read them back, manage subscribers."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pycountry
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from services.ingest import schemas
from shared import events, mediatopics
from shared.config import Settings
from shared.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    PubStatus,
    Story,
    StoryVersion,
    Subscriber,
    VersionState,
    story_uri,
)
from shared.netguard import check_url
from shared.tags import effective_tags
from shared.text import sanitize_html
from shared.timeutil import as_utc, isoformat, utcnow


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


class NotFound(Exception):
    pass


def _request_hash(payload: schemas.StoryCreate) -> str:
    return hashlib.sha256(payload.model_dump_json().encode()).hexdigest()


def create_story(
    *, session: Session, payload: schemas.StoryCreate, idempotency_key: str | None = None
) -> tuple[Story, StoryVersion, list[int], bool]:
    """Store a new story, its first version and its outbox event in the caller's transaction.

    Returns (story, version, outbox event ids to relay after commit, created). With an
    Idempotency-Key seen before, returns the stored story and ``created=False``.
    """
    request_hash = _request_hash(payload)
    if idempotency_key:
        existing = session.exec(select(Story).where(Story.idempotency_key == idempotency_key)).first()
        if existing is not None:
            if existing.request_hash != request_hash:
                raise IdempotencyConflict(idempotency_key)
            return existing, current_version(session=session, story=existing), [], False

    now = utcnow()
    embargo = as_utc(payload.embargoed_until) if payload.embargoed_until else None
    story = Story(idempotency_key=idempotency_key, request_hash=request_hash, created_at=now)
    version = StoryVersion(
        story_id=story.id,
        version=1,
        headline=payload.headline,
        body_text=payload.body_text,
        body_html=sanitize_html(payload.body_html) if payload.body_html else None,
        byline=payload.byline,
        located=payload.located,
        slugline=payload.slugline,
        language=payload.language,
        urgency=payload.urgency,
        embargoed_until=embargo,
        pubstatus=PubStatus.withheld if embargo and embargo > now else PubStatus.usable,
        state=VersionState.stored,
        received_at=now,
        stored_at=now,
    )
    session.add(story)
    session.add(version)
    try:
        session.flush()
    except IntegrityError:
        # Another request with the same Idempotency-Key won the race.
        session.rollback()
        if not idempotency_key:
            raise
        return create_story(session=session, payload=payload, idempotency_key=idempotency_key)
    version.stored_at = utcnow()
    event = events.record(session, "version.stored", version.id, version.urgency)
    session.flush()
    return story, version, [event.id], True


def current_version(*, session: Session, story: Story) -> StoryVersion:
    return session.exec(
        select(StoryVersion).where(StoryVersion.story_id == story.id, StoryVersion.version == story.current_version)
    ).one()


def status_of(version: StoryVersion) -> str:
    """One word for an editor: where the story stands."""
    if version.pubstatus == PubStatus.canceled:
        return "killed"
    if version.state in (VersionState.embargoed,) or (
        version.pubstatus == PubStatus.withheld and version.state != VersionState.published
    ):
        return "embargoed"
    return {
        VersionState.stored: "received",
        VersionState.enriched: "enriched",
        VersionState.releasing: "publishing",
        VersionState.published: "published",
    }.get(version.state, version.state)


def story_view(*, session: Session, story_id: str) -> schemas.StoryPublic:
    story = session.get(Story, story_id)
    if story is None:
        raise NotFound(story_id)
    version = current_version(session=session, story=story)
    timeline = [
        schemas.TimelineEntry(event="received", at=isoformat(version.received_at)),
        schemas.TimelineEntry(event="stored", at=isoformat(version.stored_at)),
    ]
    if version.enriched_at:
        failures = (version.tags or {}).get("failures") or []
        detail = "; ".join(f"{f['tagger']}: {f['error']}" for f in failures) or None
        timeline.append(schemas.TimelineEntry(event="enriched", at=isoformat(version.enriched_at), detail=detail))
    if version.published_at:
        timeline.append(schemas.TimelineEntry(event="published", at=isoformat(version.published_at)))
    rows = session.exec(
        select(Delivery, Subscriber)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.version_id == version.id)
        .order_by(Delivery.created_at)
    ).all()
    for delivery, subscriber in rows:
        event = {
            DeliveryState.delivered: "delivered",
            DeliveryState.failed: "delivery_failed",
        }.get(delivery.state, "delivery_pending")
        timeline.append(
            schemas.TimelineEntry(
                event=event,
                at=isoformat(delivery.delivered_at or delivery.next_attempt_at),
                subscriber_id=subscriber.id,
                subscriber=subscriber.name,
                attempts=delivery.attempts,
                detail=delivery.last_error,
            )
        )
    return schemas.StoryPublic(
        id=story.id,
        uri=story_uri(story.id),
        version=version.version,
        status=status_of(version),
        pubstatus=version.pubstatus,
        state=version.state,
        headline=version.headline,
        byline=version.byline,
        located=version.located,
        slugline=version.slugline,
        language=version.language or (version.tags or {}).get("language", {}).get("code"),
        urgency=version.urgency,
        embargoed_until=isoformat(version.embargoed_until),
        tags=effective_tags(version.tags, story.manual_tags) if version.tags is not None else None,
        editor_tags=story.manual_tags,
        timeline=timeline,
        links=schemas.Links(self=f"/v1/stories/{story.id}"),
    )


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def subscriber_public(subscriber: Subscriber) -> schemas.SubscriberPublic:
    return schemas.SubscriberPublic(
        id=subscriber.id,
        name=subscriber.name,
        url=subscriber.url,
        active=subscriber.active,
        disabled_reason=subscriber.disabled_reason,
        created_at=isoformat(subscriber.created_at),
    )


class DuplicateName(Exception):
    pass


def create_subscriber(*, session: Session, settings: Settings, name: str, url: str) -> Subscriber:
    """Register a webhook endpoint; refuses URLs that resolve to internal addresses."""
    check_url(url, settings.webhook_allowed_networks)
    if session.exec(select(Subscriber).where(Subscriber.name == name)).first() is not None:
        raise DuplicateName(name)
    subscriber = Subscriber(name=name, url=url, secret=new_webhook_secret())
    session.add(subscriber)
    session.flush()
    return subscriber


def list_deliveries(*, session: Session, subscriber_id: str, limit: int = 100) -> list[schemas.DeliveryPublic]:
    if session.get(Subscriber, subscriber_id) is None:
        raise NotFound(subscriber_id)
    deliveries = session.exec(
        select(Delivery)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.created_at.desc())
        .limit(limit)
    ).all()
    ids = [d.id for d in deliveries]
    attempts: dict[str, list[DeliveryAttempt]] = {i: [] for i in ids}
    if ids:
        for attempt in session.exec(
            select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids)).order_by(DeliveryAttempt.number)
        ).all():
            attempts[attempt.delivery_id].append(attempt)
    return [
        schemas.DeliveryPublic(
            id=d.id,
            message_id=d.message_id,
            story_id=d.story_id,
            version=d.version,
            state=d.state,
            attempts=[
                schemas.AttemptPublic(
                    number=a.number,
                    started_at=isoformat(a.started_at),
                    status_code=a.status_code,
                    latency_ms=a.latency_ms,
                    error=a.error,
                    response_excerpt=a.response_excerpt,
                )
                for a in attempts[d.id]
            ],
            created_at=isoformat(d.created_at),
            delivered_at=isoformat(d.delivered_at),
            next_attempt_at=isoformat(d.next_attempt_at) if d.state == DeliveryState.pending else None,
            last_error=d.last_error,
        )
        for d in deliveries
    ]


def list_subscribers(*, session: Session) -> list[schemas.SubscriberPublic]:
    rows = session.exec(select(Subscriber).order_by(Subscriber.created_at)).all()
    return [subscriber_public(s) for s in rows]


#: What a new version of unchanged text carries over from the one before.
VERSION_CONTENT = {"headline", "body_text", "body_html", "byline", "located", "slugline", "language", "urgency",
                   "embargoed_until", "pubstatus", "tags"}


class InvalidTag(ValueError):
    pass


def _normalise_tag(edit: schemas.TagEdit) -> dict:
    if edit.type == "subject":
        topic = mediatopics.find(edit.uri)
        if topic is None:
            raise InvalidTag(f"{edit.uri!r} is not a current IPTC Media Topic")
        return {"type": "subject", "uri": topic.uri, "qcode": topic.qcode, "name": topic.name,
                "broader": list(topic.broader)}
    tag = {"type": edit.type, "name": edit.name}
    if edit.code:
        if edit.type != "place" or pycountry.countries.get(alpha_2=edit.code) is None:
            raise InvalidTag(f"{edit.code!r} is not an ISO 3166-1 alpha-2 country code for a place")
        tag["code"] = edit.code
    if edit.uri:
        tag["uri"] = edit.uri
    return tag


def set_editor_tags(*, session: Session, story_id: str, changes: schemas.TagsUpdate) -> list[int]:
    """Store the editors' tag changes on the story. A story already published goes out again
    as a new version carrying the corrected tags; returns the outbox events to relay."""
    story = session.get(Story, story_id, with_for_update=True)  # one tag change (or render) at a time
    if story is None:
        raise NotFound(story_id)
    manual = {
        "add": [_normalise_tag(t) for t in changes.add],
        "remove": [_normalise_tag(t) for t in changes.remove],
    }
    if manual == (story.manual_tags or {"add": [], "remove": []}):
        return []  # nothing changed: no new version
    story.manual_tags = manual
    session.add(story)
    current = current_version(session=session, story=story)
    if current.state != VersionState.published:
        return []  # the publish step will use the new tags
    now = utcnow()
    content = current.model_dump(include=VERSION_CONTENT)
    update = StoryVersion(
        **content,
        story_id=story.id,
        version=current.version + 1,
        state=VersionState.enriched,  # same text: the automatic tags still hold
        received_at=now,
        stored_at=now,
        enriched_at=now,
    )
    session.add(update)
    story.current_version = update.version
    session.flush()
    event = events.record(session, "version.enriched", update.id, update.urgency)
    session.flush()
    return [event.id]
