"""Linear text classifiers, scored with NumPy alone: a story becomes TF-IDF weights over a
fixed list of terms (words and word pairs), and each class scores ``weights · x + bias``.

``words`` alone serve where pairs are too sparse to learn from (the few thousand stories of
general news). The weights are learned offline by ``python -m tools.train_subjects`` (scikit-learn, from
labelled newswire) and stored in one small ``.npz`` file per model; ``terms`` is the one
tokeniser both training and tagging use, so what is measured is what runs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[a-z][a-z'&.\-]*[a-z]|[a-z]")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def terms(text: str) -> list[str]:
    """Words and adjacent word pairs, lower-cased; numbers and punctuation left out."""
    found = words(text)
    return found + [f"{a} {b}" for a, b in zip(found, found[1:], strict=False)]


@dataclass(frozen=True)
class LinearTextModel:
    """``link`` is ``softmax`` (one class per story) or ``sigmoid`` (each class on its own)."""

    classes: tuple[str, ...]
    index: dict[str, int]  # term -> column
    idf: np.ndarray  # (terms,)
    weights: np.ndarray  # (classes, terms)
    bias: np.ndarray  # (classes,)
    link: str
    temperature: float = 1.0
    analyzer: str = "terms"  # "terms" (words and pairs) or "words"

    @classmethod
    def load(cls, path: Path) -> LinearTextModel:
        with np.load(path, allow_pickle=False) as data:
            vocabulary = [str(t) for t in data["terms"]]
            return cls(
                classes=tuple(str(c) for c in data["classes"]),
                index={t: i for i, t in enumerate(vocabulary)},
                idf=data["idf"].astype(np.float32),
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
                link=str(data["link"]),
                temperature=float(data["temperature"]),
                analyzer=str(data["analyzer"]),
            )

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse TF-IDF of ``text`` (sublinear term frequency, unit length): columns, values."""
        counts = Counter(self.index[t] for t in ANALYZERS[self.analyzer](text) if t in self.index)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * self.idf[columns]
        return columns, values / np.linalg.norm(values)

    def probabilities(self, text: str) -> dict[str, float]:
        columns, values = self.vector(text)
        scores = self.weights[:, columns] @ values + self.bias
        if self.link == "softmax":
            scaled = (scores - scores.max()) * self.temperature
            p = np.exp(scaled) / np.exp(scaled).sum()
        else:
            p = 1.0 / (1.0 + np.exp(-scores))
        return {c: float(v) for c, v in zip(self.classes, p, strict=True)}


ANALYZERS = {"terms": terms, "words": words}


def save(
    path: Path, *, classes, terms_list, idf, weights, bias, link: str, temperature: float = 1.0, analyzer: str = "terms"
) -> None:
    np.savez_compressed(
        path,
        classes=np.array(classes),
        terms=np.array(terms_list),
        idf=np.asarray(idf, dtype=np.float16),
        weights=np.asarray(weights, dtype=np.float16),
        bias=np.asarray(bias, dtype=np.float32),
        link=np.array(link),
        temperature=np.array(temperature, dtype=np.float32),
        analyzer=np.array(analyzer),
    )
