"""CPU per story of each process of the stack, without a sampler.

    python -m bench.cpu [--stories 600] [--repeat 3] [--rate R] [--conll PATH] [--postgres URL]

Starts the project as ``bench.pipeline`` does (``bench.stack``: production process counts), warms
it up, then sends ``--stories`` tiny stories (or CoNLL documents) from 8 clients at once, ``--repeat``
times, and reads each process's CPU (user + system, from /proc) before and after each burst: the
API, each worker's main process and each of its pool processes apart (a prefork parent's share is
the Celery hop's bookkeeping: receiving, handing to a child, acknowledging), the scheduler. Prints
the median of the runs per process and the stories/s of each burst.

``--rate R``: instead of bursts, the stories are posted open-loop at ``R`` a second (as
``bench.pipeline``'s half-rate runs post them), so that at a low rate each story goes through the
stack alone: what a story costs when nothing shares the hops, the batches or the caches with it —
the cost that sets the latency — against what it costs in a burst.

Unlike ``bench.profile --pipeline`` nothing samples the processes, so the figures are the code's
own; on a machine whose speed drifts, compare two versions of the code by running this for each in
turn, several times.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.machine import children, describe, own_cpu_times
from bench.pipeline import burst_run, paced_run, project_stack, story_poster, tiny_story, warm_up
from bench.profile import conll_stories
from bench.stack import describe as describe_stack


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (its children not included)."""
    return sum(own_cpu_times(pid))


def stack_processes(stack) -> dict[str, int]:
    """Name → pid: each service, and each pool process of a worker as ``<stage>/pool<n>``."""
    pids = {}
    for name, process in stack.processes.items():
        pids[name] = process.pid
        for n, child in enumerate(sorted(children(process.pid))):
            pids[f"{name}/pool{n + 1}"] = child
    return pids


def measure(
    stories: int, repeat: int, conll: Path | None, postgres: str | None, rate: float | None = None
) -> tuple[list[dict], list[float]]:
    """Per run: CPU ms per story of each process; and each run's stories/s (bursts, or posted at
    ``rate`` a second)."""
    runs, rates = [], []
    with project_stack(postgres) as (stack, receiver, api):
        post = story_poster(api, conll_stories(conll) if conll else tiny_story)
        warm_up(post, receiver.arrivals)
        pids = stack_processes(stack)
        for n in range(repeat):
            before = {name: own_cpu_seconds(pid) for name, pid in pids.items()}
            started, first = time.perf_counter(), 1000 + n * stories
            if rate:
                paced_run(post, receiver.arrivals, first, stories, rate, clients=8)
            else:
                burst_run(post, receiver.arrivals, first, stories)
            rates.append(stories / (time.perf_counter() - started))
            runs.append({name: 1000 * (own_cpu_seconds(pid) - before[name]) / stories for name, pid in pids.items()})
    return runs, rates


def report(runs: list[dict], rates: list[float], what: str) -> str:
    lines = [describe(), "", f"{what}; stack: {describe_stack()}", ""]
    lines += ["| process | CPU ms per story (median of the runs) |", "|---|---|"]
    lines += [f"| {name} | {statistics.median(run[name] for run in runs):.2f} |" for name in runs[0]]
    total = statistics.median(sum(run.values()) for run in runs)
    lines += [f"| all | {total:.2f} |", "", "stories/s: " + ", ".join(f"{rate:.1f}" for rate in rates)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--conll", type=Path, help="post the documents of this CoNLL JSON-lines file")
    parser.add_argument("--postgres", help="a PostgreSQL URL to run on instead of SQLite")
    parser.add_argument("--rate", type=float, help="post the stories at this many a second instead of at once")
    args = parser.parse_args()
    runs, rates = measure(args.stories, args.repeat, args.conll, args.postgres, args.rate)
    kind = "CoNLL documents" if args.conll else "tiny stories"
    how = f"posted at {args.rate:g} a second" if args.rate else "from 8 clients at once"
    what = f"{args.stories} {kind} {how}, {args.repeat} runs"
    print(report(runs, rates, what))


if __name__ == "__main__":
    main()
