"""Entity scores: the set of unique (text, type) pairs per document, exact text (whitespace
collapsed), precision / recall / F1 per type and micro-averaged over the types."""

from __future__ import annotations

import re
from collections import Counter

TYPES = ("PER", "ORG", "LOC", "MISC")


def pairs(entities: list[dict]) -> set[tuple[str, str]]:
    return {(re.sub(r"\s+", " ", e["text"]).strip(), e["type"]) for e in entities if e["type"] in TYPES}


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def score(gold: dict[str, list[dict]], predicted: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    counts = {t: Counter() for t in TYPES}
    for doc_id, gold_entities in gold.items():
        g, p = pairs(gold_entities), pairs(predicted.get(doc_id, []))
        for entity_type in TYPES:
            gt = {x for x in g if x[1] == entity_type}
            pt = {x for x in p if x[1] == entity_type}
            counts[entity_type].update(tp=len(gt & pt), fp=len(pt - gt), fn=len(gt - pt))
    result = {}
    for entity_type, c in counts.items():
        precision, recall, f = f1(c["tp"], c["fp"], c["fn"])
        result[entity_type] = {"precision": precision, "recall": recall, "f1": f, **c}
    total = sum(counts.values(), Counter())
    precision, recall, f = f1(total["tp"], total["fp"], total["fn"])
    result["micro"] = {"precision": precision, "recall": recall, "f1": f, **total}
    return result


def table(scores: dict[str, dict[str, float]]) -> str:
    lines = ["| type | precision | recall | F1 | TP | FP | FN |", "|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        lines.append(
            f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
            f"{s.get('tp', 0)} | {s.get('fp', 0)} | {s.get('fn', 0)} |"
        )
    return "\n".join(lines)
