"""The tagging model's matrix products: thinc's BLIS against NumPy's BLAS (what enrichment runs,
``services/enrichment/taggers/matmul.py``), and what that makes of a reading by the model.

    python -m bench.matmul [--conll PATH] [--docs 100] [--runs 5]

Both in one process, one BLAS thread: products of the shapes the model multiplies (tokens ×
features), then the whole model (``ner.load``'s pipeline, loaded twice: on thinc's default CPU ops
and, as ``ner.model`` loads it, on ``NumpyBlasOps``) reading the tiny story of ``bench.pipeline
--tiny``, the seed story, and, with ``--conll``, the first ``--docs`` documents one at a time and in
one ``pipe``. Runs alternate; medians (smallest–largest) of CPU time and the ratio. Every reading's
entities and tags are compared between the two models and any difference is printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from thinc.api import NumpyOps

from bench.machine import describe
from services.enrichment.taggers import ner
from services.enrichment.taggers.matmul import NumpyBlasOps, single_threaded_blas

SEED = Path(__file__).resolve().parent.parent / "seeds" / "stories" / "us-returns-to-central-asia.json"
TINY = "Minister resigns. LONDON - Britain's finance minister resigned on Monday after a row over the budget."
#: (tokens, inputs, outputs): a short text and a long one through the model's widest layers.
SHAPES = [(20, 288, 288), (20, 96, 864), (300, 288, 288), (300, 96, 864)]


def cpu_ms(work: Callable[[], object], count: int) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) * 1000 / count


def compare(label: str, runs: int, blis: Callable[[], object], numpy: Callable[[], object], count: int) -> str:
    times: dict[str, list[float]] = {"blis": [], "numpy": []}
    blis(), numpy()  # warm
    for _ in range(runs):
        times["blis"].append(cpu_ms(blis, count))
        times["numpy"].append(cpu_ms(numpy, count))
    cells = [f"{statistics.median(t):.3f} ({min(t):.3f}–{max(t):.3f})" for t in times.values()]
    ratio = statistics.median(times["numpy"]) / statistics.median(times["blis"])
    return f"| {label} | {cells[0]} | {cells[1]} | ×{ratio:.2f} |"


def products(runs: int) -> list[str]:
    rng = np.random.default_rng(1)
    rows = []
    for tokens, inputs, outputs in SHAPES:
        x = rng.standard_normal((tokens, inputs), dtype=np.float32)
        w = rng.standard_normal((outputs, inputs), dtype=np.float32)
        blis, numpy = NumpyOps(), NumpyBlasOps()
        rows.append(
            compare(
                f"product {tokens}×{inputs} · {inputs}×{outputs}, ms",
                runs,
                lambda x=x, w=w, ops=blis: [ops.gemm(x, w, trans2=True) for _ in range(500)],
                lambda x=x, w=w, ops=numpy: [ops.gemm(x, w, trans2=True) for _ in range(500)],
                500,
            )
        )
    return rows


def reading(doc) -> tuple:
    return tuple((e.start_char, e.end_char, e.label_) for e in doc.ents), tuple(t.tag_ for t in doc)


def differences(texts: list[str], blis_nlp, numpy_nlp) -> int:
    return sum(reading(blis_nlp(text)) != reading(numpy_nlp(text)) for text in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conll", type=Path, help="JSON-lines documents (text)")
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    single_threaded_blas()
    blis_nlp, numpy_nlp = ner.load(), ner.model()  # thinc's default ops (BLIS); enrichment's
    seed = json.loads(SEED.read_text())
    texts = {"the tiny story": [TINY], "the seed story": [f"{seed['headline']}\n{seed['body_text']}"]}
    if args.conll:
        with args.conll.open(encoding="utf-8") as lines:
            texts[f"{args.docs} CoNLL documents"] = [
                json.loads(line)["text"] for _, line in zip(range(args.docs), lines, strict=False)
            ]
    print(describe())
    print(f"\n{args.runs} alternating runs, CPU time: median (smallest–largest); one BLAS thread\n")
    print("| measurement | BLIS (thinc's default) | NumPy's BLAS (enrichment) | ratio |\n|---|---|---|---|")
    for row in products(args.runs):
        print(row)
    for name, batch in texts.items():
        print(
            compare(
                f"{name}, read one at a time, ms a text",
                args.runs,
                lambda b=batch: [blis_nlp(t) for t in b],
                lambda b=batch: [numpy_nlp(t) for t in b],
                len(batch),
            )
        )
        if len(batch) > 1:
            print(
                compare(
                    f"{name}, read in one pipe, ms a text",
                    args.runs,
                    lambda b=batch: list(blis_nlp.pipe(b)),
                    lambda b=batch: list(numpy_nlp.pipe(b)),
                    len(batch),
                )
            )
    every = [text for batch in texts.values() for text in batch]
    changed = differences(every, blis_nlp, numpy_nlp)
    print(f"\nTexts whose entities or part-of-speech tags differ between the two: {changed} of {len(every)}")


if __name__ == "__main__":
    main()
