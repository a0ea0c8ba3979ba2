"""Enrich one story version: count the try, run the taggers outside any transaction, then
write the tags and the next outbox event only if nobody did so first (idempotent)."""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, update
from sqlmodel import select

from services.enrichment.taggers import TAGGER_VERSION, tag_story
from shared import events, lifecycle, logs, metrics, tag_index
from shared.config import get_settings
from shared.db import session_scope
from shared.models import StoryVersion, VersionState
from shared.tags import StoryTags, TaggerFailure
from shared.text import html_to_text
from shared.timeutil import utcnow

log = logging.getLogger(__name__)


# Built once (building a statement costs several times what running it does, ``python -m
# bench.statements``); values are bound at each run. The version, if it still waits to be tagged;
# and the columns given at run time set on it, if it still does.
_VERSIONS = StoryVersion.__table__
_WAITING = select(StoryVersion).where(
    StoryVersion.id == bindparam("version_id"), StoryVersion.state == VersionState.stored
)
_ENRICH = update(_VERSIONS).where(_VERSIONS.c.id == bindparam("version_id"), _VERSIONS.c.state == VersionState.stored)


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
    """Tag the version if it is still waiting; returns outbox event ids to relay."""
    with session_scope() as session:
        version = session.exec(_WAITING, params={"version_id": version_id}).first()
        if version is None:
            return []
        taken = lifecycle.take_up(session, version, get_settings().max_tries)
        if taken.version is None:
            return taken.event_ids
        headline, located, language, urgency = version.headline, version.located, version.language, version.urgency
        story_id, received_at = version.story_id, version.received_at
        body = version.body_text or html_to_text(version.body_html or "")
        logs.bind(story_id=story_id, version=version.version)

    tags = tags_for(headline=headline, body=body, located=located, language=language)
    metrics.tagging(tags.timings_ms, [failure.tagger for failure in tags.failures])

    with session_scope() as session:
        enriched = {
            "tags": tags.stored(),
            "state": VersionState.enriched,
            "enriched_at": utcnow(),
            "tries": 0,
            "error": None,
        }
        result = session.execute(_ENRICH, {"version_id": version_id, **enriched})
        if result.rowcount != 1:
            return []
        tag_index.reindex(session, story_id)
        event_ids = [events.record(session, "version.enriched", version_id, urgency)]
    metrics.story_stage("enriched", received_at)
    log.info("version enriched", extra={"places": len(tags.places), "subjects": len(tags.subjects)})
    return event_ids
