"""The bare limit of the pipeline's plumbing: three no-op Celery tasks chained through three queues,
the last one POSTing a signed tiny JSON body to a receiver. No database, no API, no tagging (unless
asked for: see below).

    python -m bench.bare.celery_chain worker --queue bare-enrichment --pool prefork --concurrency 1

(``BareChain`` starts the three workers; ``python -m bench.pipeline --tiny`` uses it.)

What is the same as the project:

* the Celery app is ``shared.queue.make_celery`` itself — serializer, ``acks_late``, prefetch 1,
  priority steps and the other transport options, time limits, task events on — with only the routes
  replaced, so that the three queues (``bare-enrichment``, ``bare-publish``, ``bare-delivery``) never
  mix with the project's on the same Redis;
* one worker process per queue, with the pool and concurrency the project's stack gives that stage
  (``bench.stack.worker_counts``: the defaults of ``newswire worker``) and
  the same worker flags (``--without-gossip --without-mingle``, log level INFO to a file);
* each task hands the next one to the broker the way the project's tasks do (Celery's message
  written straight to Redis by ``shared.task_messages``, at the story's priority; ``send_task`` with
  ``shared.queue.SEND_RETRY`` on a broker that module does not serve), not as a Celery canvas chain;
* the last task POSTs a Standard Webhooks event body (``event_body``, ~100 bytes) signed with the
  project's ``signed_headers`` to the same kind of in-process receiver the pipeline benchmark uses,
  which verifies the signature and notes the arrival time on the benchmark's clock. Arrival is thus
  measured exactly as for a story: the receiver's verified arrival, not a timestamp in Redis.

With ``BENCH_BARE_TAGGING=1`` in its environment (``bench.pipeline --tiny --bare-tagging``) the first
task also runs what the enrichment worker runs on a story, ``services.enrichment.service.tags_for``
on the tiny story's headline and body, with the taggers loaded before the worker forks as the
enrichment worker loads them: the bare limit of a pipeline that tags every story.

What differs: the delivery task sends with a synchronous httpx client per worker thread (the project's
delivery worker hands the send to an aiohttp event loop), and the first task is sent straight from
the benchmark's client threads (a story is first POSTed to the API, which stores it and then sends it).
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from celery import Celery

from shared.gc_freeze import freeze_when_worker_set_up
from shared.queue import SEND_RETRY, make_celery, priority_for_urgency, task_writer_for
from shared.task_messages import TaskMessageWriter
from shared.webhook_client import event_body, signed_headers

#: (bare queue, the project's stage it stands for)
STAGES = (("bare-enrichment", "enrichment"), ("bare-publish", "publish"), ("bare-delivery", "delivery"))
TASKS = {queue: f"bare.{stage}" for queue, stage in STAGES}
ROUTES = {name: {"queue": queue} for queue, name in TASKS.items()}
#: A routine story (urgency 5), as the tiny stories are.
PRIORITY = priority_for_urgency(5)
RECEIVER_URL = "BENCH_BARE_RECEIVER_URL"
RECEIVER_SECRET = "BENCH_BARE_RECEIVER_SECRET"
TAGGING = "BENCH_BARE_TAGGING"
#: The tiny story's text (``bench.pipeline --tiny`` posts the same body).
TINY_HEADLINE = "Markets rise"
TINY_BODY = "Shares in London rose on Tuesday after the Bank of England held its main rate at 4.25 per cent."


def make_app(broker_url: str | None = None) -> Celery:
    """The project's Celery app and settings, routed to the bare queues."""
    app = make_celery(broker_url)
    app.conf.task_routes = ROUTES
    app.conf.task_default_queue = STAGES[1][0]
    return app


@functools.cache
def _writer(app: Celery) -> TaskMessageWriter | None:
    return task_writer_for(app)


def forward(app: Celery, task_name: str, chain_id: str) -> None:
    """The next task to the broker, as ``shared.queue.send`` hands the project's on."""
    writer = _writer(app)
    if writer is None:
        app.send_task(task_name, args=[chain_id], priority=PRIORITY, retry=True, retry_policy=SEND_RETRY)
    else:
        writer.send(task_name, [chain_id], ROUTES[task_name]["queue"], PRIORITY)


def register(app: Celery) -> None:
    """The three tasks. The receiver's URL and secret come from the environment."""
    local = threading.local()

    tagging = os.environ.get(TAGGING) == "1"
    if tagging:
        from celery.signals import worker_init

        from services.enrichment.taggers import warm_up

        worker_init.connect(lambda **_kwargs: warm_up(), weak=False)

    @app.task(name=TASKS["bare-enrichment"])
    def enrichment(chain_id: str) -> None:
        if tagging:
            from services.enrichment.service import tags_for

            tags_for(
                headline=f"{TINY_HEADLINE} #{chain_id.removeprefix('chain')}",
                body=TINY_BODY,
                located=None,
                language=None,
            )
        forward(app, TASKS["bare-publish"], chain_id)

    @app.task(name=TASKS["bare-publish"])
    def publish(chain_id: str) -> None:
        forward(app, TASKS["bare-delivery"], chain_id)

    @app.task(name=TASKS["bare-delivery"])
    def delivery(chain_id: str) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=10)
        body = event_body(
            "story.published", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), {"uri": f"urn:bare:{chain_id}"}
        )
        headers = signed_headers(os.environ[RECEIVER_SECRET], f"msg_{chain_id}", body)
        local.client.post(os.environ[RECEIVER_URL], content=body, headers=headers).raise_for_status()


def stage_workers() -> dict[str, tuple[str, str]]:
    """Bare queue → (pool, concurrency), as the benchmarks' project stack runs that stage."""
    from bench.stack import worker_counts

    counts = worker_counts()
    return {queue: (counts[stage][0], str(counts[stage][1])) for queue, stage in STAGES}


class BareChain:
    """The three bare workers as OS processes, and a client that starts chains."""

    def __init__(self, env: dict[str, str], data_dir: Path, receiver_url: str, secret: str, tagging: bool = False):
        self.env = {**env, RECEIVER_URL: receiver_url, RECEIVER_SECRET: secret, TAGGING: "1" if tagging else "0"}
        self.tagging = tagging
        self.data_dir = data_dir
        self.app = make_app(env["NEWSWIRE_REDIS_URL"])
        self.processes: list[subprocess.Popen] = []
        self.logs = []

    def start(self) -> BareChain:
        for queue, (pool, concurrency) in stage_workers().items():
            log = (self.data_dir / f"{queue}.log").open("a")
            self.logs.append(log)
            command = ["worker", "--queue", queue, "--pool", pool, "--concurrency", concurrency]
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.bare.celery_chain", *command],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        return self

    def describe(self) -> str:
        workers = ", ".join(f"{queue} {pool} ×{n}" for queue, (pool, n) in stage_workers().items())
        return workers + (", the first task tagging the story (tags_for)" if self.tagging else "")

    def submit(self, chain_id: str) -> None:
        forward(self.app, TASKS["bare-enrichment"], chain_id)

    def alive(self) -> None:
        for proc in self.processes:
            if proc.poll() is not None:
                raise AssertionError(f"a bare worker exited; see {self.data_dir}/bare-*.log")

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()
        self.app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run one bare worker")
    worker.add_argument("--queue", choices=list(TASKS), required=True)
    worker.add_argument("--pool", choices=["prefork", "threads", "solo"], required=True)
    worker.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()
    app = make_app()
    register(app)
    freeze_when_worker_set_up()  # as the project's workers do (after register: the tagger loads first)
    app.worker_main(
        [
            "worker",
            "--queues",
            args.queue,
            "--hostname",
            f"{args.queue}-{os.getpid()}@%h",
            "--pool",
            args.pool,
            "--concurrency",
            str(args.concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )


if __name__ == "__main__":
    main()
