"""API models for subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, HttpUrl, StrictBool, StrictInt, field_serializer

from services.ingest.common import Input
from shared.filters import SubscriberFilters

#: What a subscriber receives: the ninjs JSON event, a NewsML-G2 newsItem or a NITF document.
OutputFormat = Literal["ninjs", "newsml-g2", "nitf"]
FORMAT_DESCRIPTION = (
    "what it receives: `ninjs` (JSON event, application/json), `newsml-g2` (NewsML-G2 2.35 newsItem, "
    "application/vnd.iptc.g2.newsitem+xml) or `nitf` (NITF 3.6, application/nitf+xml); signed the same way"
)


class SubscriberCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    url: HttpUrl
    filters: SubscriberFilters | None = Field(default=None, description="what it wants; left out: everything")
    format: OutputFormat = Field(default="ninjs", description=FORMAT_DESCRIPTION)


class SubscriberUpdate(Input):
    """Only the fields given change; ``filters: null`` asks for everything again."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: HttpUrl | None = None
    filters: SubscriberFilters | None = None
    format: OutputFormat | None = Field(default=None, description=FORMAT_DESCRIPTION)
    #: JSON true or false only (not 0, 1 or "yes").
    active: StrictBool | None = Field(
        default=None, description="false disables it (deliveries are held), true enables it"
    )


class SubscriberPublic(BaseModel):
    id: str
    name: str
    url: str
    filters: SubscriberFilters | None
    format: OutputFormat
    active: bool
    disabled_reason: str | None
    failing_since: datetime | None = Field(description="since when every delivery has failed, if it does")
    previous_secret_expires_at: datetime | None = Field(
        description="during a secret rotation: until when deliveries also carry the old secret's signature"
    )
    created_at: datetime

    @field_serializer("filters")
    def _given_fields_only(self, filters: SubscriberFilters | None) -> dict | None:
        return None if filters is None else filters.model_dump(mode="json", exclude_none=True)


class SubscriberCreated(SubscriberPublic):
    secret: str = Field(description="Standard Webhooks signing secret (whsec_...); shown once")


class SecretRotation(Input):
    overlap_seconds: StrictInt = Field(
        default=86400, ge=0, le=7 * 86400, description="how long deliveries carry both signatures (default 24 h)"
    )


class SecretRotated(BaseModel):
    secret: str = Field(description="the new signing secret; shown once")
    previous_secret_expires_at: datetime | None = Field(description="until then, the old secret verifies too")
