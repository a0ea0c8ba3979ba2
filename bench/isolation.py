"""Isolation benchmark: do slow receivers slow down everyone else?

    python -m bench.isolation [--subscribers 20] [--stories 100] [--rate 2]

1. **Client deadline.** One attempt against a receiver that drips its answer a byte every 0.25 s
   (about 10 s in all), with a 2 s deadline: aiohttp as the delivery engine uses it, and httpx
   with ``timeout=2`` (its timeouts apply to each read, encode/httpx#1450).
2. **Healthy subscribers' latency.** The real stack, N healthy subscribers on one local
   receiver; stories posted at a steady rate; POST → arrival for every healthy delivery. Then
   the same again with one receiver that drips and one that never answers subscribed as well.
   Same stack, same run; the p99 of the second phase over the first is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.fanout import SUBSCRIBE, LocalReceiver
from bench.machine import describe
from shared import webhook_client as webhook
from tests.support import SlowEndpoint, Stack, wait_for

DEADLINE = 15.0


def client_deadline(seconds: float = 2.0) -> tuple[float, float]:
    drip = SlowEndpoint("drip", pause=0.25)
    try:
        started = time.perf_counter()
        try:
            httpx.post(drip.url, content=b"{}", timeout=seconds)
        except httpx.HTTPError:
            pass
        httpx_took = time.perf_counter() - started

        async def attempt() -> float:
            session = webhook.make_session(["127.0.0.0/8"], seconds)
            try:
                began = time.perf_counter()
                await webhook.send(session, drip.url, b"{}", {}, seconds)
                return time.perf_counter() - began
            finally:
                await session.close()

        return asyncio.run(attempt()), httpx_took
    finally:
        drip.close()


def phase(stack: Stack, receiver: LocalReceiver, stories: int, rate: float, label: str) -> list[float]:
    """Post ``stories`` at ``rate`` a second; returns every healthy POST → arrival, in seconds."""
    receiver.reset()
    posted: dict[str, float] = {}
    with stack.client(stack.editor_key) as api:
        for n in range(stories):
            began = time.time()
            answer = api.post("/v1/stories", json={"headline": f"{label} {n}", "body_text": "Talks in Astana."})
            posted[answer.json()["uri"]] = began
            time.sleep(max(0.0, 1 / rate - (time.time() - began)))
    expected = stories * receiver.subscribers
    wait_for(lambda: receiver.stats()["count"] >= expected, timeout=300, what=f"{label}: every healthy delivery")
    arrivals = httpx.get(f"http://127.0.0.1:{receiver.port}/arrivals", timeout=10).json()
    return [t - posted[uri] for uri, t in arrivals if uri in posted]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run(subscribers: int, stories: int, rate: float) -> str:
    aiohttp_took, httpx_took = client_deadline()
    receiver = LocalReceiver()
    receiver.subscribers = subscribers
    drip, hang = SlowEndpoint("drip", pause=1.0), SlowEndpoint("hang")
    extra = {"NEWSWIRE_DELIVERY_DEADLINE_SECONDS": str(DEADLINE), "NEWSWIRE_DELIVERY_LEASE_SECONDS": "60"}
    with tempfile.TemporaryDirectory(prefix="newswire-isolation-") as tmp:
        stack = Stack(Path(tmp), None, extra)
        try:
            stack.start()
            done = subprocess.run(
                [sys.executable, "-c", SUBSCRIBE, str(subscribers), str(receiver.port)],
                env=stack.env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr
            phase(stack, receiver, 3, rate, "warm-up")
            alone = phase(stack, receiver, stories, rate, "alone")
            with stack.client(stack.admin_key) as admin:
                for slow in (drip, hang):
                    assert admin.post("/v1/subscribers", json={"name": slow.mode, "url": slow.url}).status_code == 201
            beside = phase(stack, receiver, stories, rate, "beside slow receivers")
            held = (drip.most_at_once, hang.most_at_once)
        finally:
            stack.stop()
            receiver.stop()
            drip.close()
            hang.close()
    return report(subscribers, stories, rate, aiohttp_took, httpx_took, alone, beside, held)


def report(subscribers, stories, rate, aiohttp_took, httpx_took, alone, beside, held) -> str:
    def row(name: str, values: list[float]) -> str:
        return (
            f"| {name} | {len(values)} | {percentile(values, 50) * 1000:.0f} | {percentile(values, 95) * 1000:.0f} "
            f"| {percentile(values, 99) * 1000:.0f} |"
        )

    return "\n".join(
        [
            f"Machine: {describe()}; SQLite; {subscribers} healthy subscribers on one local receiver; "
            f"{stories} stories at {rate:g}/s per phase; deadline {DEADLINE:g} s; 4 slots per subscriber.",
            "",
            "| client against a receiver dripping its answer (≈10 s), 2 s deadline | attempt ended after |",
            "|---|---|",
            f"| aiohttp, as the delivery engine uses it | {aiohttp_took:.2f} s |",
            f"| httpx, timeout=2 | {httpx_took:.2f} s |",
            "",
            "| healthy deliveries, POST → arrival | deliveries | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|---|",
            row("alone", alone),
            row("beside a dripping and a hanging receiver", beside),
            "",
            f"p99 beside the slow receivers / p99 alone: {percentile(beside, 99) / percentile(alone, 99):.2f} "
            f"(bound: 1.20). Connections the slow receivers saw at once: drip {held[0]}, hang {held[1]}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--stories", type=int, default=100)
    parser.add_argument("--rate", type=float, default=2.0)
    args = parser.parse_args()
    print(run(args.subscribers, args.stories, args.rate))


if __name__ == "__main__":
    main()
