"""Dead letters, redelivery and replay: the same webhook-ids go again; what a subscriber never had
while disabled goes for the first time; a killed story's versions never go again."""

from datetime import timedelta

from sqlalchemy import update

from services.publish import delivery
from shared import db
from shared.config import get_settings
from shared.models import Delivery, Subscriber
from shared.timeutil import isoformat, utcnow
from shared.webhook_client import SendResult
from tests.api.pipeline import KAZAKHSTAN_DIPLOMACY, deliveries, enrich, mark_delivered, render

STORY = {"headline": "Kerry lands in Astana", "body_text": "Kerry arrived in Kazakhstan."}
DOWN = SendResult(None, 1.0, "ConnectionRefusedError", None, None)


def subscribe(api, name="site", filters=None):
    body = {"name": name, "url": f"http://127.0.0.1:9/{name}", **({"filters": filters} if filters else {})}
    return api.admin.post("/v1/subscribers", json=body).json()["id"]


def publish(api, tags=None, **fields):
    story = api.editor.post("/v1/stories", json={**STORY, **fields}).json()
    enrich(story["id"], 1, tags or KAZAKHSTAN_DIPLOMACY)
    render(story["id"], 1)
    return story["id"]


def give_up(delivery_id):
    """Its last attempt failed: a dead letter."""
    with db.session_scope() as session:
        session.exec(update(Delivery).where(Delivery.id == delivery_id).values(attempt_limit=1))
    out = delivery.claim([delivery_id], settings=get_settings())[delivery_id]
    assert delivery.record([delivery.Attempt(out, utcnow(), DOWN)], settings=get_settings()).outcomes == {
        delivery_id: "failed"
    }


def test_dead_letters_are_listed_and_redelivered_with_the_same_webhook_id(api):
    site = subscribe(api)
    story_id = publish(api)
    (row,) = deliveries(story_id)
    give_up(row.id)
    dead = api.admin.get("/v1/deliveries", params={"state": "failed"}).json()["items"]
    assert [d["id"] for d in dead] == [row.id] and dead[0]["attempts"][0]["error"] == "ConnectionRefusedError"
    again = api.admin.post(f"/v1/deliveries/{row.id}/redeliver")
    assert again.status_code == 202 and again.json()["state"] == "pending"
    assert api.sent.messages[-1] == ("delivery.send", [[row.id, site, 4]], 4)
    out = delivery.claim([row.id], settings=get_settings())[row.id]
    assert out.message_id == row.message_id and out.attempt_no == 2 and out.attempt_limit > 2
    assert api.admin.post("/v1/deliveries/nope/redeliver").status_code == 404


def test_a_withdrawn_delivery_is_never_redelivered(api):
    subscribe(api)
    story_id = publish(api)
    api.editor.post(f"/v1/stories/{story_id}/kill", json={"reason": "Legal"})
    (row,) = deliveries(story_id)
    answer = api.admin.post(f"/v1/deliveries/{row.id}/redeliver")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "withdrawn"


def test_replay_resends_what_it_had_and_sends_what_it_missed_while_disabled(api):
    site = subscribe(api, filters={"places": ["KZ"]})
    started = utcnow() - timedelta(seconds=1)
    first = publish(api)
    (row,) = deliveries(first)
    give_up(row.id)
    with db.session_scope() as session:  # disabled (it kept failing); later stories skip it
        session.exec(update(Subscriber).values(active=False, disabled_reason="failing"))
    second = publish(api)
    unwanted = publish(api, tags={"places": [{"name": "Paris", "code": "FR"}]})
    killed = publish(api)
    api.editor.post(f"/v1/stories/{killed}/kill", json={"reason": "Legal"})
    assert deliveries(second) == [] and deliveries(unwanted) == []
    api.admin.post(f"/v1/subscribers/{site}/enable")
    api.sent.messages.clear()
    done = api.admin.post(f"/v1/subscribers/{site}/replay", json={"since": isoformat(started)})
    assert done.status_code == 202 and done.json() == {"resent": 1, "created": 1}
    assert [d.message_id for d in deliveries(first)] == [row.message_id]  # the same webhook-id
    assert [d.state for d in deliveries(second)] == ["pending"]
    assert deliveries(unwanted) == [] and deliveries(killed) == []
    assert sorted(item for _, message, _ in api.sent.messages for item in message) == sorted(
        [[row.id, site, 4], [deliveries(second)[0].id, site, 4]]
    )


def test_replay_of_one_story_and_bad_ranges(api):
    site = subscribe(api)
    story_id = publish(api)
    mark_delivered(deliveries(story_id)[0].id)
    assert api.admin.post(f"/v1/subscribers/{site}/replay", json={"story_id": story_id}).json() == {
        "resent": 1,
        "created": 0,
    }
    for body in ({}, {"since": "2026-01-01T00:00:00"}):
        assert api.admin.post(f"/v1/subscribers/{site}/replay", json=body).status_code == 422
    assert api.admin.post("/v1/subscribers/nope/replay", json={"story_id": story_id}).status_code == 404


def test_delivery_listing_pages_with_filters(api):
    site = subscribe(api)
    stories = [publish(api) for _ in range(5)]
    page = api.admin.get(f"/v1/subscribers/{site}/deliveries", params={"limit": 2}).json()
    seen = [d["story_id"] for d in page["items"]]
    while page["next"]:
        page = api.admin.get(page["next"]).json()
        seen += [d["story_id"] for d in page["items"]]
    assert seen == list(reversed(stories))
    one = api.admin.get("/v1/deliveries", params={"story_id": stories[2]}).json()["items"]
    assert [d["story_id"] for d in one] == [stories[2]]
    assert api.admin.get("/v1/deliveries", params={"cursor": "bogus"}).status_code == 400


def test_nothing_of_a_killed_story_but_its_kill_and_nothing_out_of_order_is_sent_again(api):
    subscribe(api)
    killed = publish(api)
    mark_delivered(deliveries(killed)[0].id)
    api.editor.post(f"/v1/stories/{killed}/kill", json={"reason": "Legal"})
    answer = api.admin.post(f"/v1/deliveries/{deliveries(killed)[0].id}/redeliver")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "story_killed"
    assert deliveries(killed)[0].state == "delivered"  # its history is untouched
    story = publish(api)
    (first,) = deliveries(story)
    give_up(first.id)
    api.editor.put(f"/v1/stories/{story}", json={**STORY, "headline": "Kerry in Astana"})
    enrich(story, 2, KAZAKHSTAN_DIPLOMACY)
    render(story, 2)
    mark_delivered([d for d in deliveries(story) if d.version == 2][0].id)
    answer = api.admin.post(f"/v1/deliveries/{first.id}/redeliver")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "superseded"


def test_replay_sends_a_missed_correction_and_no_kill_to_a_site_that_never_had_the_story(api):
    site = subscribe(api, filters={"places": ["KZ"]})
    started = utcnow() - timedelta(seconds=1)
    with db.session_scope() as session:
        session.exec(update(Subscriber).values(active=False, disabled_reason="down"))
    story = publish(api)
    api.editor.post(f"/v1/stories/{story}/corrections", json={**STORY, "note": "Spelling"})
    enrich(story, 2, KAZAKHSTAN_DIPLOMACY)
    render(story, 2)
    never_had = publish(api)
    api.editor.post(f"/v1/stories/{never_had}/kill", json={"reason": "Legal"})
    render(never_had, 2)
    api.admin.post(f"/v1/subscribers/{site}/enable")
    done = api.admin.post(f"/v1/subscribers/{site}/replay", json={"since": isoformat(started)}).json()
    assert done == {"resent": 0, "created": 2}
    assert [d.version for d in deliveries(story)] == [1, 2]  # the story, then its correction
    assert deliveries(never_had) == []  # neither its content nor its kill
