"""A worker's parent loads the database driver before it forks its pool (``db.import_driver``),
so that no pool process imports it inside its first story."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from shared import db
before = "psycopg" in sys.modules
{call}
print(before, "psycopg" in sys.modules)
"""


def _probe(call: str) -> str:
    env = {**os.environ, "NEWSWIRE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(call=call)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_driver_is_loaded_without_a_connection():
    # nothing listens on port 1: import_driver must load the module without connecting
    assert _probe("db.import_driver()") == "False True"


def test_nothing_loads_it_before():
    assert _probe("pass") == "False False"
