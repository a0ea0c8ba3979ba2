"""The IPTC ninjs 3.1 items Newswire sends, as typed models: the wire contract shared by the
publish service (which renders and validates them against the official schema) and the API
(which serves them back and documents the webhook payloads). Property names are ninjs's own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal["story.published", "story.updated", "story.corrected", "story.killed"]


class NinjsPart(BaseModel):
    model_config = ConfigDict(extra="allow")


class NinjsText(NinjsPart):
    role: str
    value: str


class NinjsBody(NinjsPart):
    role: str = "main"
    contentType: str = Field(description="text/plain or text/html")
    value: str
    wordCount: int | None = None
    charCount: int | None = None


class NinjsEntity(NinjsPart):
    """A person or an organisation."""

    name: str
    rel: str = "mentioned"


class NinjsPlace(NinjsPart):
    name: str
    rel: str = Field(
        default="mentioned",
        description="subject (a country the story is about), mentioned, or dateline (the city it is filed from)",
    )
    literal: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2 code, on the country's entry (once per country)"
    )
    uri: str | None = Field(default=None, description="GeoNames URI")


class NinjsSubject(NinjsPart):
    """An IPTC Media Topic (``rel: about``) or a keyword (``rel: keyword``, in ``literal``)."""

    name: str
    rel: str
    uri: str | None = None
    literal: str | None = None
    creator: str | None = None
    relevance: int | None = Field(default=None, ge=0, le=100)
    confidence: int | None = Field(default=None, ge=0, le=100)


class NinjsItem(NinjsPart):
    """One story version as sent: ``uri`` embeds the story id the API returned, ``version`` is
    the version number as a string."""

    uri: str = Field(examples=["urn:newswire:story:3f0c2b6e9d0a4c1f8e7b6a5d4c3b2a19"])
    type: Literal["text"] = "text"
    profile: str = "text-only"
    version: str = Field(examples=["2"])
    firstCreated: str
    versionCreated: str
    pubStatus: Literal["usable", "withheld", "canceled"]
    urgency: int = Field(ge=1, le=9)
    headlines: list[NinjsText]
    bodies: list[NinjsBody]
    altIds: list[NinjsText]
    language: str | None = None
    by: str | None = None
    located: str | None = None
    slugline: str | None = None
    embargoedUntil: str | None = None
    edNote: str | None = Field(default=None, description="the correction note or the kill reason")
    people: list[NinjsEntity] | None = None
    organisations: list[NinjsEntity] | None = None
    places: list[NinjsPlace] | None = None
    subjects: list[NinjsSubject] | None = None

    def wire(self) -> dict[str, Any]:
        """The JSON object as sent: absent and empty properties left out."""
        return {k: v for k, v in self.model_dump(mode="json", exclude_none=True).items() if v != []}


class WebhookEvent(BaseModel):
    """The body of every webhook POST (Standard Webhooks: ``type``, ``timestamp``, ``data``)."""

    type: EventType
    timestamp: str = Field(description="when the version was published (ISO 8601, UTC)")
    data: NinjsItem
