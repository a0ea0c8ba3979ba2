"""Filing stories: every change an editor makes is a new immutable version, written in one
transaction with its outbox event (relayed after commit by the caller).

* ``create_story`` files version 1; ``update_story`` and ``correct_story`` file new content;
  ``kill_story`` withdraws the story; ``set_editor_tags`` changes tags (and, once published,
  sends them as a new version); ``retry_version`` sends a failed version through again.
* Each takes the story's row lock first (PostgreSQL; SQLite serialises writers anyway), so
  filing never interleaves with a render of the same story.
* ``body_html`` is checked and sanitised once per request, before any lock is taken
  (``filed_content``): handlers run in the server's thread pool, so a long body never holds up
  the event loop.
* A newer version replaces an earlier one still held back by an embargo (``superseded``);
  otherwise versions go out in order, one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pycountry
from sqlalchemy import insert, inspect, or_, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from services.ingest.exceptions import Conflict, Invalid, NotFound
from services.ingest.stories import idempotency, schemas
from shared import db, events, mediatopics, tag_index
from shared.html_depth import nesting_depth
from shared.models import (
    IN_PIPELINE_STATES,
    Delivery,
    DeliveryState,
    IdempotencyRecord,
    PubStatus,
    Story,
    StoryVersion,
    VersionKind,
    VersionState,
)
from shared.tags import EditorTag, EditorTagChanges, StoryTags
from shared.text import has_text, sanitize_html
from shared.timeutil import utcnow

#: How deeply ``body_html`` may nest its elements. News copy needs a handful of levels; the
#: sanitiser's time grows with the depth, so a body past this is refused before it is parsed.
MAX_HTML_DEPTH = 200


@dataclass
class Filed:
    """What a request filed: the story, the version, outbox events to relay after commit, and
    whether anything new was stored (False for an Idempotency-Key replay or an unchanged PUT)."""

    story: Story
    version: StoryVersion
    event_ids: list[int] = field(default_factory=list)
    created: bool = True


def lock_story(session: Session, story_id: str) -> Story:
    story = session.get(Story, story_id, with_for_update=True)
    if story is None:
        raise NotFound(f"story {story_id}")
    return story


def current_version(*, session: Session, story: Story) -> StoryVersion:
    return session.exec(
        select(StoryVersion).where(StoryVersion.story_id == story.id, StoryVersion.version == story.current_version)
    ).one()


def _refuse_if_killed(story: Story) -> None:
    if story.killed_at is not None:
        raise Conflict("story_killed", f"story {story.id} was killed; it takes no new versions or tag changes")


def _replayed(session: Session, record: IdempotencyRecord) -> Filed:
    story = session.get(Story, record.story_id)
    version = session.exec(
        select(StoryVersion).where(StoryVersion.story_id == story.id, StoryVersion.version == record.version)
    ).one()
    return Filed(story, version, created=False)


def _invalid_body_html(message: str) -> Invalid:
    return Invalid("invalid_request", message, details=[{"field": "body_html", "message": message}])


def filed_content(payload: schemas.StoryCreate) -> dict[str, Any]:
    """The content a request files, its HTML sanitised. A body nested deeper than
    ``MAX_HTML_DEPTH`` is refused before the sanitiser reads it (one linear pass), and so is one
    with no text left once unsafe markup is removed."""
    content = payload.content()
    if content["body_html"]:
        if nesting_depth(content["body_html"], MAX_HTML_DEPTH) > MAX_HTML_DEPTH:
            raise _invalid_body_html(
                f"body_html nests elements more than {MAX_HTML_DEPTH} levels deep; "
                f"at most {MAX_HTML_DEPTH} levels are accepted"
            )
        content["body_html"] = sanitize_html(content["body_html"])
        if not content["body_text"] and not has_text(content["body_html"]):
            raise _invalid_body_html("body_html has no text once unsafe markup is removed")
    return content


def _content(
    payload: schemas.StoryCreate, filed: dict[str, Any], current: StoryVersion | None = None
) -> dict[str, Any]:
    """The version's content: what the request files (``filed_content``); an embargo not
    mentioned in an update is kept from the current version (only an explicit null lifts it)."""
    content = dict(filed)
    keep_embargo = current is not None and "embargoed_until" not in payload.model_fields_set
    if keep_embargo and current.embargoed_until and current.embargoed_until > utcnow():
        content["embargoed_until"] = current.embargoed_until
    return content


# Filing inserts its rows with statements built once (building one costs more than running it:
# ``python -m bench.statements``), not through the ORM's unit of work: a new story and version
# need none of its change tracking, which was 40 % of a filing's CPU (cProfile).
_INSERT_STORY = insert(Story.__table__)
_INSERT_VERSION = insert(StoryVersion.__table__).returning(StoryVersion.__table__.c.id)


def _row(instance: Story | StoryVersion) -> dict[str, Any]:
    """The column values of a new row; a primary key the database generates is left out."""
    columns = type(instance).__table__.columns
    return {c.key: value for c in columns if (value := getattr(instance, c.key)) is not None or not c.primary_key}


def _attach(session: Session, instance: Story | StoryVersion) -> None:
    """Make a row just inserted by statement the session's own, as if the ORM had inserted it:
    later changes to it in the transaction are flushed as updates."""
    make_transient_to_detached(instance)
    session.add(instance)


def _file(
    session: Session,
    story: Story,
    *,
    kind: VersionKind,
    content: dict[str, Any],
    filed_by: str | None,
    note: str | None = None,
    tags: dict[str, Any] | None = None,
) -> Filed:
    """Add the story's next version and its outbox event. With ``tags`` given (a kill, a tag
    change), the version skips enrichment."""
    now = utcnow()
    embargo = content.get("embargoed_until")
    if kind == VersionKind.kill:
        pubstatus = PubStatus.canceled
    else:
        pubstatus = PubStatus.withheld if embargo and embargo > now else PubStatus.usable
    state = VersionState.stored if tags is None else VersionState.enriched
    number = 1 if kind == VersionKind.original else story.current_version + 1
    version = StoryVersion(
        **content,
        story_id=story.id,
        version=number,
        kind=kind,
        note=note,
        filed_by=filed_by,
        pubstatus=pubstatus,
        state=state,
        tags=tags,
        received_at=now,
        stored_at=now,
        enriched_at=None if tags is None else now,
    )
    story.current_version = number
    if inspect(story).transient:
        session.execute(_INSERT_STORY, _row(story))
        _attach(session, story)
    version.id = session.execute(_INSERT_VERSION, _row(version)).scalar_one()
    _attach(session, version)
    return Filed(
        story, version, [events.record(session, events.EVENT_FOR_STATE[state], version.id, version.queue_urgency)]
    )


#: PostgreSQL advisory lock under which new stories are numbered (see ``db.number_at_commit``).
STORY_SEQUENCE_LOCK = 7_204_551


def create_story(
    *,
    session: Session,
    payload: schemas.StoryCreate,
    filed_by: str | None = None,
    idempotency_key: idempotency.Key | None = None,
) -> Filed:
    """Store a new story and its first version."""
    content = filed_content(payload)
    return _create(
        session=session, payload=payload, content=content, filed_by=filed_by, idempotency_key=idempotency_key
    )


@idempotency.once_per_key
def _create(
    *,
    session: Session,
    payload: schemas.StoryCreate,
    content: dict[str, Any],
    filed_by: str | None,
    idempotency_key: idempotency.Key | None,
) -> Filed:
    digest = idempotency.request_hash(idempotency_key, "create", None, payload)
    earlier = idempotency.replay(session, idempotency_key, digest)
    if earlier is not None:
        return _replayed(session, earlier)
    story = Story()
    filed = _file(session, story, kind=VersionKind.original, content=_content(payload, content), filed_by=filed_by)
    idempotency.remember(session, idempotency_key, digest, story.id, 1)  # an equal key first: IntegrityError
    set_committed_value(story, "seq", db.number_at_commit(session, Story.seq, STORY_SEQUENCE_LOCK, story.id))
    return filed


def update_story(
    *,
    session: Session,
    story_id: str,
    payload: schemas.StoryCreate,
    filed_by: str | None = None,
    idempotency_key: idempotency.Key | None = None,
) -> Filed:
    """New content as the next version (``story.updated``); unchanged content files nothing."""
    return _new_content(
        session=session,
        story_id=story_id,
        payload=payload,
        content=filed_content(payload),
        kind=VersionKind.update,
        filed_by=filed_by,
        idempotency_key=idempotency_key,
    )


def correct_story(
    *,
    session: Session,
    story_id: str,
    payload: schemas.StoryCorrection,
    filed_by: str | None = None,
    idempotency_key: idempotency.Key | None = None,
) -> Filed:
    """Corrected content and a note as the next version (``story.corrected``, ninjs edNote)."""
    return _new_content(
        session=session,
        story_id=story_id,
        payload=payload,
        content=filed_content(payload),
        kind=VersionKind.correction,
        filed_by=filed_by,
        idempotency_key=idempotency_key,
    )


@idempotency.once_per_key
def _new_content(
    *,
    session: Session,
    story_id: str,
    payload: schemas.StoryCreate,
    content: dict[str, Any],
    kind: VersionKind,
    filed_by: str | None,
    idempotency_key: idempotency.Key | None,
) -> Filed:
    digest = idempotency.request_hash(idempotency_key, kind.value, story_id, payload)
    story = lock_story(session, story_id)
    earlier = idempotency.replay(session, idempotency_key, digest)
    if earlier is not None:
        return _replayed(session, earlier)
    _refuse_if_killed(story)
    current = current_version(session=session, story=story)
    content = _content(payload, content, current)
    if kind == VersionKind.update and content == current.content():
        filed = Filed(story, current, created=False)
    else:
        _supersede_held(session, story.id)
        note = getattr(payload, "note", None)
        filed = _file(session, story, kind=kind, content=content, filed_by=filed_by, note=note)
    idempotency.remember(session, idempotency_key, digest, story.id, filed.version.version)
    return filed


def _supersede_held(session: Session, story_id: str) -> None:
    """Earlier versions still held for their embargo will never go out: the new one replaces them."""
    session.exec(
        update(StoryVersion)
        .where(StoryVersion.story_id == story_id, StoryVersion.pubstatus == PubStatus.withheld)
        .where(StoryVersion.state.in_([VersionState.stored, VersionState.enriched, VersionState.embargoed]))
        .values(state=VersionState.superseded)
    )


def kill_notice(slugline: str | None, reason: str) -> dict[str, Any]:
    """A kill repeats none of the story's text: sites match it by ``uri``."""
    return {
        "headline": f"KILL: {slugline or 'story withdrawn'}",
        "body_text": f"This story has been withdrawn: {reason}\n\nDo not use it. If you have, remove it.",
        "body_html": None,
        "embargoed_until": None,
    }


@idempotency.once_per_key
def kill_story(
    *,
    session: Session,
    story_id: str,
    payload: schemas.StoryKill,
    filed_by: str | None = None,
    idempotency_key: idempotency.Key | None = None,
) -> Filed:
    """Withdraw the story. Versions not yet out are withdrawn with their unsent deliveries; the
    kill (``pubStatus: canceled``) goes only to subscribers that may hold an earlier version."""
    digest = idempotency.request_hash(idempotency_key, "kill", story_id, payload)
    story = lock_story(session, story_id)
    earlier = idempotency.replay(session, idempotency_key, digest)
    if earlier is not None:
        return _replayed(session, earlier)
    _refuse_if_killed(story)
    current = current_version(session=session, story=story)
    tags = _kill_tags(session, story.id)
    _withdraw_unsent(session, story.id)
    story.killed_at = utcnow()
    content = {**current.content(), **kill_notice(current.slugline, payload.reason)}
    filed = _file(
        session, story, kind=VersionKind.kill, content=content, filed_by=filed_by, note=payload.reason, tags=tags
    )
    idempotency.remember(session, idempotency_key, digest, story.id, filed.version.version)
    return filed


def _kill_tags(session: Session, story_id: str) -> dict[str, Any]:
    """The newest tags, for routing a kill (places, subjects, people, organisations), without
    what describes the withdrawn text itself (entity offsets, keywords, word counts)."""
    rows = session.exec(
        select(StoryVersion.tags).where(StoryVersion.story_id == story_id).order_by(StoryVersion.version.desc())
    ).all()
    tags = StoryTags.from_stored(next((t for t in rows if t), None)) or StoryTags()
    return tags.model_copy(update={"entities": [], "keywords": [], "counts": None}).stored()


def _withdraw_unsent(session: Session, story_id: str) -> None:
    """Versions still in the pipeline never go out; nor do pending deliveries no worker holds
    (one in flight finishes, and its subscriber then gets the kill)."""
    now = utcnow()
    session.exec(
        update(StoryVersion)
        .where(StoryVersion.story_id == story_id, StoryVersion.state.in_(list(IN_PIPELINE_STATES)))
        .values(state=VersionState.withdrawn)
    )
    session.exec(
        update(Delivery)
        .where(Delivery.story_id == story_id, Delivery.state == DeliveryState.pending)
        .where(or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
        .values(state=DeliveryState.withdrawn, last_error="the story was killed")
    )


def normalise_tag(edit: schemas.TagEdit) -> EditorTag:
    """An editor's tag, checked against the vocabularies: a subject must be a current Media
    Topic (by URI, qcode or bare code), a place code an ISO 3166-1 alpha-2 country code."""
    if edit.type == "subject":
        topic = mediatopics.find(edit.uri)
        if topic is None:
            raise Invalid("invalid_tag", f"{edit.uri!r} is not a current IPTC Media Topic")
        return EditorTag(type="subject", uri=topic.uri, qcode=topic.qcode, name=topic.name, broader=list(topic.broader))
    if edit.code and (edit.type != "place" or pycountry.countries.get(alpha_2=edit.code) is None):
        raise Invalid("invalid_tag", f"{edit.code!r} is not an ISO 3166-1 alpha-2 country code for a place")
    return EditorTag(type=edit.type, name=edit.name, code=edit.code, uri=edit.uri)


def set_editor_tags(
    *, session: Session, story_id: str, changes: schemas.TagsUpdate, filed_by: str | None = None
) -> list[int]:
    """Store the editors' tag changes on the story. A story already published goes out again
    as a new version carrying the corrected tags; returns the outbox events to relay."""
    story = lock_story(session, story_id)
    _refuse_if_killed(story)
    manual = EditorTagChanges(
        add=[normalise_tag(t) for t in changes.add], remove=[normalise_tag(t) for t in changes.remove]
    )
    if manual == (EditorTagChanges.from_stored(story.manual_tags) or EditorTagChanges()):
        return []  # nothing changed: no new version
    story.manual_tags = manual.stored()
    session.add(story)
    tag_index.reindex(session, story)
    current = current_version(session=session, story=story)
    if current.state != VersionState.published:
        return []  # the coming publish uses the new tags
    filed = _file(
        session, story, kind=VersionKind.retag, content=current.content(), filed_by=filed_by, tags=current.tags or {}
    )
    return filed.event_ids


def retry_version(*, session: Session, story_id: str, number: int) -> Filed:
    """Send a failed version through the pipeline again (from enrichment if it has no tags).
    On a killed story only the kill itself can be retried."""
    story = lock_story(session, story_id)
    version = session.exec(
        select(StoryVersion).where(StoryVersion.story_id == story_id, StoryVersion.version == number)
    ).first()
    if version is None:
        raise NotFound(f"version {number} of story {story_id}")
    if version.kind != VersionKind.kill:
        _refuse_if_killed(story)
    if version.state != VersionState.failed:
        raise Conflict("not_failed", f"version {number} is {version.state}, not failed; only a failed one is retried")
    newer = session.exec(
        select(StoryVersion.version).where(
            StoryVersion.story_id == story_id,
            StoryVersion.version > number,
            StoryVersion.state == VersionState.published,
        )
    ).first()
    if newer is not None:
        raise Conflict("superseded", f"version {newer} is newer and already out; file an update instead")
    state = VersionState.enriched if version.tags is not None else VersionState.stored
    version.state, version.error, version.failed_at, version.tries = state, None, None, 0
    session.add(version)
    session.flush()
    return Filed(
        story, version, [events.record(session, events.EVENT_FOR_STATE[state], version.id, version.queue_urgency)]
    )
