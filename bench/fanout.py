"""Fan-out benchmark: one flash story to many subscribers, against a bare client, same run.

    python -m bench.fanout --subscribers 1000 [--runs 3] [--postgres URL]

* The stack is the real one (embedded Redis, the API, one worker process per stage, the
  scheduler, SQLite or PostgreSQL); every subscriber's URL points at one local aiohttp receiver
  (``bench.receiver``, its own process) that notes when each webhook-id first arrived.
* **Pipeline:** POST a flash story (urgency 1), then time from the POST to the last of the N
  arrivals, and the deliveries per second between the first and the last arrival.
* **Bare client:** aiohttp in this process, the same receiver, the same body as the pipeline
  sent (the version's ninjs, read back from the API), each request signed with its own
  subscriber's secret, the same number of sends in flight as the delivery engine allows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

from bench.machine import describe
from shared.config import Settings
from shared.embedded_redis import free_port
from shared.webhook_client import event_body, signed_headers
from tests.support import PostgresDatabase, Stack, wait_for

STORY = {
    "headline": "Strong earthquake hits Almaty, buildings damaged",
    "body_text": "ALMATY, Nov 28 (Newswire) - A strong earthquake shook Almaty, Kazakhstan's largest city, on "
    "Saturday, damaging buildings and cutting power in several districts, the emergencies ministry said. "
    "There were no immediate reports of casualties.",
    "urgency": 1,
    "slugline": "Kazakhstan-Quake",
}

SUBSCRIBE = """
import json, sys
from shared.config import get_settings
from shared.db import session_scope
from services.ingest.subscribers.service import create_subscriber
secrets = []
with session_scope() as session:
    for n in range(int(sys.argv[1])):
        sub = create_subscriber(session=session, settings=get_settings(), name=f"site-{n}",
                                url=f"http://127.0.0.1:{sys.argv[2]}/s/{n}")
        secrets.append(sub.secret)
print(json.dumps(secrets))
"""


class LocalReceiver:
    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, "-m", "bench.receiver", "--port", str(self.port)])
        wait_for(self._up, timeout=30, what="the receiver")

    def _up(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stats(self) -> dict:
        return httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=10).json()

    def reset(self) -> None:
        httpx.get(f"http://127.0.0.1:{self.port}/reset", timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def flash(stack: Stack, receiver: LocalReceiver, count: int, n: int) -> dict:
    """POST one flash story; returns its timings and id once all ``count`` deliveries arrived."""
    receiver.reset()
    with stack.client(stack.editor_key) as api:
        started = time.time()
        answer = api.post("/v1/stories", json={**STORY, "headline": f"{STORY['headline']} ({n})"})
        assert answer.status_code == 202, answer.text
    stats = wait_for(
        lambda: (lambda s: s if s["count"] >= count else None)(receiver.stats()),
        timeout=300,
        interval=0.05,
        what=f"{count} deliveries",
    )
    return {
        "story": answer.json()["id"],
        "last_after_post": stats["last"] - started,
        "first_after_post": stats["first"] - started,
        "rate": count / max(1e-6, stats["last"] - stats["first"]),
    }


async def bare_client(port: int, secrets: list[str], body: bytes, in_flight: int) -> float:
    """Deliveries per second of a bare aiohttp client: sign and POST ``body`` once per secret."""
    limit = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as session:

        async def one(n: int, secret: str) -> None:
            async with limit:
                headers = signed_headers(secret, f"msg_bare_{n}_{time.time_ns()}", body)
                async with session.post(f"http://127.0.0.1:{port}/s/{n}", data=body, headers=headers) as answer:
                    await answer.read()
                    assert answer.status == 200

        started = time.perf_counter()
        await asyncio.gather(*(one(n, secret) for n, secret in enumerate(secrets)))
        return len(secrets) / (time.perf_counter() - started)


def run(count: int, runs: int, postgres: str | None) -> str:
    receiver = LocalReceiver()
    pg = PostgresDatabase(postgres) if postgres else None
    with tempfile.TemporaryDirectory(prefix="newswire-fanout-") as tmp:
        stack = Stack(Path(tmp), pg.create() if pg else None)
        try:
            stack.start()
            done = subprocess.run(
                [sys.executable, "-c", SUBSCRIBE, str(count), str(receiver.port)],
                env=stack.env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr
            secrets = json.loads(done.stdout)
            flash(stack, receiver, count, 0)  # warm-up: connections, pools, caches
            results = [flash(stack, receiver, count, n) for n in range(1, runs + 1)]
            with stack.client(stack.editor_key) as api:
                item = api.get(f"/v1/stories/{results[-1]['story']}/versions/1").json()
            body = event_body("story.published", item["versionCreated"], item)
            in_flight = Settings().delivery_concurrency
            bare = [asyncio.run(bare_client(receiver.port, secrets, body, in_flight)) for _ in range(runs)]
        finally:
            stack.stop()
            receiver.stop()
            if pg:
                pg.drop()
    return report(count, results, bare, len(body), "PostgreSQL" if postgres else "SQLite")


def report(count: int, results: list[dict], bare: list[float], size: int, database: str) -> str:
    rate, bare_rate = statistics.median(r["rate"] for r in results), statistics.median(bare)
    rows = [
        f"Machine: {describe()}; database: {database}; {count} subscribers on one local aiohttp receiver; "
        f"payload {size} bytes; median of {len(results)} runs after a warm-up.",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| POST → first delivery arrived | {statistics.median(r['first_after_post'] for r in results):.2f} s |",
        f"| POST → {count}th delivery arrived | {statistics.median(r['last_after_post'] for r in results):.2f} s |",
        f"| pipeline deliveries/s (first to last arrival) | {rate:.0f} |",
        f"| bare aiohttp client deliveries/s (sign + POST, same body, same receiver) | {bare_rate:.0f} |",
        f"| ratio pipeline / bare | {rate / bare_rate:.2f} |",
        "",
        "Runs: "
        + "; ".join(f"{r['last_after_post']:.2f} s, {r['rate']:.0f}/s" for r in results)
        + " · bare: "
        + ", ".join(f"{b:.0f}/s" for b in bare),
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL URL to run on instead of SQLite")
    args = parser.parse_args()
    print(run(args.subscribers, args.runs, args.postgres))


if __name__ == "__main__":
    main()
