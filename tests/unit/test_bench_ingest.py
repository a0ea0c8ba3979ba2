"""``bench.ingest`` reports what a request costs the server: its CPU over the run divided by the
stories it accepted, read from /proc for the process and its children."""

import os
import signal
import subprocess
import sys
import time

from bench.ingest import Run
from bench.machine import cpu_times
from tests.support import children

BUSY_CHILD = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'while True: pass'])"


def test_cpu_per_request_is_the_runs_cpu_over_the_stories_it_accepted():
    run = Run(accepted=90, non_2xx=0, seconds=1.0, p50_ms=1, p99_ms=2, stored=100, cpu_user=0.3, cpu_system=0.1)
    assert round(run.cpu_ms_per_request, 6) == 4.0
    assert round(run.system_share, 6) == 0.25
    idle = Run(accepted=0, non_2xx=0, seconds=1.0, p50_ms=0, p99_ms=0, stored=0)
    assert (idle.cpu_ms_per_request, idle.system_share) == (0.0, 0.0)


def test_cpu_times_count_a_busy_child_of_the_process():
    parent = subprocess.Popen([sys.executable, "-c", BUSY_CHILD])
    try:
        deadline = time.monotonic() + 30
        used = sum(cpu_times(parent.pid))
        while used < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
            used = sum(cpu_times(parent.pid))
        assert used >= 0.3  # the parent only waits: the CPU is its child's
    finally:
        for child in children(parent.pid):
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()
