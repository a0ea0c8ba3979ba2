"""The scheduler's sweeps: unsent outbox events, versions stuck by a lost message, embargoes
that have lifted, deliveries due for a (re)try, expired Idempotency-Keys. Exactly one scheduler runs per deployment: it
holds the ``scheduler`` lease in the database, renewed every sweep; a second one refuses to
start while the lease is held, and a scheduler that lost its lease stops. After every sweep it
beats (``shared.heartbeat``), which its healthcheck reads."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from services.publish import render, sweeps
from shared import events, heartbeat, idempotency, leases, lifecycle, metrics, queue
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
    expired = idempotency.sweep()
    return {
        "relayed": relayed,
        "requeued": stuck,
        "released": released,
        "deliveries": len(due),
        "expired_idempotency_keys": expired,
    }


LEASE = "scheduler"


class LeaseHeld(RuntimeError):
    """Another scheduler holds the lease."""


def run(interval: float, stop: threading.Event) -> None:
    """Sweep every ``interval`` seconds until ``stop``. Raises ``LeaseHeld`` if another scheduler
    holds the lease at the start, or takes it over later."""
    holder, ttl = leases.holder_name(), timedelta(seconds=get_settings().scheduler_lease_seconds)
    if not leases.take(LEASE, holder, ttl):
        held = leases.held_by(LEASE)
        raise LeaseHeld(
            f"another scheduler holds the lease ({held.holder if held else '?'}, until {held and held.expires_at})"
        )
    log.info("scheduler started (%s); sweeping every %.1f s", holder, interval)
    try:
        while not stop.is_set():
            _sweep_logged()
            if not _renew(holder, ttl):
                raise LeaseHeld("another scheduler took over the lease; this one stops")
            heartbeat.beat("beat")
            stop.wait(interval)
    finally:
        leases.release(LEASE, holder)


def _sweep_logged() -> None:
    started, counts = time.monotonic(), None
    try:
        counts = sweep_once()
        if any(counts.values()):
            log.info("sweep: %s", counts)
    except Exception:  # a database or broker hiccup: log it and sweep again
        log.exception("sweep failed")
    finally:
        metrics.sweep(counts, time.monotonic() - started)


def _renew(holder: str, ttl: timedelta) -> bool:
    """Renew the lease; a database that does not answer is no proof that someone else has it."""
    try:
        return leases.take(LEASE, holder, ttl)
    except Exception:
        log.warning("lease not renewed (database trouble); sweeping on", exc_info=True)
        return True
