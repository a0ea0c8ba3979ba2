"""One split of every labelled data set, fixed for good: a document is held out when the SHA-1
of its id is 0 modulo 5 (about 20 %). Training uses only the rest; held-out figures are
reported only after tuning stopped.

    python -m tools.split GOLD.jsonl --out-dir DIR   # writes DIR/<name>-train.jsonl, DIR/<name>-heldout.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path


def held_out(doc_id: str) -> bool:
    return int(hashlib.sha1(doc_id.encode()).hexdigest(), 16) % 5 == 0


def read(path: Path, part: str = "all") -> list[dict]:
    """The documents of ``path`` in ``part``: ``train``, ``heldout`` or ``all``."""
    docs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if part == "all":
        return docs
    return [d for d in docs if held_out(d["id"]) == (part == "heldout")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gold", type=Path)
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for part in ("train", "heldout"):
        docs = read(args.gold, part)
        out = args.out_dir / f"{args.gold.stem}-{part}.jsonl"
        out.write_text("".join(json.dumps(d) + "\n" for d in docs))
        print(f"{out}: {len(docs)} documents")


if __name__ == "__main__":
    main()
