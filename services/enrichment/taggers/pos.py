"""Coarse part-of-speech tags (``token.pos_``) from the model's fine tags, by table lookup.

The model ships an ``attribute_ruler``: 179 Matcher patterns that map each fine tag (``NN``,
``VBZ``) to its coarse tag (``NOUN``, ``VERB``), with exceptions for single words ("'s" as
``PART``), and that also set lemmas and morphology, which nothing here reads. Run through the
Matcher it cost ~7 ms of a 1.4 KB story's ~58 ms of tagging (``python -m bench.pos``), as much as
everything but the two neural networks.

``PosFromTags`` gives every token the same ``pos_`` and ``tag_`` the ruler gives it, from the
ruler's own patterns: the patterns that set either attribute are single-token patterns on the
token's fine tag, its lower-case form and whether it is a space, so what they set is a function of
those three values; it is worked out once per distinct triple, applying the patterns in the
ruler's order (a later pattern wins, as in the ruler), and looked up for every token after that.
A pattern on the dependency label never matches (the pipeline has no parser). ``supported``
says whether a set of patterns is of that kind; the model loader keeps the ruler when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacy.language import Language
from spacy.parts_of_speech import IDS as POS_IDS
from spacy.tokens import Doc

#: The attributes this component sets; a ruler pattern setting neither is left out.
SET = ("POS", "TAG")
#: Token attributes a supported pattern may test, and how each is read off a token.
TESTED = {"TAG": 0, "LOWER": 1, "IS_SPACE": 2}


@dataclass(frozen=True)
class Rule:
    """One ruler pattern: the values each tested attribute may take (None: any), what it sets."""

    allowed: tuple[frozenset | None, frozenset | None, frozenset | None]
    sets: dict

    def matches(self, key: tuple[str, str, bool]) -> bool:
        return all(values is None or value in values for values, value in zip(self.allowed, key, strict=True))


def _values(test) -> frozenset | None:
    """What one attribute test accepts: a value, or ``{"IN": [...]}``; None if anything else."""
    if isinstance(test, dict):
        return frozenset(test["IN"]) if set(test) == {"IN"} else None
    return frozenset([test])


def _rule(pattern: dict) -> Rule | None:
    """The pattern as a ``Rule``; None if it is of a kind ``PosFromTags`` cannot follow."""
    if len(pattern["patterns"]) != 1 or len(pattern["patterns"][0]) != 1 or pattern.get("index", 0) not in (0, -1):
        return None
    (test,) = pattern["patterns"][0]
    allowed: list[frozenset | None] = [None, None, None]
    for attr, value in test.items():
        values = _values(value)
        if values is None or attr not in TESTED:
            return None
        allowed[TESTED[attr]] = values
    return Rule(tuple(allowed), {attr: pattern["attrs"][attr] for attr in SET if attr in pattern["attrs"]})


def _accepts_no_label(test) -> bool:
    """Whether a test of the dependency label accepts a token without one; True where unsure."""
    if isinstance(test, str):
        return test == ""
    if isinstance(test, dict) and set(test) == {"IN"}:
        return "" in test["IN"]
    if isinstance(test, dict) and set(test) == {"NOT_IN"}:
        return "" not in test["NOT_IN"]
    return True


def _never_matches(pattern: dict) -> bool:
    """A pattern that tests the dependency label (no token has one here) for a label."""
    return any(
        "DEP" in test and not _accepts_no_label(test["DEP"]) for tokens in pattern["patterns"] for test in tokens
    )


def relevant(patterns: list[dict]) -> list[dict]:
    """The patterns that can set ``pos_`` or ``tag_``, in the ruler's order."""
    return [p for p in patterns if any(a in p["attrs"] for a in SET) and not _never_matches(p)]


def supported(patterns: list[dict]) -> bool:
    """Whether ``PosFromTags`` gives the same ``pos_`` and ``tag_`` as a ruler with these patterns."""
    return all(_rule(p) is not None for p in relevant(patterns))


class PosFromTags:
    """The ruler's ``pos_`` and ``tag_`` by lookup. What a token gets is worked out once per
    distinct (tag, space) — or (tag, lower-case form, space) for the few words a pattern names —
    and kept by the ids spaCy stores."""

    def __init__(self, patterns: list[dict]):
        if not supported(patterns):
            raise ValueError("the ruler's patterns go beyond one token's tag, lower-case form and space")
        self.rules = [_rule(p) for p in relevant(patterns)]
        self.words = frozenset(word for rule in self.rules for word in rule.allowed[1] or ())
        self._word_ids: frozenset[int] | None = None
        self._known: dict[tuple, tuple[int | None, int | None]] = {}

    def outcome(self, key: tuple[str, str, bool]) -> tuple[str | None, str | None]:
        """(pos, tag) the matching rules set, the last one winning; None where none sets it."""
        sets: dict = {}
        for rule in self.rules:
            if rule.matches(key):
                sets.update(rule.sets)
        return sets.get("POS"), sets.get("TAG")

    def _ids(self, token) -> tuple[int | None, int | None]:
        """``outcome`` for the token, as the ids spaCy stores."""
        pos, tag = self.outcome((token.tag_, token.lower_, token.is_space))
        return (POS_IDS[pos] if pos is not None else None, token.vocab.strings.add(tag) if tag is not None else None)

    def __call__(self, doc: Doc) -> Doc:
        if self._word_ids is None:
            self._word_ids = frozenset(doc.vocab.strings.add(word) for word in self.words)
        known, words = self._known, self._word_ids
        for token in doc:
            lower = token.lower
            key = (token.tag, lower if lower in words else 0, token.is_space)
            ids = known.get(key)
            if ids is None:
                ids = known[key] = self._ids(token)
            if ids[0] is not None:
                token.pos = ids[0]
            if ids[1] is not None:
                token.tag = ids[1]
        return doc


@Language.factory("pos_from_tags", default_config={"patterns": []})
def make_pos_from_tags(nlp: Language, name: str, patterns: list[dict]) -> PosFromTags:
    return PosFromTags(patterns)


def replace_ruler(nlp: Language) -> bool:
    """Put ``pos_from_tags`` in the place of the model's ``attribute_ruler`` when it gives the
    same tags (``supported``); returns whether it did."""
    if "attribute_ruler" not in nlp.pipe_names or "parser" in nlp.pipe_names:
        return False
    patterns = nlp.get_pipe("attribute_ruler").patterns
    if not supported(patterns):
        return False
    nlp.add_pipe("pos_from_tags", before="attribute_ruler", config={"patterns": relevant(patterns)})
    nlp.remove_pipe("attribute_ruler")
    return True
