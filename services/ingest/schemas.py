"""API request and response models (never the table classes themselves)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from shared.models import Role
from shared.text import html_to_text, sanitize_html

MAX_HEADLINE = 500
MAX_BODY_CHARS = 500_000


class Input(BaseModel):
    """Base of every request body: unknown fields refused, text trimmed, no NUL characters
    (PostgreSQL cannot store them)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        return value


class StoryCreate(Input):

    headline: str = Field(min_length=1, max_length=MAX_HEADLINE)
    body_text: str | None = Field(default=None, max_length=MAX_BODY_CHARS)
    body_html: str | None = Field(default=None, max_length=MAX_BODY_CHARS)
    byline: str | None = Field(default=None, max_length=300)
    located: str | None = Field(default=None, max_length=200, description="Dateline place, e.g. 'ASTANA'")
    slugline: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, pattern=r"^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    urgency: int = Field(default=5, ge=1, le=9, description="1 = flash ... 9 = lowest")
    embargoed_until: AwareDatetime | None = Field(
        default=None, description="ISO 8601 with a timezone; the story is held until then"
    )

    @field_validator("embargoed_until")
    @classmethod
    def _representable(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError("embargoed_until is out of range") from None

    @model_validator(mode="after")
    def _needs_body(self) -> "StoryCreate":
        if not self.body_text and not self.body_html:
            raise ValueError("a story needs body_text or body_html")
        if not self.body_text and not html_to_text(sanitize_html(self.body_html)).strip():
            raise ValueError("body_html has no text once unsafe markup is removed")
        return self


class TagEdit(Input):
    """One tag an editor adds or removes. Subjects are named by IPTC Media Topic URI or qcode;
    everything else by name (places may carry an ISO 3166-1 alpha-2 ``code``)."""

    type: Literal["place", "person", "organisation", "subject", "keyword"]
    name: str | None = Field(default=None, min_length=1, max_length=300)
    code: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    uri: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _identified(self) -> "TagEdit":
        if self.type == "subject" and not self.uri:
            raise ValueError("a subject needs its IPTC Media Topic uri (or qcode)")
        if self.type != "subject" and not self.name:
            raise ValueError(f"a {self.type} tag needs a name")
        return self


class TagsUpdate(Input):
    """The editor's complete set of tag changes for the story (PUT replaces the previous set)."""

    add: list[TagEdit] = Field(default_factory=list, max_length=200)
    remove: list[TagEdit] = Field(default_factory=list, max_length=200)


class Links(BaseModel):
    self: str


class StoryAccepted(BaseModel):
    id: str
    uri: str
    version: int
    status: str
    links: Links


class TimelineEntry(BaseModel):
    event: str
    at: str | None
    subscriber_id: str | None = None
    subscriber: str | None = None
    attempts: int | None = None
    detail: str | None = None


class StoryPublic(BaseModel):
    id: str
    uri: str
    version: int
    status: str
    pubstatus: str
    state: str
    headline: str
    byline: str | None
    located: str | None
    slugline: str | None
    language: str | None
    urgency: int
    embargoed_until: str | None
    tags: dict[str, Any] | None = Field(description="automatic tags with the editors' changes applied")
    editor_tags: dict[str, Any] | None = Field(description="the editors' additions and removals")
    timeline: list[TimelineEntry]
    links: Links


class SubscriberCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    url: HttpUrl


class SubscriberPublic(BaseModel):
    id: str
    name: str
    url: str
    active: bool
    disabled_reason: str | None
    created_at: str


class SubscriberCreated(SubscriberPublic):
    secret: str = Field(description="Standard Webhooks signing secret (whsec_...); shown once")


class AttemptPublic(BaseModel):
    number: int
    started_at: str
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None


class DeliveryPublic(BaseModel):
    id: str
    message_id: str
    story_id: str
    version: int
    state: str
    attempts: list[AttemptPublic]
    created_at: str
    delivered_at: str | None
    next_attempt_at: str | None
    last_error: str | None


class KeyCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    role: Role


class KeyCreated(BaseModel):
    id: str
    name: str
    role: Role
    key: str = Field(description="The API key; shown once, stored only as a hash")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
