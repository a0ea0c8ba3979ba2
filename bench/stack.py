"""The stack the benchmarks run: the test suite's real processes (``tests.support.Stack``), but
with the production process counts and the production scheduler interval, so that the project is
measured as an operator runs it and a bare program can be given the same process counts.

* each worker runs its stage's default pool and concurrency (``services.cli.WORKERS``: enrichment
  prefork × the CPUs, publish prefork ×2, delivery threads ×2 with the async engine), one process
  each;
* the scheduler sweeps every second (the default), not every 0.2 s as in the tests.
"""

from __future__ import annotations

from services.cli import WORKERS
from tests.support import Stack

#: Settings the test stack changes for speed of the tests, back at their defaults.
PRODUCTION_TIMINGS = {"NEWSWIRE_SCHEDULER_INTERVAL_SECONDS": "1"}


def worker_counts() -> dict[str, tuple[str, int]]:
    """Stage → (pool, concurrency) as ``newswire worker <stage>`` runs it by default."""
    return {stage: (pool, concurrency) for stage, (_module, pool, concurrency) in WORKERS.items()}


def describe() -> str:
    stages = ", ".join(f"{stage} {pool} ×{n}" for stage, (pool, n) in worker_counts().items())
    return f"API, {stages}, scheduler every 1 s"


class BenchStack(Stack):
    """``Stack`` with production worker counts and timings."""

    SERVICES = {
        **Stack.SERVICES,
        **{stage: ["worker", stage, "--concurrency", str(n)] for stage, (_pool, n) in worker_counts().items()},
    }

    def __init__(self, data_dir, database_url=None, extra_env=None):
        super().__init__(data_dir, database_url, {**PRODUCTION_TIMINGS, **(extra_env or {})})
