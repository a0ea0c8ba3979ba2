"""Ids that cannot exist (a NUL byte, control characters, hundreds of characters) get a clean
4xx from every route that takes one, on SQLite and on PostgreSQL (which cannot even compare a
NUL byte); so does a webhook URL whose host name cannot be looked up."""

import re

import pytest

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}
#: A valid body for each route that takes one, so that only the id can be wrong.
BODIES = {
    ("PUT", "/v1/stories/{story_id}"): STORY,
    ("POST", "/v1/stories/{story_id}/corrections"): {**STORY, "note": "n"},
    ("POST", "/v1/stories/{story_id}/kill"): {"reason": "r"},
    ("PUT", "/v1/stories/{story_id}/tags"): {"add": []},
    ("PATCH", "/v1/subscribers/{subscriber_id}"): {"name": "renamed"},
    ("POST", "/v1/subscribers/{subscriber_id}/replay"): {"story_id": "0" * 32},
}
IMPOSSIBLE_IDS = ["%00", "a%00b", "%01", "%7F", "x" * 65]


def routes_with_ids(app):
    for path, operations in app.openapi()["paths"].items():
        if "{" in path:
            for method in operations:
                yield method.upper(), path


def test_every_route_refuses_ids_that_cannot_exist(either):
    routes = list(routes_with_ids(either.admin.app))
    assert len(routes) >= 16
    for method, path in routes:
        for bad in IMPOSSIBLE_IDS:
            url = re.sub(r"\{number\}", "1", path)
            url = re.sub(r"\{\w+\}", bad, url)
            answer = either.admin.request(method, url, json=BODIES.get((method, path)))
            assert answer.status_code in (404, 422), (method, url[:80], answer.status_code, answer.text[:200])
            assert answer.json()["error"]["code"] in ("not_found", "invalid_request")


@pytest.mark.parametrize(
    "url",
    [
        "/v1/stories?q=%00",
        "/v1/deliveries?story_id=%00",
        "/v1/deliveries?subscriber_id=%00",
        "/v1/stories/x/versions/9999999999",
    ],
)
def test_query_filters_and_numbers_that_cannot_exist(either, url):
    answer = either.admin.get(url)
    assert answer.status_code == 422, answer.text


def test_a_host_name_label_over_63_characters_is_a_clear_422(either):
    url = f"http://{'a' * 64}.example.com/hook"
    answer = either.admin.post("/v1/subscribers", json={"name": "long label", "url": url})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "webhook_target_refused"
    assert "1 to 63 characters" in answer.json()["error"]["message"]
    created = either.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/hook"}).json()
    answer = either.admin.patch(f"/v1/subscribers/{created['id']}", json={"url": url})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "webhook_target_refused"
