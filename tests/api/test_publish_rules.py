"""The publish service's rules, run in-process on a real database: versions in order, the
failed end state and its retry, who gets a kill, deliveries held or withdrawn. Real sends to
real receivers are in tests/integration."""

from datetime import timedelta

from sqlalchemy import update

from services.publish import delivery, sweeps
from services.publish.formats import ninjs
from shared import db, events, lifecycle
from shared.config import get_settings
from shared.models import Delivery, StoryVersion, Subscriber
from tests.api.pipeline import KAZAKHSTAN_DIPLOMACY, deliveries, enrich, mark_delivered, render, version_row

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}


def subscribe(api, name):
    answer = api.admin.post("/v1/subscribers", json={"name": name, "url": f"http://127.0.0.1:9/{name}"})
    assert answer.status_code == 201
    return answer.json()["id"]


def file_two_versions(api):
    story = api.editor.post("/v1/stories", json=STORY).json()
    api.editor.put(f"/v1/stories/{story['id']}", json={**STORY, "headline": "Kerry in Dushanbe"})
    return story["id"]


def test_a_version_waits_for_the_earlier_one_then_is_woken(api):
    subscribe(api, "site")
    story_id = file_two_versions(api)
    enrich(story_id, 2)
    assert render(story_id, 2).deliveries == []  # version 1 is still on its way
    assert version_row(story_id, 2).state == "enriched"
    enrich(story_id, 1)
    first = render(story_id, 1)
    assert len(first.deliveries) == 1
    assert len(first.event_ids) == 1  # the publish event of version 2
    assert len(render(story_id, 2).deliveries) == 1
    assert [d.version for d in deliveries(story_id)] == [1, 2]


def test_an_unrenderable_version_fails_with_its_error_and_can_be_retried(api):
    story_id = file_two_versions(api)
    enrich(story_id, 1)
    with db.session_scope() as session:  # a row no renderer can turn into valid ninjs
        session.exec(update(StoryVersion).where(StoryVersion.id == version_row(story_id, 1).id).values(urgency=0))
    enrich(story_id, 2)
    rendered = render(story_id, 1)
    failed = version_row(story_id, 1)
    assert failed.state == "failed" and "urgency" in failed.error and failed.failed_at
    assert len(rendered.event_ids) == 1  # version 2 is not held back by a failed one
    view = api.editor.get(f"/v1/stories/{story_id}/versions").json()
    assert view[0]["state"] == "failed" and "invalid ninjs" in view[0]["error"]
    with db.session_scope() as session:
        session.exec(update(StoryVersion).where(StoryVersion.id == failed.id).values(urgency=5))
    retried = api.editor.post(f"/v1/stories/{story_id}/versions/1/retry")
    assert retried.status_code == 202 and retried.json()["version"] == 1
    assert version_row(story_id, 1).state == "enriched" and version_row(story_id, 1).error is None
    assert api.sent.tasks()[-1] == "publish.render_version"
    render(story_id, 2)
    assert version_row(story_id, 2).state == "enriched"  # in order: version 1 is on its way again
    render(story_id, 1)
    render(story_id, 2)
    assert [version_row(story_id, n).state for n in (1, 2)] == ["published", "published"]
    conflict = api.editor.post(f"/v1/stories/{story_id}/versions/1/retry")
    assert conflict.status_code == 409  # no longer failed


def test_a_failed_version_is_not_retried_once_a_newer_one_is_out(api):
    story_id = file_two_versions(api)
    with db.session_scope() as session:
        session.exec(
            update(StoryVersion)
            .where(StoryVersion.id == version_row(story_id, 1).id)
            .values(state="failed", error="gave up")
        )
    enrich(story_id, 2)
    render(story_id, 2)
    answer = api.editor.post(f"/v1/stories/{story_id}/versions/1/retry")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "superseded"


def take_up(version_id, max_tries):
    """What a worker does first when it takes up a version (and then, here, dies)."""
    with db.session_scope() as session:
        return lifecycle.take_up(session, session.get(StoryVersion, version_id), max_tries)


def test_a_version_that_kills_its_worker_every_time_ends_failed(api):
    story = api.editor.post("/v1/stories", json=STORY).json()
    version_id = version_row(story["id"], 1).id
    assert take_up(version_id, 2).version is not None  # the worker died mid-step
    assert take_up(version_id, 2).version is not None  # and again
    assert take_up(version_id, 2).version is None  # the third worker gives up on it
    version = version_row(story["id"], 1)
    assert version.state == "failed" and "took up its stored step 2 times" in version.error
    listed = api.editor.get("/v1/stories", params={"status": "failed"}).json()["items"]
    assert [s["id"] for s in listed] == [story["id"]]


def test_a_kill_goes_to_earlier_recipients_only(api):
    got_it, in_retry, never = subscribe(api, "got-it"), subscribe(api, "in-retry"), subscribe(api, "never")
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    first = {d.subscriber_id: d for d in deliveries(story["id"])}
    mark_delivered(first[got_it].id)
    with db.session_scope() as session:  # one failed attempt: it may have landed
        session.exec(update(Delivery).where(Delivery.id == first[in_retry].id).values(attempts=1))
    late = subscribe(api, "subscribed-later")
    api.editor.post(f"/v1/stories/{story['id']}/kill", json={"reason": "Legal"})
    states = {d.subscriber_id: d.state for d in deliveries(story["id"]) if d.version == 1}
    assert states == {got_it: "delivered", in_retry: "withdrawn", never: "withdrawn"}
    kill = render(story["id"], 2)
    recipients = {d.subscriber_id for d in deliveries(story["id"]) if d.version == 2}
    assert recipients == {got_it, in_retry}
    assert late not in recipients and never not in recipients
    assert {priority for _, priority in kill.deliveries} == {0}


def test_a_kill_during_embargo_reaches_nobody(api):
    subscribe(api, "site")
    story = api.editor.post("/v1/stories", json={**STORY, "embargoed_until": "2099-01-01T00:00:00Z"}).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    assert version_row(story["id"], 1).state == "embargoed"
    api.editor.post(f"/v1/stories/{story['id']}/kill", json={"reason": "Dropped"})
    assert version_row(story["id"], 1).state == "withdrawn"
    assert render(story["id"], 2).deliveries == []
    assert version_row(story["id"], 2).state == "published"
    assert deliveries(story["id"]) == []


def test_deliveries_of_a_killed_story_are_withdrawn_and_a_disabled_subscriber_is_held(api):
    site = subscribe(api, "site")
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1, KAZAKHSTAN_DIPLOMACY)
    render(story["id"], 1)
    (first,) = deliveries(story["id"])
    mark_delivered(first.id)
    with db.session_scope() as session:
        session.exec(update(Subscriber).values(active=False, disabled_reason="endpoint answered 410 Gone"))
    api.editor.post(f"/v1/stories/{story['id']}/kill", json={"reason": "Legal"})
    render(story["id"], 2)
    kill = [d for d in deliveries(story["id"]) if d.version == 2][0]
    assert kill.subscriber_id == site
    item = version_row(story["id"], 2).ninjs  # routed like the story, describing none of its text
    assert item["places"][0]["literal"] == "KZ" and item["subjects"][0]["name"] == "summit meeting"
    assert "wordCount" not in item["bodies"][0]
    assert delivery.claim([kill.id], settings=get_settings()) == {kill.id: None}  # held, not sent
    assert [d.state for d in deliveries(story["id"]) if d.id == kill.id] == ["pending"]
    assert kill.id not in {due.delivery_id for due, _ in sweeps.due_deliveries()}
    assert api.admin.post(f"/v1/subscribers/{site}/enable").json()["active"] is True
    assert kill.id in {due.delivery_id for due, _ in sweeps.due_deliveries()}


def test_deliveries_list_shows_states_of_each_version(api):
    site = subscribe(api, "site")
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    (first,) = deliveries(story["id"])
    mark_delivered(first.id)
    api.editor.post(f"/v1/stories/{story['id']}/kill", json={"reason": "Legal"})
    render(story["id"], 2)
    listed = api.admin.get(f"/v1/subscribers/{site}/deliveries").json()["items"]
    assert [(d["version"], d["state"]) for d in listed] == [(2, "pending"), (1, "delivered")]
    assert listed[0]["next_attempt_at"] and listed[1]["next_attempt_at"] is None
    assert listed[0]["message_id"].startswith("msg_") and listed[0]["attempts"] == []
    assert api.admin.get("/v1/subscribers/nope/deliveries").status_code == 404


def test_a_failed_kill_shows_as_failed_and_can_be_retried(api, monkeypatch):
    subscribe(api, "site")
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    mark_delivered(deliveries(story["id"])[0].id)
    api.editor.post(f"/v1/stories/{story['id']}/kill", json={"reason": "Legal"})
    refuse = ninjs.InvalidNinjs("pubStatus: not one of the allowed values")
    with monkeypatch.context() as patched:  # a renderer that refuses (only here: the queue recorder stays)
        patched.setattr(ninjs, "render", lambda *_: (_ for _ in ()).throw(refuse))
        render(story["id"], 2)
    assert api.editor.get(f"/v1/stories/{story['id']}").json()["status"] == "failed"
    listed = api.editor.get("/v1/stories", params={"status": "failed"}).json()["items"]
    assert [s["id"] for s in listed] == [story["id"]]
    assert api.editor.post(f"/v1/stories/{story['id']}/versions/2/retry").status_code == 202
    assert len(render(story["id"], 2).deliveries) == 1
    assert api.editor.get(f"/v1/stories/{story['id']}").json()["status"] == "killed"
    refused = api.editor.post(f"/v1/stories/{story['id']}/versions/1/retry")
    assert refused.status_code == 409  # on a killed story only the kill is retried


def test_the_stuck_sweep_requeues_only_where_the_queue_is_idle(api):
    lost = api.editor.post("/v1/stories", json=STORY).json()  # its message never reached a worker
    waiting = file_two_versions(api)
    enrich(waiting, 2)  # version 2 waits for version 1: not stuck
    stale = timedelta(seconds=-1)
    assert lifecycle.requeue_stuck(stale, idle_states=[]) == []  # a backlog: they are waiting, not lost
    assert lifecycle.requeue_stuck(stale, idle_states=["enriched"]) == []
    api.sent.messages.clear()
    events.relay(lifecycle.requeue_stuck(stale, idle_states=["stored", "enriched"]))
    expected = sorted([version_row(lost["id"], 1).id, version_row(waiting, 1).id])
    assert [(task, sorted(ids), priority) for task, ids, priority in api.sent.messages] == [
        ("enrichment.tag_version", expected, 4)  # one message names both (a group)
    ]


def test_a_step_that_keeps_raising_fails_after_its_tries_with_the_error(api, monkeypatch):
    """A render that raises each time it is taken up (the task fails, the stuck sweep queues it
    again) is not retried for ever, nor dropped: past NEWSWIRE_MAX_TRIES it ends ``failed``,
    and the failure names the error, which the editor sees in the versions list."""
    from services.publish import tasks

    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)

    def broken_renderer(*_args, **_kwargs):
        raise RuntimeError("renderer lost its template")

    monkeypatch.setattr(ninjs, "render", broken_renderer)
    version_id = version_row(story["id"], 1).id
    for _ in range(get_settings().max_tries):
        try:
            tasks.render_version.run(version_id)
        except RuntimeError:
            pass
        assert version_row(story["id"], 1).state == "enriched"
        assert "RuntimeError: renderer lost its template" in version_row(story["id"], 1).error
    tasks.render_version.run(version_id)  # the take-up past the limit fails it instead
    failed = version_row(story["id"], 1)
    assert failed.state == "failed"
    assert failed.error.endswith("the last try failed with RuntimeError: renderer lost its template")
    view = api.editor.get(f"/v1/stories/{story['id']}/versions").json()
    assert view[0]["state"] == "failed" and "renderer lost its template" in view[0]["error"]
