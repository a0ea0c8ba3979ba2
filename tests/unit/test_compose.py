"""docker-compose.yml is validated by the real Compose v2 CLI, and every service runs a real
`newswire` sub-command (no Docker engine is needed for either check)."""

import shlex
import subprocess
from pathlib import Path

import compose
import yaml

from services.cli import build_parser
from tests.support import REPO

COMPOSE_BIN = Path(compose.__file__).parent / "docker-compose"


def test_compose_file_is_valid():
    done = subprocess.run(
        [str(COMPOSE_BIN), "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_compose_services_run_newswire_subcommands():
    done = subprocess.run(
        [str(COMPOSE_BIN), "-f", str(REPO / "docker-compose.yml"), "config"], capture_output=True, text=True, timeout=60
    )
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert {"redis", "postgres", "migrate", "api", "enrichment", "publish", "delivery", "beat"} <= set(services)
    parser = build_parser()
    for name in ("migrate", "api", "enrichment", "publish", "delivery", "beat"):
        command = services[name]["command"]
        command = shlex.split(command) if isinstance(command, str) else command
        assert command[0] == "newswire", name
        parser.parse_args(command[1:])  # exits (fails the test) on an unknown sub-command
        assert services[name]["environment"]["NEWSWIRE_ENV"] == "production"
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "appendonly" in (REPO / "infra/redis.conf").read_text()
