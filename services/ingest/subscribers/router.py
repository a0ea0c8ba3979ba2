"""``/v1/subscribers`` (admin): register webhook endpoints, list them, bring one back."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError

from services.ingest import errors
from services.ingest.auth import Admin
from services.ingest.exceptions import Conflict, Invalid
from services.ingest.subscribers import schemas, service
from shared import db
from shared.config import get_settings
from shared.models import Subscriber
from shared.netguard import TargetRefused

router = APIRouter(prefix="/v1/subscribers", tags=["subscribers"], responses=errors.responses(401, 403, 500))


def public(subscriber: Subscriber) -> schemas.SubscriberPublic:
    return schemas.SubscriberPublic.model_validate(subscriber.model_dump())


@router.post("", status_code=201, response_model=schemas.SubscriberCreated, responses=errors.responses(409, 422))
def create_subscriber(payload: schemas.SubscriberCreate, _key: Admin) -> schemas.SubscriberCreated:
    """Register a webhook endpoint. The answer carries its signing secret, shown once."""
    try:
        with db.session_scope() as session:
            sub = service.create_subscriber(
                session=session, settings=get_settings(), name=payload.name, url=str(payload.url)
            )
            return schemas.SubscriberCreated(**public(sub).model_dump(), secret=sub.secret)
    except TargetRefused as exc:
        raise Invalid("webhook_target_refused", str(exc)) from None
    except IntegrityError:  # the same name, registered at the same moment
        raise Conflict("duplicate_name", f"a subscriber named {payload.name!r} exists") from None


@router.get("", response_model=list[schemas.SubscriberPublic])
def list_subscribers(_key: Admin) -> list[schemas.SubscriberPublic]:
    """Every subscriber, active or disabled (and why)."""
    with db.read_scope() as session:
        return [public(s) for s in service.list_subscribers(session=session)]


@router.post("/{subscriber_id}/enable", response_model=schemas.SubscriberPublic, responses=errors.responses(404))
def enable_subscriber(subscriber_id: str, _key: Admin) -> schemas.SubscriberPublic:
    """Bring a disabled subscriber back; what was held for it while disabled goes out."""
    with db.session_scope() as session:
        return public(service.enable_subscriber(session=session, subscriber_id=subscriber_id))
