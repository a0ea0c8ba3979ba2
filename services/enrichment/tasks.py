"""Celery tasks of the enrichment service: thin wrappers over ``service``."""

from __future__ import annotations

from celery.signals import worker_init

from services.enrichment import service
from services.enrichment.taggers import warm_up
from shared import events, lifecycle, logs
from shared.queue import get_celery

app = get_celery()


@worker_init.connect
def _load_taggers(**_kwargs) -> None:
    warm_up()


@app.task(name="enrichment.tag_version")
def tag_version(version_id: int) -> None:
    with logs.bound(version_id=version_id), lifecycle.step_errors_noted(version_id):  # the service binds the ids
        events.relay(service.enrich_version(version_id))
