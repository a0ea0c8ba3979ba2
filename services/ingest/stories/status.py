"""A story's status in one word for an editor, from its newest version's pipeline state and
publication status. ``status_of`` is the rule; ``status_condition`` is the same rule as SQL
(built from ``status_of`` itself, so the story list's filter can never disagree with it)."""

from __future__ import annotations

from itertools import product

from sqlalchemy import and_, false, or_
from sqlalchemy.sql.elements import ColumnElement

from shared.models import PubStatus, StoryVersion, VersionState

STATE_WORDS = {
    VersionState.stored: "received",
    VersionState.enriched: "enriched",
    VersionState.releasing: "publishing",
    VersionState.published: "published",
}
IN_PIPELINE = (VersionState.stored, VersionState.enriched, VersionState.releasing)


def status_of(state: str, pubstatus: str) -> str:
    if state == VersionState.failed:
        return "failed"  # a kill that failed must show: the sites that got the story still have it
    if pubstatus == PubStatus.canceled:
        return "killed"
    if state == VersionState.embargoed or (pubstatus == PubStatus.withheld and state in IN_PIPELINE):
        return "embargoed"
    return STATE_WORDS.get(VersionState(state), state)


def status_condition(status: str) -> ColumnElement[bool]:
    """SQL: the newest version (``StoryVersion``) has this status."""
    pairs = [(s, p) for s, p in product(VersionState, PubStatus) if status_of(s, p) == status]
    if not pairs:
        return false()
    return or_(*(and_(StoryVersion.state == s.value, StoryVersion.pubstatus == p.value) for s, p in pairs))
