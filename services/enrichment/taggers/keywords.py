"""Keywords: the most frequent content words, stop words left out."""

from __future__ import annotations

import re
from collections import Counter

STOP_WORDS = set(
    """a about above after again against all also although always am among an and another any are aren't
    around as at be because been before being below between both but by can cannot could did do does doing
    done down during each either else even ever every few for from further had has have having he her here
    hers herself him himself his how however i if in into is it its itself just last least less like made
    make many may me might more most much must my myself never new next no nor not now of off often on once
    one only or other others our ours ourselves out over own part per perhaps put rather said same say says
    see seen she should since so some still such than that the their theirs them themselves then there these
    they this those though through thus time times to too under until up upon us very was we well were what
    whatever when where whether which while who whom whose why will with within without would year years yet
    you your yours yourself yourselves told according including include includes i'm it's that's don't
    we've we're they're there's what's""".split()
)


def keywords(text: str, limit: int = 10) -> list[dict]:
    words = [w.lower() for w in re.findall(r"[A-Za-z][a-z’'\-]{3,}", text)]
    counted = Counter(w for w in words if w not in STOP_WORDS)
    if not counted:
        return []
    top = counted.most_common(limit)
    peak = top[0][1]
    return [{"name": word, "confidence": round(n / peak, 2), "mentions": n} for word, n in top]
