"""Short garbage-collector pauses in the long-running processes (API, workers, scheduler).

CPython's collector looks at every object it tracks when it makes a full pass (generation 2),
and a process makes one whenever the objects that survived since the last grew by a quarter.
A process that has imported its modules (and, in enrichment, loaded the entity model) tracks
120,000–230,000 objects that live as long as it does: a full pass over them took 60–160 ms
on the benchmark machine, and in that time the process handles no story, so every story in
that stage waits. ``freeze_startup_objects`` moves them out of the collector's sight once the
process is set up (``gc.freeze``): later full passes look only at objects made since, and took
1–2 ms in a running stack (``python -m bench.gc_pauses``; docs/benchmarks.md, "eighth run"). A
prefork worker freezes before its pool forks, so the pool processes share those objects' memory
pages instead of copying each page the collector would have written to.

Objects frozen are still freed when nothing refers to them; only a reference cycle among them
that becomes garbage later is kept (the collector no longer looks there). Startup objects live
as long as the process, so that costs nothing in practice.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect what is garbage now, then exempt every object still alive from later full passes.
    Call it when a process has finished setting up; calling it again adds what was made since.
    Returns how many objects are frozen in all."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def freeze_when_worker_set_up() -> None:
    """In a Celery worker: freeze in the worker process once it is set up, before a prefork pool
    forks (``worker_init`` handlers run in the order they were connected: connect this after the
    tasks module's own, such as enrichment's loading its entity model), and again in each pool
    process once it is set up (``worker_process_init``)."""
    from celery.signals import worker_init, worker_process_init

    for signal in (worker_init, worker_process_init):
        signal.connect(lambda **_: freeze_startup_objects(), weak=False)
