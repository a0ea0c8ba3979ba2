"""Deliveries: one per (subscriber, story version), with every attempt recorded."""

from __future__ import annotations

from sqlmodel import Session, select

from services.ingest.subscribers.service import get_subscriber
from shared.models import Delivery, DeliveryAttempt


def list_deliveries(
    *, session: Session, subscriber_id: str, limit: int = 100
) -> list[tuple[Delivery, list[DeliveryAttempt]]]:
    """The subscriber's newest deliveries, each with its attempts in order."""
    get_subscriber(session=session, subscriber_id=subscriber_id)
    deliveries = session.exec(
        select(Delivery)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.created_at.desc())
        .limit(limit)
    ).all()
    attempts: dict[str, list[DeliveryAttempt]] = {d.id: [] for d in deliveries}
    if attempts:
        rows = session.exec(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(list(attempts)))
            .order_by(DeliveryAttempt.number)
        ).all()
        for attempt in rows:
            attempts[attempt.delivery_id].append(attempt)
    return [(d, attempts[d.id]) for d in deliveries]
