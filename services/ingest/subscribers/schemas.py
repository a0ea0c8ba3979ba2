"""API models for subscribers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, HttpUrl

from services.ingest.common import Input


class SubscriberCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    url: HttpUrl


class SubscriberPublic(BaseModel):
    id: str
    name: str
    url: str
    active: bool
    disabled_reason: str | None
    created_at: datetime


class SubscriberCreated(SubscriberPublic):
    secret: str = Field(description="Standard Webhooks signing secret (whsec_...); shown once")
