"""Long stories: time and peak memory to tag one story of 50,000, 200,000 and 500,000 characters.

    python -m bench.long_story [--sizes 50000 200000 500000] [--budget SECONDS]

Each story is the seed story's paragraphs (``seeds/stories/``) repeated up to the size, then a
last paragraph naming a place, a person and an organisation that appear nowhere else. Each size
runs in a fresh process, so each peak RSS (``ru_maxrss``) is that story's alone: the process loads
the model, gazetteers and classifiers (``warm_up``, as a worker does), then tags the story with
``tag_story``, the function the enrichment worker runs, with no time budget unless ``--budget`` is
given. Printed per size: the tagging time (and the slowest taggers), the peak RSS after loading
and after tagging, and which of the last paragraph's names were found (the model reads the first
``ner.MODEL_CHARS`` characters of a story: past them a person named for the first time is not
found, places and organisations are). The enrichment worker replaces a pool process that grew
past ``NEWSWIRE_ENRICHMENT_MAX_MEMORY_MIB``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.machine import describe

SEED = Path(__file__).resolve().parent.parent / "seeds" / "stories" / "us-returns-to-central-asia.json"
#: names that appear nowhere in the seed story: found only if the story's end is tagged
LAST_NAMES = {"place": "Ulaanbaatar", "person": "Gulnara Tokhtarova", "organisation": "Steppe Heritage Foundation"}
LAST_PARAGRAPH = "In {place}, {person} of the {organisation} welcomed the visit.".format(**LAST_NAMES)


def long_story(chars: int) -> tuple[str, str]:
    """(headline, body): the seed story's paragraphs repeated, then ``LAST_PARAGRAPH``."""
    seed = json.loads(SEED.read_text())
    paragraphs = [p for p in seed["body_text"].split("\n\n") if p.strip()]
    out: list[str] = []
    size, i = 0, 0
    while size + len(LAST_PARAGRAPH) < chars:
        out.append(paragraphs[i % len(paragraphs)])
        size += len(out[-1]) + 2
        i += 1
    out.append(LAST_PARAGRAPH)
    return seed["headline"], "\n\n".join(out)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(chars: int, budget: float | None) -> dict:
    """Tag one story of ``chars`` characters in this process."""
    from services.enrichment.taggers import tag_story, warm_up

    headline, body = long_story(chars)
    warm_up()
    loaded = peak_mib()
    started = time.perf_counter()
    tags = tag_story(headline=headline, body=body, budget_seconds=budget)
    seconds = time.perf_counter() - started
    return {
        "chars": len(body),
        "seconds": round(seconds, 2),
        "loaded_mib": round(loaded),
        "peak_mib": round(peak_mib()),
        "found_at_the_end": found_at_the_end(tags, len(headline) + 2 + len(body) - len(LAST_PARAGRAPH)),
        "entities": len(tags["entities"]),
        "failures": [f["tagger"] for f in tags["failures"]],
        "timings_ms": tags["timings_ms"],
    }


def found_at_the_end(tags: dict, start: int) -> list[str]:
    """Which of ``LAST_NAMES`` the story's entities have at or after ``start``."""
    texts = {e["text"] for e in tags["entities"] if e["start"] >= start}
    return [kind for kind, name in LAST_NAMES.items() if name in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 500_000])
    parser.add_argument("--budget", type=float, help="each tagger's time budget in seconds (default: none)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process's size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.budget)))
        return
    print(f"Machine: {describe()}")
    print(
        "| characters | tagging time | peak RSS after loading | peak RSS after tagging | found in the last paragraph |"
    )
    print("|---|---|---|---|---|")
    for size in args.sizes:
        command = [sys.executable, "-m", "bench.long_story", "--one", str(size)]
        if args.budget:
            command += ["--budget", str(args.budget)]
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(
            f"| {result['chars']:,} | {result['seconds']:.1f} s | {result['loaded_mib']} MiB | "
            f"{result['peak_mib']} MiB | {', '.join(result['found_at_the_end']) or 'nothing'} |",
            flush=True,
        )
        slowest = sorted(result["timings_ms"].items(), key=lambda kv: -kv[1])[:3]
        print(f"|   | {', '.join(f'{name} {ms / 1000:.1f} s' for name, ms in slowest)} | | | |", flush=True)


if __name__ == "__main__":
    main()
