"""An embargoed story is held in the database until its time, then released by the scheduler."""

from datetime import UTC, datetime, timedelta

from tests.support import wait_for


def test_embargoed_story_is_held_then_released(stack, site):
    _subscriber, receiver = site
    until = datetime.now(UTC) + timedelta(seconds=8)
    with stack.client(stack.editor_key) as api:
        answer = api.post(
            "/v1/stories",
            json={
                "headline": "Embargoed results",
                "body_text": "Figures from Astana.",
                "embargoed_until": until.isoformat(),
            },
        )
        assert answer.status_code == 202
        story = answer.json()
        assert story["status"] == "embargoed"
        held = wait_for(
            lambda: (lambda v: v if v["state"] == "embargoed" else None)(api.get(f"/v1/stories/{story['id']}").json()),
            timeout=30,
            what="the story to be parked",
        )
        assert held["pubstatus"] == "withheld"
        assert datetime.now(UTC) < until, "the pipeline was too slow to observe the hold"
        assert not any(e["event"]["data"]["uri"] == story["uri"] for e in receiver.events())

        event = wait_for(
            lambda: next((e["event"] for e in receiver.events() if e["event"]["data"]["uri"] == story["uri"]), None),
            timeout=60,
            what="the released story",
        )
    assert datetime.now(UTC) >= until
    assert event["data"]["pubStatus"] == "usable"
    assert event["data"]["embargoedUntil"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S"))
