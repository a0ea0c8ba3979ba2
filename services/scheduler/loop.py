"""The scheduler's sweeps: unsent outbox events, versions stuck by a lost message (failed after
too many tries), embargoes that have lifted, deliveries due for a (re)try. Run exactly one
scheduler per deployment (the sweeps are idempotent, so a second one wastes work but breaks
nothing)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from services.publish import service as publish
from shared import events, lifecycle
from shared.config import get_settings

log = logging.getLogger(__name__)


def sweep_once() -> dict[str, int]:
    settings = get_settings()
    relayed = events.relay_unsent()
    stuck = events.relay(
        lifecycle.requeue_stuck(timedelta(seconds=settings.stuck_after_seconds), settings.max_requeues)
    )
    released = events.relay(publish.release_due_embargoes())
    due = publish.due_delivery_ids()
    publish.dispatch(due)
    return {"relayed": relayed, "requeued": stuck, "released": released, "deliveries": len(due)}


def run(interval: float, stop: threading.Event) -> None:
    log.info("scheduler started; sweeping every %.1f s", interval)
    while not stop.is_set():
        try:
            counts = sweep_once()
            if any(counts.values()):
                log.info("sweep: %s", counts)
        except Exception:  # a database or broker hiccup: log it and sweep again
            log.exception("sweep failed")
        stop.wait(interval)
