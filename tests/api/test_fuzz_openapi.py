"""The API against its own OpenAPI description, fuzzed (Schemathesis) in-process: once with each
role's key and once with none. For every operation, with data that matches the schema and data
that does not:

- no answer is a 5xx;
- every answer is documented: its status code, content type, headers and body;
- data that breaks the schema is refused;
- a refused request (any 4xx) stores nothing and queues nothing.

Deterministic (derandomized, a bounded number of examples) and without network: webhook host
names resolve, in-process, to 127.0.0.1 (allowed here) after the IDNA check the real resolver
makes first. The database is SQLite; like PostgreSQL, it refuses text with NUL characters here.
Besides generated requests, a list of edge cases (``EDGES``) goes to every role an operation
serves: requests a generator rarely comes up with (NUL in ids, an empty Idempotency-Key, values
of the wrong type, a host name no resolver takes, deeply nested HTML).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from services.ingest.auth import roles_of
from shared import db
from shared.config import get_settings
from tests.api.conftest import client, make_key
from tests.api.pipeline import enrich, render

#: Examples per operation for a role it serves: schema-valid, then schema-breaking.
VALID_EXAMPLES, INVALID_EXAMPLES = 20, 10
#: Examples per operation and kind for a role it refuses (each answer is a 401 or 403).
REFUSED_EXAMPLES = 2
#: Operations that remove what the others work on run last.
DESTRUCTIVE = ("DELETE ", "POST /v1/stories/{story_id}/kill")
#: Held fixed: a long-poll would make each example last up to 30 s.
FIXED_QUERY = {"GET /v1/feed": {"wait": 0}}

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}
CORRECTION = {**STORY, "note": "Corrects the arrival date."}
#: Merged into generated bodies, so that requests get past the rules a schema cannot state.
GOOD_BODIES: dict[str, dict[str, Any]] = {
    "POST /v1/stories": STORY,
    "PUT /v1/stories/{story_id}": STORY,
    "POST /v1/stories/{story_id}/corrections": CORRECTION,
    "POST /v1/stories/{story_id}/kill": {"reason": "Legal."},
    "POST /v1/subscribers": {"url": "http://127.0.0.1:9/hook"},
}
SEEDED = "seeded"  # in an edge case's path: the id of the seeded resource
LONG_LABEL_URL = "http://" + "a" * 64 + ".example.org/hook"
DEEP_HTML = "<div>" * 3000 + "deep" + "</div>" * 3000


@dataclass(frozen=True)
class Edge:
    """A request sent as it is, to every role its operation serves."""

    operation: str
    path: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    refused: bool = False  # it breaks the schema: must get a 4xx


NUL_IN_PATH = [
    Edge(operation, {name: "a\x00b"}, refused=True)
    for operation, name in [
        ("GET /v1/stories/{story_id}", "story_id"),
        ("GET /v1/stories/{story_id}/versions", "story_id"),
        ("PUT /v1/stories/{story_id}/tags", "story_id"),
        ("GET /v1/subscribers/{subscriber_id}", "subscriber_id"),
        ("POST /v1/subscribers/{subscriber_id}/enable", "subscriber_id"),
        ("GET /v1/subscribers/{subscriber_id}/deliveries", "subscriber_id"),
        ("POST /v1/deliveries/{delivery_id}/redeliver", "delivery_id"),
        ("DELETE /v1/keys/{key_id}", "key_id"),
    ]
]
EMPTY_IDEMPOTENCY_KEY = [
    Edge("POST /v1/stories", headers={"Idempotency-Key": ""}, body=STORY),
    Edge("PUT /v1/stories/{story_id}", {"story_id": SEEDED}, {"Idempotency-Key": ""}, body={**STORY, "headline": "2"}),
    Edge("POST /v1/stories/{story_id}/corrections", {"story_id": SEEDED}, {"Idempotency-Key": ""}, body=CORRECTION),
]
LOOSE_TYPES = [
    Edge("POST /v1/stories", body={**STORY, "urgency": "3"}, refused=True),
    Edge("POST /v1/stories", body={**STORY, "urgency": True}, refused=True),
    Edge("POST /v1/stories", body={**STORY, "embargoed_until": 1893456000}, refused=True),
    Edge("GET /v1/stories", query={"since": "1893456000"}, refused=True),
    Edge("GET /v1/deliveries", query={"since": "1893456000"}, refused=True),
    Edge("GET /v1/deliveries", query={"until": "2030-01-01"}, refused=True),
    Edge("GET /v1/feed", query={"since": "-3.8e-233"}, refused=True),
    Edge("POST /v1/subscribers/{subscriber_id}/replay", {"subscriber_id": SEEDED}, body={"since": 0}, refused=True),
]
EDGES = [
    *NUL_IN_PATH,
    *EMPTY_IDEMPOTENCY_KEY,
    *LOOSE_TYPES,
    Edge("POST /v1/stories", body={"headline": "Deep", "body_html": DEEP_HTML}),
    Edge("POST /v1/subscribers", body={"name": "long label", "url": LONG_LABEL_URL}, refused=True),
    Edge(
        "PATCH /v1/subscribers/{subscriber_id}", {"subscriber_id": SEEDED}, body={"url": LONG_LABEL_URL}, refused=True
    ),
]


@dataclass
class World:
    """The seeded database and the keys to call it with."""

    keys: dict[str, str | None]
    known: dict[str, Any]  # path parameter → the id of a resource that exists
    tables: list[str]


@pytest.fixture
def world(sent, monkeypatch) -> Iterator[World]:
    monkeypatch.setenv("NEWSWIRE_RATE_LIMIT_PER_KEY", "1000000/minute")
    monkeypatch.setenv("NEWSWIRE_RATE_LIMIT_PER_IP", "1000000/minute")
    get_settings.cache_clear()
    monkeypatch.setattr(socket, "getaddrinfo", _resolve_to_loopback(socket.getaddrinfo))
    event.listen(Engine, "before_cursor_execute", _refuse_nul)
    try:
        yield _seed()
    finally:
        event.remove(Engine, "before_cursor_execute", _refuse_nul)


def _resolve_to_loopback(real: Callable) -> Callable:
    def resolve(host, port, *args, **kwargs):
        if isinstance(host, str):
            host.encode("idna")  # what the real resolver does first: UnicodeError for a bad name
        return real("127.0.0.1", port, *args, **kwargs)

    return resolve


def _refuse_nul(conn, cursor, statement, parameters, context, executemany) -> None:
    """PostgreSQL refuses text with NUL characters (SQLite stores it): fail the same way."""
    if _has_nul(parameters):
        raise ValueError("PostgreSQL cannot store NUL characters in text: a parameter has one")


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _seed() -> World:
    """A published story with a delivery, a subscriber with a feed key, and a spare key."""
    editor, admin = make_key("editor", "desk"), make_key("admin", "ops")
    as_admin, as_editor = client(admin), client(editor)
    subscriber = as_admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/hook"}).json()
    feed_key = as_admin.post(f"/v1/subscribers/{subscriber['id']}/keys").json()["key"]
    story = as_editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    delivery = as_admin.get("/v1/deliveries").json()["items"][0]
    spare = as_admin.post("/v1/keys", json={"name": "spare", "role": "editor"}).json()
    with db.read_scope() as session:
        names = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars()
        tables = sorted(n for n in names if not n.startswith(("sqlite_", "alembic_")))
    return World(
        keys={"admin": admin, "editor": editor, "subscriber": feed_key, "no key": None},
        known={
            "story_id": story["id"],
            "number": 1,
            "subscriber_id": subscriber["id"],
            "delivery_id": delivery["id"],
            "key_id": spare["id"],
        },
        tables=tables,
    )


def _counts(tables: list[str]) -> tuple[int, ...]:
    query = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in tables)
    with db.read_scope() as session:
        return tuple(session.execute(text(query)).one())


def _operations(app) -> list[tuple[schemathesis.APIOperation, frozenset[str] | None]]:
    """Every documented operation with the roles it serves (None: public), destructive ones last."""
    schema = schemathesis.openapi.from_dict(app.openapi(), config=_config())
    roles = {
        f"{method} {route.path}": roles_of(route)
        for route in iter_route_contexts(app.routes)
        for method in route.methods or ()
    }
    found = [(result.ok(), roles[result.ok().label]) for result in schema.get_all_operations()]
    return sorted(found, key=lambda item: item[0].label.startswith(DESTRUCTIVE))


def _config() -> schemathesis.Config:
    checks = (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
    refusals = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
    return schemathesis.Config.from_dict(
        {
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in checks},
                "negative_data_rejection": {"enabled": True, "expected-statuses": refusals},
            }
        }
    )


@dataclass
class Run:
    """One role's fuzzing: sends cases, checks the answers, keeps each kind of failure once."""

    app: Any
    world: World
    sent: Any
    failures: dict[tuple, str] = field(default_factory=dict)
    requests: int = 0

    def send(self, case: schemathesis.Case, refused: bool = False) -> None:
        self.requests += 1
        before = (_counts(self.world.tables), len(self.sent.messages))
        label = case.operation.label
        try:
            response = case.call(app=self.app)
        except Exception as exc:  # the app raised: a 500 (the in-process transport passes the error on)
            self.failures.setdefault((label, type(exc).__name__), f"{label}: 500, {exc!r}, for {case!r}")
            return
        try:
            case.validate_response(response, transport_kwargs={"app": self.app})
        except BaseExceptionGroup as group:
            kinds = tuple(sorted(getattr(e, "code", type(e).__name__) for e in group.exceptions))
            self.failures.setdefault((label, response.status_code, kinds), str(group)[:2500])
        status = response.status_code
        if 400 <= status < 500 and (_counts(self.world.tables), len(self.sent.messages)) != before:
            self.failures.setdefault((label, "stored"), f"{label}: refused ({status}) but stored or queued: {case!r}")
        if refused and not 400 <= status < 500:
            self.failures.setdefault((label, repr(case)), f"{label}: answered {status}, not a 4xx, for {case!r}")

    def fuzz(self, operation, mode: GenerationMode, strategy, examples: int) -> None:
        @given(case=strategy)
        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            self.send(case)

        try:
            run()
        except Unsatisfiable:  # nothing to break in an operation without parameters or body
            assert mode == GenerationMode.NEGATIVE, operation.label

    def edges(self, operation, headers: dict[str, str]) -> None:
        for edge in EDGES:
            if edge.operation == operation.label:
                self.send(_edge_case(operation, edge, self.world.known, headers), refused=edge.refused)


def _strategy(operation, mode: GenerationMode, headers: dict | None, known: dict[str, Any] | None):
    """Generated cases; for a role the operation serves (``known`` given) and valid data, also
    ones naming resources that exist, with bodies that get past what the schema cannot state."""
    query = FIXED_QUERY.get(operation.label)
    plain = operation.as_strategy(generation_mode=mode, headers=headers, query=query)
    names = [p.name for p in operation.path_parameters]
    if known is None or mode == GenerationMode.NEGATIVE or not names:
        return plain
    existing = {name: known[name] for name in names}
    targeted = operation.as_strategy(generation_mode=mode, headers=headers, query=query, path_parameters=existing)
    good = GOOD_BODIES.get(operation.label)
    if good is None:
        return st.one_of(plain, targeted)
    return st.one_of(plain, targeted, targeted.map(lambda case: _merged(case, good)))


def _merged(case: schemathesis.Case, good: dict[str, Any]) -> schemathesis.Case:
    if isinstance(case.body, dict):
        case.body = {**case.body, **good}
    return case


def _edge_case(operation, edge: Edge, known: dict[str, Any], headers: dict[str, str]) -> schemathesis.Case:
    path = {name: known[name] if value == SEEDED else value for name, value in edge.path.items()}
    body = {"body": edge.body, "media_type": "application/json"} if edge.body is not None else {}
    return operation.Case(path_parameters=path, headers={**headers, **edge.headers}, query=dict(edge.query), **body)


@pytest.mark.parametrize("role", ["admin", "editor", "subscriber", "no key"])
def test_every_answer_is_documented_and_no_refusal_stores_anything(world, sent, role):
    from services.ingest.app import create_app

    app = create_app()
    key = world.keys[role]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    run = Run(app, world, sent)
    for operation, roles in _operations(app):
        serves = roles is None or role in roles
        budget = {GenerationMode.POSITIVE: VALID_EXAMPLES, GenerationMode.NEGATIVE: INVALID_EXAMPLES}
        for mode, examples in budget.items():
            strategy = _strategy(operation, mode, headers or None, world.known if serves else None)
            run.fuzz(operation, mode, strategy, examples if serves else REFUSED_EXAMPLES)
        if serves:
            run.edges(operation, headers)
    report = "\n\n".join(run.failures.values())
    assert not run.failures, f"{len(run.failures)} kinds of failure in {run.requests} requests:\n\n{report}"
    assert run.requests > 100


def test_operations_that_take_a_body_document_400_and_413(api):
    """Every body can be malformed (400) or too large (413), on every operation that takes one."""
    spec = api.anonymous.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            if "requestBody" in operation:
                assert "400" in answers, (method, path)
            if method in ("post", "put", "patch"):
                assert "413" in answers, (method, path)
    malformed = api.admin.post("/v1/keys", content=b"\x00", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "path, query",
    [
        ("/v1/deliveries", {"since": "1893456000"}),
        ("/v1/deliveries", {"until": "2030-01-01"}),
        ("/v1/deliveries", {"since": "2030-01-01T00:00:00"}),
    ],
)
def test_a_timestamp_in_a_query_is_text_with_an_offset(api, path, query):
    """A number would be read as Unix time, a date alone as midnight: the schema says date-time."""
    answer = api.admin.get(path, params=query)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"][0]["field"] == next(iter(query))
    assert api.admin.get(path, params={"since": "2030-01-01T00:00:00+02:00"}).status_code == 200


def test_a_timestamp_in_the_feed_or_a_replay_is_text_with_an_offset(api):
    site = api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/hook"}).json()["id"]
    reader = client(api.admin.post(f"/v1/subscribers/{site}/keys").json()["key"])
    assert reader.get("/v1/feed", params={"since": "-3.8e-233"}).status_code == 422
    assert reader.get("/v1/feed", params={"since": "2030-01-01T00:00:00Z"}).status_code == 200
    assert api.admin.post(f"/v1/subscribers/{site}/replay", json={"since": 0}).status_code == 422
    assert api.admin.post(f"/v1/subscribers/{site}/replay", json={"since": "2030-01-01T00:00:00Z"}).status_code == 202
