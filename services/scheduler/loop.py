"""The scheduler's sweeps: unsent outbox events, versions stuck by a lost message, embargoes
that have lifted, deliveries due for a (re)try. Run exactly one scheduler per deployment (the
sweeps are idempotent, so a second one wastes work but breaks nothing)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from services.publish import render, sweeps
from shared import events, lifecycle, queue
from shared.config import get_settings
from shared.models import VersionState

log = logging.getLogger(__name__)


def idle_states() -> list[VersionState]:
    """Waiting states whose stage's queue is empty (where a version that does not move has lost
    its message). With the broker unreachable, none: nothing could be re-queued anyway."""
    try:
        depth = queue.backlog(set(events.QUEUE_FOR_STATE.values()))
    except Exception:
        log.warning("queue depths unknown; no stuck versions re-queued this sweep", exc_info=True)
        return []
    return [state for state, name in events.QUEUE_FOR_STATE.items() if depth[name] == 0]


def sweep_once() -> dict[str, int]:
    settings = get_settings()
    relayed = events.relay_unsent()
    stuck = events.relay(lifecycle.requeue_stuck(timedelta(seconds=settings.stuck_after_seconds), idle_states()))
    released = events.relay(sweeps.release_due_embargoes())
    due = sweeps.due_deliveries()
    render.dispatch(due)
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
