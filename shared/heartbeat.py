"""Heartbeats: each worker and the scheduler touch a file while they work, and
``newswire health <name>`` (the compose healthcheck) says whether it is fresh.

A Celery worker beats on its event heartbeat (``heartbeat_sent``, every 2 s while its event
loop runs and reaches the broker); the scheduler beats after every sweep. A file, not a port:
it needs no listener and works the same in a container and on a laptop.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from shared.config import get_settings
from shared.files import private_dir

NAMES = ("enrichment", "publish", "delivery", "beat")


def heartbeat_dir() -> Path:
    settings = get_settings()
    return settings.heartbeat_dir or settings.data_dir / "heartbeats"


def beat(name: str) -> None:
    """Record that ``name`` is alive now (an atomic rename: a reader never sees half a file)."""
    folder = heartbeat_dir()
    private_dir(folder)
    temporary = folder / f".{name}.{os.getpid()}"
    temporary.write_text(f"{time.time():.3f} {os.getpid()}\n")
    temporary.replace(folder / name)


def age(name: str) -> float | None:
    """Seconds since ``name`` last beat, or None if it never did."""
    try:
        stamp = float((heartbeat_dir() / name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, time.time() - stamp)


def check(name: str) -> tuple[bool, str]:
    """(healthy, what to tell the operator)."""
    seconds, limit = age(name), get_settings().heartbeat_max_age_seconds
    if seconds is None:
        return False, f"{name}: no heartbeat yet in {heartbeat_dir()}"
    if seconds > limit:
        return False, f"{name}: last heartbeat {seconds:.0f} s ago (more than {limit:g} s)"
    return True, f"{name}: alive, last heartbeat {seconds:.1f} s ago"


def beat_on_worker_heartbeat(name: str) -> None:
    """Beat each time this Celery worker sends its event heartbeat. Call before the worker
    starts: Celery looks for receivers when it builds its heart."""
    from celery.signals import heartbeat_sent, worker_ready

    def on_beat(**_kwargs) -> None:
        beat(name)

    heartbeat_sent.connect(on_beat, weak=False)
    worker_ready.connect(on_beat, weak=False)
