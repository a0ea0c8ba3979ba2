"""One line that says what machine a benchmark ran on."""

import datetime
import os
import platform
from pathlib import Path

from tests.support import children


def describe() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        mem = "? GiB"
    return (
        f"{datetime.date.today().isoformat()}, {os.cpu_count()} cores ({cpu}), {mem} RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def rss_mib(pid: int) -> float:
    """Proportional set size of one process in MiB: its resident memory, with pages shared
    with other processes (a prefork pool's copy-on-write model) counted in equal parts."""
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def own_cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of one process (its children not included), from /proc; (0, 0)
    for a process that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process and its live children (a worker's pool), from /proc."""
    times = [own_cpu_times(each) for each in [pid, *children(pid)]]
    return sum(user for user, _ in times), sum(system for _, system in times)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children."""
    return sum(cpu_times(pid))
