"""Where the API's time goes under load: ``python -m bench.profile [--seconds 15] [--top 30]``.

Starts the project's API (and Redis) as ``bench.ingest`` does, puts it under the same load (8
connections, closed loop), and samples it with py-spy (``pip install -e '.[bench]'``) for the
whole window, all threads, without pausing it. Prints the share of samples in which each function
is on the stack (inclusive) and at its top (self), for the functions that matter most. The raw
collapsed stacks are kept (``--out``) for a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.ingest import _aiohttp_load, start_project
from bench.machine import describe


def sample(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not py_spy:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    command += ["--format", "raw", "--output", str(out), "--nonblocking", "--threads"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


#: Frames of the project's own code: where a request's time is spent, by the project's names.
PROJECT_DIRS = ("services/", "shared/")


def frame_name(frame: str) -> tuple[str, bool]:
    """``function (path/to/module.py:line)`` → (``module.py:function``, is it the project's code)."""
    name, _, where = frame.partition(" (")
    path = where.split(":", 1)[0]
    return (f"{Path(path).name}:{name}" if where else name), path.startswith(PROJECT_DIRS)


def shares(collapsed: Path) -> tuple[int, Counter, Counter]:
    """Samples in all, and per function: samples with it on the stack (the project's functions
    only), samples with it at the top (any function)."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame_name(f) for f in stack.split(";") if f.strip() and not f.startswith(("thread ", "process "))]
        if not frames or not count.isdigit():
            continue
        total += int(count)
        own[frames[-1][0]] += int(count)
        for name in {name for name, ours in frames if ours}:
            inclusive[name] += int(count)
    return total, inclusive, own


def report(total: int, inclusive: Counter, own: Counter, top: int) -> str:
    lines = [f"{total} samples of the API's threads (running, or waiting in a call; idle threads left out)", ""]
    lines += ["| the project's function | samples with it on the stack |", "|---|---|"]
    lines += [f"| `{name}` | {100 * n / total:.1f} % |" for name, n in inclusive.most_common(top)]
    lines += ["", "| any function, at the top of the stack (self) | samples |", "|---|---|"]
    lines += [f"| `{name}` | {100 * n / total:.1f} % |" for name, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("api-profile.txt"), help="collapsed stacks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        target = start_project(Path(tmp), None, stack)
        api_pid = target.pid
        sampler = sample(api_pid, args.seconds + 2, args.out.resolve())
        run = asyncio.run(_aiohttp_load(target, args.clients, args.seconds))
        sampler.wait(60)
    print(describe())
    print(f"\nPOST /v1/stories under load while sampled: {run.rate:.1f} accepted/s, p50 {run.p50_ms:.0f} ms\n")
    print(report(*shares(args.out), args.top))


if __name__ == "__main__":
    main()
