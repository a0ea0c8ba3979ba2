"""Tagging quality and speed on gold newswire, with the production tagger.

    python -m bench.tagging GOLD.jsonl [--out PRED.jsonl] [--errors 20]

GOLD.jsonl holds one document per line: {"id", "text", "entities": [{"text", "type"}]}
(e.g. ../shared/eval/conll2003-dev.jsonl). Every document's ``text`` goes through
``tag_text`` — the function the enrichment worker runs — in this one process; the
predictions are written one line per document as {"id", "entities": [{"text", "type"}]}.
Scores: unique (text, type) per document, exact text, P/R/F1 per type and micro.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections import Counter
from pathlib import Path

from bench.machine import describe
from bench.scoring import pairs, score, table
from services.enrichment.taggers import tag_text, warm_up


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gold")
    parser.add_argument("--out", help="where to write the predictions (JSON lines)")
    parser.add_argument("--errors", type=int, default=0, help="print the N most frequent false positives/negatives")
    parser.add_argument(
        "--compare-model",
        action="store_true",
        help="also score the bare spaCy model (no rules, no gazetteers) in the same run",
    )
    return parser.parse_args()


def compare_model(docs: list[dict], gold: dict, scores: dict) -> None:
    """Score the bare model on the same documents, in the same run."""
    from services.enrichment.taggers import ner

    started = time.perf_counter()
    bare = {
        doc["id"]: [{"text": doc["text"][s.start : s.end], "type": s.type} for s in ner.find_spans(doc["text"])]
        for doc in docs
    }
    bare_elapsed = time.perf_counter() - started
    bare_scores = score(gold, bare)
    print("\nThe bare model (en_core_web_sm, all-caps lines recased, OntoNotes labels mapped), same run:\n")
    print(table(bare_scores))
    print(f"\nThroughput of the bare model: {len(docs) / bare_elapsed:.1f} documents/s.")
    print(
        f"Production tagger vs bare model: micro-F1 x{scores['micro']['f1'] / bare_scores['micro']['f1']:.2f}, "
        f"LOC F1 x{scores['LOC']['f1'] / bare_scores['LOC']['f1']:.2f}, "
        f"ORG F1 x{scores['ORG']['f1'] / bare_scores['ORG']['f1']:.2f}."
    )


def print_errors(gold: dict, predicted: dict, most: int) -> None:
    fp, fn = Counter(), Counter()
    for doc_id, gold_entities in gold.items():
        g, p = pairs(gold_entities), pairs(predicted[doc_id])
        fp.update(p - g)
        fn.update(g - p)
    print("\nMost frequent false positives:", fp.most_common(most))
    print("\nMost frequent false negatives:", fn.most_common(most))


def main() -> None:
    args = parse_args()
    docs = [json.loads(line) for line in Path(args.gold).read_text().splitlines() if line.strip()]
    before_load = rss_mib()
    started = time.perf_counter()
    warm_up()
    load_seconds = time.perf_counter() - started

    predicted: dict[str, list[dict]] = {}
    started = time.perf_counter()
    for doc in docs:
        tags = tag_text(doc["text"])
        predicted[doc["id"]] = [{"text": e["text"], "type": e["type"]} for e in tags["entities"]]
    elapsed = time.perf_counter() - started

    if args.out:
        with open(args.out, "w") as out:
            for doc in docs:
                out.write(json.dumps({"id": doc["id"], "entities": predicted[doc["id"]]}) + "\n")

    gold = {doc["id"]: doc.get("entities", []) for doc in docs}
    scores = score(gold, predicted)
    chars = sum(len(doc["text"]) for doc in docs)
    print(f"Machine: {describe()}")
    print(f"Gold: {args.gold} ({len(docs)} documents, {chars / len(docs):.0f} characters on average)")
    print()
    print(table(scores))
    print()
    print(
        f"Throughput: {len(docs) / elapsed:.1f} documents/s, {chars / elapsed / 1000:.0f} KB/s, in one process "
        f"(all taggers: entities, places, subjects, keywords, language). Model and gazetteers load once: "
        f"{load_seconds:.1f} s. Peak RSS {rss_mib():.0f} MiB (before loading: {before_load:.0f} MiB)."
    )
    if args.compare_model:
        compare_model(docs, gold, scores)
    if args.errors:
        print_errors(gold, predicted, args.errors)


if __name__ == "__main__":
    main()
