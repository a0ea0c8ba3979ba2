"""Language detection and text counts.

Detection is py3langid (a maintained fork of langid.py: a naive Bayes model over byte n-grams,
shipped inside the package, 97 languages). Measured against langdetect on spaCy's example
sentences (492 sentences in 67 languages, text neither was tuned on): 0.856 against 0.630
correct overall, 0.924 against 0.939 on the 42 languages both know, ~0.2 ms a sentence against
~5 ms; both 1.000 on 1,000 English AG News items (docs/benchmarks.md)."""

from __future__ import annotations

import re
from functools import cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

#: a paragraph is plenty to tell a language; the rest of a long story only costs time
SAMPLE_CHARS = 1500


@cache
def _identifier() -> LanguageIdentifier:
    """Loaded once per process (the model is read from the package, never downloaded)."""
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> dict:
    sample = text[:SAMPLE_CHARS]
    if not any(char.isalpha() for char in sample):
        return {"code": None, "confidence": 0.0}
    code, probability = _identifier().classify(sample)
    return {"code": code, "confidence": round(probability, 3)}


def counts(body: str) -> dict:
    return {"words": len(re.findall(r"\w+(?:[’'\-]\w+)*", body)), "characters": len(body)}
