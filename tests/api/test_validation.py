"""Bad input gets a clear 4xx JSON error, and stores and queues nothing."""

import pytest

from tests.api.conftest import count

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}
TABLES = ("story", "story_version", "outbox_event", "idempotency_record")


@pytest.fixture
def nothing_stored(api):
    before = [count(t) for t in TABLES]
    yield
    assert [count(t) for t in TABLES] == before
    assert api.sent.messages == []


INVALID_STORIES = [
    {"body_text": "no headline"},
    {"headline": "   ", "body_text": "blank headline"},
    {"headline": "No body"},
    {"headline": "Too urgent", "body_text": "x", "urgency": 0},
    {"headline": "Too calm", "body_text": "x", "urgency": 10},
    {"headline": "Naive embargo", "body_text": "x", "embargoed_until": "2030-01-01T00:00:00"},
    {"headline": "Unknown field", "body_text": "x", "priority": 1},
    {"headline": "Only a script", "body_html": "<script>alert(1)</script>"},
    {"headline": "NUL\u0000inside", "body_text": "x"},
    {"headline": "Far future", "body_text": "x", "embargoed_until": "9999-12-31T23:00:00-14:00"},
    {"headline": "Bad language", "body_text": "x", "language": "english please"},
    {"headline": "x" * 501, "body_text": "too long a headline"},
]


@pytest.mark.parametrize("body", INVALID_STORIES)
def test_invalid_story_is_refused(api, nothing_stored, body):
    answer = api.editor.post("/v1/stories", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"
    assert answer.json()["error"]["details"]


@pytest.fixture
def story(api):
    answer = api.editor.post("/v1/stories", json=STORY)
    assert answer.status_code == 202
    api.sent.messages.clear()
    return answer.json()


@pytest.mark.parametrize("body", INVALID_STORIES)
def test_invalid_update_is_refused(api, story, nothing_stored, body):
    answer = api.editor.put(f"/v1/stories/{story['id']}", json=body)
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    "path, body",
    [
        ("corrections", STORY),  # no note
        ("corrections", {**STORY, "note": "  "}),
        ("corrections", {**STORY, "note": "x" * 2001}),
        ("kill", {}),
        ("kill", {"reason": ""}),
        ("kill", {"reason": "legal", "extra": 1}),
    ],
)
def test_correction_needs_a_note_and_kill_a_reason(api, story, nothing_stored, path, body):
    answer = api.editor.post(f"/v1/stories/{story['id']}/{path}", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"]["details"]


def test_malformed_json_is_400(api, nothing_stored):
    answer = api.editor.post(
        "/v1/stories", content=b'{"headline": "oops",', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "malformed_json"


def test_body_over_limit_is_413(api, nothing_stored):
    answer = api.editor.post("/v1/stories", json={"headline": "Big", "body_text": "x" * 1_100_000})
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"


def test_body_over_limit_without_content_length_is_413(api, nothing_stored):
    def chunks():
        for _ in range(12):
            yield b"x" * 100_000

    answer = api.editor.post("/v1/stories", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_unknown_story_is_404_for_every_operation(api, nothing_stored):
    for method, path, body in [
        ("get", "/v1/stories/nope", None),
        ("put", "/v1/stories/nope", STORY),
        ("post", "/v1/stories/nope/corrections", {**STORY, "note": "n"}),
        ("post", "/v1/stories/nope/kill", {"reason": "r"}),
        ("put", "/v1/stories/nope/tags", {"add": []}),
        ("get", "/v1/stories/nope/versions", None),
        ("get", "/v1/stories/nope/versions/1", None),
        ("post", "/v1/stories/nope/versions/1/retry", None),
    ]:
        answer = api.editor.request(method, path, json=body)
        assert answer.status_code == 404, (method, path)
        assert answer.json()["error"]["code"] == "not_found"


def test_unknown_role_is_refused(api):
    before = count("api_key")
    answer = api.admin.post("/v1/keys", json={"name": "intern", "role": "superuser"})
    assert answer.status_code == 422
    assert count("api_key") == before


@pytest.mark.parametrize(
    "url",
    ["http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:9/hook", "ftp://example.com/"],
)
def test_internal_webhook_targets_are_refused(api, url):
    answer = api.admin.post("/v1/subscribers", json={"name": f"bad {url}", "url": url})
    assert answer.status_code == 422
    assert count("subscriber") == 0


def test_duplicate_subscriber_name_is_409(api):
    body = {"name": "site", "url": "http://127.0.0.1:9/hook"}
    assert api.admin.post("/v1/subscribers", json=body).status_code == 201
    answer = api.admin.post("/v1/subscribers", json=body)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "duplicate_name"
    assert count("subscriber") == 1
