"""Retries, Retry-After, 410 and redirects against real HTTP endpoints on 127.0.0.1."""

import pytest
from standardwebhooks.webhooks import Webhook

from tests.support import LocalEndpoint, wait_for


class ScriptedEndpoint(LocalEndpoint):
    """A webhook endpoint that answers from a script: one (status, headers) per request, then 200."""

    def __init__(self, script: list[tuple[int, dict]]):
        self.script = list(script)
        self.requests: list[dict] = []
        self.secret: str | None = None
        super().__init__(self.respond)

    def respond(self, body: bytes, headers: dict) -> tuple[int, dict]:
        verified = Webhook(self.secret).verify(body, headers) is not None
        self.requests.append({"headers": headers, "verified": verified})
        return self.script.pop(0) if self.script else (200, {})


@pytest.fixture
def endpoint_factory(stack):
    made = []

    def make(script):
        endpoint = ScriptedEndpoint(script)
        with stack.client(stack.admin_key) as admin:
            answer = admin.post("/v1/subscribers", json={"name": f"scripted-{endpoint.port}", "url": endpoint.url})
        assert answer.status_code == 201, answer.text
        endpoint.secret = answer.json()["secret"]
        endpoint.subscriber_id = answer.json()["id"]
        made.append(endpoint)
        return endpoint

    yield make
    for endpoint in made:
        endpoint.close()


def post_story(stack, headline):
    with stack.client(stack.editor_key) as api:
        answer = api.post("/v1/stories", json={"headline": headline, "body_text": "Talks in Bishkek."})
    assert answer.status_code == 202
    return answer.json()


def deliveries(stack, subscriber_id, story_id):
    with stack.client(stack.admin_key) as admin:
        return [d for d in admin.get(f"/v1/subscribers/{subscriber_id}/deliveries").json() if d["story_id"] == story_id]


def test_503_with_retry_after_is_retried_with_the_same_webhook_id(stack, endpoint_factory):
    endpoint = endpoint_factory([(503, {"Retry-After": "1"}), (500, {})])
    story = post_story(stack, "Retried story")
    delivered = wait_for(
        lambda: [d for d in deliveries(stack, endpoint.subscriber_id, story["id"]) if d["state"] == "delivered"],
        timeout=60, what="delivery after two failures",
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
        timeout=60, what="the 410 to fail the delivery",
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
        timeout=60, what="delivery after the redirect",
    )[0]
    assert [a["status_code"] for a in delivered["attempts"]] == [302, 200]
    assert len(endpoint.requests) == 2  # the redirect target was never asked
