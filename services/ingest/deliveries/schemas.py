"""API models for deliveries."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.models import Delivery, DeliveryAttempt, DeliveryState


class AttemptPublic(BaseModel):
    number: int
    started_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None


class DeliveryPublic(BaseModel):
    id: str
    message_id: str = Field(description="the webhook-id header: the same on every attempt")
    story_id: str
    version: int
    state: DeliveryState
    attempts: list[AttemptPublic]
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None = Field(description="when pending: the next try")
    last_error: str | None

    @classmethod
    def of(cls, delivery: Delivery, attempts: list[DeliveryAttempt]) -> DeliveryPublic:
        pending = delivery.state == DeliveryState.pending
        return cls(
            **delivery.model_dump(exclude={"next_attempt_at", "attempts"}),
            next_attempt_at=delivery.next_attempt_at if pending else None,
            attempts=[AttemptPublic.model_validate(a.model_dump()) for a in attempts],
        )
