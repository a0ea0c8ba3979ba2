"""Bad input gets a clear 4xx JSON error and stores nothing."""

import pytest


@pytest.fixture
def stories_unchanged(stack):
    before = (stack.count("story"), stack.count("story_version"), stack.count("outbox_event"))
    yield
    assert (stack.count("story"), stack.count("story_version"), stack.count("outbox_event")) == before


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"body_text": "no headline"}, 422, "invalid_request"),
        ({"headline": "   ", "body_text": "blank headline"}, 422, "invalid_request"),
        ({"headline": "No body"}, 422, "invalid_request"),
        ({"headline": "Too urgent", "body_text": "x", "urgency": 0}, 422, "invalid_request"),
        ({"headline": "Too calm", "body_text": "x", "urgency": 10}, 422, "invalid_request"),
        ({"headline": "Naive embargo", "body_text": "x", "embargoed_until": "2030-01-01T00:00:00"}, 422,
         "invalid_request"),
        ({"headline": "Unknown field", "body_text": "x", "priority": 1}, 422, "invalid_request"),
        ({"headline": "Only a script", "body_html": "<script>alert(1)</script>"}, 422, "invalid_request"),
        ({"headline": "NUL\u0000inside", "body_text": "x"}, 422, "invalid_request"),
        ({"headline": "Far future", "body_text": "x", "embargoed_until": "9999-12-31T23:00:00-14:00"}, 422,
         "invalid_request"),
    ],
)
def test_invalid_story_is_refused(stack, stories_unchanged, body, status, code):
    with stack.client(stack.editor_key) as api:
        answer = api.post("/v1/stories", json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["details"]


def test_malformed_json_is_400(stack, stories_unchanged):
    with stack.client(stack.editor_key) as api:
        answer = api.post("/v1/stories", content=b'{"headline": "oops",', headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "malformed_json"


def test_body_over_limit_is_413(stack, stories_unchanged):
    huge = {"headline": "Big", "body_text": "x" * 1_100_000}
    with stack.client(stack.editor_key) as api:
        answer = api.post("/v1/stories", json=huge)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"


def test_body_over_limit_without_content_length_is_413(stack, stories_unchanged):
    def chunks():
        for _ in range(12):
            yield b"x" * 100_000

    with stack.client(stack.editor_key) as api:
        answer = api.post("/v1/stories", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_no_key_is_401_and_wrong_role_is_403(stack, stories_unchanged):
    with stack.client() as anonymous:
        assert anonymous.post("/v1/stories", json={"headline": "h", "body_text": "b"}).status_code == 401
    with stack.client("nw_not-a-real-key") as forged:
        assert forged.post("/v1/stories", json={"headline": "h", "body_text": "b"}).status_code == 401
    with stack.client(stack.editor_key) as editor:
        answer = editor.post("/v1/subscribers", json={"name": "x", "url": "https://example.com/hook"})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "forbidden"


def test_unknown_role_is_refused(stack):
    before = stack.count("api_key")
    with stack.client(stack.admin_key) as admin:
        answer = admin.post("/v1/keys", json={"name": "intern", "role": "superuser"})
    assert answer.status_code == 422
    assert stack.count("api_key") == before


def test_unknown_story_is_404(stack):
    with stack.client(stack.editor_key) as api:
        answer = api.get("/v1/stories/does-not-exist")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "url",
    ["http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:9/hook", "ftp://example.com/"],
)
def test_internal_webhook_targets_are_refused(stack, url):
    before = stack.count("subscriber")
    with stack.client(stack.admin_key) as admin:
        answer = admin.post("/v1/subscribers", json={"name": f"bad {url}", "url": url})
    assert answer.status_code == 422
    assert stack.count("subscriber") == before
