"""How long a full garbage-collector pass stalls each long-running process, with and without
``shared.gc_freeze``.

    python -m bench.gc_pauses [--repeat 5]

For each kind of process (the API, an enrichment pool process with its entity model loaded, a
publish worker, the scheduler), a fresh Python process imports and builds what that process
holds once it is set up, then times ``gc.collect()`` — a full pass, as the collector makes one
whenever the objects that survived since the last grew by a quarter — ``--repeat`` times, then
calls ``freeze_startup_objects()`` and times ``--repeat`` full passes again. Printed: the objects
the collector tracks, and the median pass before and after. Nothing runs meanwhile; a pass in
a loaded process also looks at what the requests made since, which the freeze leaves in sight.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.machine import describe

ROOT = Path(__file__).resolve().parent.parent

#: What each process has set up when it starts serving (as ``services.cli`` sets it up).
SET_UP = {
    "API": "from services.ingest.app import create_app; app = create_app()",
    "enrichment pool process": (
        "import services.enrichment.tasks; from services.enrichment.taggers import warm_up; warm_up()"
    ),
    "publish worker": "import services.publish.tasks",
    "scheduler": "import services.scheduler.loop",
}

MEASURE = """
import gc, json, statistics, sys, time
{set_up}
def passes(n):
    gc.collect()  # the first pass after imports also frees their garbage: not counted
    times = []
    for _ in range(n):
        started = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - started) * 1000)
    return times
repeat = int(sys.argv[1])
tracked = len(gc.get_objects())
before = passes(repeat)
from shared.gc_freeze import freeze_startup_objects
frozen = freeze_startup_objects()
after = passes(repeat)
print(json.dumps({{"tracked": tracked, "frozen": frozen, "before": before, "after": after}}))
"""


def measure(set_up: str, repeat: int) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NEWSWIRE_REDIS_URL": os.environ.get("NEWSWIRE_REDIS_URL", "redis://127.0.0.1:1/0"),
    }
    done = subprocess.run(
        [sys.executable, "-c", MEASURE.format(set_up=set_up), str(repeat)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"Machine: {describe()}. Full passes timed {args.repeat} times each, medians.\n")
    print("| process, once set up | objects tracked | full pass | objects frozen | full pass after the freeze |")
    print("|---|---|---|---|---|")
    for name, set_up in SET_UP.items():
        found = measure(set_up, args.repeat)
        before, after = statistics.median(found["before"]), statistics.median(found["after"])
        print(f"| {name} | {found['tracked']:,} | {before:.1f} ms | {found['frozen']:,} | {after * 1000:.0f} µs |")


if __name__ == "__main__":
    main()
