"""What a story's desk page shows, read with the API's queries: the story as it stands, every
version with how many subscribers have it, two versions side by side, the tags; and the one-tag
edits its forms make (the editor's other tag changes kept)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from services.ingest.stories import queries, schemas, service
from services.ingest.web import forms, pages
from services.ingest.web.diff import Piece, plain_text, word_diff
from shared import db
from shared.models import StoryVersion
from shared.tags import EditorTagChanges


@dataclass(frozen=True)
class Side:
    number: int
    headline: list[Piece]
    body: list[Piece]


@dataclass(frozen=True)
class TagRow:
    type: str
    label: str
    name: str
    code: str
    uri: str
    by_editor: bool


@dataclass(frozen=True)
class StoryPage:
    story: schemas.StoryPublic
    versions: list[tuple[schemas.VersionSummary, queries.Reach]]
    sides: tuple[Side, Side] | None
    tags: list[TagRow]
    removed: list[TagRow]
    body_field: str
    body: str
    #: The language the newest version was filed with (empty: detected, and left to detection).
    filed_language: str

    @property
    def values(self) -> dict[str, str]:
        """The story as it stands, as the update and correction forms start out."""
        story = self.story
        embargo = story.embargoed_until.strftime(forms.EMBARGO_FORMAT) if story.embargoed_until else ""
        fields = {
            name: getattr(story, name) or "" for name in ("headline", "slugline", "byline", "located", "language")
        }
        return {
            **fields,
            "body_text": story.body_text or "",
            self.body_field: self.body,
            "language": self.filed_language,
            "urgency": str(story.urgency),
            "embargoed_until": embargo,
            "embargo_was": embargo,
        }


def build(
    *, session: Session, story_id: str, old: int | None = None, new: int | None = None, with_sides: bool = True
) -> StoryPage:
    story = queries.story_view(session=session, story_id=story_id)
    rows = queries.story_versions(session=session, story_id=story_id)
    summaries = queries.version_summaries(story_id, rows)
    reach = queries.reach(session=session, versions=[(story_id, v.version) for v in summaries])
    return StoryPage(
        story=story,
        versions=[(v, reach[(story_id, v.version)]) for v in reversed(summaries)],
        sides=_sides(rows, old, new) if with_sides else None,
        filed_language=rows[-1].language or "",
        tags=_tag_rows(story),
        removed=[_editor_row(t) for t in (story.editor_tags.remove if story.editor_tags else [])],
        # a story filed with HTML is edited as HTML (the markup is what subscribers get)
        body_field="body_html" if story.body_html else "body_text",
        body=story.body_html or story.body_text or "",
    )


def _sides(rows: list[StoryVersion], old: int | None, new: int | None) -> tuple[Side, Side] | None:
    """Versions ``old`` and ``new`` (default: the newest and the one before) side by side."""
    by_number = {row.version: row for row in rows}
    newer = by_number.get(new or rows[-1].version, rows[-1])
    older = by_number.get(old or newer.version - 1)
    if older is None or older is newer:
        return None
    head_a, head_b = word_diff(older.headline, newer.headline)
    old_body = plain_text(older.body_text, older.body_html)
    body_a, body_b = word_diff(old_body, plain_text(newer.body_text, newer.body_html))
    return Side(older.version, head_a, body_a), Side(newer.version, head_b, body_b)


def _tag_rows(story: schemas.StoryPublic) -> list[TagRow]:
    tags = story.tags
    if tags is None:
        return []
    return [_row(tag) for tag in [*tags.places, *tags.people, *tags.organisations, *tags.subjects, *tags.keywords]]


def _row(tag: Any) -> TagRow:
    """One tag as the page lists it, with what its remove form sends (a subject by its uri)."""
    shown = getattr(tag, "code", None) or getattr(tag, "qcode", None)
    is_subject = tag.type == "subject"
    return TagRow(
        type=tag.type,
        label=f"{tag.name} ({shown})" if shown else tag.name,
        name="" if is_subject else tag.name,
        code=(getattr(tag, "code", None) or "") if tag.type == "place" else "",
        uri=tag.uri if is_subject else "",
        by_editor=getattr(tag, "source", "auto") == "editor",
    )


def _editor_row(tag) -> TagRow:
    return TagRow(tag.type, tag.name or tag.uri or "", tag.name or "", tag.code or "", tag.uri or "", True)


def tag_edit(values: dict[str, str]) -> dict[str, Any]:
    """The ``TagEdit`` body one tag form stands for (empty fields left out)."""
    return {name: values[name] for name in ("type", "name", "code", "uri") if values.get(name)}


def change_tag(story_id: str, edit: schemas.TagEdit, remove: bool, filed_by: str) -> list[int]:
    """Add (or remove) one tag, keeping the editors' other changes; under the story's row lock,
    so two editors' edits at once both count. Returns the outbox events to relay."""
    with db.session_scope() as session:
        story = service.lock_story(session, story_id)
        current = EditorTagChanges.from_stored(story.manual_tags) or EditorTagChanges()
        key = service.normalise_tag(edit).key()
        keep_add = [_as_edit(t) for t in current.add if t.key() != key]
        keep_remove = [_as_edit(t) for t in current.remove if t.key() != key]
        in_add, in_remove = len(keep_add) != len(current.add), len(keep_remove) != len(current.remove)
        if remove and not in_add:
            keep_remove.append(edit)
        if not remove and not in_remove:
            keep_add.append(edit)
        changes = schemas.TagsUpdate(add=keep_add, remove=keep_remove)
        return service.set_editor_tags(session=session, story_id=story_id, changes=changes, filed_by=filed_by)


def _as_edit(tag) -> schemas.TagEdit:
    return schemas.TagEdit(type=tag.type, name=tag.name, code=tag.code, uri=tag.uri)


def live_html(story_id: str, csrf: str) -> str:
    """The part of the story page that moves by itself: status, timeline, versions."""
    with db.read_scope() as session:
        page = build(session=session, story_id=story_id, with_sides=False)
    return pages.templates.get_template("desk/_story_live.html").render(page=page, story=page.story, csrf=csrf)
