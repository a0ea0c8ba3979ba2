"""Request fields take the JSON type they document and nothing it could be coerced from: a
boolean is not an urgency or a number of seconds, a number is not a time, 1 is not true."""

import pytest

from tests.api.conftest import count

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}


@pytest.mark.parametrize(
    "field, value",
    [
        ("urgency", True),
        ("urgency", "1"),
        ("urgency", 1.0),
        ("embargoed_until", 1_900_000_000),
        ("embargoed_until", "1900000000"),
        ("embargoed_until", True),
        ("embargoed_until", "2030-01-01"),
    ],
)
def test_story_fields_take_no_coerced_values(api, field, value):
    answer = api.editor.post("/v1/stories", json={**STORY, field: value})
    assert answer.status_code == 422, answer.text
    assert [d["field"] for d in answer.json()["error"]["details"]] == [field]
    story = api.editor.post("/v1/stories", json=STORY).json()
    assert api.editor.put(f"/v1/stories/{story['id']}", json={**STORY, field: value}).status_code == 422
    assert count("story_version") == 1


def test_the_documented_forms_are_taken(api):
    body = {**STORY, "urgency": 1, "embargoed_until": "2030-01-01T09:00:00+01:00"}
    story = api.editor.post("/v1/stories", json=body)
    assert story.status_code == 202, story.text
    stored = api.editor.get(f"/v1/stories/{story.json()['id']}").json()
    assert stored["urgency"] == 1 and stored["embargoed_until"].startswith("2030-01-01T08:00:00")


@pytest.mark.parametrize("query", ["since=1900000000", "until=1900000000", "since=2026-11-28"])
def test_list_filters_take_times_as_text_with_an_offset(api, query):
    assert api.editor.get(f"/v1/stories?{query}").status_code == 422
    assert api.editor.get("/v1/stories?since=2026-11-28T00:00:00Z").status_code == 200


@pytest.fixture
def subscriber(api):
    answer = api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/hook"})
    assert answer.status_code == 201
    return {name: value for name, value in answer.json().items() if name != "secret"}


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("patch", "", {"active": 0}),
        ("patch", "", {"active": "false"}),
        ("patch", "", {"filters": {"urgency_max": True}}),
        ("post", "/rotate-secret", {"overlap_seconds": True}),
        ("post", "/rotate-secret", {"overlap_seconds": "60"}),
        ("post", "/replay", {"since": 1_700_000_000}),
    ],
)
def test_subscriber_fields_take_no_coerced_values(api, subscriber, method, path, body):
    answer = api.admin.request(method, f"/v1/subscribers/{subscriber['id']}{path}", json=body)
    assert answer.status_code == 422, answer.text
    assert api.admin.get(f"/v1/subscribers/{subscriber['id']}").json() == subscriber


def test_a_new_subscriber_takes_a_strict_urgency_filter(api):
    body = {"name": "flash only", "url": "http://127.0.0.1:9/hook", "filters": {"urgency_max": True}}
    assert api.admin.post("/v1/subscribers", json=body).status_code == 422
    body["filters"]["urgency_max"] = 1
    assert api.admin.post("/v1/subscribers", json=body).status_code == 201
