"""Celery tasks of the enrichment service: thin wrappers over ``service``."""

from __future__ import annotations

from celery.signals import worker_init

from services.enrichment import service
from services.enrichment.taggers import warm_up
from shared import events, lifecycle
from shared.queue import get_celery

app = get_celery()


@worker_init.connect
def _load_taggers(**_kwargs) -> None:
    warm_up()


@app.task(name="enrichment.tag_version")
def tag_version(version_ids: int | list[int]) -> None:
    """Tag a version, or those of a group that still wait, fewest tries first (see
    ``events.GROUPED_TASKS``); each relays its own next events. A version whose step raised keeps
    its error for the stuck sweep, and the task fails with it once the others are done."""
    lifecycle.each_version(
        service.in_turn(version_ids), lambda version_id: events.relay(service.enrich_version(version_id))
    )
