"""``/v1/subscribers`` (admin; a subscriber's own key reads itself, rotates its secret and sends
itself a test event): register webhook endpoints with what they want, read, change,
disable, enable and delete them, rotate their signing secrets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from fastapi import APIRouter, Response
from sqlalchemy.exc import IntegrityError

from services.ingest import errors
from services.ingest.auth import Admin, SubscriberOrAdmin, own_subscriber
from services.ingest.exceptions import Conflict, Invalid
from services.ingest.keys.schemas import KeyCreated, SubscriberKeyCreate
from services.ingest.keys.service import create_key, forget_keys
from services.ingest.paths import SubscriberId
from services.ingest.subscribers import schemas, service, targets, testevent
from shared import credentials, db
from shared.config import get_settings
from shared.models import Role, Subscriber
from shared.netguard import TargetRefused

router = APIRouter(prefix="/v1/subscribers", tags=["subscribers"], responses=errors.responses(401, 403, 500))


def public(subscriber: Subscriber) -> schemas.SubscriberPublic:
    shown = subscriber.model_dump(exclude={"credentials", "secret", "previous_secret"})
    shown["channel"] = targets.view(subscriber.url, subscriber.channel)
    return schemas.SubscriberPublic.model_validate(shown)


@contextmanager
def _refusals(name: str | None = None) -> Iterator[None]:
    """A refused URL is a 422; the same name registered at the same moment a 409."""
    try:
        yield
    except TargetRefused as exc:
        raise Invalid("webhook_target_refused", str(exc)) from None
    except credentials.KeyMissing as exc:
        raise Invalid("credentials_key_missing", f"this server cannot keep channel credentials: {exc}") from None
    except IntegrityError:
        raise Conflict("duplicate_name", f"a subscriber named {name!r} exists") from None


@router.post("", status_code=201, response_model=schemas.SubscriberCreated, responses=errors.responses(409, 422))
def create_subscriber(payload: schemas.SubscriberCreate, _key: Admin) -> schemas.SubscriberCreated:
    """Register a webhook endpoint, with filters if it wants only some stories. The answer
    carries its signing secret, shown once."""
    with _refusals(payload.name), db.session_scope() as session:
        sub = service.create_subscriber(
            session=session,
            settings=get_settings(),
            name=payload.name,
            url=str(payload.url) if payload.url else None,
            channel=payload.channel,
            filters=payload.filters,
            format=payload.format,
        )
        return schemas.SubscriberCreated(**public(sub).model_dump(), secret=sub.secret)


@router.get("", response_model=list[schemas.SubscriberPublic])
def list_subscribers(_key: Admin) -> list[schemas.SubscriberPublic]:
    """Every subscriber, active or disabled (and why)."""
    with db.read_scope() as session:
        return [public(s) for s in service.list_subscribers(session=session)]


@router.get("/{subscriber_id}", response_model=schemas.SubscriberPublic, responses=errors.responses(404))
def get_subscriber(subscriber_id: SubscriberId, key: SubscriberOrAdmin) -> schemas.SubscriberPublic:
    """One subscriber (a subscriber's own key reads its own)."""
    own_subscriber(key, subscriber_id)
    with db.read_scope() as session:
        return public(service.get_subscriber(session=session, subscriber_id=subscriber_id))


@router.patch("/{subscriber_id}", response_model=schemas.SubscriberPublic, responses=errors.responses(404, 409, 422))
def update_subscriber(
    subscriber_id: SubscriberId, changes: schemas.SubscriberUpdate, key: Admin
) -> schemas.SubscriberPublic:
    """Change its name, URL, filters, or whether it is active (only the fields given)."""
    given = changes.model_dump(exclude_unset=True)
    with _refusals(changes.name), db.session_scope() as session:
        return public(
            service.update_subscriber(
                session=session,
                settings=get_settings(),
                subscriber_id=subscriber_id,
                changes=given,
                changed_by=key.name,
            )
        )


@router.delete("/{subscriber_id}", status_code=204, response_class=Response, responses=errors.responses(404))
def delete_subscriber(subscriber_id: SubscriberId, _key: Admin) -> Response:
    """It receives nothing more, kills included; its delivery history stays."""
    with db.session_scope() as session:
        service.delete_subscriber(session=session, subscriber_id=subscriber_id)
    forget_keys()  # its keys were revoked
    return Response(status_code=204)


@router.post("/{subscriber_id}/enable", response_model=schemas.SubscriberPublic, responses=errors.responses(404))
def enable_subscriber(subscriber_id: SubscriberId, _key: Admin) -> schemas.SubscriberPublic:
    """Bring a disabled subscriber back; what was held for it while disabled goes out, in order."""
    with db.session_scope() as session:
        return public(service.enable_subscriber(session=session, subscriber_id=subscriber_id))


@router.post(
    "/{subscriber_id}/rotate-secret", response_model=schemas.SecretRotated, responses=errors.responses(404, 422)
)
def rotate_secret(
    subscriber_id: SubscriberId, key: SubscriberOrAdmin, rotation: schemas.SecretRotation | None = None
) -> schemas.SecretRotated:
    """A new signing secret. During the overlap (default 24 h) every delivery carries a signature
    with each secret, so the site can switch to the new one without losing a message. A
    subscriber's own key may rotate its own secret."""
    own_subscriber(key, subscriber_id)
    overlap = timedelta(seconds=(rotation or schemas.SecretRotation()).overlap_seconds)
    with db.session_scope() as session:
        sub = service.rotate_secret(session=session, subscriber_id=subscriber_id, overlap=overlap)
        return schemas.SecretRotated(secret=sub.secret, previous_secret_expires_at=sub.previous_secret_expires_at)


@router.post("/{subscriber_id}/keys", status_code=201, response_model=KeyCreated, responses=errors.responses(404, 422))
def create_subscriber_key(
    subscriber_id: SubscriberId, _key: Admin, body: SubscriberKeyCreate | None = None
) -> KeyCreated:
    """A key for the site itself: it reads this subscriber's feed (``/v1/feed``), and nothing
    else. Shown once."""
    with db.session_scope() as session:
        sub = service.get_subscriber(session=session, subscriber_id=subscriber_id)
        name = (body.name if body and body.name else None) or f"{sub.name} feed"
        row, key = create_key(session=session, name=name, role=Role.subscriber, subscriber_id=sub.id)
        return KeyCreated(**row.model_dump(), key=key)


@router.post(
    "/{subscriber_id}/test-event", response_model=testevent.TestEventResult, responses=errors.responses(404, 409)
)
async def send_test_event(subscriber_id: SubscriberId, key: SubscriberOrAdmin) -> testevent.TestEventResult:
    """Send one signed `webhook.test` event to the subscriber's webhook now and answer what the
    site said (status, latency, the start of its answer). Nothing is stored or retried; a site
    should acknowledge it with 2xx and publish nothing."""
    own_subscriber(key, subscriber_id)
    return await testevent.send_test_event(subscriber_id, get_settings())
