"""Database tables. State lives here, not in the queue: every task re-reads its row first.

Datetimes are timezone-aware UTC (see ``shared.timeutil``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.timeutil import utcnow


def new_id() -> str:
    return uuid.uuid4().hex


def story_uri(story_id: str) -> str:
    """The story's identity on the wire (ninjs ``uri``): it embeds the id the API returned."""
    return f"urn:newswire:story:{story_id}"


class Role(StrEnum):
    editor = "editor"
    admin = "admin"


class VersionState(StrEnum):
    """Where a story version is in the pipeline."""

    stored = "stored"  # written by the API with its outbox event
    enriched = "enriched"  # tags attached
    embargoed = "embargoed"  # rendered later, when the embargo lifts
    releasing = "releasing"  # embargo lifted, publish event queued
    published = "published"  # rendered, deliveries created


class PubStatus(StrEnum):
    usable = "usable"
    withheld = "withheld"
    canceled = "canceled"


class DeliveryState(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    role: str
    key_hash: str = Field(unique=True, index=True)
    prefix: str
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Story(SQLModel, table=True):
    __tablename__ = "story"

    id: str = Field(default_factory=new_id, primary_key=True)
    current_version: int = 1
    idempotency_key: str | None = Field(default=None, unique=True)
    request_hash: str | None = None
    #: The editors' tag additions and removals ({"add": [...], "remove": [...]}); they apply
    #: to every version and no tagger run overwrites them.
    manual_tags: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class StoryVersion(SQLModel, table=True):
    __tablename__ = "story_version"
    __table_args__ = (UniqueConstraint("story_id", "version"), Index("ix_story_version_state", "state"))

    id: int | None = Field(default=None, primary_key=True)
    story_id: str = Field(foreign_key="story.id", index=True)
    version: int
    headline: str
    body_text: str | None = None
    body_html: str | None = None
    byline: str | None = None
    located: str | None = None
    slugline: str | None = None
    language: str | None = None
    urgency: int = 5
    embargoed_until: datetime | None = None
    pubstatus: str = PubStatus.usable
    state: str = VersionState.stored
    tags: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    ninjs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    received_at: datetime
    stored_at: datetime
    enriched_at: datetime | None = None
    published_at: datetime | None = None


class OutboxEvent(SQLModel, table=True):
    """An event written in the same transaction as the change it announces; the relay sends it."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_unsent", "sent_at", "created_at"),
        Index("ix_outbox_version", "version_id", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    version_id: int
    priority: int = 5
    created_at: datetime = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    send_attempts: int = 0


class Subscriber(SQLModel, table=True):
    __tablename__ = "subscriber"

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str = Field(unique=True)
    url: str
    secret: str
    active: bool = True
    disabled_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """One per (subscriber, story version); its ``message_id`` is the stable ``webhook-id``."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "version_id"),
        Index("ix_delivery_due", "state", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    message_id: str = Field(default_factory=lambda: "msg_" + new_id(), unique=True)
    subscriber_id: str = Field(foreign_key="subscriber.id", index=True)
    version_id: int = Field(foreign_key="story_version.id", index=True)
    story_id: str = Field(index=True)
    version: int
    priority: int = 5
    state: str = DeliveryState.pending
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    #: Held by the worker sending it; the result is written only under the same lease.
    lease_until: datetime | None = None
    #: A send task is in the queue for it until then; the sweep does not queue another.
    queued_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
    last_error: str | None = None


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(foreign_key="delivery.id", index=True)
    number: int
    started_at: datetime
    status_code: int | None = None
    latency_ms: float
    error: str | None = None
    response_excerpt: str | None = None
