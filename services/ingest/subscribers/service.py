"""Subscribers: downstream sites that receive signed webhooks."""

from __future__ import annotations

import base64
import secrets

from sqlmodel import Session, select

from services.ingest.exceptions import Conflict, NotFound
from shared.config import Settings
from shared.models import Subscriber
from shared.netguard import check_url


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def get_subscriber(*, session: Session, subscriber_id: str) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"subscriber {subscriber_id}")
    return subscriber


def create_subscriber(*, session: Session, settings: Settings, name: str, url: str) -> Subscriber:
    """Register a webhook endpoint; refuses URLs that resolve to internal addresses
    (``TargetRefused``) and names already taken."""
    check_url(url, settings.webhook_allowed_networks)
    if session.exec(select(Subscriber).where(Subscriber.name == name)).first() is not None:
        raise Conflict("duplicate_name", f"a subscriber named {name!r} exists")
    subscriber = Subscriber(name=name, url=url, secret=new_webhook_secret())
    session.add(subscriber)
    session.flush()
    return subscriber


def list_subscribers(*, session: Session) -> list[Subscriber]:
    return list(session.exec(select(Subscriber).order_by(Subscriber.created_at)).all())


def enable_subscriber(*, session: Session, subscriber_id: str) -> Subscriber:
    """Bring a disabled subscriber back: what was held for it (a kill, say) goes out, in order."""
    subscriber = get_subscriber(session=session, subscriber_id=subscriber_id)
    subscriber.active, subscriber.disabled_reason = True, None
    session.add(subscriber)
    session.flush()
    return subscriber
