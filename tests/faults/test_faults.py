"""Break one part of the running wire in the middle of a burst of stories, then count: every
story the API accepted must reach every site whose filters match it, each (story, version)
under one webhook-id, a story's versions in order. Real processes throughout: Redis, the
database, the API under uvicorn, one Celery worker per stage, the scheduler, and three sites
on 127.0.0.1 (two take everything, one only urgency 1-3)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.faults.harness import CountingReceiver, FaultStack, Tally, Wire, count, expected, settle
from tests.integration.conftest import BACKENDS
from tests.support import wait_for


def sites(stack: FaultStack) -> list[CountingReceiver]:
    return [
        CountingReceiver("everything-a").subscribe(stack).up(),
        CountingReceiver("everything-b").subscribe(stack).up(),
        CountingReceiver("flashes-only", urgency_max=3).subscribe(stack).up(),
    ]


def run_scenario(
    name: str,
    backend: str,
    stack: FaultStack,
    tallies: list[Tally],
    inject: Callable[[], int],
    receivers: list[CountingReceiver] | None = None,
    after_burst: Callable[[Wire], None] | None = None,
) -> tuple[Tally, Wire]:
    receivers = receivers or sites(stack)
    tally, started = Tally(name, backend), time.monotonic()
    try:
        wire = Wire(stack).start()
        wait_for(lambda: wire.accepted_versions() >= 8, timeout=60, what="the burst to be under way")
        tally.faults = inject()
        wire.join()
        if after_burst:
            after_burst(wire)
        settle(wire, receivers)
        count(tally, stack, wire, receivers)
    finally:
        tally.seconds = round(time.monotonic() - started, 1)
        tallies.append(tally)
        for receiver in receivers:
            receiver.down()
    assert wire.refused == [], wire.refused
    assert tally.faults >= 1
    assert (tally.lost, tally.duplicates, tally.out_of_order) == (0, 0, 0), tally
    assert tally.unpublished == 0 and tally.http_5xx == 0, tally
    return tally, wire


def wait_mid_step(stack: FaultStack, state: str) -> None:
    """Until a worker has taken up a version's step (its try is counted) and not finished it."""
    wait_for(
        lambda: stack.scalar("SELECT COUNT(*) FROM story_version WHERE state = :s AND tries > 0", s=state),
        timeout=30,
        interval=0.005,
        what=f"a version mid-step in {state}",
    )


def kill_mid_step(stack: FaultStack, service: str, times: int = 2) -> Callable[[], int]:
    """A fault that SIGKILLs the worker (and its pool) as soon as it has taken up a version's
    step, then starts it again; ``times`` over."""
    state = {"enrichment": "stored", "publish": "enriched"}[service]

    def inject() -> int:
        for _ in range(times):
            wait_mid_step(stack, state)
            stack.kill_tree(service)
            stack.restart(service)
        return times

    return inject


@pytest.mark.parametrize("keep_data", [True, False], ids=["restarted-with-its-aof", "killed-replaced-empty"])
def test_redis_gone_mid_burst(backend, make_stack, tallies, keep_data):
    stack = make_stack()

    def inject() -> int:
        stack.replace_redis(keep_data=keep_data)
        return 1

    name = "redis restarted (append-only file)" if keep_data else "redis killed, replaced empty"
    run_scenario(name, backend, stack, tallies, inject)


def test_enrichment_worker_sigkilled_mid_task(backend, make_stack, tallies):
    stack = make_stack()

    run_scenario("enrichment worker SIGKILLed mid-task", backend, stack, tallies, kill_mid_step(stack, "enrichment"))


def test_publish_worker_sigkilled_mid_render(backend, make_stack, tallies):
    stack = make_stack()

    run_scenario("publish worker SIGKILLed mid-render", backend, stack, tallies, kill_mid_step(stack, "publish"))


def test_scheduler_killed_and_restarted_while_a_site_is_down(backend, make_stack, tallies):
    """Retries wait for the scheduler: a site that refused connections while the scheduler was
    dead gets its stories once a new scheduler has taken over the dead one's lease."""
    stack = make_stack({"NEWSWIRE_SCHEDULER_LEASE_SECONDS": "3"})
    receivers = sites(stack)

    def inject() -> int:
        receivers[0].down()
        stack.kill_tree("beat")
        time.sleep(3)
        receivers[0].up()
        stack.restart_until_running("beat")
        return 2

    run_scenario("scheduler killed + a site down", backend, stack, tallies, inject, receivers)


def test_api_killed_between_commit_and_relay(backend, make_stack, tallies):
    """The API is cut off from Redis (its relays after commit hang, then rest), SIGKILLed while
    stories it accepted wait unsent in the outbox, and restarted; the scheduler relays them, and
    clients whose connection broke send again with the same Idempotency-Key."""
    stack = make_stack()

    def inject() -> int:
        stack.api_proxy.freeze()
        wait_for(
            lambda: stack.scalar("SELECT COUNT(*) FROM outbox_event WHERE sent_at IS NULL") >= 2,
            timeout=30,
            interval=0.02,
            what="accepted stories waiting unrelayed",
        )
        stack.kill_tree("api")
        stack.api_proxy.thaw()
        stack.restart_until_running("api")
        return 1

    _tally, wire = run_scenario("API killed between commit and relay", backend, stack, tallies, inject)
    assert wire.broken_connections + sum(wire.statuses.values()) >= wire.accepted_versions()


def test_site_down_for_its_whole_retry_window_then_replayed(backend, make_stack, tallies):
    """A site refuses connections until every delivery to it has run out of attempts (dead
    letters, `failed`); it comes back and the operator replays the burst's time range."""
    stack = make_stack({"NEWSWIRE_DELIVERY_MAX_ATTEMPTS": "3"})
    receivers = sites(stack)
    down = receivers[1]
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    def inject() -> int:
        down.down()
        return 1

    def replay(wire: Wire) -> None:
        dead = len(expected(wire, down))
        wait_for(
            lambda: (
                stack.scalar(
                    "SELECT COUNT(*) FROM delivery WHERE subscriber_id = :s AND state = 'failed'", s=down.subscriber_id
                )
                == dead
            ),
            timeout=120,
            interval=0.25,
            what="every delivery to the site that is down to fail",
        )
        assert not down.snapshot()
        down.up()
        with stack.client(stack.admin_key) as admin:
            answer = admin.post(f"/v1/subscribers/{down.subscriber_id}/replay", json={"since": since})
        assert answer.status_code == 202, answer.text
        assert answer.json()["resent"] == dead

    run_scenario("site down all retries, then replay", backend, stack, tallies, inject, receivers, replay)


def _can_make_immutable() -> bool:
    """Whether this machine lets the suite make a file read-only for its owner (chattr +i needs
    CAP_LINUX_IMMUTABLE: root, as on the CI machines)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "immutable-probe"
        probe.write_text("x")
        made = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
        if made:
            subprocess.run(["chattr", "-i", str(probe)], check=True)
    return made


if shutil.which("chattr") and _can_make_immutable():

    @pytest.mark.parametrize("backend", ["sqlite"])
    def test_data_directory_read_only_for_a_moment(backend, make_stack, tallies):
        """The database file and its write-ahead log refuse every write for three seconds (as a
        disk remounted read-only does): the API answers 503 with a clear error (clients send
        again), the workers' steps fail and are taken up again, and the file is intact afterwards."""
        stack = make_stack()
        database = stack.data_dir / "newswire.db"
        frozen = [str(database), f"{database}-wal"]

        def inject() -> int:
            subprocess.run(["chattr", "+i", *frozen], check=True)
            try:
                time.sleep(3)
            finally:
                subprocess.run(["chattr", "-i", *frozen], check=True)
            return 1

        _tally, wire = run_scenario("data directory read-only for 3 s", backend, stack, tallies, inject)
        assert wire.statuses[503] >= 1, dict(wire.statuses)
        with sqlite3.connect(database) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


if "postgres" in BACKENDS:

    @pytest.mark.parametrize("backend", ["postgres"])
    def test_postgresql_restarted_mid_burst(backend, make_stack, tallies):
        """Every connection to the database is cut and new ones refused for three seconds, as a
        PostgreSQL restart does (the shared server itself is left running for other databases)."""
        stack = make_stack()
        name = stack.database_url.rsplit("/", 1)[1]
        admin_url = os.environ["NEWSWIRE_TEST_POSTGRES_URL"]

        def inject() -> int:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                time.sleep(3)
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            return 1

        run_scenario("postgresql connections cut for 3 s", backend, stack, tallies, inject)
