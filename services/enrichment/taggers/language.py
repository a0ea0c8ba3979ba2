"""Language detection and text counts."""

from __future__ import annotations

import re

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

DetectorFactory.seed = 0  # deterministic answers for the same text
#: a paragraph is plenty to tell a language; the rest of a long story only costs time
SAMPLE_CHARS = 1500


def detect_language(text: str) -> dict:
    try:
        best = detect_langs(text[:SAMPLE_CHARS])[0]
    except LangDetectException:
        return {"code": None, "confidence": 0.0}
    return {"code": best.lang, "confidence": round(best.prob, 3)}


def counts(body: str) -> dict:
    return {"words": len(re.findall(r"\w+(?:[’'\-]\w+)*", body)), "characters": len(body)}
