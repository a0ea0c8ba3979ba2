"""Language detection and text counts."""

from __future__ import annotations

import re

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

DetectorFactory.seed = 0  # deterministic answers for the same text


def detect_language(text: str) -> dict:
    try:
        best = detect_langs(text[:5000])[0]
    except LangDetectException:
        return {"code": None, "confidence": 0.0}
    return {"code": best.lang, "confidence": round(best.prob, 3)}


def counts(body: str) -> dict:
    return {"words": len(re.findall(r"\w+(?:[’'\-]\w+)*", body)), "characters": len(body)}
