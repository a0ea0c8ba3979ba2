"""Celery tasks of the publish service: thin wrappers over ``service``."""

from __future__ import annotations

from services.publish import service
from shared import events
from shared.queue import get_celery

app = get_celery()


@app.task(name="publish.render_version")
def render_version(version_id: int) -> None:
    rendered = service.render_version(version_id)
    service.dispatch(rendered.deliveries)
    events.relay(rendered.event_ids)


@app.task(name="delivery.send", time_limit=60, soft_time_limit=45)
def send_delivery(delivery_id: str) -> None:
    service.send_delivery(delivery_id)
