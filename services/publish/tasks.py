"""Celery tasks of the publish service: thin wrappers over ``render`` and the delivery engine."""

from __future__ import annotations

from celery.signals import worker_shutdown

from services.publish import engine, render
from services.publish.delivery import Due
from services.publish.render import Rendered
from shared import events, lifecycle
from shared.queue import get_celery

app = get_celery()
worker_shutdown.connect(engine.stop_engine)


@app.task(name="publish.render_version")
def render_version(version_ids: int | list[int]) -> None:
    """Render a version, or a group of them in order (see ``events.GROUPED_TASKS``; their first
    tries counted together); queue their deliveries together. A version whose step raised keeps
    its error for the stuck sweep, and the task fails with it once the others are done."""
    rendered = Rendered()
    counted = render.count_first_tries(version_ids) if isinstance(version_ids, list) else set()

    def render_one(version_id: int) -> None:
        nonlocal rendered
        rendered += render.render_version(version_id, try_counted=version_id in counted)

    try:
        lifecycle.each_version(version_ids, render_one)
    finally:
        render.dispatch(rendered.deliveries)
        events.relay(rendered.event_ids)


@app.task(name="delivery.send")
def send_deliveries(dues: list[list]) -> None:
    """Hand [delivery id, subscriber id, priority] items to this process's delivery engine."""
    engine.get_engine().submit([Due(*due) for due in dues])
