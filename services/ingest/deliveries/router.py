"""Deliveries of a subscriber (admin), with every attempt."""

from __future__ import annotations

from fastapi import APIRouter

from services.ingest import errors
from services.ingest.auth import Admin
from services.ingest.deliveries import schemas, service
from shared import db

router = APIRouter(prefix="/v1", tags=["deliveries"], responses=errors.responses(401, 403, 500))


@router.get(
    "/subscribers/{subscriber_id}/deliveries",
    response_model=list[schemas.DeliveryPublic],
    responses=errors.responses(404),
)
def list_subscriber_deliveries(subscriber_id: str, _key: Admin) -> list[schemas.DeliveryPublic]:
    """The subscriber's newest 100 deliveries: state, webhook-id and every attempt (status,
    latency, the start of the answer)."""
    with db.read_scope() as session:
        rows = service.list_deliveries(session=session, subscriber_id=subscriber_id)
    return [schemas.DeliveryPublic.of(delivery, attempts) for delivery, attempts in rows]
