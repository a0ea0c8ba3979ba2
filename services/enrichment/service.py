"""Enrich story versions: count the try, run the taggers outside any transaction, then write
the tags and the next outbox event only if nobody did so first (idempotent).

Tagging batches. A version taken up for the first time takes other versions that wait untried
with it (``tagging_batch_versions``, at most ``tagging_batch_chars`` characters in all, the most
urgent first; never for a flash, which goes alone): their tries are counted and they are held
(``held_until``) in the same transaction, the model reads them in one batch (``read_ahead``:
faster, the same tags), and all their tags are written in one transaction. A held version's own
message leaves it to the batch (it finds it held on a read, without a write transaction). A
version on its second try or later is tagged alone, so a story that kills its worker costs its
batch mates one try at most; if the batch's worker dies, each held version is taken up by its own
message once the hold has run out, or by the stuck sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, update
from sqlmodel import Session, select

from services.enrichment.taggers import TAGGER_VERSION, read_ahead, tag_story
from shared import events, lifecycle, logs, metrics, tag_index
from shared.config import Settings, get_settings
from shared.db import read_scope, session_scope
from shared.models import StoryVersion, VersionState
from shared.queue import FLASH_URGENCIES
from shared.tags import StoryTags, TaggerFailure
from shared.text import html_to_text
from shared.timeutil import utcnow

log = logging.getLogger(__name__)

# Built once (building a statement costs several times what running it does, ``python -m
# bench.statements``); values are bound at each run.
_VERSIONS = StoryVersion.__table__
_NOT_HELD = or_(_VERSIONS.c.held_until.is_(None), _VERSIONS.c.held_until < bindparam("now"))
#: A version still waits to be tagged and no batch holds it ...
_WAITS = (_VERSIONS.c.state == VersionState.stored, _NOT_HELD)
#: ... this one.
_IS_WAITING = (_VERSIONS.c.id == bindparam("version_id"), *_WAITS)
#: The version, if it is waiting; locked (PostgreSQL: if a batch is taking it up right now, wait for
#: that to commit and read it held; SQLite serialises writers).
_WAITING = select(StoryVersion).where(*_IS_WAITING).with_for_update()
#: The same question asked in a read, without the writers' turn (``take_up``).
_STILL_WAITING = select(_VERSIONS.c.id).where(*_IS_WAITING)
#: Of several versions, those still waiting, fewest tries first.
_IN_TURN = (
    select(_VERSIONS.c.id)
    .where(_VERSIONS.c.id.in_(bindparam("ids", expanding=True)), *_WAITS)
    .order_by(_VERSIONS.c.tries, _VERSIONS.c.id)
)
_UNTRIED = (_VERSIONS.c.state == VersionState.stored, _VERSIONS.c.tries == 0)
#: Versions that could join a batch, most urgent first, with their length in characters; locked,
#: passing over those another worker is taking up right now (PostgreSQL ``SKIP LOCKED``). Two workers
#: that waited for each other's rows here would deadlock: each holds its own first version already.
_MATES = (
    select(
        _VERSIONS.c.id,
        func.length(_VERSIONS.c.headline)
        + func.coalesce(func.length(_VERSIONS.c.body_text), func.length(_VERSIONS.c.body_html), 0),
    )
    .where(*_UNTRIED, _NOT_HELD, _VERSIONS.c.id != bindparam("version_id"))
    .order_by(_VERSIONS.c.urgency, _VERSIONS.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_UNTAGGED_COLUMNS = [
    _VERSIONS.c[name]
    for name in ("id", "story_id", "version", "headline", "body_text", "body_html")
    + ("located", "language", "urgency", "received_at")
]
#: Count their try and hold them, if still untried.
_HOLD = (
    update(_VERSIONS)
    .where(_VERSIONS.c.id.in_(bindparam("ids", expanding=True)), *_UNTRIED)
    .values(tries=_VERSIONS.c.tries + 1, held_until=bindparam("until"))
    .returning(*_UNTAGGED_COLUMNS)
)
#: The columns given at run time set on the version, if it still waits to be tagged.
_ENRICH = update(_VERSIONS).where(_VERSIONS.c.id == bindparam("version_id"), _VERSIONS.c.state == VersionState.stored)


@dataclass(frozen=True)
class Untagged:
    """What tagging a version and storing its tags need, read when it was taken up."""

    id: int
    story_id: str
    version: int
    headline: str
    body: str
    located: str | None
    language: str | None
    urgency: int
    received_at: datetime

    @classmethod
    def of(cls, row) -> Untagged:
        """From a ``StoryVersion`` or a row of its columns."""
        body = row.body_text or html_to_text(row.body_html or "")
        fields = ("id", "story_id", "version", "headline", "located", "language", "urgency", "received_at")
        return cls(body=body, **{name: getattr(row, name) for name in fields})


def tags_for(*, headline: str, body: str, located: str | None, language: str | None) -> StoryTags:
    """The taggers' output, typed. Never raises: a failure is recorded in the tags, and the
    story goes on without them (enrichment never blocks the wire)."""
    try:
        raw = tag_story(
            headline=headline,
            body=body,
            located=located,
            language=language,
            budget_seconds=get_settings().tagger_budget_seconds,
        )
        return StoryTags.model_validate(raw)
    except Exception as exc:
        log.exception("tagging failed")
        return StoryTags(tagger_version=TAGGER_VERSION, failures=[TaggerFailure(tagger="all", error=repr(exc))])


def enrich_version(version_id: int) -> list[int]:
    """Tag the version if it is still waiting, with a batch of others if they are; returns
    outbox event ids to relay."""
    batch, event_ids = take_up(version_id)
    if not batch:
        return event_ids
    settings = get_settings()
    if len(batch) > 1:
        read_ahead([(each.headline, each.body) for each in batch], settings.tagger_budget_seconds)
    tagged = []
    for each in batch:
        tags = tags_for(headline=each.headline, body=each.body, located=each.located, language=each.language)
        metrics.tagging(tags.timings_ms, [failure.tagger for failure in tags.failures])
        tagged.append((each, tags))
    return store_tags(tagged)


def take_up(version_id: int) -> tuple[list[Untagged], list[int]]:
    """Count a try at the version (and hold a batch of others with it): the versions to tag, and
    outbox events to relay (the next version's, when this one just failed)."""
    if not _still_waiting(version_id):
        return [], []
    settings = get_settings()
    with session_scope() as session:
        version = session.exec(_WAITING, params={"version_id": version_id, "now": utcnow()}).first()
        if version is None:
            return [], []
        taken = lifecycle.take_up(session, version, settings.max_tries)
        if taken.version is None:
            return [], taken.event_ids
        logs.bind(story_id=version.story_id, version=version.version)
        batch = [Untagged.of(version)]
        if version.tries == 1 and version.queue_urgency not in FLASH_URGENCIES:  # a flash is tagged alone
            batch += hold_mates(session, batch[0], settings)
        return batch, []


def in_turn(version_ids: int | list[int]) -> list[int]:
    """The versions a message names that still wait to be tagged (``_IS_WAITING``), fewest tries
    first, in one read: after a burst's first batch most of a group is tagged or held already,
    and a story that killed its worker when its message was last taken up goes after the others
    of the message (their tags do not wait for its tries to run out). A lone id is left to
    ``take_up``'s own read."""
    if isinstance(version_ids, int):
        return [version_ids]
    with read_scope() as session:
        found = session.connection().execute(_IN_TURN, {"ids": version_ids, "now": utcnow()})
        return [version_id for (version_id,) in found]


def _still_waiting(version_id: int) -> bool:
    """Whether the version may still be waiting, read without a write transaction. Under a burst
    most messages find their version tagged or held already (it went in a batch with the first):
    they end here, and leave the writers' turn (SQLite) to the writers. One still waiting is taken
    up in ``take_up``'s transaction, which asks again, with the row locked."""
    with read_scope() as session:
        found = session.connection().execute(_STILL_WAITING, {"version_id": version_id, "now": utcnow()})
        return found.first() is not None


def hold_mates(session: Session, first: Untagged, settings: Settings) -> list[Untagged]:
    """Other versions waiting untried, most urgent first, while the batch stays within its size
    and characters: their tries counted and held one tagger budget ahead (a batch takes well under
    a second; a mate still held past that may be tagged again by its own message: the first write
    wins)."""
    most = settings.tagging_batch_versions - 1
    if most < 1:
        return []
    now = utcnow()
    room, ids = settings.tagging_batch_chars - len(first.headline) - len(first.body), []
    for mate_id, length in session.execute(_MATES, {"version_id": first.id, "now": now, "limit": most}):
        if length <= room:
            room -= length
            ids.append(mate_id)
    if not ids:
        return []
    until = now + timedelta(seconds=settings.tagger_budget_seconds)
    held = {row.id: row for row in session.execute(_HOLD, {"ids": ids, "until": until})}
    return [Untagged.of(held[mate_id]) for mate_id in ids if mate_id in held]


def store_tags(tagged: list[tuple[Untagged, StoryTags]]) -> list[int]:
    """Write each version's tags and its next event, in one transaction, where it still waits to
    be tagged; returns outbox event ids to relay."""
    event_ids, stored = [], []
    with session_scope() as session:
        stories = tag_index.lock_stories(session, {version.story_id for version, _ in tagged})
        for version, tags in sorted(tagged, key=lambda pair: pair[0].urgency):  # a flash mate first
            enriched = {"tags": tags.stored(), "state": VersionState.enriched, "enriched_at": utcnow()}
            cleared = {"tries": 0, "error": None, "held_until": None}
            result = session.execute(_ENRICH, {"version_id": version.id, **enriched, **cleared})
            if result.rowcount != 1:
                continue
            tag_index.reindex(session, stories[version.story_id], (version.version, tags))
            event_ids.append(events.record(session, "version.enriched", version.id, version.urgency))
            stored.append((version, tags))
    for version, tags in stored:
        metrics.story_stage("enriched", version.received_at)
        extra = {
            "version_id": version.id,
            "story_id": version.story_id,
            "version": version.version,
            "batch": len(tagged),
        }
        log.info("version enriched", extra={**extra, "places": len(tags.places), "subjects": len(tags.subjects)})
    return event_ids
