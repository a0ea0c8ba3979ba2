"""Keys: roles, listing with last use, revocation that takes effect on the next request."""

from tests.api.conftest import client, make_key

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}


def test_no_key_or_unknown_key_is_401_and_wrong_role_is_403(api):
    assert api.anonymous.post("/v1/stories", json=STORY).status_code == 401
    assert client("nw_not-a-real-key").get("/v1/stories").status_code == 401
    basic = api.anonymous.get("/v1/stories", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    answer = api.editor.post("/v1/subscribers", json={"name": "x", "url": "https://example.com/hook"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert api.editor.get("/v1/keys").status_code == 403


def test_revoked_key_gets_401_on_its_next_request(api):
    key = make_key("editor", "night desk")
    night = client(key)
    assert night.post("/v1/stories", json=STORY).status_code == 202
    listed = {k["name"]: k for k in api.admin.get("/v1/keys").json()}
    assert api.admin.delete(f"/v1/keys/{listed['night desk']['id']}").status_code == 204
    answer = night.post("/v1/stories", json=STORY)
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "unknown or revoked API key"
    assert api.admin.delete(f"/v1/keys/{listed['night desk']['id']}").status_code == 204  # twice is harmless


def test_a_key_revoked_by_another_process_is_refused_once_its_trust_runs_out(api, monkeypatch):
    """The API trusts a key it looked up for KEY_TRUST_SECONDS (no database read per request);
    a revocation written by another process (the CLI, another API replica) holds after that."""
    from services.ingest.keys import service as keys
    from shared import db
    from tests.support import wait_for

    monkeypatch.setattr(keys, "KEY_TRUST_SECONDS", 0.3)
    key = make_key("editor", "stringer")
    stringer = client(key)
    assert stringer.get("/v1/stories").status_code == 200
    with db.session_scope() as session:  # what `newswire keys revoke` does, in its own process
        row = keys.find_key(session=session, key=key)
        keys.revoke_key(session=session, key_id=row.id)
    wait_for(lambda: stringer.get("/v1/stories").status_code == 401, timeout=5, what="the revocation to hold")


def test_key_list_shows_role_creation_and_last_use_but_never_the_key(api):
    api.editor.get("/v1/stories")
    keys = {k["name"]: k for k in api.admin.get("/v1/keys").json()}
    assert set(keys) == {"desk", "ops"}
    desk = keys["desk"]
    assert desk["role"] == "editor" and desk["created_at"] and desk["revoked_at"] is None
    assert desk["last_used_at"] is not None
    assert api.editor_key[:8] == desk["prefix"]
    body = api.admin.get("/v1/keys").text
    assert api.editor_key not in body and api.admin_key not in body


def test_last_admin_key_is_kept_and_unknown_key_is_404(api):
    ops = {k["name"]: k for k in api.admin.get("/v1/keys").json()}["ops"]
    answer = api.admin.delete(f"/v1/keys/{ops['id']}")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "last_admin_key"
    assert api.admin.delete("/v1/keys/unknown").status_code == 404
    second = api.admin.post("/v1/keys", json={"name": "ops 2", "role": "admin"}).json()
    assert api.admin.delete(f"/v1/keys/{ops['id']}").status_code == 204
    assert api.admin.get("/v1/keys").status_code == 401
    assert client(second["key"]).get("/v1/keys").status_code == 200
