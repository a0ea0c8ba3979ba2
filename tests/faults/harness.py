"""The fault suite's parts: a stack whose pieces can be broken, a steady stream of stories from
clients that retry the way a real client does, receivers that record every arrival, and the
count of what was lost, duplicated or reordered."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.embedded_redis import EmbeddedRedis, free_port
from tests.support import FreezableProxy, Stack, children, wait_for

#: Answers a client sends again (with the same Idempotency-Key): the server could not take the
#: request now, and said so, or the connection broke before an answer came.
RETRY_STATUSES = {502, 503, 504}


class FaultStack(Stack):
    """The test stack with Redis persisting to its append-only file, production-like try counts,
    and a Redis proxy in front of the API alone (to cut the API off from the broker)."""

    def __init__(self, data_dir, database_url, extra_env=None):
        super().__init__(data_dir, database_url, {"NEWSWIRE_MAX_TRIES": "5", **(extra_env or {})})
        self.redis = EmbeddedRedis(data_dir / "redis", appendonly=True)
        self.api_proxy: FreezableProxy | None = None

    def start(self, services=Stack.ALL) -> FaultStack:
        super().start(services)
        self.engine.dispose()
        self.engine = sa.create_engine(self.engine.url, pool_pre_ping=True)  # survives a cut connection
        return self

    def _spawn(self, name: str, args: list[str]) -> None:
        if name != "api":
            return super()._spawn(name, args)
        if self.api_proxy is None:
            self.api_proxy = FreezableProxy(self.redis.port)
        own = self.env
        self.env = {**own, "NEWSWIRE_REDIS_URL": f"redis://127.0.0.1:{self.api_proxy.port}/0"}
        try:
            super()._spawn(name, args)
        finally:
            self.env = own

    def kill_tree(self, name: str) -> None:
        """SIGKILL a service and its pool processes at once (no shutdown, nothing acknowledged)."""
        pids = children(self.processes[name].pid)
        self.kill(name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def restart_until_running(self, name: str, settle: float = 1.5, tries: int = 40) -> int:
        """Start a service again the way a restart policy does: a start that exits at once (the
        scheduler refusing while its dead predecessor's lease runs out) is started again."""
        for attempt in range(1, tries + 1):
            self.restart(name)
            time.sleep(settle)
            if self.processes[name].poll() is None:
                return attempt
        raise AssertionError(f"{name} did not stay up after {tries} starts")

    def replace_redis(self, keep_data: bool) -> None:
        """Redis goes away and comes back on the same port: restarted with its append-only file,
        or killed and replaced by an empty one."""
        if keep_data:
            self.redis.stop()
        else:
            self.redis.process.kill()
            self.redis.process.wait()
            shutil.rmtree(self.redis.directory)
        time.sleep(1.0)
        self.redis.start()

    def stop(self) -> None:
        super().stop()
        if self.api_proxy:
            self.api_proxy.close()

    def scalar(self, sql: str, **params) -> object:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()


@dataclass
class Arrival:
    webhook_id: str
    story_id: str
    version: int


class CountingReceiver:
    """A downstream site on 127.0.0.1 that verifies each webhook's signature and records every
    arrival, duplicates included (the counting is done afterwards). It can go down (connections
    refused) and come back on the same port."""

    def __init__(self, name: str, urgency_max: int | None = None):
        self.name = name
        self.urgency_max = urgency_max
        self.port = free_port()
        self.arrivals: list[Arrival] = []
        self.lock = threading.Lock()
        self.webhook: Webhook | None = None
        self.server: ThreadingHTTPServer | None = None
        self.subscriber_id = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    def subscribe(self, stack: Stack) -> CountingReceiver:
        body = {"name": f"{self.name}-{self.port}", "url": self.url}
        if self.urgency_max:
            body["filters"] = {"urgency_max": self.urgency_max}
        with stack.client(stack.admin_key) as admin:
            created = admin.post("/v1/subscribers", json=body)
        assert created.status_code == 201, created.text
        self.subscriber_id = created.json()["id"]
        self.webhook = Webhook(created.json()["secret"])
        return self

    def matches(self, urgency: int) -> bool:
        return self.urgency_max is None or urgency <= self.urgency_max

    def up(self) -> CountingReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    event = receiver.webhook.verify(body, headers)
                except WebhookVerificationError:
                    self.send_response(401)
                else:
                    receiver.record(headers["webhook-id"], event)
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def record(self, webhook_id: str, event: dict) -> None:
        item = event["data"]
        arrival = Arrival(webhook_id, item["uri"].rsplit(":", 1)[-1], int(item["version"]))
        with self.lock:
            self.arrivals.append(arrival)

    def snapshot(self) -> list[Arrival]:
        with self.lock:
            return list(self.arrivals)


@dataclass
class Filed:
    story_id: str
    urgency: int
    versions: list[int] = field(default_factory=list)


class Wire:
    """Editors filing a steady stream: ``stories`` new stories from ``clients`` threads, every
    third one updated once it is accepted. Each request carries an Idempotency-Key and is sent
    again (same key) after a broken connection or a 502/503/504, for up to ``patience`` seconds,
    as a careful client does; what the API accepted is what must arrive."""

    def __init__(self, stack: Stack, stories: int = 30, clients: int = 2, pause: float = 0.15, patience: float = 90):
        self.stack = stack
        self.stories = stories
        self.clients = clients
        self.pause = pause
        self.patience = patience
        self.filed: dict[str, Filed] = {}
        self.statuses: dict[int, int] = defaultdict(int)  # every answer seen, retried ones included
        self.broken_connections = 0
        self.refused: list[str] = []
        self.lock = threading.Lock()
        self.counter = itertools.count()
        self.threads: list[threading.Thread] = []

    def start(self) -> Wire:
        self.threads = [threading.Thread(target=self._file, daemon=True) for _ in range(self.clients)]
        for thread in self.threads:
            thread.start()
        return self

    def join(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), "the clients did not finish filing"

    def accepted_versions(self) -> int:
        with self.lock:
            return sum(len(f.versions) for f in self.filed.values())

    def _file(self) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {self.stack.editor_key}"}, timeout=10) as client:
            while (n := next(self.counter)) < self.stories:
                self._file_one(client, n)
                time.sleep(self.pause)

    def _file_one(self, client: httpx.Client, n: int) -> None:
        urgency = n % 9 + 1
        body = story_body(n, urgency)
        answer = self._send(client, "POST", "/v1/stories", body)
        if answer is None or answer.status_code != 202:
            return
        filed = Filed(answer.json()["id"], urgency, [answer.json()["version"]])
        with self.lock:
            self.filed[filed.story_id] = filed
        if n % 3 == 0:
            update = {**body, "body_text": body["body_text"] + " Talks resumed on Tuesday."}
            answer = self._send(client, "PUT", f"/v1/stories/{filed.story_id}", update)
            if answer is not None and answer.status_code == 202:
                with self.lock:
                    filed.versions.append(answer.json()["version"])

    def _send(self, client: httpx.Client, method: str, path: str, body: dict) -> httpx.Response | None:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            try:
                answer = client.request(method, self.stack.api_url + path, json=body, headers=headers)
            except httpx.TransportError:
                with self.lock:
                    self.broken_connections += 1
                time.sleep(0.3)
                continue
            with self.lock:
                self.statuses[answer.status_code] += 1
            if answer.status_code not in RETRY_STATUSES:
                if answer.status_code >= 300:
                    self.refused.append(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
                return answer
            time.sleep(float(answer.headers.get("retry-after", "0.5")))
        self.refused.append(f"{method} {path}: no answer within {self.patience:.0f} s")
        return None


def story_body(n: int, urgency: int) -> dict:
    return {
        "headline": f"Grain talks, round {n}",
        "body_text": (
            f"ASTANA, Nov 28 (Newswire) - Kazakhstan and Uzbekistan resumed talks on grain exports on "
            f"Saturday, round {n} of a dispute over rail tariffs that has held up shipments to Afghanistan. "
            "The trade ministers met in Astana and agreed to publish a joint timetable next week."
        ),
        "urgency": urgency,
    }


@dataclass
class Tally:
    """One scenario's counts. ``lost``: a (site, story, version) the API accepted that never
    arrived; ``duplicates``: one that arrived under more than one webhook-id (a site's dedupe
    could not catch it); ``out_of_order``: a story whose versions first arrived out of order at
    some site; ``redelivered``: arrivals repeating a webhook-id (at-least-once; sites drop them)."""

    scenario: str
    backend: str
    stories: int = 0
    versions: int = 0
    deliveries: int = 0
    faults: int = 0
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    redelivered: int = 0
    unpublished: int = 0
    client_retries: int = 0
    http_5xx: int = 0
    seconds: float = 0.0

    def as_row(self) -> dict:
        return self.__dict__.copy()


def expected(wire: Wire, receiver: CountingReceiver) -> set[tuple[str, int]]:
    return {(f.story_id, v) for f in wire.filed.values() if receiver.matches(f.urgency) for v in f.versions}


def all_arrived(wire: Wire, receivers: list[CountingReceiver]) -> bool:
    return all(expected(wire, r) <= {(a.story_id, a.version) for a in r.snapshot()} for r in receivers)


def count(tally: Tally, stack: FaultStack, wire: Wire, receivers: list[CountingReceiver]) -> Tally:
    """Fill in the tally from what the clients were told and what the sites received."""
    tally.stories = len(wire.filed)
    tally.versions = wire.accepted_versions()
    tally.client_retries = wire.broken_connections + sum(n for s, n in wire.statuses.items() if s in RETRY_STATUSES)
    tally.http_5xx = sum(n for s, n in wire.statuses.items() if s >= 500 and s not in RETRY_STATUSES)
    for receiver in receivers:
        want = expected(wire, receiver)
        arrivals = receiver.snapshot()
        ids: dict[tuple[str, int], set[str]] = defaultdict(set)
        first_order: dict[str, list[int]] = defaultdict(list)
        for a in arrivals:
            key = (a.story_id, a.version)
            if not ids[key]:
                first_order[a.story_id].append(a.version)
            ids[key].add(a.webhook_id)
        tally.deliveries += len(want)
        tally.lost += len(want - set(ids))
        tally.duplicates += sum(len(v) - 1 for v in ids.values())
        tally.redelivered += len(arrivals) - sum(len(v) for v in ids.values())
        tally.out_of_order += sum(1 for versions in first_order.values() if versions != sorted(versions))
    published = stack.scalar("SELECT COUNT(*) FROM story_version WHERE state = 'published'")
    tally.unpublished = tally.versions - int(published or 0)
    return tally


def settle(wire: Wire, receivers: list[CountingReceiver], timeout: float = 150) -> None:
    """Wait (bounded) until every accepted version reached every matching site; a timeout is
    not raised here: the tally then shows what was lost."""
    with contextlib.suppress(AssertionError):
        wait_for(lambda: all_arrived(wire, receivers), timeout=timeout, interval=0.25, what="every story everywhere")
    time.sleep(1.0)  # late duplicates, if any, arrive now and are counted


def dump(tallies: list[Tally]) -> str:
    return json.dumps([t.as_row() for t in tallies], indent=1)
