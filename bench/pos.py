"""The model's attribute ruler against ``PosFromTags``: the same tags, and what each costs.

    python -m bench.pos [FILE.jsonl ...] [--limit 400]

Runs the model (``ner.MODEL``, the components the enrichment worker loads) over the texts of
each JSON-lines file (``{"text"}`` a line; e.g. ../shared/eval/*.jsonl), each text as written
and as the model is shown it (``ner.recase``), plus the seed story, then tags every doc twice:
with the model's own ``attribute_ruler`` and with ``pos.PosFromTags`` built from its patterns.
Prints the tokens whose ``pos_`` or ``tag_`` differ (there should be none) and the milliseconds
per document each takes, in the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.machine import describe

SEED = Path(__file__).resolve().parents[1] / "seeds/stories/us-returns-to-central-asia.json"


def texts(paths: list[Path], limit: int) -> list[str]:
    from services.enrichment.taggers.ner import recase

    found = [json.loads(SEED.read_text())["body_text"]]
    for path in paths:
        with path.open() as lines:
            for line in list(lines)[:limit]:
                text = json.loads(line)["text"]
                found += [text, recase(text)]
    return found


def tagged_docs(all_texts: list[str]) -> tuple[list, object, object]:
    """The texts read up to the fine tags; the model's ruler; ``PosFromTags`` from its patterns."""
    import spacy

    from services.enrichment.taggers.ner import MODEL
    from services.enrichment.taggers.pos import PosFromTags, relevant

    nlp = spacy.load(MODEL, exclude=["parser", "lemmatizer", "senter"])
    ruler = nlp.get_pipe("attribute_ruler")
    with nlp.select_pipes(enable=["tok2vec", "tagger"]):
        docs = list(nlp.pipe(all_texts, batch_size=64))
    return docs, ruler, PosFromTags(relevant(ruler.patterns))


def timed(component, docs: list) -> tuple[float, list]:
    copies = [doc.copy() for doc in docs]
    started = time.perf_counter()
    for doc in copies:
        component(doc)
    return (time.perf_counter() - started) * 1000 / len(copies), copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--limit", type=int, default=400, help="documents read from each file")
    args = parser.parse_args()
    docs, ruler, lookup = tagged_docs(texts(args.files, args.limit))
    ruler_ms, by_ruler = timed(ruler, docs)
    lookup_ms, by_lookup = timed(lookup, docs)
    pairs = [(a, b) for x, y in zip(by_ruler, by_lookup, strict=True) for a, b in zip(x, y, strict=True)]
    differ = [(a, b) for a, b in pairs if (a.pos_, a.tag_) != (b.pos_, b.tag_)]
    print(describe())
    print(f"{len(docs)} documents, {len(pairs)} tokens; tokens tagged differently: {len(differ)}")
    for a, b in differ[:20]:
        print(f"  {a.text!r}: ruler {a.tag_}/{a.pos_}, lookup {b.tag_}/{b.pos_}")
    print(f"attribute_ruler {ruler_ms:.2f} ms per document, PosFromTags {lookup_ms:.2f} (x{ruler_ms / lookup_ms:.0f})")


if __name__ == "__main__":
    main()
