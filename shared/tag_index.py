"""The story list's tag index (``story_tag``): the place codes and Media Topic qcodes of each
story, so that ``GET /v1/stories?place=KZ&subject=medtop:04000000`` is an indexed lookup instead
of a scan of JSON. Rewritten, in the same transaction, whenever a story's tags change: when a
version is enriched and when editors change tags."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert
from sqlmodel import Session, select

from shared.models import Story, StoryTag, StoryVersion
from shared.tags import EditorTagChanges, StoryTags, effective_tags, index_codes

# Built once (building a statement costs several times what running it does, ``python -m
# bench.statements``); values are bound at each run.
_TAGS = StoryTag.__table__
_NEWEST_FIRST = (
    select(StoryVersion.tags)
    .where(StoryVersion.story_id == bindparam("story_id"))
    .order_by(StoryVersion.version.desc())
)
_LOCK_STORIES = (
    select(Story).where(Story.id.in_(bindparam("story_ids", expanding=True))).order_by(Story.id).with_for_update()
)
_DROP = delete(_TAGS).where(_TAGS.c.story_id == bindparam("story_id"))
_ADD = insert(_TAGS)


def story_codes(session: Session, story: Story) -> set[tuple[str, str]]:
    """Codes of the story's newest tagged version, with the editors' changes applied."""
    newest = session.exec(_NEWEST_FIRST, params={"story_id": story.id}).all()
    return _with_edits(story, StoryTags.from_stored(next((tags for tags in newest if tags), None)))


def _with_edits(story: Story, auto: StoryTags | None) -> set[tuple[str, str]]:
    """The codes of the taggers' tags with the editors' changes applied."""
    return index_codes(effective_tags(auto, EditorTagChanges.from_stored(story.manual_tags)))


def lock_stories(session: Session, story_ids: set[str]) -> dict[str, Story]:
    """The stories, their row locks taken (PostgreSQL) in one order, before a transaction writes
    their versions: the desk takes a story's lock before its versions (a kill withdraws them), so a
    writer that locked a version first and then waited for its story could deadlock with it."""
    stories = session.exec(_LOCK_STORIES, params={"story_ids": sorted(story_ids)})
    return {story.id: story for story in stories}


def reindex(session: Session, story: Story, tagged: tuple[int, StoryTags] | None = None) -> None:
    """Rewrite the story's rows. The caller holds the story's row lock (``lock_stories``, or the
    desk's own), so two versions of one story enriched at the same moment, or a tag edit
    meanwhile, rewrite the index one at a time. ``tagged``: the version number and tags just
    written; if that is the story's newest version, its tags are the newest and need not be read
    back."""
    session.execute(_DROP, {"story_id": story.id})
    if tagged is not None and tagged[0] == story.current_version:
        codes = _with_edits(story, tagged[1])
    else:
        codes = story_codes(session, story)
    rows = [{"story_id": story.id, "kind": kind, "code": code} for kind, code in codes]
    if rows:
        session.execute(_ADD, rows)
