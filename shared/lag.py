"""How far behind the pipeline is, in two queries that ``/metrics`` and ``newswire status`` share:
accepted stories whose outbox event is not yet with the broker, and deliveries still pending."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from shared.models import Delivery, DeliveryState, OutboxEvent


def unsent_events(conn) -> tuple[int, datetime | None]:
    """How many outbox events wait to be handed to the broker, and when the oldest was written.
    ``conn``: a Connection or a Session."""
    count, oldest = conn.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.sent_at.is_(None))
    ).one()
    return count, oldest


def pending_deliveries(conn) -> tuple[int, datetime | None]:
    """How many deliveries are pending (held ones included), and when the oldest was created."""
    count, oldest = conn.execute(
        select(func.count(), func.min(Delivery.created_at)).where(Delivery.state == DeliveryState.pending)
    ).one()
    return count, oldest
