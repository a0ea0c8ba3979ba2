"""Every response names its request: the caller's X-Request-ID when usable, a new one otherwise;
the request's log lines carry it."""

import logging

from shared import logs

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}


def test_a_given_request_id_comes_back_and_is_on_the_requests_lines(api, caplog):
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(logs.ContextFilter())  # as on the processes' own handler
    answer = api.editor.post("/v1/stories", json=STORY, headers={"X-Request-ID": "desk-42.a"})
    assert answer.status_code == 202 and answer.headers["x-request-id"] == "desk-42.a"
    story_id = answer.json()["id"]
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == "desk-42.a"]
    filed = [r for r in mine if r.getMessage() == "story filed"]
    assert filed and filed[0].story_id == story_id and filed[0].version == 1
    done = [r for r in mine if r.getMessage() == "request"]
    assert [(r.method, r.path, r.status_code) for r in done] == [("POST", "/v1/stories", 202)]


def test_without_a_usable_one_each_request_gets_its_own(api):
    first, second = api.editor.get("/v1/stories"), api.anonymous.get("/v1/stories")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert second.status_code == 401 and len(second.headers["x-request-id"]) == 32
    odd = api.editor.get("/v1/stories", headers={"X-Request-ID": "no spaces or <tags> please"})
    assert odd.headers["x-request-id"] != "no spaces or <tags> please"
    assert len(odd.headers.get_list("x-request-id")) == 1
