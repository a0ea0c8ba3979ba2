"""API models for stories. Content fields come from ``shared.models.StoryContent`` (declared
once); these add what each request or answer needs around them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from services.ingest.common import Input, Links, Timestamp
from shared.models import StoryContent, VersionKind
from shared.ninjs import EventType
from shared.tags import EditorTagChanges, StoryTags

Status = Literal[
    "received", "enriched", "embargoed", "publishing", "published", "failed", "killed", "superseded", "withdrawn"
]


class StoryCreate(StoryContent, Input):
    """A story as an editor files it (``POST /v1/stories``, ``PUT /v1/stories/{id}``).

    Validating it stays cheap (it runs on the server's event loop): ``body_html`` is checked for
    its nesting depth and sanitised when the story is filed (``stories.service``), once."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: A JSON integer: ``true`` or ``"1"`` is not an urgency.
    urgency: StrictInt = Field(default=5, ge=1, le=9, description="1 = flash ... 9 = lowest")
    #: Text with an offset: a number (Unix time) is not taken for a time.
    embargoed_until: Timestamp | None = Field(
        default=None, description="ISO 8601 with a timezone; the story is held until then"
    )

    @field_validator("embargoed_until")
    @classmethod
    def _aware_and_representable(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("embargoed_until needs a timezone (e.g. 2030-01-01T09:00:00Z)")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("embargoed_until is out of range") from None

    @model_validator(mode="after")
    def _needs_body(self) -> StoryCreate:
        if not self.body_text and not self.body_html:
            raise ValueError("a story needs body_text or body_html")
        return self


class StoryCorrection(StoryCreate):
    """The corrected story, with a note that says what was corrected (ninjs ``edNote``)."""

    note: str = Field(min_length=1, max_length=2000, description="what was corrected; sent as ninjs edNote")


class StoryKill(Input):
    reason: str = Field(min_length=1, max_length=2000, description="why the story is withdrawn; sent as edNote")


class TagEdit(Input):
    """One tag an editor adds or removes. Subjects are named by IPTC Media Topic URI or qcode;
    everything else by name (places may carry an ISO 3166-1 alpha-2 ``code``)."""

    type: Literal["place", "person", "organisation", "subject", "keyword"]
    name: str | None = Field(default=None, min_length=1, max_length=300)
    code: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    uri: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _identified(self) -> TagEdit:
        if self.type == "subject" and not self.uri:
            raise ValueError("a subject needs its IPTC Media Topic uri (or qcode)")
        if self.type != "subject" and not self.name:
            raise ValueError(f"a {self.type} tag needs a name")
        return self


class TagsUpdate(Input):
    """The editor's complete set of tag changes for the story (PUT replaces the previous set)."""

    add: list[TagEdit] = Field(default_factory=list, max_length=200)
    remove: list[TagEdit] = Field(default_factory=list, max_length=200)


class StoryAccepted(BaseModel):
    id: str
    uri: str = Field(description="the ninjs uri subscribers receive: it embeds the id")
    version: int
    status: Status
    links: Links


class TimelineEntry(BaseModel):
    event: str = Field(examples=["enriched"])
    at: datetime | None
    subscriber_id: str | None = None
    subscriber: str | None = None
    attempts: int | None = None
    detail: str | None = None


class StoryPublic(StoryContent):
    """The story as it stands: its newest version's content, status and tags."""

    id: str
    uri: str
    version: int
    kind: VersionKind
    status: Status
    pubstatus: str
    state: str
    note: str | None
    killed_at: datetime | None
    tags: StoryTags | None = Field(description="automatic tags with the editors' changes applied")
    editor_tags: EditorTagChanges | None = Field(description="the editors' additions and removals")
    timeline: list[TimelineEntry] = Field(description="the newest version's way through the pipeline")
    links: Links


class StorySummary(BaseModel):
    """One row of the story list."""

    id: str
    uri: str
    version: int
    status: Status
    headline: str
    slugline: str | None
    urgency: int
    created_at: datetime = Field(description="when the first version was filed (the list's order)")
    updated_at: datetime = Field(description="when the newest version was filed")
    links: Links


class StoryPage(BaseModel):
    items: list[StorySummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")
    next: str | None = Field(description="the next page's URL, filters included")


class VersionLinks(BaseModel):
    ninjs: str


class VersionSummary(BaseModel):
    version: int
    kind: VersionKind
    event_type: EventType = Field(description="the webhook payload type it goes out as")
    state: str
    filed_by: str | None = Field(description="name of the API key that filed it")
    filed_at: datetime
    published_at: datetime | None
    note: str | None = Field(description="correction note or kill reason")
    error: str | None = Field(description="why it failed, when it did")
    links: VersionLinks
