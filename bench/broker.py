"""What handing one message to the broker costs, and where that cost is.

    python -m bench.broker [--messages 3000] [--repeat 3]

Every hop of a story between the stages is one ``queue.send`` (Celery's task message, written
straight to Redis by ``shared.task_messages``). Measured here per message, wall and CPU time,
against a Redis this command starts on a free port of 127.0.0.1 (nothing kept on disk):

* ``queue.send``: what the project pays for each message;
* Celery's ``send_task`` with the project's retry policy: what ``queue.send`` paid before (and still
  pays on a broker ``shared.task_messages`` does not serve);
* ``send_task`` through kombu's stock Redis transport, which builds a redis-py client for every message
  (the project's transport, ``shared.redis_transport``, keeps one per channel);
* plain ``send_task``, without the retry policy (kombu's ``ensure`` wrapper);
* the same messages sent eight at a time inside kombu's ``Producer.batch`` (one Redis pipeline per
  eight): what batching the round trips would save;
* building a redis-py client on the broker's connection pool: kombu's Redis transport builds one
  for every message it publishes;
* a bare ``LPUSH`` of one such message, as stored, through one redis-py client: the round trip itself.

Each case runs ``--repeat`` times, alternating, after a warm-up; the median is printed. Nothing
consumes the messages: they are dropped with the Redis at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from bench.machine import describe
from shared import queue
from shared.embedded_redis import EmbeddedRedis

TASK = "enrichment.tag_version"
BATCH = 8
WARM_UP = 200


def per_message(run: Callable[[], None], messages: int, per_call: int = 1) -> tuple[float, float]:
    """Wall and CPU µs per message of ``messages`` messages sent by ``run`` (``per_call`` each)."""
    calls = max(1, messages // per_call)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        run()
    sent = calls * per_call
    return (time.perf_counter() - wall) / sent * 1e6, (time.process_time() - cpu) / sent * 1e6


def cases() -> dict[str, tuple[Callable[[], None], int]]:
    """Each case: (one call, messages per call). Built after the settings point at the Redis."""
    app = queue.get_celery()
    pool = redis.ConnectionPool.from_url(app.conf.broker_url)
    client = redis.Redis(connection_pool=pool)
    body = one_message_as_stored(client)
    stock = queue.make_celery(app.conf.broker_url)
    stock.conf.broker_transport = None  # kombu's own, chosen by the URL

    def send_one() -> None:
        queue.send(TASK, 12345, 5)

    def send_task() -> None:
        app.send_task(TASK, args=[12345], priority=5, retry=True, retry_policy=queue.SEND_RETRY)

    def send_stock() -> None:
        stock.send_task(TASK, args=[12345], priority=5, retry=True, retry_policy=queue.SEND_RETRY)

    def send_plain() -> None:
        app.send_task(TASK, args=[12345], priority=5)

    def send_batch() -> None:
        with app.producer_or_acquire() as producer, producer.batch():
            for _ in range(BATCH):
                app.send_task(TASK, args=[12345], priority=5, producer=producer)

    def build_client() -> None:
        redis.Redis(connection_pool=pool)

    def lpush() -> None:
        client.lpush("bench-broker-bare", body)

    return {
        "`queue.send` (the project's path: the message written to Redis)": (send_one, 1),
        "`send_task` with the retry policy (the project's path before)": (send_task, 1),
        "`send_task` through kombu's stock Redis transport": (send_stock, 1),
        "`send_task` without the retry policy": (send_plain, 1),
        f"`send_task` in `Producer.batch`, {BATCH} a batch": (send_batch, BATCH),
        "build a redis-py client (kombu's stock transport does, per message)": (build_client, 1),
        "bare `LPUSH` of one such message": (lpush, 1),
    }


def one_message_as_stored(client: redis.Redis) -> bytes:
    """One message as ``queue.send`` leaves it in Redis (the Redis is new: its one list is the queue)."""
    queue.send(TASK, 12345, 5)
    (key,) = client.scan_iter(_type="list")
    return client.lindex(key, 0)


def measure(messages: int, repeat: int) -> dict[str, list[tuple[float, float]]]:
    chosen = cases()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in chosen}
    for run, per_call in chosen.values():
        per_message(run, WARM_UP, per_call)
    for _ in range(repeat):
        for name, (run, per_call) in chosen.items():
            runs[name].append(per_message(run, messages, per_call))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp), appendonly=False) as url:
        os.environ["NEWSWIRE_REDIS_URL"] = url
        runs = measure(args.messages, args.repeat)
    print(describe(), "\n")
    print(f"{args.messages} messages a run, {args.repeat} runs each, alternating: median (smallest–largest)\n")
    print("| per message | wall µs | CPU µs |\n|---|---|---|")
    for name, results in runs.items():
        walls, cpus = [wall for wall, _ in results], [cpu for _, cpu in results]
        print(
            f"| {name} | {statistics.median(walls):.0f} ({min(walls):.0f}–{max(walls):.0f}) "
            f"| {statistics.median(cpus):.0f} ({min(cpus):.0f}–{max(cpus):.0f}) |"
        )


if __name__ == "__main__":
    main()
