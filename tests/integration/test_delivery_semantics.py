"""Retries, Retry-After, 410 and redirects against real HTTP endpoints on 127.0.0.1."""

from tests.support import SlowEndpoint, wait_for


def post_story(stack, headline):
    with stack.client(stack.editor_key) as api:
        answer = api.post("/v1/stories", json={"headline": headline, "body_text": "Talks in Bishkek."})
    assert answer.status_code == 202
    return answer.json()


def deliveries(stack, subscriber_id, story_id):
    with stack.client(stack.admin_key) as admin:
        return admin.get(f"/v1/subscribers/{subscriber_id}/deliveries", params={"story_id": story_id}).json()["items"]


def test_503_with_retry_after_is_retried_with_the_same_webhook_id(stack, endpoint_factory):
    endpoint = endpoint_factory([(503, {"Retry-After": "1"}), (500, {})])
    story = post_story(stack, "Retried story")
    delivered = wait_for(
        lambda: [d for d in deliveries(stack, endpoint.subscriber_id, story["id"]) if d["state"] == "delivered"],
        timeout=60,
        what="delivery after two failures",
    )[0]
    assert [a["status_code"] for a in delivered["attempts"]] == [503, 500, 200]
    ids = {r["headers"]["webhook-id"] for r in endpoint.requests}
    assert ids == {delivered["message_id"]}
    assert all(r["verified"] for r in endpoint.requests)


def test_410_disables_the_subscriber(stack, endpoint_factory):
    endpoint = endpoint_factory([(410, {})])
    story = post_story(stack, "Gone endpoint")
    failed = wait_for(
        lambda: [d for d in deliveries(stack, endpoint.subscriber_id, story["id"]) if d["state"] == "failed"],
        timeout=60,
        what="the 410 to fail the delivery",
    )[0]
    assert [a["status_code"] for a in failed["attempts"]] == [410]
    with stack.client(stack.admin_key) as admin:
        subs = {s["id"]: s for s in admin.get("/v1/subscribers").json()}
    assert subs[endpoint.subscriber_id]["active"] is False
    assert "410" in subs[endpoint.subscriber_id]["disabled_reason"]


def test_redirect_is_a_failure_and_is_not_followed(stack, endpoint_factory):
    endpoint = endpoint_factory([(302, {"Location": "http://127.0.0.1:9/elsewhere"})])
    story = post_story(stack, "Redirected story")
    delivered = wait_for(
        lambda: [d for d in deliveries(stack, endpoint.subscriber_id, story["id"]) if d["state"] == "delivered"],
        timeout=60,
        what="delivery after the redirect",
    )[0]
    assert [a["status_code"] for a in delivered["attempts"]] == [302, 200]
    assert len(endpoint.requests) == 2  # the redirect target was never asked


def test_an_answer_full_of_nul_bytes_is_recorded_and_the_delivery_done(stack):
    """PostgreSQL cannot store NUL: before excerpts were cleaned, such an answer could not be
    recorded and the delivery was sent again every two minutes for ever."""
    endpoint = SlowEndpoint("gzip")
    try:
        with stack.client(stack.admin_key) as admin:
            site = admin.post("/v1/subscribers", json={"name": f"gzip-{endpoint.port}", "url": endpoint.url}).json()
        story = post_story(stack, "Compressed answer")
        (done,) = wait_for(
            lambda: [d for d in deliveries(stack, site["id"], story["id"]) if d["state"] == "delivered"],
            timeout=60,
            what="the delivery to be recorded",
        )
        assert [a["status_code"] for a in done["attempts"]] == [200]
        assert "\x00" not in done["attempts"][0]["response_excerpt"]
        assert endpoint.opened == 1  # recorded once, never sent again
    finally:
        endpoint.close()
