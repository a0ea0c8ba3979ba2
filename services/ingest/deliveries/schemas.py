"""API models for deliveries."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from services.ingest.common import Input, Timestamp
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
    subscriber_id: str
    message_id: str = Field(description="the webhook-id header: the same on every attempt and every redelivery")
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


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None
    next: str | None


class ReplayRequest(Input):
    """A time range of publication (``since`` inclusive, ``until`` exclusive), or one story."""

    since: Timestamp | None = None
    until: Timestamp | None = None
    story_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _something(self) -> ReplayRequest:
        if not (self.since or self.until or self.story_id):
            raise ValueError("give since and/or until, or a story_id")
        for value in (self.since, self.until):
            if value is not None and value.tzinfo is None:
                raise ValueError("since and until need a timezone (e.g. 2026-11-28T00:00:00Z)")
        return self


class ReplayAccepted(BaseModel):
    resent: int = Field(description="deliveries sent again with their webhook-ids")
    created: int = Field(description="versions it never had a delivery for, now on their way")
