"""Language detection: accuracy and speed of the production detector on text it was not built on.

    python -m bench.language [--english ../shared/eval/agnews-dev.jsonl] [--limit 1000]

Labelled multilingual text: spaCy's own example sentences (``spacy/lang/<code>/examples.py``,
installed with the model; the code of each folder is the label). English: headlines and texts of a
JSONL file with ``headline`` and ``text``. Prints accuracy (the detected primary language subtag
equals the label) and mean time per text; when ``langdetect`` is importable it is measured on the
same texts in the same run, overall and on the languages both detectors know.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import spacy

from bench.machine import describe
from services.enrichment.taggers.language import _identifier, detect_language

Detector = Callable[[str], str | None]


def spacy_examples() -> list[tuple[str, str]]:
    """(language code, sentence) for every language spaCy ships example sentences for."""
    labelled = []
    for folder in sorted((Path(spacy.__file__).parent / "lang").glob("*/examples.py")):
        code = folder.parent.name
        if code == "xx":
            continue
        try:
            module = importlib.import_module(f"spacy.lang.{code}.examples")
        except Exception:  # a language whose extra dependencies are not installed
            continue
        labelled.extend((code, sentence) for sentence in getattr(module, "sentences", []))
    return labelled


def english(path: str, limit: int) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8") as lines:
        rows = [json.loads(line) for _, line in zip(range(limit), lines, strict=False)]
    return [("en", f"{row.get('headline', '')}\n\n{row['text']}") for row in rows]


def measure(detect: Detector, labelled: list[tuple[str, str]]) -> tuple[float, float]:
    """(accuracy, ms per text)."""
    right, started = 0, time.perf_counter()
    for code, text in labelled:
        right += (detect(text) or "").split("-")[0] == code
    return right / len(labelled), (time.perf_counter() - started) * 1000 / len(labelled)


def row(name: str, detector: str, detect: Detector, labelled: list[tuple[str, str]]) -> str:
    accuracy, ms = measure(detect, labelled)
    texts = f"{len(labelled)} ({len({code for code, _ in labelled})})"
    return f"| {name} | {detector} | {texts} | {accuracy:.3f} | {ms:.2f} |"


def detectors() -> dict[str, tuple[Detector, set[str] | None]]:
    found: dict[str, tuple[Detector, set[str] | None]] = {
        "py3langid (production)": (lambda text: detect_language(text)["code"], set(_identifier().labels))
    }
    try:
        import langdetect
        from langdetect import DetectorFactory, detect
    except ImportError:
        return found
    DetectorFactory.seed = 0
    profiles = Path(langdetect.__file__).parent / "profiles"
    known = {name.split("-")[0] for name in (p.name for p in profiles.iterdir())}
    found["langdetect 1.0.9"] = (lambda text: _quiet(detect, text), known)
    return found


def _quiet(detect: Callable[[str], str], text: str) -> str | None:
    try:
        return detect(text)
    except Exception:  # langdetect raises on text without features
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--english", help="JSONL with headline and text (e.g. ../shared/eval/agnews-dev.jsonl)")
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    sets = {"spaCy example sentences": spacy_examples()}
    if args.english:
        sets["English newswire"] = english(args.english, args.limit)
    found = detectors()
    print(describe(), "\n")
    print("| texts | detector | texts (languages) | accuracy | ms per text |\n|---|---|---|---|---|")
    for name, labelled in sets.items():
        for detector, (detect, _known) in found.items():
            print(row(name, detector, detect, labelled))
    if len(found) > 1:
        shared = set.intersection(*(known for _, known in found.values() if known))
        common = [(code, text) for code, text in sets["spaCy example sentences"] if code in shared]
        for detector, (detect, _known) in found.items():
            print(row("languages both know", detector, detect, common))


if __name__ == "__main__":
    main()
