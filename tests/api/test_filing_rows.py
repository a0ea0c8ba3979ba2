"""A filing stores exactly what the editor filed, and the story and version it hands back belong
to the caller's transaction: a change made to them before the commit is stored too (on SQLite,
and on PostgreSQL when a server is given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from services.ingest.stories import schemas, service
from shared import db
from shared.models import PubStatus, Story, StoryVersion, VersionState


def _stored(story_id: str) -> tuple[Story, list[StoryVersion]]:
    with db.read_scope() as session:
        story = session.get(Story, story_id)
        versions = session.exec(
            select(StoryVersion).where(StoryVersion.story_id == story_id).order_by(StoryVersion.version)
        ).all()
    return story, list(versions)


def test_a_new_story_is_stored_as_filed(either):
    embargo = datetime.now(UTC) + timedelta(hours=2)
    payload = schemas.StoryCreate(
        headline="Flood warning",
        body_html="<p>Rivers rise <b>fast</b>.</p>",
        byline="A. Writer",
        located="ASTANA",
        slugline="flood",
        language="en",
        urgency=2,
        embargoed_until=embargo,
    )
    with db.session_scope() as session:
        filed = service.create_story(session=session, payload=payload, filed_by="desk")
        returned_id = filed.version.id

    story, versions = _stored(filed.story.id)
    assert (story.current_version, story.seq, story.killed_at, story.manual_tags) == (1, 1, None, None)
    assert len(versions) == 1
    version = versions[0]
    assert version.id == returned_id is not None
    assert version.content() == {
        "headline": "Flood warning",
        "body_text": None,
        "body_html": "<p>Rivers rise <b>fast</b>.</p>",
        "byline": "A. Writer",
        "located": "ASTANA",
        "slugline": "flood",
        "language": "en",
        "urgency": 2,
        "embargoed_until": version.embargoed_until,
    }
    assert abs(version.embargoed_until.replace(tzinfo=UTC) - embargo) < timedelta(seconds=1)
    assert (version.version, version.kind, version.filed_by) == (1, "original", "desk")
    assert (version.state, version.pubstatus, version.tags, version.tries) == (
        VersionState.stored,
        PubStatus.withheld,
        None,
        0,
    )


def test_what_a_filing_returns_is_the_transactions_own(either):
    payload = schemas.StoryCreate(headline="First", body_text="Text.")
    with db.session_scope() as session:
        filed = service.create_story(session=session, payload=payload)
        filed.version.slugline = "changed before commit"
        filed.story.manual_tags = {"add": [], "remove": []}
    story, versions = _stored(filed.story.id)
    assert versions[0].slugline == "changed before commit"
    assert story.manual_tags == {"add": [], "remove": []}


def test_later_versions_move_the_story_on(either):
    with db.session_scope() as session:
        story_id = service.create_story(
            session=session, payload=schemas.StoryCreate(headline="A", body_text="1")
        ).story.id
    with db.session_scope() as session:
        service.update_story(
            session=session, story_id=story_id, payload=schemas.StoryCreate(headline="A", body_text="2")
        )
    with db.session_scope() as session:
        service.kill_story(session=session, story_id=story_id, payload=schemas.StoryKill(reason="legal"))

    story, versions = _stored(story_id)
    assert story.current_version == 3
    assert story.killed_at is not None
    assert [(v.version, v.kind, v.body_text) for v in versions][:2] == [(1, "original", "1"), (2, "update", "2")]
    assert (versions[2].version, versions[2].kind, versions[2].pubstatus) == (3, "kill", PubStatus.canceled)
