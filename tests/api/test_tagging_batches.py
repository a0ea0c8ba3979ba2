"""Tagging batches on a real database: which versions a first try takes with it, that a held
version's own message leaves it alone until the hold runs out, that a flash and a retried version
go alone, that workers taking up at once neither wait for each other nor share a version, and that
a batch stores the tags each story gets when it is tagged on its own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from services.enrichment import service as enrichment
from shared import db, tag_index
from shared.config import get_settings
from shared.models import Story, StoryTag, StoryVersion, VersionState
from shared.tags import StoryTags
from shared.timeutil import utcnow
from tests.api.conftest import BACKENDS
from tests.api.pipeline import version_row
from tests.support import wait_for

STORIES = [
    {"headline": "Kerry lands in Dushanbe", "body_text": "DUSHANBE, Tajikistan - John Kerry arrived in Tajikistan."},
    {"headline": "Floods in Bavaria", "body_text": "MUNICH - Rivers burst their banks across Bavaria, Germany."},
    {"headline": "Chile copper output up", "body_text": "SANTIAGO - Codelco said copper output in Chile rose."},
    {"headline": "Kenya wins relay", "body_text": "NAIROBI - Kenya won the relay; Eliud Kipchoge ran the last leg."},
]


def file(api, story: dict, **fields) -> int:
    filed = api.editor.post("/v1/stories", json={**story, **fields})
    assert filed.status_code == 202, filed.text
    return version_row(filed.json()["id"], 1).id


def row(version_id: int) -> StoryVersion:
    with db.read_scope() as session:
        return session.get(StoryVersion, version_id)


#: Row locks exist on PostgreSQL only (SQLite's writers take the whole database in turn).
ON_POSTGRES = [backend for backend in BACKENDS if backend == "postgres"]


def ids(batch: list[enrichment.Untagged]) -> list[int]:
    return [each.id for each in batch]


def test_a_first_try_takes_untried_versions_most_urgent_first(either):
    first, *others = [file(either, story, urgency=5) for story in STORIES[:3]]
    urgent = file(either, STORIES[3], urgency=3)
    batch, event_ids = enrichment.take_up(first)
    assert (ids(batch), event_ids) == ([first, urgent, *others], [])
    for version_id in ids(batch):
        assert row(version_id).tries == 1
    assert row(first).held_until is None
    assert all(row(mate).held_until > utcnow() for mate in [urgent, *others])


def test_a_held_version_is_left_to_its_batch_until_the_hold_runs_out(either):
    first, mate = file(either, STORIES[0]), file(either, STORIES[1])
    assert ids(enrichment.take_up(first)[0]) == [first, mate]
    assert enrichment.take_up(mate) == ([], [])
    assert row(mate).tries == 1

    with db.session_scope() as session:  # the batch's worker died; its hold has run out
        session.exec(update(StoryVersion).values(held_until=utcnow() - timedelta(seconds=1)))
    batch, _ = enrichment.take_up(mate)
    assert ids(batch) == [mate]  # a second try goes alone
    assert row(mate).tries == 2


def test_a_held_versions_message_ends_without_waiting_for_a_writer(either):
    """Under a burst most messages find their version held by a batch: they end on a read, while
    another writer is mid-transaction (SQLite: it has the writers' turn; PostgreSQL: it has the
    version's row locked)."""
    first, mate = file(either, STORIES[0]), file(either, STORIES[1])
    assert ids(enrichment.take_up(first)[0]) == [first, mate]
    with ThreadPoolExecutor(1) as pool, db.session_scope() as session:  # a failure lets the thread go on
        session.execute(select(StoryVersion.id).where(StoryVersion.id == mate).with_for_update())
        assert pool.submit(enrichment.take_up, mate).result(timeout=10) == ([], [])
    assert row(mate).tries == 1


def test_a_flash_goes_alone_and_takes_no_mates(either):
    routine = file(either, STORIES[0])
    flash = file(either, STORIES[1], urgency=1)
    assert ids(enrichment.take_up(flash)[0]) == [flash]
    assert row(routine).tries == 0
    assert ids(enrichment.take_up(routine)[0]) == [routine]  # the flash is taken already


def test_a_batch_stays_within_its_size_and_characters(either, monkeypatch):
    monkeypatch.setenv("NEWSWIRE_TAGGING_BATCH_VERSIONS", "3")
    get_settings.cache_clear()
    versions = [file(either, story) for story in STORIES]
    assert ids(enrichment.take_up(versions[0])[0]) == versions[:3]

    long_story = {"headline": "A long one", "body_text": "Word " * 5000}
    monkeypatch.setenv("NEWSWIRE_TAGGING_BATCH_CHARS", "20000")
    get_settings.cache_clear()
    too_long = file(either, long_story)
    short = file(either, STORIES[0], headline="Kerry leaves Dushanbe")
    assert ids(enrichment.take_up(short)[0]) == [short, versions[3]]
    assert row(too_long).tries == 0


@pytest.mark.parametrize("either", ON_POSTGRES, indirect=True)
def test_a_version_another_worker_is_taking_up_is_passed_over_not_waited_for(either):
    """PostgreSQL locks rows, not the database: a batch that waited for a row another worker is
    taking up would deadlock with it (each holds its own first version already)."""
    first, busy, free = (file(either, story) for story in STORIES[:3])
    with db.get_engine().connect() as other, ThreadPoolExecutor(1) as pool:
        other.execute(select(StoryVersion.id).where(StoryVersion.id == busy).with_for_update())
        taking_up = pool.submit(enrichment.take_up, first)
        try:
            batch, _ = taking_up.result(timeout=30)  # bounded: without SKIP LOCKED it waits for `other`
        finally:
            other.rollback()
    assert ids(batch) == [first, free]
    assert row(busy).tries == 0


def lock_waits() -> int:
    """Sessions of this database waiting for a lock (read in a transaction of its own: a
    transaction sees one snapshot of pg_stat_activity)."""
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    with db.get_engine().connect() as connection:
        return connection.execute(text(waiting)).scalar_one()


@pytest.mark.parametrize("either", ON_POSTGRES, indirect=True)
def test_storing_tags_waits_for_a_kill_holding_the_story_without_deadlocking(either):
    """A kill locks the story, then withdraws its versions; storing tags locks the stories first too."""
    version_id = file(either, STORIES[0])
    (taken,), _ = enrichment.take_up(version_id)
    story_id = row(version_id).story_id
    withdraw = update(StoryVersion).where(StoryVersion.id == version_id).values(state=VersionState.withdrawn)
    with db.get_engine().connect() as kill, ThreadPoolExecutor(1) as pool:
        kill.execute(select(Story.id).where(Story.id == story_id).with_for_update())
        storing = pool.submit(enrichment.store_tags, [(taken, StoryTags())])
        wait_for(lambda: lock_waits() or storing.done(), timeout=30, what="storing to wait for the story")
        kill.execute(withdraw)
        kill.commit()
        assert storing.result(timeout=30) == []
    assert row(version_id).state == VersionState.withdrawn


def test_workers_taking_up_at_once_share_the_versions_out_once_each(either):
    versions = [file(either, STORIES[n % 4], headline=f"Story {n}") for n in range(16)]
    with ThreadPoolExecutor(4) as pool:
        batches = [batch for batch, _ in pool.map(enrichment.take_up, versions)]
    assert sorted(version_id for batch in batches for version_id in ids(batch)) == versions
    assert all(row(version_id).tries == 1 for version_id in versions)


@pytest.mark.parametrize("size", [1, 4])
def test_batched_tags_are_the_tags_each_story_gets_alone(either, monkeypatch, size):
    monkeypatch.setenv("NEWSWIRE_TAGGING_BATCH_VERSIONS", str(size))
    get_settings.cache_clear()
    versions = [file(either, story) for story in STORIES]
    events = enrichment.enrich_version(versions[0])
    assert len(events) == size
    stored = [row(version_id) for version_id in versions[:size]]
    for story, version in zip(STORIES, stored, strict=False):
        assert (version.state, version.tries, version.held_until) == (VersionState.enriched, 0, None)
        alone = enrichment.tags_for(headline=story["headline"], body=story["body_text"], located=None, language=None)
        kept = {key: version.tags[key] for key in ("entities", "places", "people", "subjects", "keywords")}
        assert kept == {key: alone.stored()[key] for key in kept}
    assert {place["code"] for place in stored[0].tags["places"]} >= {"TJ"}


def indexed(story_id: str) -> set[tuple[str, str]]:
    with db.read_scope() as session:
        return set(session.exec(select(StoryTag.kind, StoryTag.code).where(StoryTag.story_id == story_id)).all())


def read_back(story_id: str) -> set[tuple[str, str]]:
    """The codes the stored tags give, read back from the database."""
    with db.read_scope() as session:
        return tag_index.story_codes(session, session.get(Story, story_id))


def test_the_tag_index_holds_the_newest_tags_whatever_order_versions_are_tagged_in(either, monkeypatch):
    monkeypatch.setenv("NEWSWIRE_TAGGING_BATCH_VERSIONS", "1")
    get_settings.cache_clear()
    first = file(either, STORIES[0])
    story_id = row(first).story_id
    either.editor.put(f"/v1/stories/{story_id}", json=STORIES[1])
    second = version_row(story_id, 2).id
    enrichment.enrich_version(second)
    assert ("place", "DE") in indexed(story_id)
    assert indexed(story_id) == read_back(story_id)
    enrichment.enrich_version(first)  # an older version tagged later leaves the newest tags indexed
    assert ("place", "DE") in indexed(story_id) and ("place", "TJ") not in indexed(story_id)
    assert indexed(story_id) == read_back(story_id)


def test_a_groups_message_tags_the_versions_still_waiting_fewest_tries_first(either):
    retried, first, second, tagged = [file(either, story) for story in STORIES]
    with db.session_scope() as session:  # its worker died on it once: its try is counted, its hold ran out
        session.exec(update(StoryVersion).where(StoryVersion.id == retried).values(tries=1))
    assert enrichment.in_turn([retried, first, second]) == [first, second, retried]
    enrichment.enrich_version(tagged)
    # one batch took the untried ones; a version tried before goes alone, so it still waits
    assert enrichment.in_turn([tagged, first, second, retried]) == [retried]
    assert enrichment.in_turn(first) == [first]  # a lone id is left to take_up's own read


def test_a_groups_message_tags_each_version_and_a_failing_one_keeps_its_error(either, monkeypatch):
    from services.enrichment import tasks

    monkeypatch.setenv("NEWSWIRE_TAGGING_BATCH_VERSIONS", "1")
    get_settings.cache_clear()
    versions = [file(either, story) for story in STORIES[:3]]
    real_enrich = enrichment.enrich_version

    def breaks_on_the_second(version_id: int) -> list[int]:
        if version_id == versions[1]:
            raise RuntimeError("the database went away")
        return real_enrich(version_id)

    monkeypatch.setattr(enrichment, "enrich_version", breaks_on_the_second)
    either.sent.messages.clear()
    with pytest.raises(RuntimeError, match="went away"):
        tasks.tag_version.run(versions)
    assert [row(v).state for v in versions] == [VersionState.enriched, VersionState.stored, VersionState.enriched]
    assert row(versions[1]).error == "RuntimeError: the database went away"
    assert either.sent.tasks() == ["publish.render_version", "publish.render_version"]
