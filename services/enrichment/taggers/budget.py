"""A time budget for one tagger call. In a process's main thread (the enrichment worker's
prefork children run tasks there) an interval timer interrupts the call when it overruns;
elsewhere the call runs to the end and is flagged afterwards if it overran."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager


class BudgetExceeded(Exception):
    pass


def _raise(_signum, _frame):
    raise BudgetExceeded()


@contextmanager
def time_budget(seconds: float | None):
    if not seconds:
        yield
        return
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGALRM, _raise)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    started = time.perf_counter()
    yield
    if time.perf_counter() - started > seconds:
        raise BudgetExceeded()
