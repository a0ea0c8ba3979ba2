"""Test helpers: bounded polling and a real local Newswire stack (Redis, workers, API, DB)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.embedded_redis import EmbeddedRedis, free_port

REPO = Path(__file__).resolve().parents[1]
SHARED_MATERIAL = REPO.parent / "shared"
T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def newswire(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=120, **kwargs
    )


def xml_schema(name: str):
    """An official IPTC XML schema (``NewsML-G2_2.35-spec-All-Power.xsd``, ``nitf-3-6.xsd``), from the
    material handed to the project when it is there, else the project's unchanged copy."""
    from lxml import etree

    given = SHARED_MATERIAL / "spec" / "newsml-g2" / name
    path = given if given.exists() else REPO / "services/publish/formats/schema/newsml-g2" / name
    return etree.XMLSchema(etree.parse(str(path)))


def ninjs_schema_dir() -> Path:
    """The IPTC schema handed to the project, or the project's unchanged copy of it."""
    given = SHARED_MATERIAL / "spec"
    return given if (given / "ninjs-schema_3.1.json").exists() else REPO / "services/publish/formats/schema"


class PostgresDatabase:
    """A throw-away database on the server named by NEWSWIRE_TEST_POSTGRES_URL."""

    def __init__(self, url: str):
        self.admin_url = re.sub(r"^postgresql\+psycopg://", "postgresql://", url)
        self.name = f"newswire_test_{uuid.uuid4().hex[:10]}"
        base = self.admin_url.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}".replace("postgresql://", "postgresql+psycopg://", 1)

    def create(self) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Receiver:
    """The reference receiver (``newswire receiver``) in its own process."""

    def __init__(self, stack: Stack, secret: str, port: int):
        self.port = port
        self.out = stack.data_dir / f"received-{self.port}.jsonl"
        self.log = (stack.data_dir / f"receiver-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli",
                "receiver",
                "--port",
                str(self.port),
                "--secret",
                secret,
                "--out",
                str(self.out),
            ],
            env=stack.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._listening, timeout=20, what="the receiver to listen")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    def _listening(self) -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{self.port}/", timeout=0.5)
            return True
        except httpx.HTTPError:
            return False

    def events(self) -> list[dict]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


class Stack:
    """Real parts: an embedded Redis, the database, the API under uvicorn, one Celery worker
    process per stage and the scheduler, each a separate OS process."""

    def __init__(self, data_dir: Path, database_url: str | None, extra_env: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.redis = EmbeddedRedis(data_dir / "redis", appendonly=False)
        self.api_port = free_port()
        self.database_url = database_url or f"sqlite:///{data_dir / 'newswire.db'}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands: dict[str, list[str]] = {}
        self.env = {
            **os.environ,
            "NEWSWIRE_DATA_DIR": str(data_dir),
            "NEWSWIRE_DATABASE_URL": self.database_url,
            "NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "NEWSWIRE_SCHEDULER_INTERVAL_SECONDS": "0.2",
            "NEWSWIRE_DELIVERY_RETRY_BASE_SECONDS": "0.5",
            "NEWSWIRE_STUCK_AFTER_SECONDS": "3",
            "NEWSWIRE_DELIVERY_LEASE_SECONDS": "4",
            "NEWSWIRE_DELIVERY_DEADLINE_SECONDS": "3",
            "NEWSWIRE_MAX_TRIES": "2",
            "NEWSWIRE_PORT": str(self.api_port),
            **(extra_env or {}),
        }
        self.engine = None

    SERVICES = {
        "api": ["api"],
        "enrichment": ["worker", "enrichment", "--concurrency", "1"],
        "publish": ["worker", "publish", "--concurrency", "1"],
        "delivery": ["worker", "delivery", "--concurrency", "4"],
        "beat": ["beat"],
    }
    ALL = tuple(SERVICES)

    def broker_url_for(self, redis_url: str) -> str:
        """The Redis URL the services get (a test may put a proxy in between)."""
        return redis_url

    def start(self, services: tuple[str, ...] = ALL) -> Stack:
        self.env["NEWSWIRE_REDIS_URL"] = self.broker_url_for(self.redis.start())
        done = newswire(["migrate"], self.env)
        assert done.returncode == 0, done.stderr
        self.editor_key = self.create_key("editor")
        self.admin_key = self.create_key("admin")
        for name in services:
            self._spawn(name, self.SERVICES[name])
        self.engine = sa.create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        wait_for(self._ready, timeout=60, what="the API /readyz")
        return self

    def create_key(self, role: str) -> str:
        done = newswire(["keys", "create", "--role", role, "--name", f"test {role}"], self.env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def kill(self, name: str) -> None:
        """SIGKILL one service process (no shutdown, no message acknowledged)."""
        self.processes[name].kill()
        self.processes[name].wait()

    def kill_pool_processes(self, name: str) -> list[int]:
        """SIGKILL the pool processes of one worker (as the OOM killer would), not the worker."""
        pids = children(self.processes[name].pid)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def restart(self, name: str) -> None:
        self._spawn(name, self.commands[name])

    def _spawn(self, name: str, args: list[str]) -> None:
        self.commands[name] = args
        log = (self.data_dir / f"{name}.log").open("a")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def _ready(self) -> bool:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited: {(self.data_dir / f'{name}.log').read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.api_url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=10)

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()

    def subscribe(self, name: str | None = None, filters: dict | None = None) -> tuple[dict, Receiver]:
        """Register a subscriber, then start a reference receiver with its secret at its URL."""
        name = name or f"site-{uuid.uuid4().hex[:8]}"
        port = free_port()
        body = {"name": name, "url": f"http://127.0.0.1:{port}/webhooks", **({"filters": filters} if filters else {})}
        with self.client(self.admin_key) as api:
            created = api.post("/v1/subscribers", json=body)
        assert created.status_code == 201, created.text
        subscriber = created.json()
        return subscriber, Receiver(self, subscriber["secret"], port)

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.engine is not None:
            self.engine.dispose()
        self.redis.stop()


class LocalEndpoint:
    """A real HTTP endpoint on 127.0.0.1 in a background thread. ``respond(body, headers)``
    returns (status, extra headers) for each POST; headers arrive lower-cased."""

    def __init__(self, respond: Callable[[bytes, dict], tuple[int, dict]]):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status, extra = respond(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                return

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ScriptedEndpoint(LocalEndpoint):
    """A webhook endpoint that answers from a script: one (status, headers) per request, then
    200. Every request is verified with ``standardwebhooks`` and kept in ``requests``."""

    def __init__(self, script: list[tuple[int, dict]]):
        self.script = list(script)
        self.requests: list[dict] = []
        self.secret: str | None = None
        self.subscriber_id: str | None = None
        super().__init__(self.respond)

    def respond(self, body: bytes, headers: dict) -> tuple[int, dict]:
        try:
            event = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            self.requests.append({"headers": headers, "event": None, "status": 401, "verified": False})
            return 401, {}
        status, extra = self.script.pop(0) if self.script else (200, {})
        self.requests.append({"headers": headers, "event": event, "status": status, "verified": True})
        return status, extra

    def register(self, stack: Stack) -> ScriptedEndpoint:
        """Make it a subscriber of the stack."""
        with stack.client(stack.admin_key) as admin:
            answer = admin.post("/v1/subscribers", json={"name": f"scripted-{self.port}", "url": self.url})
        assert answer.status_code == 201, answer.text
        self.secret, self.subscriber_id = answer.json()["secret"], answer.json()["id"]
        return self

    def accepted(self) -> list[dict]:
        """Events it answered 2xx to."""
        return [r["event"] for r in self.requests if 200 <= r["status"] < 300]


class SlowEndpoint:
    """A receiver that is odd on purpose, on 127.0.0.1: ``drip`` answers one byte every
    ``pause`` seconds; ``hang`` reads the request and never answers; ``gzip`` answers 200 with a
    compressed body (NUL bytes and all). Counts connections."""

    def __init__(self, mode: str, pause: float = 0.5):
        import socket

        self.mode, self.pause = mode, pause
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.opened = self.open_now = self.most_at_once = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.mode}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn) -> None:
        with self.lock:
            self.opened += 1
            self.open_now += 1
            self.most_at_once = max(self.most_at_once, self.open_now)
        try:
            conn.recv(65536)
            if self.mode == "gzip":  # a compressed answer: full of NUL bytes
                import gzip

                body = gzip.compress(b"ok, stored")
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body) + body
                )
            elif self.mode == "drip":
                for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok":
                    conn.sendall(bytes([byte]))
                    if self._client_left(conn):
                        break
            else:
                while conn.recv(65536) and not self.stop.is_set():
                    pass  # hang: read whatever comes, never answer
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.open_now -= 1

    def _client_left(self, conn) -> bool:
        """Wait one drip interval; True once the client closed its end (or we are stopping)."""
        import select

        readable, _, _ = select.select([conn], [], [], self.pause)
        return self.stop.is_set() or bool(readable and not conn.recv(65536))

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


class FreezableProxy:
    """A TCP proxy on 127.0.0.1 in front of a real server. ``freeze()`` makes it a server that
    accepts connections and never answers (nothing is read or forwarded either way, on old
    connections or new ones); ``thaw()`` lets the bytes flow again."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self.frozen.set()

    def thaw(self) -> None:
        self.frozen.clear()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # the server behind is down: so is the proxy, for this connection
                client.close()
                continue
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.1)
        while not self.closed.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)
                continue
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
