"""Subscribers: downstream sites that receive signed webhooks, with what they want (filters),
their signing secrets (rotated with an overlap), and their state (disabled, deleted)."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta

import pycountry
from sqlalchemy import or_, update
from sqlmodel import Session, select

from services.ingest.exceptions import Conflict, Invalid, NotFound
from services.ingest.subscribers import targets
from services.ingest.subscribers.schemas import CHANNEL, Channel, WebhookChannel
from shared import mediatopics
from shared.config import Settings
from shared.filters import SubscriberFilters
from shared.models import ApiKey, Delivery, DeliveryState, Subscriber
from shared.timeutil import utcnow


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def get_subscriber(*, session: Session, subscriber_id: str, lock: bool = False) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id, with_for_update=lock)
    if subscriber is None or subscriber.deleted_at is not None:
        raise NotFound(f"subscriber {subscriber_id}")
    return subscriber


def normalise_filters(filters: SubscriberFilters | None) -> dict | None:
    """Filters checked against the vocabularies: topics by qcode (URIs and bare codes
    accepted), countries as upper-case ISO 3166-1 alpha-2 codes."""
    if filters is None:
        return None
    subjects = None
    if filters.subjects is not None:
        topics = [mediatopics.find(s) for s in filters.subjects]
        unknown = [s for s, t in zip(filters.subjects, topics, strict=True) if t is None]
        if unknown:
            raise Invalid("invalid_filter", f"not current IPTC Media Topics: {', '.join(unknown)}")
        subjects = sorted({t.qcode for t in topics})
    places = None
    if filters.places is not None:
        places = sorted({p.strip().upper() for p in filters.places})
        unknown = [p for p in places if pycountry.countries.get(alpha_2=p) is None]
        if unknown:
            raise Invalid("invalid_filter", f"not ISO 3166-1 alpha-2 country codes: {', '.join(unknown)}")
    normalised = filters.model_copy(update={"subjects": subjects, "places": places})
    return normalised.model_dump(mode="json", exclude_none=True)


def _name_free(session: Session, name: str, other_than: str | None = None) -> None:
    taken = session.exec(select(Subscriber.id).where(Subscriber.name == name, Subscriber.deleted_at.is_(None))).first()
    if taken is not None and taken != other_than:
        raise Conflict("duplicate_name", f"a subscriber named {name!r} exists")


def create_subscriber(
    *,
    session: Session,
    settings: Settings,
    name: str,
    url: str | None = None,
    channel: Channel | None = None,
    filters: SubscriberFilters | None = None,
    format: str = "ninjs",
) -> Subscriber:
    """Register a subscriber with a webhook ``url`` or a ``channel``; refuses hosts that resolve
    to internal addresses (``TargetRefused``), bad keys and names already taken."""
    target = targets.checked(channel or WebhookChannel(type="webhook", url=url), settings)
    _name_free(session, name)
    subscriber = Subscriber(
        name=name,
        url=target.url,
        channel=target.channel,
        credentials=target.sealed,
        secret=new_webhook_secret(),
        filters=normalise_filters(filters),
        format=format,
    )
    session.add(subscriber)
    session.flush()
    return subscriber


def list_subscribers(*, session: Session) -> list[Subscriber]:
    return list(
        session.exec(select(Subscriber).where(Subscriber.deleted_at.is_(None)).order_by(Subscriber.created_at)).all()
    )


def update_subscriber(
    *, session: Session, settings: Settings, subscriber_id: str, changes: dict, changed_by: str
) -> Subscriber:
    """Apply the fields given (name, url, filters, format, active)."""
    subscriber = get_subscriber(session=session, subscriber_id=subscriber_id, lock=True)
    if "name" in changes and changes["name"] is not None:
        _name_free(session, changes["name"], other_than=subscriber.id)
        subscriber.name = changes["name"]
    given = CHANNEL.validate_python(changes["channel"]) if changes.get("channel") else None
    if given is None and changes.get("url") is not None:
        given = WebhookChannel(type="webhook", url=changes["url"])
    if given is not None:
        target = targets.checked(given, settings)
        subscriber.url, subscriber.channel, subscriber.credentials = target.url, target.channel, target.sealed
    if "filters" in changes:
        filters = changes["filters"]
        subscriber.filters = normalise_filters(SubscriberFilters.model_validate(filters) if filters else None)
    if changes.get("format") is not None:
        subscriber.format = changes["format"]
    if changes.get("active") is True:
        _enable(subscriber)
    elif changes.get("active") is False and subscriber.active:
        subscriber.active, subscriber.disabled_reason = False, f"disabled by {changed_by}"
    session.add(subscriber)
    session.flush()
    return subscriber


def _enable(subscriber: Subscriber) -> None:
    subscriber.active, subscriber.disabled_reason = True, None
    subscriber.failing_since = subscriber.last_failed_at = None


def enable_subscriber(*, session: Session, subscriber_id: str) -> Subscriber:
    """Bring a disabled subscriber back: what was held for it goes out, in order."""
    subscriber = get_subscriber(session=session, subscriber_id=subscriber_id, lock=True)
    _enable(subscriber)
    session.add(subscriber)
    session.flush()
    return subscriber


def rotate_secret(*, session: Session, subscriber_id: str, overlap: timedelta) -> Subscriber:
    """A new secret; until the overlap ends, every delivery is signed with the old one too."""
    subscriber = get_subscriber(session=session, subscriber_id=subscriber_id, lock=True)
    if overlap.total_seconds() > 0:
        subscriber.previous_secret = subscriber.secret
        subscriber.previous_secret_expires_at = utcnow() + overlap
    else:
        subscriber.previous_secret = subscriber.previous_secret_expires_at = None
    subscriber.secret = new_webhook_secret()
    session.add(subscriber)
    session.flush()
    return subscriber


def delete_subscriber(*, session: Session, subscriber_id: str) -> None:
    """It receives nothing more (kills included): pending deliveries are withdrawn, its feed keys
    revoked. Its delivery history stays; its name is free again."""
    subscriber = get_subscriber(session=session, subscriber_id=subscriber_id, lock=True)
    now = utcnow()
    subscriber.deleted_at, subscriber.active, subscriber.disabled_reason = now, False, "deleted"
    session.add(subscriber)
    session.exec(  # one in flight finishes; the next claim of anything left withdraws it
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber.id, Delivery.state == DeliveryState.pending)
        .where(or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
        .values(state=DeliveryState.withdrawn, lease_until=None, last_error="the subscriber was deleted")
    )
    session.exec(
        update(ApiKey).where(ApiKey.subscriber_id == subscriber.id, ApiKey.revoked_at.is_(None)).values(revoked_at=now)
    )
    session.flush()
