"""The Celery app: one queue per stage, routed by task-name prefix.

Messages carry ids only; the database holds the state. Urgency maps onto Redis
message priority so that flash stories (urgency 1-2) are fetched before routine ones.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import timedelta

from celery import Celery
from kombu.exceptions import ChannelError

from shared import redis_transport
from shared.config import get_settings
from shared.task_messages import TaskMessageWriter

log = logging.getLogger(__name__)

QUEUES = ("enrichment", "publish", "delivery")

#: The flash lane: urgencies whose versions are tagged alone and fetched before all others.
FLASH_URGENCIES = (1, 2)

TASK_ROUTES = {
    "enrichment.*": {"queue": "enrichment"},
    "publish.*": {"queue": "publish"},
    "delivery.*": {"queue": "delivery"},
}

#: Hard limit for any task; the Redis visibility timeout must stay well above it,
#: or an unacknowledged message is handed to a second worker while the first still runs.
TASK_TIME_LIMIT = 120
VISIBILITY_TIMEOUT = 3600


def priority_for_urgency(urgency: int) -> int:
    """Redis priority (0 = fetched first) for an IPTC urgency (1 = flash ... 9 = lowest)."""
    return max(0, min(9, urgency - 1))


def make_celery(broker_url: str | None = None) -> Celery:
    settings = get_settings()
    app = Celery("newswire", broker=broker_url or settings.broker_url)
    # the URLs Celery will use (its CELERY_BROKER_* environment variables win over the one given)
    urls = (app.conf.broker_url, app.conf.broker_read_url, app.conf.broker_write_url)
    app.conf.update(
        # kombu's Redis transport with one client per channel, not one per message sent
        broker_transport=redis_transport.TRANSPORT if redis_transport.serves(*urls) else None,
        # A Redis that accepts connections and never answers fails each call within these.
        broker_connection_timeout=settings.redis_connect_timeout_seconds,
        # A worker that lost the broker mid-task gives the task back instead of finishing it blind
        # (the message is redelivered; the tries counter and the outbox keep this safe).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_routes=TASK_ROUTES,
        task_default_queue="publish",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=TASK_TIME_LIMIT - 20,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "priority_steps": list(range(10)),
            "sep": ":",
            "queue_order_strategy": "priority",
            "socket_timeout": settings.redis_socket_timeout_seconds,
            "socket_connect_timeout": settings.redis_connect_timeout_seconds,
            "socket_keepalive": True,
            "health_check_interval": 10,
        },
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        # Task events (received, started, succeeded: three Redis PUBLISHes per task, ~8 of the ~43
        # Redis commands a story costs, bench.profile) are off until someone watches: Flower turns
        # them on in every worker when it starts (its enable_events, on by default), as does
        # `celery control enable_events`. Worker events stay on without them: the event heartbeat
        # (every 2 s) is what each worker's healthcheck reads (shared.heartbeat).
        worker_send_task_events=False,
        # no task-sent events: each would be a second Redis round trip for every message the API
        # and the workers send (12 % of the API's samples under load, bench.profile); Flower sees
        # a task from the moment a worker receives it
        task_send_sent_event=False,
    )
    return app


_app: Celery | None = None


class BrokerUnavailable(RuntimeError):
    """The broker failed a moment ago; what was to be sent stays for the scheduler's sweep."""


#: One quick retry at most: whatever is not sent stays in the outbox, and the sweep sends it.
SEND_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
_broker_failed_at: float | None = None


def resting() -> bool:
    """True for ``broker_backoff_seconds`` after a failed send: callers leave work for the sweep."""
    return (
        _broker_failed_at is not None and time.monotonic() - _broker_failed_at < get_settings().broker_backoff_seconds
    )


def queue_for(task_name: str) -> str:
    """The queue ``TASK_ROUTES`` sends ``task_name`` to (by its prefix; else the default)."""
    prefix = task_name.partition(".")[0]
    return prefix if prefix in QUEUES else "publish"


def task_writer_for(app: Celery) -> TaskMessageWriter | None:
    """A writer of ``app``'s task messages straight to Redis, when the app runs on the project's
    own transport (one plain ``redis://`` broker URL); None: its messages go through ``send_task``."""
    if app.conf.broker_transport != redis_transport.TRANSPORT:
        return None
    return TaskMessageWriter(app, app.conf.broker_write_url or app.conf.broker_url)


@functools.cache
def _task_writer() -> TaskMessageWriter | None:
    """This process's writer (or None), chosen once: not again for every message."""
    return task_writer_for(get_celery())


def send(task_name: str, argument: object, priority: int) -> None:
    """Hand one message (an id, or a publish group's ids; nothing more) to the broker. Every
    message leaves through here, so the in-process tests replace this one function to record what
    would be queued. The message is Celery's own, written to Redis by ``shared.task_messages``
    (a fraction of ``send_task``'s cost) or, on a broker that module does not serve, sent by
    ``send_task``. After a failure, sends fail at once for ``broker_backoff_seconds`` (no
    request waits on a dead broker)."""
    global _broker_failed_at
    if resting():
        raise BrokerUnavailable("the broker failed a moment ago")
    try:
        writer = _task_writer()
        if writer is None:
            get_celery().send_task(task_name, args=[argument], priority=priority, retry=True, retry_policy=SEND_RETRY)
        else:
            writer.send(task_name, [argument], queue_for(task_name), priority)
    except Exception:
        _broker_failed_at = time.monotonic()
        raise
    _broker_failed_at = None


#: Deliveries per message to the delivery queue.
DELIVERIES_PER_MESSAGE = 200
#: A delivery handed to the queue (or held by a worker waiting for a slot) is trusted to be on its
#: way this long (``delivery.queued_until``) before the scheduler's sweep queues it again.
DELIVERY_QUEUE_LEASE = timedelta(seconds=60)


def send_deliveries(deliveries: list[tuple[str, str, int]]) -> None:
    """Queue (delivery id, subscriber id, priority) triples for the delivery workers, a few
    hundred to a message, each message at its priority. Never raises: a delivery not queued
    here is still pending in the database, and the scheduler's sweep queues it."""
    by_priority: dict[int, list[list[str]]] = {}
    for delivery_id, subscriber_id, priority in deliveries:
        by_priority.setdefault(priority, []).append([delivery_id, subscriber_id, priority])
    for priority, pairs in sorted(by_priority.items()):
        for start in range(0, len(pairs), DELIVERIES_PER_MESSAGE):
            chunk = pairs[start : start + DELIVERIES_PER_MESSAGE]
            try:
                send("delivery.send", chunk, priority)
            except Exception:
                log.warning("%d deliveries not queued; the sweep will retry", len(chunk), exc_info=True)


def backlog(queue_names: set[str]) -> dict[str, int]:
    """Messages waiting in each queue, not yet taken by a worker (every priority level)."""
    depth = {}
    with get_celery().pool.acquire(block=True) as connection:
        channel = connection.default_channel
        for name in queue_names:
            try:
                depth[name] = channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:  # never declared, or emptied: nothing waits
                depth[name] = 0
    return depth


def get_celery() -> Celery:
    """The process-wide Celery app (built on first use, after settings are final)."""
    global _app
    if _app is None:
        _app = make_celery()
    return _app
