"""The Celery app: one queue per stage, routed by task-name prefix.

Messages carry ids only; the database holds the state. Urgency maps onto Redis
message priority so that flash stories (urgency 1-2) are fetched before routine ones.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Celery
from kombu.exceptions import ChannelError

from shared.config import get_settings

log = logging.getLogger(__name__)

QUEUES = ("enrichment", "publish", "delivery")

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
    app = Celery("newswire", broker=broker_url or get_settings().broker_url)
    app.conf.update(
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
        },
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


_app: Celery | None = None


def send(task_name: str, argument: object, priority: int) -> None:
    """Hand one message (an id, nothing more) to the broker. Every message leaves through here,
    so the in-process tests replace this one function to record what would be queued."""
    get_celery().send_task(task_name, args=[argument], priority=priority)


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
