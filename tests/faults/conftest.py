"""The fault suite: each scenario runs a fresh stack (SQLite, and PostgreSQL too when
NEWSWIRE_TEST_POSTGRES_URL is set), breaks one part mid-burst and counts. The counts of every
scenario are printed at the end of the run (and written as JSON to NEWSWIRE_FAULT_REPORT when
that is set)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.harness import FaultStack, Tally, dump
from tests.integration.conftest import BACKENDS, running_stack

TALLIES: list[Tally] = []

COLUMNS = [
    ("scenario", 38),
    ("backend", 8),
    ("stories", 7),
    ("versions", 8),
    ("deliveries", 10),
    ("faults", 6),
    ("lost", 4),
    ("duplicates", 10),
    ("out_of_order", 12),
    ("redelivered", 11),
    ("client_retries", 14),
    ("http_5xx", 8),
]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_stack(backend, tmp_path):
    """A fresh fault stack per scenario (its own database, Redis, workers and API)."""
    made = []

    def make(extra_env: dict[str, str] | None = None) -> FaultStack:
        generator = running_stack(backend, tmp_path, extra_env=extra_env, stack_class=FaultStack)
        made.append(generator)
        return next(generator)

    yield make
    for generator in made:
        generator.close()


@pytest.fixture
def tallies() -> list[Tally]:
    return TALLIES


def pytest_terminal_summary(terminalreporter) -> None:
    if not TALLIES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault suite: what was filed, broken, lost")
    write("  ".join(name.ljust(width) for name, width in COLUMNS))
    for tally in TALLIES:
        row = tally.as_row()
        write("  ".join(str(row[name]).ljust(width) for name, width in COLUMNS))
    totals = {
        "scenarios": len(TALLIES),
        "stories": sum(t.stories for t in TALLIES),
        "deliveries": sum(t.deliveries for t in TALLIES),
        "faults injected": sum(t.faults for t in TALLIES),
        "lost": sum(t.lost for t in TALLIES),
        "duplicates after dedupe": sum(t.duplicates for t in TALLIES),
        "out of order": sum(t.out_of_order for t in TALLIES),
    }
    write("total: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    if os.environ.get("NEWSWIRE_FAULT_REPORT"):
        Path(os.environ["NEWSWIRE_FAULT_REPORT"]).write_text(dump(TALLIES))
