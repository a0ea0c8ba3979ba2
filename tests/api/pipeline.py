"""Drive the pipeline's plain functions in-process (no broker, no workers): what the
enrichment and publish tasks would do, for tests of the rules around them."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import select

from services.publish import render as publish
from shared import db, tag_index
from shared.models import Delivery, DeliveryState, StoryVersion, VersionState
from shared.timeutil import utcnow

KAZAKHSTAN_DIPLOMACY = {
    "places": [{"name": "Astana", "code": "KZ", "kind": "capital"}],
    "subjects": [
        {
            "name": "summit meeting",
            "uri": "http://cv.iptc.org/newscodes/mediatopic/20000640",
            "qcode": "medtop:20000640",
            "broader": ["medtop:20000638", "medtop:11000000"],
        }
    ],
}


def version_row(story_id: str, number: int) -> StoryVersion:
    with db.read_scope() as session:
        return session.exec(
            select(StoryVersion).where(StoryVersion.story_id == story_id, StoryVersion.version == number)
        ).one()


def enrich(story_id: str, number: int, tags: dict | None = None) -> int:
    """What the enrichment task does, with given tags instead of the taggers'."""
    version = version_row(story_id, number)
    with db.session_scope() as session:
        stories = tag_index.lock_stories(session, {story_id})
        moved = session.exec(
            update(StoryVersion)
            .where(StoryVersion.id == version.id, StoryVersion.state == VersionState.stored)
            .values(tags=tags or {}, state=VersionState.enriched, enriched_at=utcnow())
        )
        assert moved.rowcount == 1
        tag_index.reindex(session, stories[story_id])
    return version.id


def render(story_id: str, number: int) -> publish.Rendered:
    return publish.render_version(version_row(story_id, number).id)


def deliveries(story_id: str) -> list[Delivery]:
    with db.read_scope() as session:
        return list(session.exec(select(Delivery).where(Delivery.story_id == story_id).order_by(Delivery.version)))


def mark_delivered(delivery_id: str) -> None:
    """What a successful send records."""
    with db.session_scope() as session:
        session.exec(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(state=DeliveryState.delivered, attempts=1, delivered_at=utcnow())
        )
