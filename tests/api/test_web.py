"""The desk and the portal over HTTP (TestClient, a real SQLite database, the queue recorded):
sign-in and its session cookie, CSRF on every form, expiry and revocation, the page headers, the
escaping of story text, the same role checks as the API. What happens in a browser (the live list,
the whole pipeline) is tested in tests/browser."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from services.ingest.web import security, sessions
from shared import db
from shared.models import WebSession
from tests.api.conftest import client, make_key

STORY = {"headline": "Rates held", "body_text": "The central bank held rates on Thursday.", "urgency": 3}


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def signed_in(key: str) -> tuple[TestClient, str]:
    """A browser-like client signed in with ``key`` (no Authorization header) and its CSRF token."""
    browser = client()
    form = browser.get("/signin")
    answer = browser.post(
        "/signin", data={"key": key, "csrf_token": _csrf(form.text), "next": ""}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    home = browser.get(answer.headers["location"])
    assert home.status_code == 200, home.text
    return browser, _csrf(home.text)


def test_signing_in_sets_a_strict_httponly_cookie_and_keeps_the_key_out_of_pages(api):
    browser = client()
    form = browser.get("/signin")
    answer = browser.post(
        "/signin", data={"key": api.editor_key, "csrf_token": _csrf(form.text)}, follow_redirects=False
    )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(sessions.COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert answer.headers["location"] == "/desk"
    desk = browser.get("/desk")
    assert desk.status_code == 200 and "Wire desk" in desk.text
    assert api.editor_key not in desk.text and api.editor_key not in cookie


def test_a_wrong_key_or_a_missing_signin_token_signs_nobody_in(api):
    browser = client()
    form = browser.get("/signin")
    wrong = browser.post("/signin", data={"key": "nw_nope", "csrf_token": _csrf(form.text)}, follow_redirects=False)
    assert wrong.status_code == 401 and "Unknown or revoked key" in wrong.text
    forged = client().post("/signin", data={"key": api.editor_key, "csrf_token": "x"}, follow_redirects=False)
    assert forged.status_code == 303 and forged.headers["location"] == "/signin"
    assert not any(c.startswith(sessions.COOKIE) for c in forged.headers.get_list("set-cookie"))


def test_pages_without_a_session_send_the_browser_to_sign_in(api):
    answer = client().get("/desk/new", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=%2Fdesk%2Fnew"
    stream = client().get("/desk/live")  # a stream says so once, and the page stops listening
    assert stream.headers["content-type"].startswith("text/event-stream") and "event: signedout" in stream.text
    # an API key in the header is not a session: the pages take cookies only
    assert api.editor.get("/desk", follow_redirects=False).status_code == 303


def test_every_form_needs_the_session_csrf_token(api):
    browser, csrf = signed_in(api.editor_key)
    refused = browser.post("/desk/stories", data=STORY, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = browser.post("/desk/stories", data={**STORY, "csrf_token": "forged"}, follow_redirects=False)
    assert wrong.status_code == 403
    assert api.sent.messages == [] and api.editor.get("/v1/stories").json()["items"] == []
    filed = browser.post("/desk/stories", data={**STORY, "csrf_token": csrf}, follow_redirects=False)
    assert filed.status_code == 303 and filed.headers["location"].startswith("/desk/stories/")
    by_header = browser.post("/desk/stories", data=STORY, headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert by_header.status_code == 303
    assert len(api.editor.get("/v1/stories").json()["items"]) == 2


def test_a_story_filed_on_the_desk_is_the_apis_story(api):
    browser, csrf = signed_in(api.editor_key)
    form = {**STORY, "csrf_token": csrf, "slugline": "rates", "embargoed_until": "2030-01-02T09:30"}
    story_id = browser.post("/desk/stories", data=form, follow_redirects=False).headers["location"].rsplit("/", 1)[1]
    story = api.editor.get(f"/v1/stories/{story_id}").json()
    assert (story["headline"], story["urgency"], story["slugline"]) == ("Rates held", 3, "rates")
    assert story["embargoed_until"].startswith("2030-01-02T09:30:00")
    assert story["timeline"][0]["event"] == "received"


def test_bad_input_is_refused_with_the_reason_and_the_text_kept(api):
    browser, csrf = signed_in(api.editor_key)
    answer = browser.post("/desk/stories", data={"headline": "Keep me", "body_text": "", "csrf_token": csrf})
    assert answer.status_code == 422
    assert "needs body_text or body_html" in answer.text and 'value="Keep me"' in answer.text
    assert api.editor.get("/v1/stories").json()["items"] == []


def test_story_text_is_escaped_everywhere(api):
    browser, csrf = signed_in(api.editor_key)
    evil = "<script>alert(1)</script>"
    form = {"headline": evil, "body_text": f"Body {evil}", "slugline": '"><img src=x onerror=alert(1)>'}
    story_url = browser.post("/desk/stories", data={**form, "csrf_token": csrf}, follow_redirects=False).headers[
        "location"
    ]
    for page in (browser.get("/desk").text, browser.get(story_url).text):
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_pages_carry_a_csp_without_inline_script(api):
    browser, _ = signed_in(api.editor_key)
    for path in ("/desk", "/desk/new", "/signin", "/static/newswire.css"):
        headers = browser.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.editor.get("/v1/stories").headers
    desk = browser.get("/desk").text
    assert "<script>" not in desk and " on" + "click=" not in desk and "style=" not in desk


def test_a_revoked_key_ends_its_sessions(api):
    key = make_key("editor", "leaving")
    browser, _ = signed_in(key)
    key_id = next(k["id"] for k in api.admin.get("/v1/keys").json() if k["name"] == "leaving")
    assert api.admin.delete(f"/v1/keys/{key_id}").status_code == 204
    assert browser.get("/desk", follow_redirects=False).status_code == 303


def test_sessions_expire_and_sign_out_ends_them(api):
    browser, csrf = signed_in(api.editor_key)
    with db.session_scope() as session:
        session.exec(update(WebSession).values(expires_at=WebSession.expires_at - timedelta(hours=9)))
    assert browser.get("/desk", follow_redirects=False).status_code == 303
    browser, csrf = signed_in(api.editor_key)
    assert browser.post("/signout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert browser.get("/desk", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("editor", "/portal", 403),
        ("subscriber", "/desk", 403),
        ("subscriber", "/desk/new", 403),
        ("admin", "/desk", 200),
        ("admin", "/portal", 200),
    ],
)
def test_pages_check_the_apis_roles(api, role, path, status):
    key = api.editor_key if role == "editor" else api.admin_key
    if role == "subscriber":
        site = api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/h"}).json()["id"]
        key = api.admin.post(f"/v1/subscribers/{site}/keys").json()["key"]
    browser, _ = signed_in(key)
    assert browser.get(path, follow_redirects=False).status_code == status


def test_a_subscriber_key_sees_its_own_page_only(api):
    mine = api.admin.post("/v1/subscribers", json={"name": "mine", "url": "http://127.0.0.1:9/a"}).json()["id"]
    other = api.admin.post("/v1/subscribers", json={"name": "other", "url": "http://127.0.0.1:9/b"}).json()["id"]
    key = api.admin.post(f"/v1/subscribers/{mine}/keys").json()["key"]
    browser, csrf = signed_in(key)
    assert browser.get("/portal", follow_redirects=False).headers["location"] == f"/portal/subscribers/{mine}"
    assert browser.get(f"/portal/subscribers/{other}").status_code == 403
    assert browser.post(f"/portal/subscribers/{other}/rotate-secret", data={"csrf_token": csrf}).status_code == 403
    # the API answers the same key the same way
    api_client = client(key)
    assert api_client.get(f"/v1/subscribers/{mine}/deliveries").status_code == 200
    assert api_client.get(f"/v1/subscribers/{other}/deliveries").status_code == 403
    assert api_client.post(f"/v1/subscribers/{other}/rotate-secret").status_code == 403


def test_rotating_shows_the_new_secret_once(api):
    site = api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/h"}).json()
    browser, csrf = signed_in(api.admin_key)
    shown = browser.post(f"/portal/subscribers/{site['id']}/rotate-secret", data={"csrf_token": csrf})
    secret = re.search(r'<pre id="new-secret">(whsec_[^<]+)</pre>', shown.text).group(1)
    assert secret != site["secret"] and shown.headers["cache-control"] == "no-store"
    assert secret not in browser.get(f"/portal/subscribers/{site['id']}").text


def test_every_page_path_gets_the_page_headers():
    assert all(security.is_page(p) for p in ("/desk", "/desk/live", "/portal/subscribers/x", "/signin", "/"))
    assert not any(security.is_page(p) for p in ("/v1/stories", "/healthz", "/metrics", "/docs"))


def _story_page(browser: TestClient, csrf: str) -> str:
    return browser.post("/desk/stories", data={**STORY, "csrf_token": csrf}, follow_redirects=False).headers["location"]


def test_a_kill_needs_its_confirmation_and_its_reason(api):
    browser, csrf = signed_in(api.editor_key)
    page = _story_page(browser, csrf)
    story_id = page.rsplit("/", 1)[1]
    unconfirmed = browser.post(f"{page}/kill", data={"csrf_token": csrf, "reason": "Legal"})
    assert "tick the box" in unconfirmed.text
    no_reason = browser.post(f"{page}/kill", data={"csrf_token": csrf, "reason": " ", "confirm": story_id})
    assert "needs its reason" in no_reason.text
    assert api.editor.get(f"/v1/stories/{story_id}").json()["killed_at"] is None
    killed = browser.post(f"{page}/kill", data={"csrf_token": csrf, "reason": "Legal", "confirm": story_id})
    assert "Killed" in killed.text
    story = api.editor.get(f"/v1/stories/{story_id}").json()
    assert story["killed_at"] is not None and story["note"] == "Legal"


def test_a_correction_needs_its_note_and_keeps_the_editors_text(api):
    browser, csrf = signed_in(api.editor_key)
    page = _story_page(browser, csrf)
    form = {**STORY, "headline": "Rates held at 4.5%", "csrf_token": csrf}
    refused = browser.post(f"{page}/correct", data={**form, "note": ""})
    assert refused.status_code == 422 and "note" in refused.text and 'value="Rates held at 4.5%"' in refused.text
    done = browser.post(f"{page}/correct", data={**form, "note": "The rate was missing."})
    assert "Filed version 2 (correction)" in done.text
    versions = api.editor.get(f"/v1/stories/{page.rsplit('/', 1)[1]}/versions").json()
    assert [(v["kind"], v["note"]) for v in versions] == [("original", None), ("correction", "The rate was missing.")]


def test_tags_are_added_and_removed_one_at_a_time_keeping_the_others(api):
    browser, csrf = signed_in(api.editor_key)
    page = _story_page(browser, csrf)
    story_id = page.rsplit("/", 1)[1]
    for tag in ({"type": "place", "name": "Oslo", "code": "NO"}, {"type": "subject", "uri": "medtop:04000000"}):
        assert "Tags changed" in browser.post(f"{page}/tags", data={**tag, "change": "add", "csrf_token": csrf}).text
    bad = browser.post(
        f"{page}/tags", data={"type": "subject", "uri": "medtop:nope", "change": "add", "csrf_token": csrf}
    )
    assert "not a current IPTC Media Topic" in bad.text
    browser.post(f"{page}/tags", data={"type": "place", "name": "Oslo", "change": "remove", "csrf_token": csrf})
    browser.post(f"{page}/tags", data={"type": "keyword", "name": "rates", "change": "remove", "csrf_token": csrf})
    changes = api.editor.get(f"/v1/stories/{story_id}").json()["editor_tags"]
    assert [t.get("qcode") for t in changes["add"]] == ["medtop:04000000"]  # Oslo's addition undone
    assert [(t["type"], t["name"]) for t in changes["remove"]] == [("keyword", "rates")]


def test_the_test_event_is_signed_and_reports_the_sites_answer(api):
    from standardwebhooks.webhooks import Webhook

    from tests.support import LocalEndpoint

    got = []
    endpoint = LocalEndpoint(lambda body, headers: got.append((body, headers)) or (202, {}))
    try:
        site = api.admin.post("/v1/subscribers", json={"name": "site", "url": endpoint.url}).json()
        answer = api.admin.post(f"/v1/subscribers/{site['id']}/test-event").json()
    finally:
        endpoint.close()
    assert answer["delivered"] is True and answer["status_code"] == 202
    body, headers = got[0]
    event = Webhook(site["secret"]).verify(body, headers)
    assert event["type"] == "webhook.test" and headers["webhook-id"] == answer["message_id"]
    assert headers["newswire-event-type"] == "webhook.test"
    gone = api.admin.post(f"/v1/subscribers/{site['id']}/test-event").json()
    assert gone["delivered"] is False and gone["status_code"] is None and gone["error"]


def test_the_live_stream_sends_the_rows_as_server_sent_events(api, monkeypatch):
    from services.ingest.web import live

    monkeypatch.setattr(live, "STREAM_SECONDS", 0.5)  # one look, then the stream ends (the browser reconnects)
    browser, csrf = signed_in(api.editor_key)
    browser.post("/desk/stories", data={**STORY, "headline": "Rates <held>", "csrf_token": csrf})
    answer = browser.get("/desk/live?urgency_max=3")
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert "event: stories\ndata: " in answer.text and "Rates &lt;held&gt;" in answer.text
    assert "Rates &lt;held&gt;" not in browser.get("/desk/live?urgency_max=2").text


def test_a_replay_with_a_bad_time_replays_nothing_and_says_why(api):
    site = api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/h"}).json()["id"]
    browser, csrf = signed_in(api.admin_key)
    assert browser.get(f"/portal/subscribers/{site}", params={"state": "", "story_id": ""}).status_code == 200
    assert browser.get(f"/portal/subscribers/{site}", params={"state": "failed"}).status_code == 200
    answer = browser.post(f"/portal/subscribers/{site}/replay", data={"since": "yesterday", "csrf_token": csrf})
    assert "Nothing replayed" in answer.text and "is not a date and time" in answer.text
    answer = browser.post(f"/portal/subscribers/{site}/replay", data={"since": "2026-01-01T00:00", "csrf_token": csrf})
    assert "Replay queued: 0 sent again, 0 sent for the first time" in answer.text


def test_the_desk_filters_as_the_filter_form_sends_them(api):
    browser, csrf = signed_in(api.editor_key)
    for headline, urgency in (("Flash: quake", 1), ("Routine: weather", 6)):
        browser.post("/desk/stories", data={**STORY, "headline": headline, "urgency": urgency, "csrf_token": csrf})
    empty = {"status": "", "urgency_max": "", "place": "", "subject": "", "q": "", "since": "", "until": ""}
    every = browser.get("/desk", params=empty)
    assert every.status_code == 200 and "Flash: quake" in every.text and "Routine: weather" in every.text
    flash = browser.get("/desk", params={**empty, "urgency_max": "2"}).text
    assert "Flash: quake" in flash and "Routine: weather" not in flash
    later = browser.get("/desk", params={**empty, "since": "2099-01-01T00:00"}).text
    assert "No stories match" in later
    bad = browser.get("/desk", params={**empty, "since": "soon"})
    assert bad.status_code == 400 and "is not a date and time" in bad.text
    delivered = browser.get("/portal/subscribers/none", params={"state": "", "story_id": ""})
    assert delivered.status_code == 403  # an editor: refused before the filters are read


def test_older_stories_are_a_page_away_and_only_the_newest_page_is_live(api, monkeypatch):
    from services.ingest.web import live

    monkeypatch.setattr(live, "LIST_LENGTH", 2)
    browser, csrf = signed_in(api.editor_key)
    for n in range(5):
        browser.post("/desk/stories", data={**STORY, "headline": f"Story number {n}", "csrf_token": csrf})
    seen, page, live_pages = [], "/desk?urgency_max=3", []
    while page:
        html = browser.get(page).text
        seen += re.findall(r"Story number (\d)", html)
        live_pages.append("sse-connect" in html)
        older = re.search(r'<a href="([^"]+)">Older stories', html)
        page = older.group(1).replace("&amp;", "&") if older else None
        assert not page or "urgency_max=3" in page  # the filters carry over
    assert seen == ["4", "3", "2", "1", "0"] and live_pages == [True, False, False]


def _embargo(api, story_id: str) -> str | None:
    return api.editor.get(f"/v1/stories/{story_id}").json()["embargoed_until"]


def test_an_update_keeps_the_embargo_it_did_not_touch_to_the_second(api):
    browser, csrf = signed_in(api.editor_key)
    form = {**STORY, "embargoed_until": "2030-01-02T09:30:15", "csrf_token": csrf}
    page = browser.post("/desk/stories", data=form, follow_redirects=False).headers["location"]
    story_id = page.rsplit("/", 1)[1]
    shown = browser.get(page).text
    assert 'name="embargoed_until" value="2030-01-02T09:30:15"' in shown
    api.editor.put(f"/v1/stories/{story_id}", json={**STORY, "embargoed_until": "2030-05-05T05:05:05Z"})
    # this page still shows the first embargo: sent back unchanged, it keeps the one set meanwhile
    unchanged = {**STORY, "headline": "Rates held again", "embargoed_until": "2030-01-02T09:30:15"}
    browser.post(f"{page}/update", data={**unchanged, "embargo_was": "2030-01-02T09:30:15", "csrf_token": csrf})
    assert _embargo(api, story_id).startswith("2030-05-05T05:05:05")
    moved = {**STORY, "headline": "Rates held, later", "embargoed_until": "2030-06-06T06:06:06"}
    browser.post(f"{page}/update", data={**moved, "embargo_was": "2030-05-05T05:05:05", "csrf_token": csrf})
    assert _embargo(api, story_id).startswith("2030-06-06T06:06:06")
    lifted = {**STORY, "headline": "Rates held, now", "embargoed_until": ""}
    browser.post(f"{page}/update", data={**lifted, "embargo_was": "2030-06-06T06:06:06", "csrf_token": csrf})
    assert _embargo(api, story_id) is None


def test_a_time_with_an_offset_is_read_as_that_time():
    from services.ingest.web.forms import utc_time

    assert utc_time("2030-01-01T09:00+05:00").isoformat() == "2030-01-01T04:00:00+00:00"
    assert utc_time("2030-01-01T09:00").isoformat() == "2030-01-01T09:00:00+00:00"


def test_any_text_as_a_csrf_token_is_refused_not_an_error(api):
    browser, _ = signed_in(api.editor_key)
    assert browser.post("/desk/stories", data={**STORY, "csrf_token": "é"}).status_code == 403
    assert browser.post("/desk/stories", data=STORY, headers={"X-CSRF-Token": "ß".encode("latin-1")}).status_code == 403
    form = client().get("/signin")
    assert (
        client().post("/signin", data={"key": api.editor_key, "csrf_token": "é"}, follow_redirects=False).status_code
        == 303
    )
    assert form.status_code == 200


def test_signing_in_again_ends_the_browsers_previous_session(api):
    browser, _ = signed_in(api.editor_key)
    first = browser.cookies[sessions.COOKIE]
    form = browser.get("/signin")
    browser.post("/signin", data={"key": api.admin_key, "csrf_token": _csrf(form.text)}, follow_redirects=False)
    assert browser.cookies[sessions.COOKIE] != first
    stale = client()
    stale.cookies.set(sessions.COOKIE, first)
    assert stale.get("/desk", follow_redirects=False).status_code == 303


def test_the_portal_pages_deliveries_failed_first(api, monkeypatch):
    from services.ingest.web import portalpage
    from shared.models import Delivery, DeliveryState

    monkeypatch.setattr(portalpage, "PAGE", 2)
    site = api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/h"}).json()["id"]
    browser, csrf = signed_in(api.admin_key)
    editor, editor_csrf = signed_in(api.editor_key)
    for _ in range(5):
        _story_page(editor, editor_csrf)
    with db.session_scope() as session:
        versions = session.exec(text("SELECT id, story_id FROM story_version ORDER BY id")).all()
        for n, ((version_id, story_id), state) in enumerate(zip(versions, ["delivered"] * 4 + ["failed"], strict=True)):
            row = {"subscriber_id": site, "version_id": version_id, "story_id": story_id, "version": 1}
            session.add(Delivery(id=f"d{n}", state=DeliveryState(state), **row))
    seen, page = [], f"/portal/subscribers/{site}"
    while page:
        html = browser.get(page if page.startswith("/") else f"/portal/subscribers/{site}{page}").text
        seen += re.findall(r"/deliveries/(d\d)/redeliver", html)
        older = re.search(r'<a href="([^"]+)">Older deliveries', html)
        page = older.group(1).replace("&amp;", "&") if older else None
    assert seen[0] == "d4" and sorted(seen) == ["d0", "d1", "d2", "d3", "d4"]


def test_the_update_form_keeps_a_filed_language_and_leaves_a_detected_one_to_detection(api):
    browser, csrf = signed_in(api.editor_key)
    filed = browser.post(
        "/desk/stories", data={**STORY, "language": "en-GB", "csrf_token": csrf}, follow_redirects=False
    )
    plain = browser.post("/desk/stories", data={**STORY, "csrf_token": csrf}, follow_redirects=False)
    assert (
        'name="language" size="6" maxlength="35" placeholder="detected" value="en-GB"'
        in browser.get(filed.headers["location"]).text
    )
    assert 'placeholder="detected" value=""' in browser.get(plain.headers["location"]).text
