"""``bench.cpu``: each process's own CPU, read from /proc, and the table of medians."""

from __future__ import annotations

import os
import time

from bench.cpu import own_cpu_seconds, report


def test_a_process_own_cpu_grows_with_the_work_it_does():
    before = own_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # bounded: stops after 0.2 s of this process's CPU
        sum(range(1000))
    assert own_cpu_seconds(os.getpid()) - before >= 0.15


def test_the_report_gives_each_process_its_median_and_the_median_total():
    runs = [
        {"api": 5.0, "enrichment/pool1": 7.0},
        {"api": 4.0, "enrichment/pool1": 9.0},
        {"api": 6.0, "enrichment/pool1": 8.0},
    ]
    table = report(runs, [70.0, 71.5, 69.25], "tiny stories")
    assert "| api | 5.00 |" in table
    assert "| enrichment/pool1 | 8.00 |" in table
    assert "| all | 13.00 |" in table  # median of the runs' totals: 12, 13, 14
    assert table.endswith("stories/s: 70.0, 71.5, 69.2")
