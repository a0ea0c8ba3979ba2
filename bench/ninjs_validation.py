"""What checking a rendered ninjs item against the IPTC schema costs, and whether the compiled
check (``jsonschema-rs``, what the publish worker runs) judges items as the reference one does.

    python -m bench.ninjs_validation [--conll PATH] [--runs 5]

Items: the seed story and a ~100-character story rendered as the publish worker renders them
(tagged, then ``ninjs.render``), plus the first 50 documents of a JSON-lines file if ``--conll``
is given (``text``, ``title``). Both validators check every item ``--runs`` times, alternating;
the time per item is printed with the ratio. Then both judge ``mutations`` of every item (each
property, and each property of each nested object, replaced by a value of another type or
shape) and every disagreement is printed.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

from bench.machine import describe
from services.enrichment.taggers import tag_story
from services.publish.formats import ninjs
from shared.models import StoryContent
from shared.tags import StoryTags

SEED = Path(__file__).resolve().parent.parent / "seeds" / "stories" / "us-returns-to-central-asia.json"
TINY = {"headline": "Kerry in Astana", "body_text": "US Secretary of State John Kerry arrived in Astana on Sunday."}
#: Values of every JSON type and of shapes the schema refuses somewhere.
ODD_VALUES = (None, True, 0, -1, 10, 1.5, "", "x", "2026-13-01", [], [1], {}, {"x": 1})


def rendered(headline: str, body: str) -> dict:
    """A story rendered as the publish worker renders it."""
    now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    envelope = ninjs.Envelope(
        story_id="bench",
        version=1,
        pubstatus="usable",
        first_created=now,
        version_created=now,
        tags=StoryTags.model_validate(tag_story(headline=headline, body=body)),
    )
    content = StoryContent.model_construct(headline=headline, body_text=body, byline="Staff", urgency=3)
    return ninjs.render(content, envelope)


def items(conll: str | None) -> list[dict]:
    seed = json.loads(SEED.read_text())
    stories = [(seed["headline"], seed["body_text"]), (TINY["headline"], TINY["body_text"])]
    if conll:
        with open(conll, encoding="utf-8") as lines:
            documents = [json.loads(line) for line, _ in zip(lines, range(50), strict=False)]
        stories += [(doc["title"][:200], doc["text"]) for doc in documents]
    return [rendered(headline, body) for headline, body in stories]


def mutations(item: dict) -> Iterator[dict]:
    """Copies of ``item`` with one property (top level, or of an object one or two levels
    down) replaced by each of ``ODD_VALUES``."""
    for path in _paths(item):
        for value in ODD_VALUES:
            mutated = copy.deepcopy(item)
            holder = mutated
            for step in path[:-1]:
                holder = holder[step]
            holder[path[-1]] = value
            yield mutated


def _paths(item: dict) -> Iterator[tuple]:
    for key, value in item.items():
        yield (key,)
        children = value[:1] if isinstance(value, list) else [value]
        for index, child in enumerate(children):
            if isinstance(child, dict):
                prefix = (key, index) if isinstance(value, list) else (key,)
                yield from (prefix + (inner,) for inner in child)


def reference_validator() -> jsonschema.Draft202012Validator:
    """The pure-Python ``jsonschema`` on the same schemas (the publish worker's check before)."""
    schema, geojson = ninjs.schemas()
    registry = Registry().with_resource(geojson["$id"], Resource.from_contents(geojson))
    return jsonschema.Draft202012Validator(schema, registry=registry)


def per_item_us(check: Callable[[dict], object], rendered_items: list[dict], runs: int) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        for item in rendered_items:
            check(item)
    return (time.perf_counter() - started) / (runs * len(rendered_items)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conll", help="JSON lines with title and text (the first 50 are rendered)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rendered_items = items(args.conll)
    reference, compiled = reference_validator(), ninjs.validator()
    checks = {"jsonschema (pure Python)": reference.is_valid, "jsonschema-rs (compiled)": compiled.is_valid}
    print(describe(), f"\n\n{len(rendered_items)} rendered items, {args.runs} runs each\n")
    times = {name: [] for name in checks}
    for _ in range(3):  # alternating, so a noisy moment falls on both
        for name, check in checks.items():
            times[name].append(per_item_us(check, rendered_items, args.runs))
    slow, fast = (sorted(values)[1] for values in times.values())
    print("| validator | µs per item (median of 3) |\n|---|---|")
    for name, values in times.items():
        print(f"| {name} | {sorted(values)[1]:.1f} |")
    print(f"\nRatio: ×{slow / fast:.0f}\n")
    judged = disagreements = 0
    for item in rendered_items:
        for mutated in mutations(item):
            judged += 1
            if reference.is_valid(mutated) != compiled.is_valid(mutated):
                disagreements += 1
                print("disagree:", json.dumps(mutated)[:300])
    print(f"Mutated items judged by both: {judged}, disagreements: {disagreements}")


if __name__ == "__main__":
    main()
