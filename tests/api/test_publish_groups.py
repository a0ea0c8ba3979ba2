"""Publish groups on a real database: the versions a tagging batch moves on reach the publish
workers in one message, which counts their first tries in one transaction, publishes each of them
as its own message would, queues all their deliveries together, and lets one that raises fail
alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from services.publish import render
from services.publish.formats import ninjs
from shared import db, events
from shared.models import StoryVersion, VersionState
from shared.timeutil import utcnow
from tests.api.pipeline import deliveries, enrich, version_row

FAR_AHEAD = utcnow() + timedelta(days=3)

HEADLINES = ["Kerry lands in Dushanbe", "Floods in Bavaria", "Chile copper output up"]


def tagged_batch(api) -> tuple[list[str], list[int]]:
    """Three stories filed and enriched, their events recorded as a tagging batch records them."""
    story_ids, version_ids = [], []
    for headline in HEADLINES:
        filed = api.editor.post("/v1/stories", json={"headline": headline, "body_text": f"{headline}, said AP."})
        assert filed.status_code == 202, filed.text
        story_ids.append(filed.json()["id"])
        version_ids.append(enrich(story_ids[-1], 1))
    with db.session_scope() as session:
        event_ids = [events.record(session, "version.enriched", version_id, 5) for version_id in version_ids]
    api.sent.messages.clear()
    events.relay(event_ids)
    return story_ids, version_ids


def run_publish_task(version_ids: int | list[int]) -> None:
    """The publish worker's task, run in this process (its module needs the settings in place)."""
    from services.publish import tasks

    tasks.render_version.run(version_ids)


def subscribe(api) -> str:
    answer = api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/site"})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_a_batch_reaches_publish_in_one_message_and_its_deliveries_leave_in_one(either):
    subscriber = subscribe(either)
    story_ids, version_ids = tagged_batch(either)
    assert either.sent.messages == [("publish.render_version", version_ids, 4)]

    either.sent.messages.clear()
    run_publish_task(version_ids)
    assert [version_row(story_id, 1).state for story_id in story_ids] == ["published"] * 3
    made = {story_id: deliveries(story_id) for story_id in story_ids}
    assert all(len(rows) == 1 and rows[0].subscriber_id == subscriber for rows in made.values())
    ((task, dues, priority),) = either.sent.messages
    assert (task, priority) == ("delivery.send", 4)
    assert [due[0] for due in dues] == [made[story_id][0].id for story_id in story_ids]


def test_a_version_that_raises_fails_alone_and_fails_the_task(either, monkeypatch):
    subscribe(either)
    story_ids, version_ids = tagged_batch(either)
    real_render = ninjs.render

    def render_breaking_on_floods(version, envelope):
        if version.headline == "Floods in Bavaria":
            raise RuntimeError("renderer lost its template")
        return real_render(version, envelope)

    monkeypatch.setattr(ninjs, "render", render_breaking_on_floods)
    either.sent.messages.clear()
    with pytest.raises(RuntimeError, match="lost its template"):
        run_publish_task(version_ids)
    kept, broken, after = (version_row(story_id, 1) for story_id in story_ids)
    assert (kept.state, after.state) == ("published", "published")
    assert broken.state == "enriched" and "renderer lost its template" in broken.error
    ((task, dues, _),) = either.sent.messages  # the others' deliveries still leave
    assert task == "delivery.send" and len(dues) == 2

    monkeypatch.setattr(ninjs, "render", real_render)
    run_publish_task(broken.id)  # its own message later, from the stuck sweep
    assert version_row(story_ids[1], 1).state == "published"


def test_a_version_already_published_is_passed_over(either):
    story_ids, version_ids = tagged_batch(either)
    run_publish_task(version_ids[0])
    published_at = version_row(story_ids[0], 1).published_at
    run_publish_task(version_ids)  # its event sent again by the sweep, in a group
    assert version_row(story_ids[0], 1).published_at == published_at
    assert [version_row(story_id, 1).state for story_id in story_ids] == ["published"] * 3


def tries(version_id: int) -> int:
    with db.read_scope() as session:
        return session.get(StoryVersion, version_id).tries


def test_a_groups_first_tries_are_counted_in_one_go_and_a_version_tried_before_alone(either):
    _story_ids, (first, retried, third) = tagged_batch(either)
    with db.session_scope() as session:  # a worker died rendering it before
        session.exec(update(StoryVersion).where(StoryVersion.id == retried).values(tries=1))

    assert render.count_first_tries([first, retried, third]) == {first, third}
    assert [tries(v) for v in (first, retried, third)] == [1, 1, 1]
    assert render.count_first_tries([first, retried, third]) == set()  # counted once only


def test_a_group_whose_worker_died_after_counting_is_published_each_taken_up_alone(either):
    story_ids, version_ids = tagged_batch(either)
    assert render.count_first_tries(version_ids) == set(version_ids)  # ... and the worker died here

    run_publish_task(version_ids)  # the message again: each counted alone, one try more
    rows = [version_row(story_id, 1) for story_id in story_ids]
    assert [(row.state, row.tries) for row in rows] == [("published", 0)] * 3


def test_a_version_not_ready_or_embargoed_is_left_to_its_own_take_up(either):
    story_ids, (held_back, embargoed, ready) = tagged_batch(either)
    with db.session_scope() as session:
        session.exec(update(StoryVersion).where(StoryVersion.id == embargoed).values(embargoed_until=FAR_AHEAD))
    second = either.editor.put(f"/v1/stories/{story_ids[0]}", json={"headline": "Kerry leaves", "body_text": "AP."})
    assert second.status_code == 202, second.text
    newer = enrich(story_ids[0], 2)
    with db.session_scope() as session:  # version 1 of the story back in the pipeline: version 2 waits
        session.exec(update(StoryVersion).where(StoryVersion.id == held_back).values(state=VersionState.stored))

    assert render.count_first_tries([newer, embargoed, ready]) == {ready}

    run_publish_task([newer, embargoed, ready])
    assert version_row(story_ids[0], 2).state == "enriched"  # still behind version 1
    assert version_row(story_ids[1], 1).state == "embargoed"
    assert version_row(story_ids[2], 1).state == "published"
