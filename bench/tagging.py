"""Tagging quality and speed on gold newswire, with the production tagger.

    python -m bench.tagging GOLD.jsonl [--part heldout] [--out PRED.jsonl] [--gold-out GOLD_PART.jsonl]
                            [--scorer ../shared/eval/score_tagging.py] [--compare-model] [--errors 20]

GOLD.jsonl holds one document per line: {"id", "text", ["headline"], ["entities"], ["places"], ["subjects"]}
(../shared/eval/conll2003-dev.jsonl for entities; reuters21578-dev.jsonl and agnews-dev.jsonl for places
and Media Topics). ``--part`` picks the training 80 % or the held-out 20 % of ``tools.split``. Every
document goes through ``tag_text`` — the function the enrichment worker runs — in this one process
(the headline as the first line, as for a filed story); the predictions are written one line per
document as {"id", "entities": [{"text", "type"}], "places": [ninjs places: {"name", "rel", "literal"}],
"subjects": [{"qcode", "relevance", "confidence", "name"}]}, which ``score_entities.py`` and
``score_tagging.py`` score. Entity scores (when the gold has entities): unique (text, type) per
document, exact text, P/R/F1 per type and micro. ``--compare-model`` also runs the bare spaCy
model (token-to-vector and entity recogniser only) on the same documents in the same run and prints
the throughput ratio. Peak RSS of this process is printed: the enrichment worker's budget is 600 MiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.machine import describe
from bench.scoring import pairs, score, table
from services.enrichment.taggers import tag_text, warm_up
from services.publish.formats.ninjs import places as ninjs_places
from shared.tags import StoryTags
from tools.split import read


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gold", type=Path)
    parser.add_argument("--part", choices=("all", "train", "heldout"), default="all")
    parser.add_argument("--out", type=Path, help="where to write the predictions (JSON lines)")
    parser.add_argument("--gold-out", type=Path, help="where to write the gold documents of --part")
    parser.add_argument("--scorer", type=Path, help="score places and subjects with this score_tagging.py")
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--errors", type=int, default=0, help="print the N most frequent false positives/negatives")
    parser.add_argument(
        "--compare-model",
        action="store_true",
        help="also run the bare spaCy model (no rules, no gazetteers, no other taggers) in the same run",
    )
    return parser.parse_args()


def story_text(doc: dict) -> str:
    return f"{doc['headline']}\n\n{doc['text']}" if doc.get("headline") else doc["text"]


def prediction(doc_id: str, tags: dict) -> dict:
    return {
        "id": doc_id,
        "entities": [{"text": e["text"], "type": e["type"]} for e in tags["entities"]],
        "places": [p.model_dump(exclude_none=True) for p in ninjs_places(StoryTags.from_stored(tags))],
        "subjects": [
            {"qcode": s["qcode"], "relevance": s["relevance"], "confidence": s["confidence"], "name": s["name"]}
            for s in tags["subjects"]
        ],
    }


def bare_model():
    import spacy

    from services.enrichment.taggers import ner

    return spacy.load(ner.MODEL, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])


def compare_model(docs: list[dict], gold: dict, scores: dict, production_rate: float) -> None:
    """Score the bare model on the same documents, in the same run."""
    from services.enrichment.taggers import ner

    nlp = bare_model()
    nlp(story_text(docs[0]))
    started = time.perf_counter()
    bare = {}
    for doc in docs:
        text = story_text(doc)
        parsed = nlp(ner.recase(text))
        bare[doc["id"]] = [
            {"text": text[e.start_char : e.end_char], "type": ner.LABELS[e.label_]}
            for e in parsed.ents
            if e.label_ in ner.LABELS
        ]
    bare_rate = len(docs) / (time.perf_counter() - started)
    if any(gold.values()):
        bare_scores = score(gold, bare)
        print("\nThe bare model (en_core_web_sm, all-caps lines recased, OntoNotes labels mapped), same run:\n")
        print(table(bare_scores))
        print(f"\nProduction tagger vs bare model: micro-F1 x{scores['micro']['f1'] / bare_scores['micro']['f1']:.2f}")
    print(
        f"\nThroughput of the bare model: {bare_rate:.1f} documents/s; the production tagger "
        f"{production_rate:.1f} documents/s = {production_rate / bare_rate:.2f}x the bare model (same run)."
    )


def print_errors(gold: dict, predicted: dict, most: int) -> None:
    fp, fn = Counter(), Counter()
    for doc_id, gold_entities in gold.items():
        g, p = pairs(gold_entities), pairs(predicted[doc_id])
        fp.update(p - g)
        fn.update(g - p)
    print("\nMost frequent false positives:", fp.most_common(most))
    print("\nMost frequent false negatives:", fn.most_common(most))


def write_lines(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def tag_all(docs: list[dict]) -> tuple[list[dict], float]:
    started = time.perf_counter()
    predictions = [prediction(doc["id"], tag_text(story_text(doc))) for doc in docs]
    return predictions, time.perf_counter() - started


def main() -> None:
    args = parse_args()
    docs = read(args.gold, args.part)[: args.limit]
    before_load = rss_mib()
    started = time.perf_counter()
    warm_up()
    load_seconds = time.perf_counter() - started
    predictions, elapsed = tag_all(docs)
    out = args.out or Path("/tmp") / f"{args.gold.stem}-{args.part}-pred.jsonl"
    write_lines(out, predictions)
    gold_path = args.gold_out or Path("/tmp") / f"{args.gold.stem}-{args.part}-gold.jsonl"
    write_lines(gold_path, docs)

    chars = sum(len(story_text(doc)) for doc in docs)
    print(f"Machine: {describe()}")
    print(f"Gold: {args.gold}, part {args.part} ({len(docs)} documents, {chars / len(docs):.0f} characters on average)")
    print(f"Predictions: {out}; gold of this part: {gold_path}")
    gold = {doc["id"]: doc.get("entities", []) for doc in docs}
    predicted = {p["id"]: p["entities"] for p in predictions}
    scores = score(gold, predicted)
    if any(gold.values()):
        print()
        print(table(scores))
    if args.scorer:
        print()
        subprocess.run([sys.executable, str(args.scorer), str(gold_path), str(out)], check=True)
    rate = len(docs) / elapsed
    print(
        f"\nThroughput: {rate:.1f} documents/s, {chars / elapsed / 1000:.0f} KB/s, in one process "
        f"(all taggers: entities, places, subjects, keywords, language). Model, gazetteers and classifiers load "
        f"once: {load_seconds:.1f} s. Peak RSS {rss_mib():.0f} MiB (before loading: {before_load:.0f} MiB)."
    )
    if args.compare_model:
        compare_model(docs, gold, scores, rate)
    if args.errors:
        print_errors(gold, predicted, args.errors)


if __name__ == "__main__":
    main()
