"""Tags, typed: what enrichment writes on a version, what editors change on a story, and how
the two are merged. Editors stay in charge: their additions and removals live on the story
(so they carry over to every later version) and are merged over the automatic tags, which a
re-run of the taggers may replace but never the editors' choices.

Versions store tags as JSON; ``StoryTags.from_stored`` reads them back (fields added later
get their defaults, so older rows stay readable).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["auto", "editor"]


class Tag(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EntityTag(Tag):
    """One mention found in the text, with its character offsets."""

    type: Literal["PER", "ORG", "LOC", "MISC"]
    text: str
    name: str = Field(description="canonical name (a surname alone resolves to the full name)")
    start: int
    end: int
    confidence: float = Field(ge=0, le=1)
    source: str = Field(description="which pass found it: model, rule, gazetteer, dateline")
    code: str | None = Field(default=None, description="ISO 3166-1 alpha-2 country code of a place")


class PlaceTag(Tag):
    type: Literal["place"] = "place"
    name: str
    kind: str | None = Field(default=None, description="country, capital, city, region")
    code: str | None = Field(default=None, description="ISO 3166-1 alpha-2 code of the place's country")
    geonames_id: int | None = None
    uri: str | None = Field(default=None, description="GeoNames URI")
    rel: str = Field(
        default="mentioned",
        description="subject (a country the story is about), mentioned, or dateline (the city it is filed from)",
    )
    mentions: int = 0
    confidence: float = Field(default=1.0, ge=0, le=1)
    source: Source = "auto"


class NamedTag(Tag):
    """A person or an organisation."""

    type: Literal["person", "organisation"]
    name: str
    uri: str | None = None
    mentions: int = 0
    confidence: float = Field(default=1.0, ge=0, le=1)
    source: Source = "auto"


class SubjectTag(Tag):
    """An IPTC Media Topic."""

    type: Literal["subject"] = "subject"
    name: str
    uri: str
    qcode: str
    relevance: int | None = Field(default=None, ge=0, le=100)
    confidence: float = Field(default=1.0, ge=0, le=1)
    matched: list[str] = Field(default_factory=list, description="the cue phrases that gave the topic")
    broader: list[str] = Field(default_factory=list, description="qcodes of the broader topics, nearest first")
    source: Source = "auto"


class KeywordTag(Tag):
    type: Literal["keyword"] = "keyword"
    name: str
    mentions: int = 0
    confidence: float = Field(default=1.0, ge=0, le=1)
    source: Source = "auto"


class LocatedTag(Tag):
    """Where the story was filed from: the editor's ``located``, else the text's dateline."""

    name: str
    source: str
    code: str | None = None
    geonames_id: int | None = None
    uri: str | None = None


class LanguageTag(Tag):
    code: str | None
    confidence: float = 0.0
    source: str = "detected"


class Counts(Tag):
    words: int
    characters: int


class TaggerFailure(Tag):
    tagger: str
    error: str


class StoryTags(Tag):
    """Everything enrichment says about one version (with the editors' changes, once merged)."""

    tagger_version: str | None = None
    entities: list[EntityTag] = Field(default_factory=list)
    places: list[PlaceTag] = Field(default_factory=list)
    people: list[NamedTag] = Field(default_factory=list)
    organisations: list[NamedTag] = Field(default_factory=list)
    subjects: list[SubjectTag] = Field(default_factory=list)
    keywords: list[KeywordTag] = Field(default_factory=list)
    located: LocatedTag | None = None
    language: LanguageTag | None = None
    counts: Counts | None = None
    failures: list[TaggerFailure] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def from_stored(cls, raw: dict[str, Any] | None) -> StoryTags | None:
        return None if raw is None else cls.model_validate(raw)

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


TagType = Literal["place", "person", "organisation", "subject", "keyword"]


class EditorTag(Tag):
    """A tag an editor added or removed, normalised (a subject carries its topic's uri, qcode,
    name and broader topics; a place may carry an ISO 3166-1 alpha-2 ``code``)."""

    type: TagType
    name: str | None = None
    code: str | None = None
    uri: str | None = None
    qcode: str | None = None
    broader: list[str] = Field(default_factory=list)

    def key(self) -> tuple[str, str]:
        return tag_key(self.type, self.uri if self.type == "subject" else self.name)


class EditorTagChanges(Tag):
    """The editors' additions and removals for a story (a PUT replaces the whole set)."""

    add: list[EditorTag] = Field(default_factory=list)
    remove: list[EditorTag] = Field(default_factory=list)

    @classmethod
    def from_stored(cls, raw: dict[str, Any] | None) -> EditorTagChanges | None:
        return None if raw is None else cls.model_validate(raw)

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


#: Tag type -> the list of StoryTags it lives in, and the model of its items.
LISTS: dict[str, tuple[str, type[Tag]]] = {
    "place": ("places", PlaceTag),
    "person": ("people", NamedTag),
    "organisation": ("organisations", NamedTag),
    "subject": ("subjects", SubjectTag),
    "keyword": ("keywords", KeywordTag),
}


def tag_key(tag_type: str, identity: str | None) -> tuple[str, str]:
    """What makes two tags the same tag: a subject by URI, anything else by name."""
    return (tag_type, (identity or "").strip().casefold() if tag_type != "subject" else identity or "")


def _key_of(tag_type: str, tag: Tag) -> tuple[str, str]:
    return tag_key(tag_type, getattr(tag, "uri", None) if tag_type == "subject" else getattr(tag, "name", None))


def _as_tag(edit: EditorTag) -> dict[str, Any]:
    fields = edit.model_dump(exclude_none=True, exclude={"broader"} if edit.type != "subject" else set())
    return {**fields, "source": "editor", "confidence": 1.0}


def effective_tags(auto: StoryTags | None, manual: EditorTagChanges | None) -> StoryTags:
    """The automatic tags with the editors' removals taken out and additions put in: a new
    ``StoryTags`` with new lists, ``auto`` left as it was. The tags in the lists are ``auto``'s own
    (both are read, never changed in place): copying every tag of a long story cost its render
    more than reading the tags back."""
    merged = (auto or StoryTags()).model_copy()
    manual = manual or EditorTagChanges()
    removed = {t.key() for t in manual.remove}
    added = {t.key() for t in manual.add}
    for tag_type, (list_name, model) in LISTS.items():
        kept = [t for t in getattr(merged, list_name) if _key_of(tag_type, t) not in removed | added]
        kept += [model.model_validate(_as_tag(t)) for t in manual.add if t.type == tag_type]
        setattr(merged, list_name, kept)
    return merged


def index_codes(tags: StoryTags) -> set[tuple[str, str]]:
    """(kind, code) pairs a story list filters on: place country codes, and each subject's
    qcode with all its broader topics (so a filter on a topic finds its narrower ones)."""
    codes = {("place", p.code) for p in tags.places if p.code}
    for subject in tags.subjects:
        codes.update(("subject", q) for q in (subject.qcode, *subject.broader) if q)
    return codes
