"""Database tables. State lives here, not in the queue: every task re-reads its row first.

A story's content fields are declared once, in ``StoryContent``: the ``story_version`` table,
the API's request and response models and the ninjs renderer all derive from it.

Datetimes are timezone-aware UTC (see ``shared.timeutil``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, or_, text
from sqlmodel import AutoString, Field, SQLModel

from shared.timeutil import utcnow

MAX_HEADLINE = 500
MAX_BODY_CHARS = 500_000
LANGUAGE_TAG = r"^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8})*$"


def new_id() -> str:
    return uuid.uuid4().hex


def story_uri(story_id: str) -> str:
    """The story's identity on the wire (ninjs ``uri``): it embeds the id the API returned."""
    return f"urn:newswire:story:{story_id}"


class Role(StrEnum):
    editor = "editor"
    admin = "admin"
    subscriber = "subscriber"  # a downstream site's key: its own feed, nothing else


class VersionKind(StrEnum):
    """Why a version was filed; each kind goes out as its own webhook payload type."""

    original = "original"  # the first version (POST /v1/stories)
    update = "update"  # new content (PUT /v1/stories/{id})
    correction = "correction"  # new content with a correction note
    kill = "kill"  # withdrawn: pubStatus canceled
    retag = "retag"  # same content, the editors' tag changes

    @property
    def event_type(self) -> str:
        return EVENT_TYPES[self]


EVENT_TYPES = {
    VersionKind.original: "story.published",
    VersionKind.update: "story.updated",
    VersionKind.correction: "story.corrected",
    VersionKind.kill: "story.killed",
    VersionKind.retag: "story.updated",
}


class VersionState(StrEnum):
    """Where a story version is in the pipeline."""

    stored = "stored"  # written by the API with its outbox event
    enriched = "enriched"  # tags attached
    embargoed = "embargoed"  # rendered later, when the embargo lifts
    releasing = "releasing"  # embargo lifted, publish event queued
    published = "published"  # rendered, deliveries created
    failed = "failed"  # could not be published (see ``error``); an editor may retry it
    superseded = "superseded"  # replaced by a newer version before it was released
    withdrawn = "withdrawn"  # the story was killed before this version went out


#: States a version never leaves by itself.
FINISHED_STATES = (VersionState.published, VersionState.failed, VersionState.superseded, VersionState.withdrawn)
#: States of a version still on its way through the pipeline.
IN_PIPELINE_STATES = (VersionState.stored, VersionState.enriched, VersionState.embargoed, VersionState.releasing)


class PubStatus(StrEnum):
    usable = "usable"
    withheld = "withheld"
    canceled = "canceled"


class DeliveryState(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"
    withdrawn = "withdrawn"  # the story was killed before this delivery went out


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    role: str
    key_hash: str = Field(unique=True, index=True)
    prefix: str
    #: For a subscriber key: whose feed it reads.
    subscriber_id: str | None = Field(default=None, foreign_key="subscriber.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A signed-in browser of the web desk or the subscriber portal: the cookie carries a random
    token, the row its hash. It ends when it expires, on sign-out, or when its key is revoked (the
    key is read with it on every request)."""

    __tablename__ = "web_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    api_key_id: str = Field(foreign_key="api_key.id", index=True)
    #: Every form and htmx request of the session carries it (checked on every POST).
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class Story(SQLModel, table=True):
    __tablename__ = "story"
    __table_args__ = (Index("ix_story_created", "created_at", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    #: Position in the story list, numbered in commit order: given just before the transaction
    #: that inserts the story commits (``db.number_at_commit``), so never None once committed.
    seq: int | None = Field(default=None, unique=True)
    current_version: int = 1
    #: The editors' tag additions and removals ({"add": [...], "remove": [...]}); they apply
    #: to every version and no tagger run overwrites them.
    manual_tags: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    killed_at: datetime | None = None


def _text(max_length: int, description: str | None = None, **kwargs: Any) -> Any:
    """A text content field: its length is checked on input; the column is plain text."""
    return Field(default=None, max_length=max_length, description=description, sa_type=AutoString, **kwargs)


class StoryContent(SQLModel):
    """What an editor files: the content of one story version."""

    headline: str = Field(min_length=1, max_length=MAX_HEADLINE, sa_type=AutoString)
    body_text: str | None = _text(MAX_BODY_CHARS, "Plain text body (this or body_html)")
    body_html: str | None = _text(MAX_BODY_CHARS, "HTML body; unsafe markup is removed")
    byline: str | None = _text(300)
    located: str | None = _text(200, "Dateline place, e.g. 'ASTANA'")
    slugline: str | None = _text(200)
    language: str | None = _text(
        35, "BCP 47 language tag; detected when absent", schema_extra={"pattern": LANGUAGE_TAG}
    )
    urgency: int = Field(default=5, ge=1, le=9, description="1 = flash ... 9 = lowest")
    embargoed_until: datetime | None = Field(
        default=None, description="ISO 8601 with a timezone; the story is held until then"
    )

    def content(self) -> dict[str, Any]:
        """The content fields alone, to copy into another version or a renderer's input."""
        return {name: getattr(self, name) for name in StoryContent.model_fields}


class StoryVersion(StoryContent, table=True):
    __tablename__ = "story_version"
    __table_args__ = (UniqueConstraint("story_id", "version"), Index("ix_story_version_state", "state"))

    id: int | None = Field(default=None, primary_key=True)
    story_id: str = Field(foreign_key="story.id", index=True)
    version: int
    kind: str = VersionKind.original
    #: The correction note or kill reason (ninjs ``edNote``).
    note: str | None = None
    #: Name of the API key that filed the version (never the key itself).
    filed_by: str | None = None
    pubstatus: str = PubStatus.usable
    state: str = VersionState.stored
    tags: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    ninjs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: Why the version could not be published (state ``failed``).
    error: str | None = None
    #: Times a worker took up the version's current step (tagging, rendering) without finishing it
    #: yet; back to 0 when the step is done. Past ``NEWSWIRE_MAX_TRIES`` the version fails.
    tries: int = 0
    #: Taken into another version's tagging batch, whose worker tags it by then: its own message
    #: leaves it alone until this time (``services.enrichment.service``).
    held_until: datetime | None = None
    received_at: datetime
    stored_at: datetime
    enriched_at: datetime | None = None
    published_at: datetime | None = None
    #: Position in the feed: published versions numbered in commit order.
    published_seq: int | None = Field(default=None, unique=True)
    failed_at: datetime | None = None

    @property
    def queue_urgency(self) -> int:
        """The urgency its messages are queued with: a kill jumps every queue."""
        return 1 if self.kind == VersionKind.kill else self.urgency


class IdempotencyRecord(SQLModel, table=True):
    """An ``Idempotency-Key`` seen before: the request it came with and the version it made.
    Keys belong to the API key that sent them (two keys may use the same text) and are kept
    until ``expires_at``; after that the key may be used again."""

    __tablename__ = "idempotency_record"
    __table_args__ = (Index("ix_idempotency_record_expires_at", "expires_at"),)

    #: The id of the API key that sent it (the seed loader has a name of its own).
    api_key_id: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str
    story_id: str = Field(foreign_key="story.id")
    version: int
    created_at: datetime = Field(default_factory=utcnow)
    #: None: kept for good (the seed loader's keys, which make loading the seeds idempotent).
    expires_at: datetime | None = None


class Lease(SQLModel, table=True):
    """A role that exactly one process may hold at a time (the scheduler): held until
    ``expires_at`` and renewed by its holder; another may take it only once it has run out."""

    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(max_length=200)
    expires_at: datetime


class StoryTag(SQLModel, table=True):
    """The story's place codes and Media Topic qcodes (with every broader topic), from its
    newest tagged version and the editors' changes: what the story list filters on."""

    __tablename__ = "story_tag"
    __table_args__ = (Index("ix_story_tag_code", "kind", "code", "story_id"),)

    story_id: str = Field(foreign_key="story.id", primary_key=True)
    kind: str = Field(primary_key=True)  # "place" | "subject"
    code: str = Field(primary_key=True)


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
    __table_args__ = (
        # Names are unique among subscribers that exist; a deleted one's name can be taken again.
        Index(
            "uq_subscriber_name_live",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    url: str
    secret: str
    #: During a rotation, the secret before; deliveries carry both signatures until it expires.
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    #: What the subscriber wants (``shared.filters.SubscriberFilters``); None: everything.
    filters: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: Where its stories go when not a webhook (``services.publish.channels``): the channel's
    #: settings without credentials; None: a webhook to ``url``.
    channel: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: The channel's credentials, encrypted (``shared.credentials``); never shown.
    credentials: str | None = None
    #: What it receives: ``ninjs`` (JSON), ``newsml-g2`` or ``nitf`` (``services.publish.formats``).
    format: str = Field(default="ninjs", max_length=20, sa_column_kwargs={"server_default": "ninjs"})
    active: bool = True
    disabled_reason: str | None = None
    #: Since when every attempt has failed (cleared by a success); past a set period it is disabled.
    failing_since: datetime | None = None
    #: The last failed attempt: a streak with a gap longer than the period starts anew.
    last_failed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


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
    #: The attempt after which it is ``failed``; a redelivery extends it.
    attempt_limit: int = 18
    next_attempt_at: datetime = Field(default_factory=utcnow)
    #: Held by the worker sending it; the result is written only under the same lease.
    lease_until: datetime | None = None
    #: A send task is in the queue for it until then; the sweep does not queue another.
    queued_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
    last_error: str | None = None


def may_have_arrived():
    """SQL condition on ``Delivery``: the subscriber may hold this delivery's version — it was
    delivered, or at least one attempt was made (a POST that timed out may still have landed), or
    a worker holds or held its lease without recording a result (every path that claims and does
    not send clears the lease). Who gets a kill, and who "had" a story, follow from it."""
    return or_(
        Delivery.state == DeliveryState.delivered,
        Delivery.attempts > 0,
        Delivery.lease_until.is_not(None),
    )


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
