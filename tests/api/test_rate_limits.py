"""Rate limits: per key, and per client address for requests without a valid key. Past a limit
the answer is 429 with Retry-After (whole seconds), and the request does nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shared.config import Settings, get_settings
from tests.api.conftest import Sent, count, make_key

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}
TABLES = ("story", "story_version", "outbox_event", "idempotency_record", "api_key")
PER_KEY, PER_ADDRESS = 3, 4


@dataclass
class Limited:
    """An app with small limits, and a client on it for any key and address."""

    app: object
    sent: Sent

    def client(self, key: str | None = None, address: str = "203.0.113.5") -> TestClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return TestClient(self.app, headers=headers, client=(address, 50000), raise_server_exceptions=False)


@pytest.fixture
def limited(sent, monkeypatch) -> Limited:
    from services.ingest.app import create_app

    monkeypatch.setenv("NEWSWIRE_RATE_LIMIT_PER_KEY", f"{PER_KEY}/minute")
    monkeypatch.setenv("NEWSWIRE_RATE_LIMIT_PER_IP", f"{PER_ADDRESS}/minute")
    get_settings.cache_clear()
    return Limited(create_app(), sent)


def stored() -> list[int]:
    return [count(table) for table in TABLES]


def assert_too_many(answer) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"]["code"] == "rate_limited"
    retry_after = answer.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, retry_after


def test_a_key_past_its_limit_gets_429_and_stores_nothing_while_another_key_goes_on(limited):
    desk = limited.client(make_key("editor", "desk"))
    for _ in range(PER_KEY):
        assert desk.post("/v1/stories", json=STORY).status_code == 202
    before, queued = stored(), len(limited.sent.messages)
    assert_too_many(desk.post("/v1/stories", json=STORY, headers={"Idempotency-Key": "one more"}))
    assert_too_many(desk.get("/v1/stories"))
    assert (stored(), len(limited.sent.messages)) == (before, queued)
    night = limited.client(make_key("editor", "night desk"))  # same address, another key
    assert night.post("/v1/stories", json=STORY).status_code == 202


def test_repeated_401s_from_one_address_get_429_even_with_a_good_key(limited):
    good = make_key("editor", "desk")
    for n in range(PER_ADDRESS):
        assert limited.client(f"nw_guess{n}").get("/v1/stories").status_code == 401
    assert_too_many(limited.client("nw_guess-again").get("/v1/stories"))
    assert_too_many(limited.client(good).get("/v1/stories"))  # the address learns nothing more
    assert_too_many(limited.client().get("/v1/stories"))
    assert limited.client(good, address="198.51.100.7").get("/v1/stories").status_code == 200


def test_requests_without_a_key_are_limited_per_address(limited):
    before = stored()
    for _ in range(PER_ADDRESS):
        assert limited.client().post("/v1/stories", json=STORY).status_code == 401
    assert_too_many(limited.client().get("/openapi.json"))
    assert limited.client(address="198.51.100.7").get("/openapi.json").status_code == 200
    assert stored() == before


def test_keys_that_work_are_not_counted_against_their_address(limited):
    desks = [limited.client(make_key("editor", f"desk {n}")) for n in range(PER_ADDRESS)]
    for desk in desks:  # more requests than the address's limit, none of them a 401
        assert desk.get("/v1/stories").status_code == 200
        assert desk.get("/v1/stories/unknown").status_code == 404
    assert limited.client("nw_guess").get("/v1/stories").status_code == 401


def test_health_readiness_and_metrics_are_never_limited(limited):
    for _ in range(PER_ADDRESS + 1):
        limited.client().get("/v1/stories")
    for path in ("/healthz", "/readyz", "/metrics"):
        assert limited.client().get(path).status_code in (200, 503), path


def test_429_is_documented_with_retry_after_on_every_limited_operation(limited):
    spec = limited.client().get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path in ("/healthz", "/readyz"):
                assert "429" not in operation["responses"], path
                continue
            answer = operation["responses"]["429"]
            assert answer["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}, (method, path)
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)


def test_limits_are_settings_with_defaults_far_above_a_busy_desk(monkeypatch):
    monkeypatch.delenv("NEWSWIRE_RATE_LIMIT_PER_KEY", raising=False)
    monkeypatch.delenv("NEWSWIRE_RATE_LIMIT_PER_IP", raising=False)
    defaults = Settings()
    assert defaults.rate_limit_per_key == "6000/minute"
    assert defaults.rate_limit_per_ip == "600/minute"
    assert Settings(rate_limit_per_key="100/second", rate_limit_per_ip="").rate_limit_per_ip == ""
    for wrong in ("lots", "0/minute", "10/minute;100/hour"):
        with pytest.raises(ValidationError):
            Settings(rate_limit_per_key=wrong)


def test_an_empty_limit_switches_it_off(sent, monkeypatch):
    from services.ingest.app import create_app

    monkeypatch.setenv("NEWSWIRE_RATE_LIMIT_PER_KEY", "")
    monkeypatch.setenv("NEWSWIRE_RATE_LIMIT_PER_IP", "")
    get_settings.cache_clear()
    app = create_app()
    desk = TestClient(app, headers={"Authorization": f"Bearer {make_key('editor', 'desk')}"})
    assert {desk.get("/v1/stories").status_code for _ in range(20)} == {200}
    assert {TestClient(app).get("/v1/stories").status_code for _ in range(20)} == {401}


def _browser(limited: Limited, key: str | None) -> TestClient:
    """A desk browser at the shared address, signed in straight in the database (sign-in itself is
    a request without a session, counted against the address)."""
    from datetime import timedelta

    from services.ingest.keys.service import find_key
    from services.ingest.web import sessions
    from shared import db

    browser = limited.client()
    if key is not None:
        with db.session_scope() as session:
            token = sessions.open_session(
                session=session, key=find_key(session=session, key=key), lifetime=timedelta(hours=1)
            )
        browser.cookies.set(sessions.COOKIE, token)
    return browser


def test_signed_in_browsers_count_as_their_sessions_not_their_address(limited):
    desks = [_browser(limited, make_key("editor", f"desk {n}")) for n in range(3)]
    for desk in desks:  # 9 pages from one address over its limit of 4, each session within its 3
        for _ in range(PER_KEY):
            assert desk.get("/desk", follow_redirects=False).status_code == 200
    assert_too_many(desks[0].get("/desk"))  # a session past its own limit
    for _ in range(10):
        assert limited.client().get("/static/newswire.css").status_code == 200  # assets are not counted


def test_cookies_that_open_no_session_count_against_the_address(limited):
    for n in range(PER_ADDRESS):
        forged = limited.client()
        forged.cookies.set("newswire_session", f"guess-{n}")
        assert forged.get("/desk", follow_redirects=False).status_code == 303
    assert_too_many(_browser(limited, make_key("editor", "desk")).get("/desk"))
