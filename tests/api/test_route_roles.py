"""Every route the app serves, with the roles that may call it. The table is the reviewed list;
the roles are read off each route's own dependencies (``auth.roles_of``), so a route added
without a role, or with another than the table says, fails here. Each route is then called with
no key or an unknown one (401), with every other role (403) and with every role it serves
(neither)."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from services.ingest.auth import Admin, Editor, require, roles_of
from shared.models import Role
from tests.api.conftest import client, make_key

PUBLIC = None
EDITOR = frozenset({Role.editor, Role.admin})
ADMIN = frozenset({Role.admin})
SUBSCRIBER = frozenset({Role.subscriber})
OWN_SUBSCRIBER = frozenset({Role.admin, Role.subscriber})  # and the handler checks it is the key's own
ANYONE_SIGNED_IN = frozenset(Role)

ROUTES: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("POST", "/v1/stories"): EDITOR,
    ("GET", "/v1/stories"): EDITOR,
    ("GET", "/v1/stories/{story_id}"): EDITOR,
    ("PUT", "/v1/stories/{story_id}"): EDITOR,
    ("POST", "/v1/stories/{story_id}/corrections"): EDITOR,
    ("POST", "/v1/stories/{story_id}/kill"): EDITOR,
    ("PUT", "/v1/stories/{story_id}/tags"): EDITOR,
    ("GET", "/v1/stories/{story_id}/versions"): EDITOR,
    ("GET", "/v1/stories/{story_id}/versions/{number}"): EDITOR,
    ("POST", "/v1/stories/{story_id}/versions/{number}/retry"): EDITOR,
    ("POST", "/v1/subscribers"): ADMIN,
    ("GET", "/v1/subscribers"): ADMIN,
    ("GET", "/v1/subscribers/{subscriber_id}"): OWN_SUBSCRIBER,
    ("PATCH", "/v1/subscribers/{subscriber_id}"): ADMIN,
    ("DELETE", "/v1/subscribers/{subscriber_id}"): ADMIN,
    ("POST", "/v1/subscribers/{subscriber_id}/enable"): ADMIN,
    ("POST", "/v1/subscribers/{subscriber_id}/rotate-secret"): OWN_SUBSCRIBER,
    ("POST", "/v1/subscribers/{subscriber_id}/test-event"): OWN_SUBSCRIBER,
    ("POST", "/v1/subscribers/{subscriber_id}/keys"): ADMIN,
    ("GET", "/v1/subscribers/{subscriber_id}/deliveries"): OWN_SUBSCRIBER,
    ("POST", "/v1/subscribers/{subscriber_id}/replay"): OWN_SUBSCRIBER,
    ("GET", "/v1/deliveries"): ADMIN,
    ("POST", "/v1/deliveries/{delivery_id}/redeliver"): OWN_SUBSCRIBER,
    ("GET", "/v1/feed"): SUBSCRIBER,
    ("GET", "/v1/feed.atom"): SUBSCRIBER,
    ("POST", "/v1/keys"): ADMIN,
    ("GET", "/v1/keys"): ADMIN,
    ("DELETE", "/v1/keys/{key_id}"): ADMIN,
}

#: The desk and the portal: the same role sets, read from a session cookie instead of a header.
PAGES: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/signin"): PUBLIC,
    ("POST", "/signin"): PUBLIC,
    ("POST", "/signout"): ANYONE_SIGNED_IN,
    ("GET", "/desk"): EDITOR,
    ("GET", "/desk/live"): EDITOR,
    ("GET", "/desk/new"): EDITOR,
    ("POST", "/desk/stories"): EDITOR,
    ("GET", "/desk/stories/{story_id}"): EDITOR,
    ("GET", "/desk/stories/{story_id}/live"): EDITOR,
    ("POST", "/desk/stories/{story_id}/update"): EDITOR,
    ("POST", "/desk/stories/{story_id}/correct"): EDITOR,
    ("POST", "/desk/stories/{story_id}/kill"): EDITOR,
    ("POST", "/desk/stories/{story_id}/tags"): EDITOR,
    ("POST", "/desk/stories/{story_id}/versions/{number}/retry"): EDITOR,
    ("GET", "/portal"): OWN_SUBSCRIBER,
    ("GET", "/portal/subscribers/{subscriber_id}"): OWN_SUBSCRIBER,
    ("POST", "/portal/subscribers/{subscriber_id}/deliveries/{delivery_id}/redeliver"): OWN_SUBSCRIBER,
    ("POST", "/portal/subscribers/{subscriber_id}/replay"): OWN_SUBSCRIBER,
    ("POST", "/portal/subscribers/{subscriber_id}/rotate-secret"): OWN_SUBSCRIBER,
    ("POST", "/portal/subscribers/{subscriber_id}/test-event"): OWN_SUBSCRIBER,
}


def served_routes(app: FastAPI) -> dict[tuple[str, str], frozenset[Role] | None]:
    """(method, path) → the roles its dependencies allow, for every route of ``app``, those of
    included routers too (HEAD, which Starlette adds to each GET, goes with its GET)."""
    found = {}
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" or "GET" not in route.methods:
                found[(method, route.path)] = roles_of(route)
    return found


def test_every_route_is_in_the_table_with_the_roles_it_enforces():
    from services.ingest.app import create_app

    served = served_routes(create_app())
    table = {**ROUTES, **PAGES}
    missing = sorted(set(served) - set(table))
    assert not missing, f"routes not in ROUTES or PAGES (add each with the role it needs): {missing}"
    assert not sorted(set(table) - set(served)), "the tables list routes the app does not serve"
    differing = {route: (table[route], served[route]) for route in table if table[route] != served[route]}
    assert not differing, f"(table, route) roles differ: {differing}"


def test_only_probes_and_documentation_are_public():
    public = {path for (_, path), roles in ROUTES.items() if roles is PUBLIC}
    assert public == {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    assert all(roles for (_, path), roles in ROUTES.items() if path.startswith("/v1/"))


def test_the_walk_finds_a_route_without_a_role_and_roles_set_on_a_router():
    """The check above is only as good as ``served_routes``: it sees nested routers' routes and
    their router-level dependencies, and a route that declares no role is public to it."""
    inner = APIRouter(prefix="/inner", dependencies=[Depends(require(Role.admin))])
    outer = APIRouter(prefix="/outer")

    @inner.get("/guarded")
    def guarded() -> None: ...

    @outer.get("/open")
    def forgotten() -> None: ...

    @outer.get("/desk")
    def desk(_key: Editor) -> None: ...

    @outer.post("/ops")
    def ops(_key: Admin) -> None: ...

    outer.include_router(inner)
    app = FastAPI()
    app.include_router(outer, prefix="/v9")
    served = {route: roles for route, roles in served_routes(app).items() if route[1].startswith("/v9")}
    assert served == {
        ("GET", "/v9/outer/inner/guarded"): ADMIN,
        ("GET", "/v9/outer/open"): PUBLIC,
        ("GET", "/v9/outer/desk"): EDITOR,
        ("POST", "/v9/outer/ops"): ADMIN,
    }


@pytest.fixture
def callers(api) -> dict[Role | str, TestClient]:
    """A client per role, one with an unknown key and one with none, all on one app."""
    site = api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/hook"}).json()["id"]
    feed = api.admin.post(f"/v1/subscribers/{site}/keys").json()["key"]
    keys = {Role.editor: api.editor_key, Role.admin: api.admin_key, Role.subscriber: feed, "unknown": "nw_not-a-key"}
    app = api.anonymous.app
    callers = {who: TestClient(app, headers={"Authorization": f"Bearer {key}"}) for who, key in keys.items()}
    return {**callers, "nobody": api.anonymous}


def _url(path: str) -> str:
    """The path with its parameters filled in (with ids nothing has: the role check comes first)."""
    return re.sub(r"\{number\}", "1", re.sub(r"\{(?!number\})[^}]+\}", "unknown", path))


def test_each_route_enforces_its_roles(callers):
    """(A subscriber's own routes are called with its own id: another's is refused by the
    handler's ownership check, ``test_web`` shows that.)"""
    site = callers[Role.admin].get("/v1/subscribers").json()[0]["id"]
    wrong = [problem for (method, path) in sorted(ROUTES) for problem in _check(callers, method, path, site)]
    assert not wrong, "\n".join(wrong)


def _check(callers: dict[Role | str, TestClient], method: str, path: str, site: str) -> list[str]:
    """What is wrong with the route's answers to each caller (nothing, when it works as listed)."""
    own = site if method != "DELETE" else "unknown"  # deleting the site would revoke the subscriber's key
    roles, url = ROUTES[(method, path)], _url(path.replace("{subscriber_id}", own))
    expected: dict[Role | str, str] = {"nobody": "401", "unknown": "401"} if roles else {"nobody": "allowed"}
    for role in Role if roles else ():
        expected[role] = "allowed" if role in roles else "403"
    problems = []
    for who, outcome in expected.items():
        status = callers[who].request(method, url).status_code
        if (outcome == "allowed" and status in (401, 403)) or (outcome != "allowed" and str(status) != outcome):
            problems.append(f"{method} {path} as {who}: {status}, expected {outcome}")
    return problems


def test_a_new_key_of_each_role_passes_its_check(api):
    """The table's role names are the ones keys are created with."""
    assert {role.value for roles in ROUTES.values() if roles for role in roles} == {r.value for r in Role}
    assert client(make_key("editor")).get("/v1/stories").status_code == 200


def test_each_page_enforces_its_roles(api, callers, monkeypatch):
    """The pages read a session cookie: without one a page sends the browser to sign in (303; a
    live stream sends one "signedout" event),
    with one of a role the table does not list it answers 403, and the listed roles get past."""
    from services.ingest.web import live
    from tests.api.test_web import signed_in

    monkeypatch.setattr(live, "STREAM_SECONDS", 0.0)  # the stream answers, then ends at once
    site = api.admin.get("/v1/subscribers").json()[0]["id"]
    feed_key = callers[Role.subscriber].headers["Authorization"].removeprefix("Bearer ")
    browsers = {Role.editor: signed_in(api.editor_key), Role.admin: signed_in(api.admin_key)}
    browsers[Role.subscriber] = signed_in(feed_key)
    wrong = []
    for (method, path), roles in sorted(PAGES.items()):
        if roles is PUBLIC:
            continue
        url = _url(path.replace("{subscriber_id}", site))
        answer = api.anonymous.request(method, url, follow_redirects=False)
        if path.endswith("/live"):  # a stream is not a page to redirect: it says "signed out" and ends
            if "event: signedout" not in answer.text:
                wrong.append(f"{method} {path} signed out: {answer.status_code} {answer.text[:80]}")
        elif answer.status_code != 303:
            wrong.append(f"{method} {path} signed out: {answer.status_code}")
        for role, (browser, csrf) in browsers.items():
            status = browser.request(method, url, headers={"X-CSRF-Token": csrf}, follow_redirects=False).status_code
            if (status == 403) == (role in roles):
                wrong.append(f"{method} {path} as {role}: {status}")
    assert not wrong, "\n".join(wrong)
