"""What downstream sites get, on real parts: filters, corrections and kills to earlier
recipients, secret rotation verified with the standardwebhooks library, the pull feed across an
API restart, and a site that was down catching up with enable + replay."""

import threading
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.embedded_redis import free_port
from tests.integration.conftest import running_stack
from tests.support import LocalEndpoint, Receiver, wait_for

KERRY = {
    "headline": "Kerry meets ministers in Astana",
    "urgency": 5,
    "body_text": "US Secretary of State John Kerry met foreign ministers in Astana on Monday for talks on "
    "regional security.",
}
ARSENAL = {
    "headline": "Arsenal beat Chelsea in Premier League",
    "urgency": 2,
    "body_text": "Arsenal beat Chelsea 2-1 in the Premier League football match in London on Saturday.",
}
TOKYO = {
    "headline": "Earthquake hits Tokyo",
    "urgency": 5,
    "body_text": "A strong earthquake shook Tokyo, Japan on Monday, damaging buildings.",
}


def post(api, path, body, status=202):
    answer = api.post(path, json=body)
    assert answer.status_code == status, answer.text
    return answer.json()


def published(api, story, count):
    """Wait until the story's first ``count`` versions are rendered (their audience is fixed)."""
    wait_for(
        lambda: (
            [v["state"] for v in api.get(f"/v1/stories/{story['id']}/versions").json()][:count] == ["published"] * count
        ),
        timeout=60,
        what=f"{count} published version(s)",
    )


def publication_order(api, stories) -> list[str]:
    """The stories' URIs in the order their first versions were published."""
    at = {s["uri"]: api.get(f"/v1/stories/{s['id']}/versions").json()[0]["published_at"] for s in stories}
    return sorted(at, key=at.__getitem__)


def received(receiver, story):
    return [
        (e["event"]["data"]["version"], e["event"]["type"])
        for e in receiver.events()
        if e["event"]["data"]["uri"] == story["uri"]
    ]


def deliveries(stack, subscriber, story):
    with stack.client(stack.admin_key) as admin:
        return admin.get(f"/v1/subscribers/{subscriber['id']}/deliveries", params={"story_id": story["id"]}).json()[
            "items"
        ]


def test_filters_by_subject_place_urgency_and_type(stack):
    sites = {
        "politics": stack.subscribe(filters={"subjects": ["medtop:11000000"]}),  # diplomacy is narrower
        "kazakhstan": stack.subscribe(filters={"places": ["KZ"]}),
        "flash": stack.subscribe(filters={"urgency_max": 2}),
        "corrections": stack.subscribe(filters={"events": ["story.corrected"]}),
    }
    try:
        with stack.client(stack.editor_key) as api:
            kerry, arsenal, tokyo = (post(api, "/v1/stories", s) for s in (KERRY, ARSENAL, TOKYO))
            post(api, f"/v1/stories/{arsenal['id']}/corrections", {**ARSENAL, "note": "Score corrected"})
            for story, versions in ((kerry, 1), (arsenal, 2), (tokyo, 1)):
                published(api, story, versions)
        expected = {
            "politics": {kerry["uri"]: [("1", "story.published")]},
            "kazakhstan": {kerry["uri"]: [("1", "story.published")]},
            "flash": {arsenal["uri"]: [("1", "story.published"), ("2", "story.corrected")]},
            "corrections": {arsenal["uri"]: [("2", "story.corrected")]},
        }
        for name, (subscriber, receiver) in sites.items():
            want = expected[name]
            wait_for(
                lambda r=receiver, w=want: all(received(r, {"uri": u}) == v for u, v in w.items()),
                timeout=60,
                what=f"{name}'s stories",
            )
            for story in (kerry, arsenal, tokyo):
                if story["uri"] not in want:  # rendered already: no delivery was ever created for it
                    assert deliveries(stack, subscriber, story) == [], (name, story["uri"])
                    assert received(receiver, story) == []
    finally:
        for _subscriber, receiver in sites.values():
            receiver.stop()


def test_corrections_and_kills_reach_an_earlier_recipient_whose_filters_no_longer_match(stack):
    subscriber, receiver = stack.subscribe(filters={"places": ["KZ"]})
    try:
        with stack.client(stack.editor_key) as api:
            story = post(api, "/v1/stories", KERRY)
            wait_for(lambda: received(receiver, story), timeout=60, what="version 1")
            with stack.client(stack.admin_key) as admin:
                admin.patch(f"/v1/subscribers/{subscriber['id']}", json={"filters": {"places": ["FR"]}})
            api.put(f"/v1/stories/{story['id']}", json={**KERRY, "headline": "Kerry meets ministers in Astana, Almaty"})
            post(api, f"/v1/stories/{story['id']}/corrections", {**KERRY, "note": "Venue corrected"})
            wait_for(lambda: len(received(receiver, story)) == 2, timeout=60, what="the correction")
            post(api, f"/v1/stories/{story['id']}/kill", {"reason": "Legal"})  # once the correction is out
            wait_for(lambda: len(received(receiver, story)) == 3, timeout=60, what="the kill")
            published(api, story, 4)
        assert received(receiver, story) == [
            ("1", "story.published"),
            ("3", "story.corrected"),
            ("4", "story.killed"),
        ]  # not the update: filters say FR now
    finally:
        receiver.stop()


class RecordingEndpoint(LocalEndpoint):
    def __init__(self):
        self.requests: list[tuple[bytes, dict]] = []
        super().__init__(lambda body, headers: (self.requests.append((body, headers)), (200, {}))[1])


def test_rotation_old_and_new_secret_both_verify_during_the_overlap_and_only_the_new_after(stack):
    endpoint = RecordingEndpoint()
    try:
        with stack.client(stack.admin_key) as admin:
            site = post(admin, "/v1/subscribers", {"name": f"rotating-{endpoint.port}", "url": endpoint.url}, 201)
            rotated = post(admin, f"/v1/subscribers/{site['id']}/rotate-secret", {"overlap_seconds": 8}, 200)
        old, new = Webhook(site["secret"]), Webhook(rotated["secret"])
        with stack.client(stack.editor_key) as api:
            during = post(api, "/v1/stories", KERRY)
            wait_for(lambda: endpoint.requests, timeout=60, what="a delivery during the overlap")
            body, headers = endpoint.requests[0]
            assert len(headers["webhook-signature"].split()) == 2
            assert old.verify(body, headers)["data"]["uri"] == during["uri"]
            assert new.verify(body, headers)["data"]["uri"] == during["uri"]
            ends = datetime.fromisoformat(rotated["previous_secret_expires_at"])
            wait_for(lambda: datetime.now(UTC) > ends, timeout=30, what="the end of the overlap")
            after = post(api, "/v1/stories", TOKYO)
            wait_for(lambda: len(endpoint.requests) == 2, timeout=60, what="a delivery after the overlap")
        body, headers = endpoint.requests[1]
        assert new.verify(body, headers)["data"]["uri"] == after["uri"]
        with pytest.raises(WebhookVerificationError):
            old.verify(body, headers)
    finally:
        endpoint.close()


def test_a_feed_client_resumes_from_its_cursor_across_an_api_restart(stack):
    with stack.client(stack.admin_key) as admin:
        site = post(
            admin,
            "/v1/subscribers",
            {"name": f"feed-{free_port()}", "url": "http://127.0.0.1:9/unused", "filters": {"places": ["JP", "KZ"]}},
            201,
        )
        key = post(admin, f"/v1/subscribers/{site['id']}/keys", {}, 201)["key"]
    with stack.client(stack.editor_key) as api:
        before = [post(api, "/v1/stories", s) for s in (KERRY, TOKYO, KERRY)]
        for story in before:
            published(api, story, 1)
    seen: list[str] = []
    with stack.client(key) as feed:
        page = feed.get("/v1/feed", params={"limit": 2}).json()
        seen += [i["data"]["uri"] for i in page["items"]]
        cursor = page["next_cursor"]
    stack.kill("api")
    stack.restart("api")
    wait_for(stack._ready, timeout=60, what="the API after its restart")
    with stack.client(stack.editor_key) as api:
        after = [post(api, "/v1/stories", s) for s in (TOKYO, ARSENAL)]  # Arsenal is not for this site
        for story in after:
            published(api, story, 1)
    with stack.client(key) as feed:
        while True:
            page = feed.get("/v1/feed", params={"cursor": cursor, "limit": 2}).json()
            seen += [i["data"]["uri"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not page["items"]:
                break
        with stack.client(stack.editor_key) as api:  # the feed's order is the order of publication
            mine = publication_order(api, before + after[:1])
        assert [u for u in seen if u in {s["uri"] for s in before + after}] == mine  # each once, in order

        waited: dict = {}
        poll = threading.Thread(
            target=lambda: waited.update(feed.get("/v1/feed", params={"cursor": cursor, "wait": 25}, timeout=40).json())
        )
        poll.start()
        with stack.client(stack.editor_key) as api:
            late = post(api, "/v1/stories", TOKYO)
        poll.join(40)
    assert [i["data"]["uri"] for i in waited["items"]] == [late["uri"]]  # the long-poll answered with it


@pytest.fixture(scope="module")
def impatient_stack(tmp_path_factory):
    """Few attempts, and a subscriber that keeps failing for a second is disabled."""
    extra = {"NEWSWIRE_DELIVERY_MAX_ATTEMPTS": "3", "NEWSWIRE_SUBSCRIBER_DISABLE_AFTER_SECONDS": "1"}
    yield from running_stack("sqlite", tmp_path_factory.mktemp("impatient"), extra_env=extra)


def test_a_site_down_for_the_whole_retry_window_catches_up_with_enable_and_replay(impatient_stack):
    stack = impatient_stack
    port = free_port()  # nothing listens here yet
    started = datetime.now(UTC).isoformat()
    with stack.client(stack.admin_key) as admin:
        site = post(admin, "/v1/subscribers", {"name": "down", "url": f"http://127.0.0.1:{port}/webhooks"}, 201)
        path = f"/v1/subscribers/{site['id']}"
        with stack.client(stack.editor_key) as api:
            first = post(api, "/v1/stories", KERRY)
            wait_for(lambda: admin.get(path).json()["active"] is False, timeout=60, what="the site to be disabled")
            assert "failed" in admin.get(path).json()["disabled_reason"]
            # Its last try fails the delivery and disables the site (failing for over a second);
            # on a busy machine whose tries spread wider the site is disabled at an earlier try,
            # and the delivery is held pending for it instead: both end with the site catching up.
            (state,) = wait_for(
                lambda: [d["state"] for d in deliveries(stack, site, first) if d["state"] in ("failed", "pending")],
                timeout=30,
                what="the delivery to fail or be held",
            )
            held = state == "pending"
            second = post(api, "/v1/stories", TOKYO)  # goes out while the site is disabled
            published(api, second, 1)
        receiver = Receiver(stack, site["secret"], port)  # the site is back
        try:
            assert admin.post(f"{path}/enable").status_code == 200
            replayed = post(admin, f"{path}/replay", {"since": started})
            assert replayed == {"resent": 0 if held else 1, "created": 1}  # a held delivery goes on enable
            wait_for(lambda: received(receiver, first) and received(receiver, second), timeout=60, what="the catch-up")
            post(admin, f"{path}/replay", {"since": started})  # twice: the site dedupes on webhook-id
            wait_for(
                lambda: len([d for d in deliveries(stack, site, first) if d["state"] == "delivered"]) == 1,
                timeout=60,
                what="the second replay",
            )
            assert received(receiver, first) == [("1", "story.published")]
            assert received(receiver, second) == [("1", "story.published")]
        finally:
            receiver.stop()
