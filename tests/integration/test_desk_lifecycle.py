"""A news day on real parts: updates, corrections and kills reach the right subscribers, in
order, through real Redis, workers and receivers; a version that cannot go out fails visibly
and goes out once retried."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.support import wait_for

STORY = {
    "headline": "Kerry visits Astana",
    "body_text": "US Secretary of State John Kerry met ministers in Astana.",
    "slugline": "Kerry-Astana",
}


def versions_at(receiver, story):
    """(version, type) of each event the reference receiver verified for the story, in arrival order."""
    return [
        (e["event"]["data"]["version"], e["event"]["type"])
        for e in receiver.events()
        if e["event"]["data"]["uri"] == story["uri"]
    ]


def events_at(endpoint, story):
    return [e for e in endpoint.accepted() if e["data"]["uri"] == story["uri"]]


def post(api, path, body, status=202):
    answer = api.post(path, json=body)
    assert answer.status_code == status, answer.text
    return answer.json()


def test_an_update_and_a_correction_arrive_as_versions_2_and_3_in_order(stack, site):
    _subscriber, receiver = site
    with stack.client(stack.editor_key) as api:
        story = post(api, "/v1/stories", STORY)
        wait_for(lambda: versions_at(receiver, story), timeout=60, what="version 1")
        path = f"/v1/stories/{story['id']}"
        assert api.put(path, json={**STORY, "body_text": STORY["body_text"] + " Talks went on."}).status_code == 202
        post(
            api,
            f"{path}/corrections",
            {
                **STORY,
                "body_text": "John Kerry met ministers in Astana on Monday.",
                "note": "Corrects the day of the meeting",
            },
        )
        wait_for(lambda: len(versions_at(receiver, story)) == 3, timeout=60, what="versions 2 and 3")
        assert versions_at(receiver, story) == [
            ("1", "story.published"),
            ("2", "story.updated"),
            ("3", "story.corrected"),
        ]
        corrected = [e["event"]["data"] for e in receiver.events() if e["event"]["data"]["uri"] == story["uri"]][2]
        assert corrected["edNote"] == "Corrects the day of the meeting"
        assert corrected["bodies"][0]["value"] == "John Kerry met ministers in Astana on Monday."
        assert api.get(f"{path}/versions/3").json() == corrected  # the ninjs as sent
        history = api.get(f"{path}/versions").json()
        assert [(v["kind"], v["state"], v["filed_by"]) for v in history] == [
            ("original", "published", "test editor"),
            ("update", "published", "test editor"),
            ("correction", "published", "test editor"),
        ]


def test_a_kill_reaches_every_earlier_recipient_and_nobody_else(stack, endpoint_factory):
    first, second, going_away = endpoint_factory(), endpoint_factory(), endpoint_factory()
    with stack.client(stack.editor_key) as api:
        story = post(api, "/v1/stories", STORY)
        path = f"/v1/stories/{story['id']}"
        wait_for(
            lambda: all(events_at(e, story) for e in (first, second, going_away)),
            timeout=60,
            what="version 1 at every subscriber",
        )
        going_away.script = [(410, {})]  # answers the update with 410 Gone: it is disabled
        api.put(path, json={**STORY, "headline": "Kerry visits Astana and Bishkek"})
        post(api, f"{path}/corrections", {**STORY, "headline": "Kerry visits Astana", "note": "Bishkek leg cancelled"})
        wait_for(
            lambda: len(events_at(first, story)) == 3 and len(events_at(second, story)) == 3,
            timeout=60,
            what="versions 2 and 3 at the active subscribers",
        )
        late = endpoint_factory()  # subscribed after version 3 went out, before the kill
        post(api, f"{path}/kill", {"reason": "Legal: the meeting did not take place"})
        for endpoint in (first, second):
            wait_for(lambda e=endpoint: len(events_at(e, story)) == 4, timeout=60, what="the kill")
            kill = events_at(endpoint, story)[3]
            assert kill["type"] == "story.killed" and kill["data"]["version"] == "4"
            assert kill["data"]["pubStatus"] == "canceled"
            assert kill["data"]["edNote"] == "Legal: the meeting did not take place"
        with stack.client(stack.admin_key) as admin:
            # The kill was rendered (two sites have it): its audience is fixed, and it left out the late subscriber.
            assert [
                d
                for d in admin.get(f"/v1/subscribers/{late.subscriber_id}/deliveries").json()["items"]
                if d["story_id"] == story["id"]
            ] == []
            held = wait_for(
                lambda: [
                    d
                    for d in admin.get(f"/v1/subscribers/{going_away.subscriber_id}/deliveries").json()["items"]
                    if d["story_id"] == story["id"] and d["version"] == 4
                ],
                timeout=30,
                what="the kill held for the disabled subscriber",
            )
            assert held[0]["state"] == "pending"
            assert [e["data"]["version"] for e in events_at(going_away, story)] == ["1"]
            assert admin.post(f"/v1/subscribers/{going_away.subscriber_id}/enable").status_code == 200
        wait_for(lambda: len(events_at(going_away, story)) == 2, timeout=60, what="the kill after re-enabling")
        assert events_at(going_away, story)[1]["type"] == "story.killed"
        assert events_at(late, story) == []
        refused = api.put(path, json=STORY)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "story_killed"
        assert api.post(f"{path}/corrections", json={**STORY, "note": "n"}).status_code == 409


def test_a_kill_during_embargo_sends_nothing_to_anyone(stack, site):
    _subscriber, receiver = site
    until = datetime.now(UTC) + timedelta(seconds=6)
    with stack.client(stack.editor_key) as api:
        story = post(api, "/v1/stories", {**STORY, "embargoed_until": until.isoformat()})
        path = f"/v1/stories/{story['id']}"
        wait_for(lambda: api.get(path).json()["state"] == "embargoed", timeout=30, what="the story to be parked")
        post(api, f"{path}/kill", {"reason": "Story dropped"})
        wait_for(
            lambda: api.get(f"{path}/versions").json()[-1]["state"] == "published",
            timeout=60,
            what="the kill to be rendered",
        )
        # A story filed after the embargo time has arrived: the release sweep has run past it.
        wait_for(lambda: datetime.now(UTC) > until, timeout=30, what="the embargo time")
        marker = post(api, "/v1/stories", {"headline": "Marker", "body_text": "After the embargo."})
        wait_for(lambda: versions_at(receiver, marker), timeout=60, what="the marker story")
        assert versions_at(receiver, story) == []
        assert [v["state"] for v in api.get(f"{path}/versions").json()] == ["withdrawn", "published"]
    with stack.client(stack.admin_key) as admin:
        assert not [
            d
            for s in admin.get("/v1/subscribers").json()
            for d in admin.get(f"/v1/subscribers/{s['id']}/deliveries").json()["items"]
            if d["story_id"] == story["id"]
        ]


def tries(stack, story) -> int:
    with stack.engine.connect() as conn:
        query = "SELECT tries FROM story_version WHERE story_id = :id AND version = 1"
        return conn.execute(sa.text(query), {"id": story["id"]}).scalar_one()


def test_a_story_that_kills_its_worker_fails_visibly_and_goes_out_when_retried(stack, site, seed_story):
    """The worker's pool process is SIGKILLed (as by the OOM killer) while it tags the story, twice;
    Celery hands the message to a new pool process each time, and the third take-up (over
    NEWSWIRE_MAX_TRIES=2) fails the version instead of looping."""
    _subscriber, receiver = site
    long_story = {**STORY, "body_text": "\n\n".join([seed_story["body_text"]] * 8)}  # seconds of tagging
    with stack.client(stack.editor_key) as api:
        story = post(api, "/v1/stories", long_story)
        path = f"/v1/stories/{story['id']}"
        for attempt in (1, 2):
            wait_for(lambda n=attempt: tries(stack, story) >= n, timeout=60, interval=0.02, what=f"take-up {attempt}")
            assert stack.kill_pool_processes("enrichment"), "no pool process to kill"
        failed = wait_for(
            lambda: (lambda v: v if v["status"] == "failed" else None)(api.get(path).json()),
            timeout=60,
            what="the version to fail",
        )
        entry = [t for t in failed["timeline"] if t["event"] == "failed"][0]
        assert "took up its stored step 2 times and never finished" in entry["detail"]
        listed = api.get("/v1/stories", params={"status": "failed"}).json()["items"]
        assert story["id"] in [s["id"] for s in listed]
        assert versions_at(receiver, story) == []

        assert api.post(f"{path}/versions/1/retry").status_code == 202
        wait_for(lambda: versions_at(receiver, story), timeout=90, what="the retried version")
        assert api.get(path).json()["status"] == "published"


def test_a_revoked_key_gets_401_on_its_next_request(stack):
    with stack.client(stack.admin_key) as admin:
        created = admin.post("/v1/keys", json={"name": "stringer", "role": "editor"}).json()
        with stack.client(created["key"]) as stringer:
            assert stringer.get("/v1/stories", params={"limit": 1}).status_code == 200
            assert admin.delete(f"/v1/keys/{created['id']}").status_code == 204
            answer = stringer.get("/v1/stories", params={"limit": 1})
        assert answer.status_code == 401
        listed = {k["id"]: k for k in admin.get("/v1/keys").json()}[created["id"]]
        assert listed["revoked_at"] and listed["last_used_at"]
