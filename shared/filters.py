"""What a subscriber asks for, and whether a story version matches it. Used by the publish
service (who gets a webhook) and by the pull feed (what a site's feed lists).

A field left out (or null) asks for everything; a field given matches when any of its values
does; all given fields must match. Subjects match a version's Media Topics *and every broader
topic of them* (asking for ``medtop:04000000`` economy gets its narrower topics); places match
the ISO 3166-1 country code of any place in the version (a city carries its country's code);
languages match on the primary subtag (``en`` matches ``en-GB``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared import mediatopics
from shared.ninjs import EventType
from shared.tags import StoryTags


class SubscriberFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subjects: list[str] | None = Field(
        default=None, max_length=200, description="IPTC Media Topic qcodes (or URIs); narrower topics match too"
    )
    places: list[str] | None = Field(
        default=None, max_length=300, description="ISO 3166-1 alpha-2 codes; a city matches its country"
    )
    urgency_max: StrictInt | None = Field(default=None, ge=1, le=9, description="urgency 1 (flash) up to this")
    languages: list[str] | None = Field(default=None, max_length=50, description="BCP 47 tags; 'en' matches 'en-GB'")
    events: list[EventType] | None = Field(default=None, description="webhook payload types wanted")

    @classmethod
    def from_stored(cls, raw: dict[str, Any] | None) -> SubscriberFilters | None:
        return None if raw is None else cls.model_validate(raw)


@dataclass(frozen=True)
class VersionFacts:
    """What filters look at in a version."""

    event_type: str
    urgency: int
    language: str | None
    subjects: frozenset[str]  # qcodes with all their broader topics
    places: frozenset[str]  # ISO country codes


def facts_of(*, event_type: str, urgency: int, language: str | None, tags: StoryTags) -> VersionFacts:
    detected = tags.language.code if tags.language else None
    subjects = {q for s in tags.subjects for q in (s.qcode, *s.broader) if q}
    return VersionFacts(
        event_type=event_type,
        urgency=urgency,
        language=language or detected,
        subjects=frozenset(subjects),
        places=frozenset(p.code for p in tags.places if p.code),
    )


def facts_of_item(event_type: str, item: dict) -> VersionFacts:
    """The facts of a version as it went out (its ninjs): what the subscriber received is what
    its filters are checked against (topics get their broader topics from the vocabulary)."""
    subjects: set[str] = set()
    for subject in item.get("subjects") or []:
        topic = mediatopics.find(subject["uri"]) if subject.get("rel") == "about" and subject.get("uri") else None
        if topic is not None:
            subjects.update((topic.qcode, *topic.broader))
    places = {p["literal"] for p in item.get("places") or [] if p.get("literal")}
    return VersionFacts(
        event_type, int(item.get("urgency", 5)), item.get("language"), frozenset(subjects), frozenset(places)
    )


def _primary(tag: str | None) -> str | None:
    return tag.split("-", 1)[0].lower() if tag else None


def matches(filters: SubscriberFilters | None, facts: VersionFacts) -> bool:
    if filters is None:
        return True
    checks = [
        filters.subjects is None or bool(facts.subjects & set(filters.subjects)),
        filters.places is None or bool(facts.places & set(filters.places)),
        filters.urgency_max is None or facts.urgency <= filters.urgency_max,
        filters.languages is None or _primary(facts.language) in {_primary(x) for x in filters.languages},
        filters.events is None or facts.event_type in filters.events,
    ]
    return all(checks)
