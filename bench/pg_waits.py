"""What PostgreSQL's sessions wait for while a benchmark runs: ``pg_stat_activity`` and the advisory
locks in ``pg_locks``, sampled every few milliseconds from a connection of its own, reported as the
average number of sessions in each state. A row lock shows as ``Lock/transactionid``, an advisory lock
as ``Lock/advisory``, a session waiting for its client (the Python process is busy) as
``Client/ClientRead``. Used by ``python -m bench.profile --pipeline --postgres URL``."""

from __future__ import annotations

import threading
from collections import Counter

import sqlalchemy as sa

_ACTIVITY = sa.text(
    "SELECT state, coalesce(wait_event_type, '-'), coalesce(wait_event, '-'), left(query, 48) "
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend' AND state <> 'idle'"
)
_ADVISORY = sa.text(
    "SELECT objid, granted FROM pg_locks WHERE locktype = 'advisory' "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class WaitSampler:
    """``with WaitSampler(engine) as waits: …`` then ``waits.lines()``."""

    def __init__(self, engine: sa.Engine, every_seconds: float = 0.005) -> None:
        self.engine, self.every = engine, every_seconds
        self.samples = 0
        self.sessions: Counter = Counter()
        self.advisory: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.wait(self.every):
                self.sessions.update(tuple(row) for row in conn.execute(_ACTIVITY))
                self.advisory.update(tuple(row) for row in conn.execute(_ADVISORY))
                conn.rollback()  # a transaction sees one snapshot of the statistics
                self.samples += 1

    def lines(self, top: int = 10) -> list[str]:
        """Markdown: sessions on average in each state, then each advisory lock held and waited for."""
        n = max(self.samples, 1)
        lines = [f"PostgreSQL sessions, on average over {self.samples} samples (pg_stat_activity, not idle):", ""]
        lines += ["| sessions | state | waiting for | statement |", "|---|---|---|---|"]
        for (state, kind, event, query), count in self.sessions.most_common(top):
            statement = " ".join(query.split()).replace("|", "/")
            lines.append(f"| {count / n:.2f} | {state} | {kind}/{event} | `{statement}` |")
        lines += ["", "| advisory lock | held | waited for (sessions) |", "|---|---|---|"]
        for key in sorted({objid for objid, _ in self.advisory}):
            held, waiting = self.advisory[(key, True)] / n, self.advisory[(key, False)] / n
            lines.append(f"| {key} | {held:.2f} | {waiting:.2f} |")
        return lines
