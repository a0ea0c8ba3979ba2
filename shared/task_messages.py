"""Celery task messages written straight into the broker's Redis lists: one ``LPUSH`` a message.

Celery's ``send_task`` spends most of a message's cost around the one command it sends: routing,
kombu's producer pool, its ``ensure`` retry wrapper, serialising through the registry, the
channel's envelope (``python -m bench.broker``, one run: 214 µs of CPU a message against 85 µs for
the same message written here, and 43 µs for a bare ``LPUSH``; every hop of a story sends one).

The message is Celery's own: its headers, properties and body come from Celery's
``app.amqp.create_task_message`` (task protocol 2, with the parent and root ids Celery would take
from the task running in the sending worker), and the envelope around it is the one kombu's Redis
transport stores (base64 body, delivery mode, delivery info, priority, delivery tag), in the list
a worker reads for that queue and priority. ``tests/integration/test_task_messages.py`` holds the
two side by side against a real Redis, so a Celery or kombu upgrade that changes either fails
there, not in production.

What it leaves out of ``send_task``: the task-sent event (off in this project), the
``before/after_task_publish`` signals (nothing here listens) and the queue's binding (the
workers declare their queues when they start; a message written before any worker started
waits in its list all the same). Only for a broker given as one plain ``redis://`` URL
(``shared.redis_transport.serves``): any other goes through ``send_task``.
"""

from __future__ import annotations

import base64
from typing import Any

import redis
from celery import Celery
from celery.utils import uuid
from celery.utils.saferepr import saferepr
from kombu.utils import json as kombu_json
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.config import get_settings

#: kombu's defaults for every message a Celery producer publishes.
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"
PERSISTENT = 2
#: The separator between a queue's name and its priority (the transport option ``sep``).
PRIORITY_SEPARATOR = ":"


def list_for(queue_name: str, priority: int) -> str:
    """The Redis list a worker reads for ``queue_name`` at ``priority`` (kombu's ``_q_for_pri``
    with one step per priority 0-9: priority 0 is the queue's own name)."""
    priority = max(0, min(9, priority))
    return f"{queue_name}{PRIORITY_SEPARATOR}{priority}" if priority else queue_name


def args_repr(args: list, maxsize: int) -> str:
    """The arguments as the message's ``argsrepr`` header shows them (``celery inspect``, Flower).
    They are ids and lists of them, for which plain ``repr`` says what Celery's ``saferepr`` does at
    a tenth of its cost; past Celery's size limit, ``saferepr`` cuts it short as Celery would."""
    text = repr(args)
    return text if len(text) <= maxsize else saferepr(args, maxsize)


def envelope(message: Any, queue_name: str, priority: int) -> dict[str, Any]:
    """kombu's Redis envelope around a Celery task message (headers, properties, body)."""
    body = kombu_json.dumps(message.body).encode(CONTENT_ENCODING)
    return {
        "body": base64.b64encode(body).decode("ascii"),
        "content-encoding": CONTENT_ENCODING,
        "content-type": CONTENT_TYPE,
        "headers": message.headers,
        "properties": {
            **message.properties,
            "delivery_mode": PERSISTENT,
            "delivery_info": {"exchange": "", "routing_key": queue_name},
            "priority": priority,
            "body_encoding": "base64",
            "delivery_tag": uuid(),
        },
    }


class TaskMessageWriter:
    """Writes Celery task messages to the broker's Redis, through one thread-safe client."""

    def __init__(self, app: Celery, url: str) -> None:
        settings = get_settings()
        self.app = app
        # One quick retry on a dropped connection, as ``queue.SEND_RETRY`` gives send_task.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=settings.redis_socket_timeout_seconds,
            socket_connect_timeout=settings.redis_connect_timeout_seconds,
            socket_keepalive=True,
            health_check_interval=10,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        )

    def task_message(self, task_name: str, args: list) -> Any:
        """Celery's protocol-2 message for ``task_name(*args)``, as ``send_task`` builds it."""
        task_id, root_id, parent_id = uuid(), None, None
        parent = self.app.current_worker_task
        if parent:
            root_id, parent_id = parent.request.root_id or parent.request.id, parent.request.id
        return self.app.amqp.create_task_message(
            task_id, task_name, args, {}, reply_to=self.app.thread_oid, root_id=root_id, parent_id=parent_id,
            ignore_result=None, argsrepr=args_repr(args, self.app.amqp.argsrepr_maxsize), kwargsrepr="{}",
        )  # fmt: skip

    def send(self, task_name: str, args: list, queue_name: str, priority: int) -> None:
        message = envelope(self.task_message(task_name, args), queue_name, priority)
        self.client.lpush(list_for(queue_name, priority), kombu_json.dumps(message))

    def close(self) -> None:
        self.client.close()
