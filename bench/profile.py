"""Where the time goes under load.

``python -m bench.profile [--seconds 15] [--top 30]``: the API alone under the ingest load.
``python -m bench.profile --pipeline [--stories 300] [--story tiny|seed] [--conll PATH]``: every stage
while tiny stories (or the 7 KB seed story, or CoNLL documents filed as ``bench.pipeline --conll``
files them) go through the whole stack (``bench.stack``: production process counts), with each
stage's CPU time per story (from /proc, pool processes included).

Starts the project's API (and Redis) as ``bench.ingest`` does, puts it under the same load (8
connections, closed loop), and samples it with py-spy (``pip install -e '.[bench]'``) for the
whole window, all threads, without pausing it. Prints the share of samples in which each function
is on the stack (inclusive) and at its top (self), for the functions that matter most, and the
share of each library (``by_library``: what SQLAlchemy, Celery, logging... cost the process). The
raw collapsed stacks are kept (``--out``) for a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from bench.ingest import _aiohttp_load, start_project
from bench.machine import cpu_seconds, describe
from bench.pg_waits import WaitSampler
from bench.pipeline import SEED, burst_run, conll_story, project_stack, story_poster, tiny_story, warm_up
from bench.stack import describe as describe_stack
from tools.split import read


def sample(pid: int, seconds: float, out: Path, subprocesses: bool = False, gil: bool = False) -> subprocess.Popen:
    """py-spy over ``pid`` for ``seconds``; ``gil``: only the thread holding the GIL (where the CPU
    goes), else every thread that is running or waiting in a call (where the time goes)."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not py_spy:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    command += ["--format", "raw", "--output", str(out), "--nonblocking", "--threads"]
    command += ["--subprocesses"] if subprocesses else []
    command += ["--gil"] if gil else []
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
    for stack, count in samples(collapsed):
        frames = [frame_name(f) for f in stack if f.strip() and not f.startswith(("thread ", "process "))]
        if not frames:
            continue
        total += count
        own[frames[-1][0]] += count
        for name in {name for name, ours in frames if ours and not name.startswith("cli.py:")}:
            inclusive[name] += count
    return total, inclusive, own


def samples(collapsed: Path) -> Iterator[tuple[list[str], int]]:
    """Each line of py-spy's collapsed output: its frames, outermost first, and how many samples."""
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            yield stack.split(";"), int(count)


#: Packages reported together, by the first part of a frame's path as py-spy prints it.
LIBRARY_GROUPS = {
    "sqlalchemy": "SQLAlchemy (sqlmodel too)",
    "sqlmodel": "SQLAlchemy (sqlmodel too)",
    "celery": "Celery, kombu, billiard",
    "kombu": "Celery, kombu, billiard",
    "billiard": "Celery, kombu, billiard",
    "vine": "Celery, kombu, billiard",
    "spacy": "spaCy, thinc, NumPy",
    "thinc": "spaCy, thinc, NumPy",
    "numpy": "spaCy, thinc, NumPy",
    "fastapi": "FastAPI, Starlette, uvicorn, anyio",
    "starlette": "FastAPI, Starlette, uvicorn, anyio",
    "uvicorn": "FastAPI, Starlette, uvicorn, anyio",
    "anyio": "FastAPI, Starlette, uvicorn, anyio",
    "services": "the project's own code",
    "shared": "the project's own code",
}
#: A sample with one of these on its stack is charged to logging, whatever the log call ran below.
LOGGING_PATHS = ("logging/", "shared/logs.py", "pythonjsonlogger/")


def library_of(frame: str) -> str | None:
    """The package (or standard module) a collapsed frame ``function (path:line)`` runs in, as
    grouped in ``LIBRARY_GROUPS``; None for a frame with no file (a thread's or process's name)."""
    head, _, where = frame.rpartition(" (")
    path, _, line = where.removesuffix(")").rpartition(":")
    if not head or not frame.endswith(")") or not line.isdigit() or not path or path.startswith("<"):
        return None
    first = path.split("/", 1)[0].removesuffix(".py")
    return LIBRARY_GROUPS.get(first, first)


def by_library(collapsed: Path) -> tuple[int, Counter]:
    """Samples in all, and per library: each sample charged to the library of its innermost frame,
    or to logging when a log call is anywhere on its stack (the line's formatting and writing)."""
    charged: Counter = Counter()
    total = 0
    for frames, count in samples(collapsed):
        total += count
        if any(marker in frame for frame in frames for marker in LOGGING_PATHS):
            charged["logging"] += count
        else:
            charged[next(filter(None, map(library_of, reversed(frames))), "(no file)")] += count
    return total, charged


def library_report(total: int, charged: Counter, top: int) -> str:
    lines = ["| library (innermost frame; a log call's samples to logging) | samples |", "|---|---|"]
    return "\n".join(lines + [f"| {name} | {100 * n / total:.1f} % |" for name, n in charged.most_common(top)])


def report(total: int, inclusive: Counter, own: Counter, top: int, gil: bool = False) -> str:
    what = "the thread holding the GIL" if gil else "its threads (running, or waiting in a call; idle threads left out)"
    lines = [f"{total} samples of {what}", ""]
    lines += ["| the project's function | samples with it on the stack |", "|---|---|"]
    lines += [f"| `{name}` | {100 * n / total:.1f} % |" for name, n in inclusive.most_common(top)]
    lines += ["", "| any function, at the top of the stack (self) | samples |", "|---|---|"]
    lines += [f"| `{name}` | {100 * n / total:.1f} % |" for name, n in own.most_common(top)]
    return "\n".join(lines)


#: What ``--pipeline`` posts: a ~100-character story, or the 7 KB seed story (headline numbered).
STORIES = {"tiny": tiny_story, "seed": lambda i: {**SEED, "headline": f"{SEED['headline']} #{i}"}}


def conll_stories(path: Path):
    """Story ``i``: the ``i``-th document of ``path`` (cycling), its headline numbered."""
    docs = [conll_story(doc) for doc in read(path)]
    return lambda i: {**docs[i % len(docs)], "headline": f"{docs[i % len(docs)]['headline']} #{i}"}


def redis_commands(url: str) -> Counter:
    """Commands Redis has run so far, by name (its own count), this benchmark's included."""
    import redis

    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(fields["calls"]) for name, fields in stats.items()})


def transactions(stack) -> int | None:
    """Transactions PostgreSQL has ended in the stack's database so far (None on SQLite). Its
    statistics are flushed about once a second, so wait a little before reading."""
    if stack.engine.dialect.name != "postgresql":
        return None
    time.sleep(2)
    with stack.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()


def profile_pipeline(
    stories: int, clients: int, top: int, out: Path, kind: str = "tiny", postgres: str | None = None, gil: bool = False
) -> str:
    """Stories through the whole stack; per stage, CPU per story and where it goes (and, on
    PostgreSQL, what its sessions wait for). ``kind``: a name in ``STORIES``, or the path of a
    CoNLL JSON-lines file."""
    out.mkdir(parents=True, exist_ok=True)
    make_story = STORIES.get(kind) or conll_stories(Path(kind))
    with project_stack(postgres) as (stack, receiver, api):
        post = story_poster(api, make_story)
        warm_up(post, receiver.arrivals)
        pids = {name: process.pid for name, process in stack.processes.items()}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        commands_before = redis_commands(stack.env["NEWSWIRE_REDIS_URL"])
        transactions_before = transactions(stack)
        window = stories / (10 if kind == "tiny" else 2) + 5
        samplers = [sample(pid, window, out / f"{name}.txt", subprocesses=True, gil=gil) for name, pid in pids.items()]
        on_postgres = stack.engine.dialect.name == "postgresql"
        with WaitSampler(stack.engine) if on_postgres else contextlib.nullcontext() as waits:
            burst_run(post, receiver.arrivals, 0, stories, clients)
        used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        commands = redis_commands(stack.env["NEWSWIRE_REDIS_URL"]) - commands_before
        transactions_after = transactions(stack)
        for sampler in samplers:
            sampler.wait(window + 60)
    lines = [describe(), "", f"{stories} {kind} stories from {clients} clients, POST → verified arrival", ""]
    lines += [f"Stack: {describe_stack()}", ""] + cpu_lines(used, stories) + redis_lines(commands, stories)
    if transactions_after is not None:
        per_story = (transactions_after - transactions_before) / stories
        lines += ["", f"PostgreSQL transactions per story (pg_stat_database, every process): {per_story:.1f}"]
    if waits is not None:
        lines += ["", *waits.lines()]
    return "\n".join(lines + stage_lines(pids, out, top, gil))


def cpu_lines(used: dict[str, float], stories: int) -> list[str]:
    lines = ["| stage | CPU ms per story |", "|---|---|"]
    lines += [f"| {name} | {1000 * seconds / stories:.1f} |" for name, seconds in used.items()]
    return lines + [f"| all | {1000 * sum(used.values()) / stories:.1f} |"]


def redis_lines(commands: Counter, stories: int) -> list[str]:
    lines = [
        "",
        f"Redis commands per story: {commands.total() / stories:.1f} (counted by Redis: INFO commandstats)",
        "",
    ]
    return lines + [f"- {name}: {n / stories:.1f}" for name, n in commands.most_common(8)]


def stage_lines(pids: dict[str, int], out: Path, top: int, gil: bool) -> list[str]:
    """Where each stage's samples fall."""
    lines = []
    for name in pids:
        if not (out / f"{name}.txt").exists():
            lines += ["", f"### {name}", "", "(py-spy wrote no samples)"]
            continue
        total, inclusive, own = shares(out / f"{name}.txt")
        if total:
            lines += ["", f"### {name}", "", report(total, inclusive, own, top, gil=gil)]
            lines += ["", library_report(*by_library(out / f"{name}.txt"), top=12)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("api-profile.txt"), help="collapsed stacks")
    parser.add_argument("--pipeline", action="store_true", help="every stage, tiny stories (stacks: --out folder)")
    parser.add_argument("--stories", type=int, default=300)
    parser.add_argument("--postgres", help="--pipeline: a PostgreSQL URL to run on instead of SQLite")
    parser.add_argument("--story", choices=sorted(STORIES), default="tiny", help="--pipeline: what to post")
    parser.add_argument("--conll", type=Path, help="--pipeline: post the documents of this CoNLL JSON-lines file")
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL (CPU)")
    args = parser.parse_args()
    if args.pipeline:
        out = args.out.with_suffix("")
        kind = str(args.conll) if args.conll else args.story
        print(profile_pipeline(args.stories, args.clients, args.top, out, kind, args.postgres, args.gil))
        return
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        target = start_project(Path(tmp), None, stack)
        api_pid = target.pid
        sampler = sample(api_pid, args.seconds + 2, args.out.resolve(), gil=args.gil)
        run = asyncio.run(_aiohttp_load(target, args.clients, args.seconds))
        sampler.wait(60)
    print(describe())
    print(f"\nPOST /v1/stories under load while sampled: {run.rate:.1f} accepted/s, p50 {run.p50_ms:.0f} ms\n")
    print(report(*shares(args.out), args.top, gil=args.gil))
    print()
    print(library_report(*by_library(args.out), top=12))


if __name__ == "__main__":
    main()
