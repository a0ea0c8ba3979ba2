"""Prometheus metrics: every metric object of the pipeline, and the plain functions that observe
them (tasks and handlers call one function and stay thin).

Where each series is exposed (the list is in docs/architecture.md, "Metrics"):

* the API's ``GET /metrics``: HTTP requests (``services.ingest.metrics``) and ``PipelineCollector``,
  the pipeline's state read from the database and the queues at scrape time;
* each worker's own port (``NEWSWIRE_METRICS_PORT``): stage times, delivery attempts, taggers.
  A prefork worker's pool processes write their samples to files in ``PROMETHEUS_MULTIPROC_DIR``
  and the worker serves their sum (``serve(..., multiprocess=True)``);
* the scheduler's own port: its sweeps.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from datetime import datetime
from itertools import product
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Connection, and_, func, select

from shared import lag, queue
from shared.db import read_scope
from shared.models import Delivery, DeliveryState, PubStatus, Story, StoryVersion, VersionState
from shared.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

STAGES = ("enriched", "published", "delivered")
#: Outcomes of a delivery attempt (``services.publish.delivery``); ``lease_lost``: the result came
#: after another worker took the delivery over, so only the attempt was recorded.
OUTCOMES = ("delivered", "retry", "failed", "gone", "lease_lost")
#: Subscribers with the most pending deliveries that get a series of their own.
TOP_SUBSCRIBERS = 20
#: How long a scrape waits for the queues' depths before it reports -1.
QUEUE_DEPTH_TIMEOUT = 2.0

STAGE_SECONDS = Histogram(
    "newswire_story_stage_seconds",
    "Time from a version's POST to the end of a stage: enriched, published, delivered (to one subscriber)",
    ["stage"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
)
TAGGER_SECONDS = Histogram(
    "newswire_tagger_duration_seconds",
    "Time one tagger took on one story",
    ["tagger"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TAGGER_FAILURES = Counter("newswire_tagger_failures", "Taggers that raised or overran their budget", ["tagger"])
DELIVERY_ATTEMPTS = Counter("newswire_delivery_attempts", "Webhook attempts recorded, by outcome", ["outcome"])
DELIVERY_ATTEMPT_SECONDS = Histogram(
    "newswire_delivery_attempt_duration_seconds",
    "Time one webhook attempt took, until the answer or the deadline",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
SWEEPS = Counter("newswire_scheduler_sweeps", "Scheduler sweeps, by result", ["result"])
SWEEP_SECONDS = Histogram("newswire_scheduler_sweep_duration_seconds", "Time one scheduler sweep took")
SWEPT = Counter(
    "newswire_scheduler_swept", "What the sweeps handled: relayed, requeued, released, deliveries", ["kind"]
)

for _stage in STAGES:  # every series exists from the start, at 0
    STAGE_SECONDS.labels(_stage)
for _outcome in OUTCOMES:
    DELIVERY_ATTEMPTS.labels(_outcome)
for _result in ("ok", "error"):
    SWEEPS.labels(_result)


def seconds_since(moment: datetime, now: datetime | None = None) -> float:
    return max(0.0, ((now or utcnow()) - as_utc(moment)).total_seconds())


def story_stage(stage: str, received_at: datetime | None) -> None:
    """A version finished ``stage``; ``received_at`` is when its POST arrived."""
    if received_at is not None:
        STAGE_SECONDS.labels(stage).observe(seconds_since(received_at))


def tagging(timings_ms: Mapping[str, float], failed: Iterable[str]) -> None:
    """One story's taggers: the time each took, and those that failed."""
    for tagger, ms in timings_ms.items():
        TAGGER_SECONDS.labels(tagger).observe(ms / 1000)
    for tagger in failed:
        TAGGER_FAILURES.labels(tagger).inc()


def delivery_attempt(outcome: str, latency_seconds: float, received_at: datetime | None) -> None:
    """One attempt recorded; a delivered one also ends the version's ``delivered`` stage."""
    DELIVERY_ATTEMPTS.labels(outcome).inc()
    DELIVERY_ATTEMPT_SECONDS.observe(latency_seconds)
    if outcome == "delivered":
        story_stage("delivered", received_at)


def sweep(counts: Mapping[str, int] | None, seconds: float) -> None:
    """One scheduler sweep: what it handled (None: it failed)."""
    SWEEP_SECONDS.observe(seconds)
    SWEEPS.labels("ok" if counts is not None else "error").inc()
    for kind, n in (counts or {}).items():
        SWEPT.labels(kind).inc(n)


def serve(port: int, host: str, *, multiprocess: bool = False) -> Any:
    """Serve ``/metrics`` on ``host:port`` from a thread; returns the server (None if the port
    could not be bound: metrics never stop a worker). ``multiprocess``: the sum over every
    process writing to ``PROMETHEUS_MULTIPROC_DIR``, which must be set before prometheus_client
    is first imported; the folder is removed when this process exits."""
    registry: CollectorRegistry = REGISTRY
    if multiprocess:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory or values.ValueClass is values.MutexValue:
            raise RuntimeError("PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is imported")
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        atexit.register(_remove_folder, directory, os.getpid())
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.warning("metrics not served on %s:%d: %s", host, port, exc)
        return None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server


def _remove_folder(directory: str, owner: int) -> None:
    if os.getpid() == owner:  # not in a pool process that exits through the same hooks
        shutil.rmtree(directory, ignore_errors=True)


def _gauge(name: str, doc: str, labels: list[str], samples: Iterable[tuple[tuple[str, ...], float]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for label_values, value in samples:
        family.add_metric(list(label_values), value)
    return family


class PipelineCollector:
    """Gauges computed at scrape time: a few GROUP BY queries on indexed columns, and the
    queues' depths (waited for at most ``queue_timeout`` seconds; -1 when unknown).
    ``story_status`` names a story's status from its newest version's (state, pubstatus)."""

    def __init__(
        self,
        story_status: Callable[[str, str], str] | None = None,
        backlog: Callable[[set[str]], dict[str, int]] | None = None,
        queue_timeout: float = QUEUE_DEPTH_TIMEOUT,
        top_subscribers: int = TOP_SUBSCRIBERS,
    ):
        self.story_status = story_status or (lambda state, _pubstatus: state)
        self.backlog = backlog
        self.queue_timeout, self.top_subscribers = queue_timeout, top_subscribers
        self._lock = threading.Lock()
        self._measuring: Future | None = None

    def collect(self) -> Iterator[Metric]:
        try:
            with read_scope() as session:
                families = list(self._database(session.connection(), utcnow()))
        except Exception:  # the database is down: /readyz says so; the other series still go out
            log.warning("pipeline metrics: the database did not answer", exc_info=True)
            families = []
        yield from families
        depths = self._depths()
        yield _gauge(
            "newswire_queue_messages",
            "Messages waiting in each Celery queue (-1: the broker did not answer in time)",
            ["queue"],
            (((name,), depths.get(name, -1)) for name in queue.QUEUES),
        )

    def _database(self, conn: Connection, now: datetime) -> Iterator[Metric]:
        newest = and_(StoryVersion.story_id == Story.id, StoryVersion.version == Story.current_version)
        by_status = dict.fromkeys({self.story_status(s, p) for s, p in product(VersionState, PubStatus)}, 0)
        rows = conn.execute(
            select(StoryVersion.state, StoryVersion.pubstatus, func.count())
            .select_from(Story)
            .join(StoryVersion, newest)
            .group_by(StoryVersion.state, StoryVersion.pubstatus)
        )
        for state, pubstatus, n in rows:
            status = self.story_status(state, pubstatus)
            by_status[status] = by_status.get(status, 0) + n
        yield _gauge("newswire_stories", "Stories by status (of the newest version)", ["status"], _by_key(by_status))
        yield _gauge(
            "newswire_story_versions",
            "Story versions by pipeline state",
            ["state"],
            _by_key(_counts(conn, StoryVersion.state), VersionState),
        )
        yield _gauge(
            "newswire_deliveries",
            "Deliveries by state",
            ["state"],
            _by_key(_counts(conn, Delivery.state), DeliveryState),
        )
        yield from self._pending(conn, now)
        unsent, oldest = lag.unsent_events(conn)
        yield _gauge("newswire_outbox_unsent_events", "Outbox events not yet handed to the queue", [], [((), unsent)])
        yield _gauge(
            "newswire_outbox_oldest_unsent_event_age_seconds",
            "Age of the oldest outbox event not yet handed to the queue (0: none)",
            [],
            [((), seconds_since(oldest, now) if oldest else 0.0)],
        )

    def _pending(self, conn: Connection, now: datetime) -> Iterator[Metric]:
        pending = Delivery.state == DeliveryState.pending
        _, oldest = lag.pending_deliveries(conn)
        yield _gauge(
            "newswire_oldest_pending_delivery_age_seconds",
            "Age of the oldest pending delivery, held ones included (0: none)",
            [],
            [((), seconds_since(oldest, now) if oldest else 0.0)],
        )
        count = func.count().label("n")
        rows = conn.execute(
            select(Delivery.subscriber_id, count, func.min(Delivery.created_at))
            .where(pending)
            .group_by(Delivery.subscriber_id)
            .order_by(count.desc(), Delivery.subscriber_id)
            .limit(self.top_subscribers)
        ).all()
        yield _gauge(
            "newswire_subscriber_pending_deliveries",
            f"Pending deliveries of the {self.top_subscribers} subscribers with the most",
            ["subscriber"],
            [((subscriber,), n) for subscriber, n, _ in rows],
        )
        yield _gauge(
            "newswire_subscriber_oldest_pending_delivery_age_seconds",
            f"Age of the oldest pending delivery of the {self.top_subscribers} subscribers with the most",
            ["subscriber"],
            [((subscriber,), seconds_since(first, now)) for subscriber, _, first in rows],
        )

    def _depths(self) -> dict[str, int]:
        """The queues' depths, measured in a thread of its own so that a broker that does not
        answer never holds up a scrape; one measurement at a time, however many scrapes wait."""
        with self._lock:
            if self._measuring is None or self._measuring.done():
                self._measuring = Future()
                threading.Thread(target=self._measure, args=(self._measuring,), daemon=True).start()
            measuring = self._measuring
        try:
            return measuring.result(timeout=self.queue_timeout)
        except Exception as exc:
            log.warning("pipeline metrics: queue depths unknown (%s)", exc.__class__.__name__)
            return {}

    def _measure(self, future: Future) -> None:
        try:
            future.set_result((self.backlog or queue.backlog)(set(queue.QUEUES)))
        except Exception as exc:
            future.set_exception(exc)


def _counts(conn: Connection, column: Any) -> dict[str, int]:
    return dict(conn.execute(select(column, func.count()).group_by(column)).all())


def _by_key(counts: Mapping[str, int], known: Iterable[str] = ()) -> list[tuple[tuple[str], int]]:
    """Every known key (at 0 when absent) and every key found."""
    merged = dict.fromkeys((str(k) for k in known), 0) | {str(k): n for k, n in counts.items()}
    return [((key,), n) for key, n in sorted(merged.items())]
