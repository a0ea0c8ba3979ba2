"""``newswire run``: the whole pipeline on one machine, on embedded defaults.

Starts a private Redis (unless NEWSWIRE_REDIS_URL is set), migrates the SQLite database,
makes development keys, loads the seeds, and runs the API, one worker per stage, the
scheduler and the reference receiver as child processes. Ctrl-C stops them all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from services.ingest.keys.service import create_key, find_key
from services.ingest.seeds import DEFAULT_SEEDS_DIR, SeedReport, load_stories, load_subscribers
from shared.config import get_settings
from shared.db import migrate, session_scope
from shared.embedded_redis import EmbeddedRedis
from shared.files import private_dir
from shared.models import Role

RECEIVER_SUBSCRIBER = "demo-receiver"


def dev_keys(path: Path) -> dict[str, str]:
    """An editor and an admin key for this data directory, kept across runs."""
    keys = json.loads(path.read_text()) if path.exists() else {}
    with session_scope() as session:
        for role in (Role.editor, Role.admin):
            if not keys.get(role.value) or find_key(session=session, key=keys[role.value]) is None:
                _row, keys[role.value] = create_key(session=session, name=f"dev {role.value}", role=role)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(keys, indent=2))
    return keys


class Children:
    def __init__(self, logs: Path, env: dict[str, str]):
        self.logs, self.env, self.procs = logs, env, {}

    def start(self, name: str, args: list[str], to_console: bool = False, env: dict | None = None) -> None:
        out = None if to_console else (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args],
            env={**self.env, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
        )

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def stop(self, timeout: float = 15.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _environment(settings) -> tuple[Path, EmbeddedRedis | None]:
    """Data folder, loopback webhooks allowed, and a private Redis unless one is configured."""
    data_dir = settings.data_dir.resolve()
    private_dir(data_dir)
    (data_dir / "logs").mkdir(exist_ok=True)
    os.environ["NEWSWIRE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    redis = None
    if not settings.redis_url:
        redis = EmbeddedRedis(data_dir / "redis")
        os.environ["NEWSWIRE_REDIS_URL"] = redis.start()
    get_settings.cache_clear()
    return data_dir, redis


def _start_services(children: Children, settings, data_dir: Path, receiver) -> None:
    children.start("api", ["api"])
    for queue in ("enrichment", "publish", "delivery"):
        children.start(f"worker-{queue}", ["worker", queue])
    children.start("beat", ["beat"])
    if receiver is not None:
        children.start(
            "receiver",
            ["receiver", "--port", str(settings.receiver_port), "--out", str(data_dir / "received.jsonl")],
            to_console=True,
            env={"NEWSWIRE_RECEIVER_SECRET": receiver.secret},  # not on the command line
        )


def _supervise(children: Children, logs: Path, stopping) -> int:
    """Until Ctrl-C (0), or until a service dies (1)."""
    while not stopping():
        dead = children.dead()
        if dead:
            print(f"stopped because {', '.join(dead)} exited; see {logs}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print("\nstopping Newswire ...", flush=True)
    return 0


def _say(step: str) -> None:
    print(f"==> {step}", flush=True)


def run_stack() -> int:
    _say("preparing the data folder and Redis (an embedded one unless NEWSWIRE_REDIS_URL is set)")
    data_dir, redis = _environment(get_settings())
    settings, logs = get_settings(), data_dir / "logs"
    children = Children(logs, dict(os.environ))
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        _say(f"migrating the database ({settings.sqlalchemy_url.split('://')[0]})")
        migrate(settings)
        keys = dev_keys(data_dir / "dev-keys.json")
        report = SeedReport()
        load_subscribers(settings, DEFAULT_SEEDS_DIR, report)
        receiver = report.subscribers.get(RECEIVER_SUBSCRIBER)
        api_url = f"http://{settings.host}:{settings.port}"
        _say(
            "starting the API, the enrichment, publish and delivery workers and the scheduler (the tagger's model "
            "loads in a few seconds)"
        )
        _start_services(children, settings, data_dir, receiver)
        if not _wait_ready(f"{api_url}/readyz", children, timeout=60):
            print(f"the API did not become ready; see {logs}/api.log", file=sys.stderr)
            return 1
        _say("loading the seed stories")
        load_stories(DEFAULT_SEEDS_DIR, report)
        _banner(api_url, keys, report, logs, redis, settings.receiver_port if receiver else None)
        return _supervise(children, logs, stop.is_set)
    finally:
        children.stop()
        if redis:
            redis.stop()


def _wait_ready(url: str, children: Children, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not children.dead():
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _banner(api_url, keys, report, logs, redis, receiver_port) -> None:
    seeded = ", ".join(f"{name} -> {sid}" for name, sid in report.stories.items()) or "none"
    lines = [
        "",
        "Newswire is running.",
        f"  Wire desk    {api_url}/desk   <- open this; sign in with the editor key below",
        f"  Portal       {api_url}/portal (subscribers and their deliveries; sign in with the admin key)",
        f"  API          {api_url}",
        f"  API docs     {api_url}/docs",
        f"  Redis        {'embedded, ' if redis else ''}{os.environ['NEWSWIRE_REDIS_URL']}",
        f"  Database     {get_settings().sqlalchemy_url}",
        f"  Logs         {logs}/",
        f"  Receiver     http://127.0.0.1:{receiver_port}/webhooks (its lines appear below)"
        if receiver_port
        else "  Receiver     not started (no demo-receiver subscriber in seeds/)",
        f"  Seed stories {seeded}",
        f"  Editor key   {keys['editor']}",
        f"  Admin key    {keys['admin']}",
        "",
        "Post a story:",
        f"  curl -s -X POST {api_url}/v1/stories -H 'Authorization: Bearer {keys['editor']}' \\",
        '       -H \'Content-Type: application/json\' -d \'{"headline": "Hello", "body_text": "From Astana."}\'',
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)
