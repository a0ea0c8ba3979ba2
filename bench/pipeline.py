"""End-to-end pipeline benchmark on the real stack (embedded Redis, the API under uvicorn,
one Celery worker process per stage, the scheduler, SQLite or PostgreSQL).

    python -m bench.pipeline [--sequential 30] [--burst 300] [--postgres URL]

* sequential: one story at a time, waiting for its webhook — latency from POST to the
  receiver's verified arrival, on an idle pipeline (the "first webhook out" figure);
* burst: N stories posted by 8 concurrent clients, then the time until the receiver has
  verified all of them — throughput and latency under load.

The receiver is an in-process HTTP server on 127.0.0.1 that verifies every signature with
``standardwebhooks`` and timestamps arrivals with the same clock as the POSTs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook

from bench.machine import describe, rss_mib
from tests.support import LocalEndpoint, PostgresDatabase, Stack, children, wait_for

SEED = json.loads((Path(__file__).resolve().parents[1] / "seeds/stories/us-returns-to-central-asia.json").read_text())


class TimingReceiver(LocalEndpoint):
    """Verifies each webhook and notes when each story first arrived."""

    def __init__(self):
        self.arrivals: dict[str, float] = {}
        self.secret = ""
        self.lock = threading.Lock()
        super().__init__(self.respond)

    def respond(self, body: bytes, headers: dict) -> tuple[int, dict]:
        event = Webhook(self.secret).verify(body, headers)
        with self.lock:
            self.arrivals.setdefault(event["data"]["uri"].rsplit(":", 1)[-1], time.perf_counter())
        return 204, {}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(name: str, latencies: list[float]) -> str:
    ms = [v * 1000 for v in latencies]
    return f"| {name} | {len(ms)} | {statistics.median(ms):.0f} | {pct(ms, 0.95):.0f} | {max(ms):.0f} |"


def sequential_run(post, receiver: TimingReceiver, count: int) -> tuple[list[float], list[float]]:
    """One story at a time, each waited for: (POST → arrival, POST accepted) per story."""
    latency, accepted = [], []
    for i in range(count):
        story_id, started, accept = post(i)
        wait_for(lambda story_id=story_id: story_id in receiver.arrivals, timeout=60, interval=0.002, what="story")
        latency.append(receiver.arrivals[story_id] - started)
        accepted.append(accept)
    return latency, accepted


def burst_run(post, receiver: TimingReceiver, first: int, count: int) -> dict:
    """``count`` stories from 8 clients at once; waits for every arrival."""
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        posted = list(pool.map(post, range(first, first + count)))
    posted_in = time.perf_counter() - started
    ids = {p[0] for p in posted}
    wait_for(lambda: ids <= receiver.arrivals.keys(), timeout=600, interval=0.05, what="burst")
    return {
        "posted_in": posted_in,
        "done": max(receiver.arrivals[i] for i in ids) - started,
        "latency": [receiver.arrivals[sid] - began for sid, began, _ in posted],
        "accepted": [accept for _, _, accept in posted],
    }


def worker_memory(stack: Stack) -> list[str]:
    memory = []
    for name in ("enrichment", "publish", "delivery"):
        pid = stack.processes[name].pid
        kids = children(pid)
        memory.append(
            f"{name} {rss_mib(pid):.0f} MiB main + "
            + " + ".join(f"{rss_mib(k):.0f}" for k in kids)
            + f" MiB in {len(kids)} pool process(es)"
            if kids
            else f"{name} {rss_mib(pid):.0f} MiB"
        )
    return memory


def run(sequential: int, burst: int, postgres: str | None) -> str:
    pg = PostgresDatabase(postgres) if postgres else None
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), pg.create() if pg else None)
        stack.start()
        receiver = TimingReceiver()
        try:
            with stack.client(stack.admin_key) as admin:
                answer = admin.post("/v1/subscribers", json={"name": "bench", "url": receiver.url})
                receiver.secret = answer.json()["secret"]
            api = httpx.Client(
                base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.editor_key}"}, timeout=30
            )

            def post(i: int) -> tuple[str, float, float]:
                started = time.perf_counter()
                answer = api.post("/v1/stories", json={**SEED, "headline": f"{SEED['headline']} #{i}"})
                answer.raise_for_status()
                return answer.json()["id"], started, time.perf_counter() - started

            post(-1)  # warm-up: first story loads nothing extra, but opens every connection
            wait_for(lambda: len(receiver.arrivals) == 1, timeout=60, what="warm-up story")
            seq_latency, seq_accept = sequential_run(post, receiver, sequential)
            bursted = burst_run(post, receiver, sequential, burst)
            memory = worker_memory(stack)
        finally:
            stack.stop()
            receiver.close()
            if pg:
                pg.drop()
    return report(postgres, burst, seq_latency, seq_accept, bursted, memory)


def report(postgres, burst, seq_latency, seq_accept, bursted, memory) -> str:
    backend = "PostgreSQL" if postgres else "SQLite"
    posted_in, done = bursted["posted_in"], bursted["done"]
    lines = [
        f"Machine: {describe()}; database: {backend}; workers: enrichment ×1, publish ×1, delivery ×1 "
        "(the async engine).",
        "",
        "| measurement | stories | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|",
        summary("POST accepted (202), one at a time", seq_accept),
        summary("POST → webhook verified at receiver, one at a time", seq_latency),
        summary(f"POST accepted (202), burst of {burst} from 8 clients", bursted["accepted"]),
        summary(f"POST → webhook verified, burst of {burst}", bursted["latency"]),
        "",
        f"Burst: {burst} stories accepted in {posted_in:.1f} s ({burst / posted_in:.0f}/s); all {burst} delivered "
        f"and verified {done:.1f} s after the first POST ({burst / done:.1f} stories/s end to end).",
        "",
        "Worker memory (PSS: shared pages split between the processes sharing them) after the run: "
        + "; ".join(memory)
        + ".",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", type=int, default=30)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--postgres", help="a PostgreSQL URL to benchmark on instead of SQLite")
    args = parser.parse_args()
    print(run(args.sequential, args.burst, args.postgres))


if __name__ == "__main__":
    main()
