"""The code stays ruff-clean: lint (with a complexity limit) and format, as configured in
pyproject.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


@pytest.mark.parametrize("command", [["check", "--output-format", "concise"], ["format", "--check"]])
def test_ruff(command):
    assert RUFF, "ruff is a test dependency (pyproject.toml); run `make install`"
    done = subprocess.run([RUFF, *command, "."], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
