"""``body_html`` is sanitised once per filed story, off the event loop, and a body nested past
the limit is refused before the sanitiser ever reads it (its time grows with the depth)."""

import asyncio

import nh3
import pytest

from services.ingest.stories.service import MAX_HTML_DEPTH
from tests.api.conftest import count

TABLES = ("story", "story_version", "outbox_event", "idempotency_record")


@pytest.fixture
def sanitiser_calls(monkeypatch):
    """Each call of the sanitiser (nh3), with whether an event loop was running in its thread."""
    calls = []
    clean = nh3.clean

    def counted(*args, **kwargs):
        try:
            asyncio.get_running_loop()
            calls.append("on the event loop")
        except RuntimeError:
            calls.append("in a worker thread")
        return clean(*args, **kwargs)

    monkeypatch.setattr(nh3, "clean", counted)
    return calls


def nested(depth: int, tag: str = "div") -> str:
    return f"<{tag}>" * depth + "Kerry arrived in Tajikistan." + f"</{tag}>" * depth


def test_a_body_nested_40000_deep_is_refused_before_it_is_sanitised(api, sanitiser_calls):
    before = [count(t) for t in TABLES]
    body = {"headline": "Deep", "body_html": "<div>" * 40_000 + "x"}
    answer = api.editor.post("/v1/stories", json=body)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert f"more than {MAX_HTML_DEPTH} levels deep" in error["message"]
    assert error["details"] == [{"field": "body_html", "message": error["message"]}]
    assert sanitiser_calls == []
    assert [count(t) for t in TABLES] == before and api.sent.messages == []


@pytest.mark.parametrize(
    "body_html",
    [
        nested(MAX_HTML_DEPTH + 1, "span"),
        "<ul><li>" * (MAX_HTML_DEPTH // 2 + 1) + "x",
        '<div title="</div>">' * (MAX_HTML_DEPTH + 1) + "x",  # an end tag in an attribute ends nothing
        "<div><!-- </div> -->" * (MAX_HTML_DEPTH + 1) + "x",  # nor does one in a comment
        "<b><div></b>" * MAX_HTML_DEPTH + "x",  # misnested: the parser keeps the div open
    ],
)
def test_deep_bodies_of_every_shape_are_refused(api, sanitiser_calls, body_html):
    answer = api.editor.post("/v1/stories", json={"headline": "Deep", "body_html": body_html})
    assert answer.status_code == 422
    assert "levels deep" in answer.json()["error"]["message"]
    assert sanitiser_calls == []


def test_a_body_nested_50_deep_is_accepted_and_sanitised_once(api, sanitiser_calls):
    answer = api.editor.post("/v1/stories", json={"headline": "Nested", "body_html": nested(50)})
    assert answer.status_code == 202, answer.text
    assert sanitiser_calls == ["in a worker thread"]
    story = api.editor.get(f"/v1/stories/{answer.json()['id']}").json()
    assert story["body_html"] == nested(50)


def test_every_filing_sanitises_its_body_once_off_the_event_loop(api, sanitiser_calls):
    body = {"headline": "Kerry lands", "body_html": "<p>Kerry <b>arrived</b>.</p><script>x()</script>"}
    story = api.editor.post("/v1/stories", json=body, headers={"Idempotency-Key": "html-1"}).json()
    path = f"/v1/stories/{story['id']}"
    assert api.editor.put(path, json={**body, "headline": "Kerry has landed"}).status_code == 202
    correction = {**body, "body_html": "<p>Kerry <i>arrived</i>.</p>", "note": "Emphasis"}
    assert api.editor.post(f"{path}/corrections", json=correction).status_code == 202
    assert sanitiser_calls == ["in a worker thread"] * 3
    assert api.editor.get(path).json()["body_html"] == "<p>Kerry <i>arrived</i>.</p>"


def test_a_body_with_no_text_left_is_still_refused_with_details(api, sanitiser_calls):
    answer = api.editor.post("/v1/stories", json={"headline": "Script", "body_html": "<script>alert(1)</script>"})
    assert answer.status_code == 422
    assert answer.json()["error"]["details"] == [
        {"field": "body_html", "message": "body_html has no text once unsafe markup is removed"}
    ]
    assert sanitiser_calls == ["in a worker thread"]
