"""Keywords: the noun phrases and names an editor would search for ("Central Asia", "foreign
ministers", "charm offensive", "John Kerry"), best first, with a confidence in 0..1.

Reads the part-of-speech tags and entities of the shared model parse (``ner.parse``; there is
no dependency parser, so phrases are built from tag sequences): of a long story, the first
``ner.MODEL_CHARS`` characters, which the model reads. A run is a stretch of
adjectives, nouns and proper nouns (with "of", "and", "&" inside a name, and hyphenated
compounds); dates, numbers, amounts, stop words, verbs, adverbs, datelines, empty nouns ("way",
"week", "mln") and empty adjectives ("new", "important") end it. Every stretch of a run that
ends in a noun is a candidate, except that a name is never cut ("Bank of England", not
"England"). Mentions are merged case-insensitively and singular with plural; a surname alone
("Kerry") counts as the full name the story gives ("John Kerry"), every name of a country
("US", "U.S.", "United States") as that country, and a company's legal form is dropped.

A candidate scores its mentions — a headline mention 3, a body mention 2 at the start of the
body falling to 1 after LEDE_CHARS — times its shape: a longer phrase is more specific, a lone
common noun ("region") or a phrase led by an adjective ("comprehensive charm offensive") is
worth less. Candidates are taken best first; one that overlaps a chosen phrase keeps only its
other mentions ("Asia" after "Central Asia") and stays only if two remain. Confidence grows
with the score (score / (score + HALF)), so it differs between keywords and falls down the list.

A headline in capitals or Title Case is tagged poorly ("Completes Mortgage Unit Sale"), so its
words only add weight to phrases the body also has.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from dataclasses import dataclass, field

from services.enrichment.taggers import ner
from services.enrichment.taggers.places import gazetteer, place_for_name
from services.enrichment.taggers.tokens import tokenize

PHRASE_POS = {"NOUN", "PROPN", "ADJ"}
HEAD_POS = {"NOUN", "PROPN"}
#: Entity types that are never keywords: dates, times, numbers and amounts.
NOT_KEYWORDS = {"DATE", "TIME", "CARDINAL", "ORDINAL", "PERCENT", "MONEY", "QUANTITY"}
#: Words that join the parts of a name: "Secretary of State"; "Procter & Gamble", "Harper and Row"
#: only inside an entity the model found.
JOINERS = {"of", "&", "and"}
#: Joiners and the hyphen of a compound ("pre-tax", "Hewlett-Packard"): not words of their own.
GLUE = JOINERS | {"-"}
#: A company's legal form, left out of its keyword: "Ohio Mattress Co" -> "Ohio Mattress".
LEGAL_FORMS = {"inc", "corp", "co", "ltd", "plc", "llc", "cos", "corporation", "incorporated"}

MONTHS = set(
    """january february march april june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)  # "may" is left to the model's DATE entities (Theresa May)
WEEKDAYS = set("monday tuesday wednesday thursday friday saturday sunday".split())
SKIP_WORDS = set(
    """day days week weeks weekend month months year years decade decades century centuries today tonight
    tomorrow yesterday morning afternoon evening night hour hours minute minutes time times moment
    way ways thing things lot lots number numbers kind sort type fact case end side hand part parts
    mr mrs ms dr sir mln bln dlr dlrs pct cts shr shrs avg qtr revs vs net note div divs qtly prior
    kilos tonnes lbs reuter""".split()
)
#: Adjectives that say nothing about the topic: never part of a keyword ("new chapter" -> "chapter").
WEAK_ADJECTIVES = set(
    """new good bad important vital big great small large major different whole certain recent current
    key main significant former possible likely able such same own various several previous further
    last next early late little long best better worse worst top total overall general particular
    unprecedented increasing growing continuing strong weak""".split()
)
#: Nouns that are no keyword on their own, though they may be part of one ("foreign ministers").
WEAK_ALONE = set(
    """president minister secretary chairman chief executive director leader officer spokesman spokeswoman
    official company people statement report source group result region area country state world
    city province nation department ministry government agency market thing issue problem need""".split()
)
#: "LONDON 1996-08-30", "ROCHESTER, N.Y., Feb 26 -": the place a story was filed from.
DATELINE = re.compile(
    r"^[ \t]*[A-Z][A-Z .'\-]*[A-Z](?:,[ \t]+[A-Z][A-Za-z.'\-]*(?:[ \t]+[A-Z][A-Za-z.'\-]*)*)*"
    r"(?=,?[ \t]+(?:\d{4}-\d\d-\d\d|[A-Z][a-z]{2,8}\.?[ \t]+\d{1,2}\b))",
    re.M,
)

HEADLINE_WEIGHT = 3.0
#: A body mention weighs 1 + LEDE at the start of the body, falling to 1 at LEDE_CHARS and after.
LEDE = 1.0
LEDE_CHARS = 1000
MAX_WORDS = 5
LONE_NOUN = 0.3
ADJECTIVE_LED = 0.75
COMMON_PHRASE = 1.2
#: "Central Asian states", "Chinese cities": a name and a weak noun; the name says it better.
WEAK_HEAD = 0.5
MIN_SCORE = 0.65  # a lone common noun needs more than one mention (or the headline)
#: confidence = score / (score + HALF): a candidate scoring HALF gets 0.5.
HALF = 4.0


@dataclass
class Candidate:
    key: tuple[str, ...]
    words: int = 0
    proper: bool = False
    adjective_led: bool = False
    weak_head: bool = False
    sentence_start: bool = False  # its first word is capitalised only by position
    spans: list[tuple[int, int]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    surfaces: Counter = field(default_factory=Counter)
    in_body: bool = False

    def describe(self, tokens: list) -> None:
        """Take the shape from one mention: the first in the body, where the tags are best."""
        first, head = tokens[0], tokens[-1]
        self.words = _unit_count(tokens)
        self.proper = any(_is_name(t) and not _capital_by_position(t) for t in tokens)
        self.sentence_start = _capital_by_position(first)
        self.adjective_led = first.pos_ == "ADJ" and first.text.islower() and len(tokens) > 1
        self.weak_head = (
            len(tokens) > 1
            and head.text.islower()
            and _singular(head.lower_) in WEAK_ALONE
            and all(_is_name(t) or t.lower_ in GLUE for t in tokens[:-1])
        )

    def score(self, mentions: list[int]) -> float:
        shape = 1 + 0.4 * (min(self.words, 3) - 1)
        if self.words == 1 and not self.proper:
            shape *= LONE_NOUN
        if self.adjective_led:
            shape *= ADJECTIVE_LED
        if self.words > 1 and not self.proper:
            shape *= COMMON_PHRASE
        if self.weak_head:
            shape *= WEAK_HEAD
        return shape * sum(self.weights[i] for i in mentions)


@dataclass
class Story:
    text: str
    headline_end: int  # offset of the end of the first line
    has_body: bool
    trusted_headline: bool  # sentence case, so its tags are as good as the body's
    skipped: list[tuple[int, int]]  # datelines

    @classmethod
    def of(cls, text: str) -> Story:
        headline = text.split("\n", 1)[0]
        end = len(headline)
        skipped = [m.span() for m in DATELINE.finditer(text, end, end + 200)]
        return cls(text, end, bool(text[end:].strip()), not _title_case(headline), skipped)

    def in_headline(self, token) -> bool:
        return token.idx < self.headline_end

    def weight(self, token) -> float:
        if self.in_headline(token) and self.has_body:
            return HEADLINE_WEIGHT
        return 1 + LEDE * max(0.0, 1 - (token.idx - self.headline_end) / LEDE_CHARS)


def _title_case(line: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z]+", line) if len(w) > 3]
    return ner.is_shouting(line) or (len(words) > 1 and all(w[0].isupper() for w in words))


def keywords(text: str, limit: int = 10) -> list[dict]:
    if not text.strip() or limit <= 0:
        return []
    story = Story.of(text)
    candidates = _candidates(story, ner.parse(text))
    return [
        {"name": _name(c, text), "confidence": round(score / (score + HALF), 2), "mentions": len(mentions)}
        for c, score, mentions in _choose(candidates, limit)
    ]


# --- runs and phrases ----------------------------------------------------------------------


def _usable(token, story: Story) -> bool:
    lower = token.lower_
    if token.pos_ not in PHRASE_POS or token.ent_type_ in NOT_KEYWORDS or token.like_num:
        return False
    letters, digits = sum(c.isalpha() for c in lower), sum(c.isdigit() for c in lower)
    if letters < 2 and not lower.endswith(".") or digits > letters or lower in SKIP_WORDS or lower in WEEKDAYS:
        return False
    if token.pos_ == "ADJ" and lower in WEAK_ADJECTIVES and token.text.islower():
        return False
    if lower in MONTHS and token.text[:1].isupper():
        return False
    if any(start <= token.idx < end for start, end in story.skipped):
        return False
    return not token.is_stop or (token.text.isupper() and len(token.text) > 1)  # "US", "IT"


def _is_name(token) -> bool:
    return token.pos_ == "PROPN" or (token.text[:1].isupper() and token.ent_type_ != "")


def _capital_by_position(token) -> bool:
    """Capitalised (and so tagged a proper noun) only because it starts a line or sentence."""
    if token.ent_type_ or token.text.isupper():
        return False
    before = token.doc[token.i - 1] if token.i else None
    return before is None or "\n" in before.text or before.text in (".", "!", "?", '"', "“", ":")


def _is_hyphen(token) -> bool:
    """The hyphen of a compound: no space either side."""
    return token.text == "-" and token.i > 0 and not token.doc[token.i - 1].whitespace_ and not token.whitespace_


def _joins(token, run: list) -> bool:
    if not run or not _is_name(run[-1]) or token.lower_ not in JOINERS:
        return False
    return token.lower_ == "of" or token.ent_iob_ == "I"


def _fits(token, run: list, story: Story) -> bool:
    """Whether the token can go on (or start) a run."""
    if _is_hyphen(token):
        return bool(run) and run[-1].i == token.i - 1
    if run and run[-1].text == "-":
        return _usable(token, story)
    if token.i > 0 and _is_hyphen(token.doc[token.i - 1]):
        return False  # the rest of "all-rounder", "farmer-owned": the compound's first part is no keyword
    return _joins(token, run) or _usable(token, story)


def _breaks_run(token, run: list, story: Story) -> bool:
    """A person's name starts or ends here ("US Secretary of State | John Kerry"), a joiner is
    not followed by a name ("Ministry of | defence"), a name follows a common noun (an
    apposition: "network | CNBC"), or the headline ends."""
    if not run:
        return False
    before = run[-1]
    starts = token.ent_type_ == "PERSON" and token.ent_iob_ == "B"
    ends = before.ent_type_ == "PERSON" and token.ent_type_ != "PERSON"
    dangling = before.lower_ in JOINERS and not _is_name(token)
    apposition = before.pos_ == "NOUN" and not _is_name(before) and _is_name(token)
    return starts or ends or dangling or apposition or story.in_headline(before) != story.in_headline(token)


def _runs(doc, story: Story):
    """Maximal runs of phrase tokens. A single line break (wrapped wire copy) does not end a run."""
    run: list = []
    for token in doc:
        if token.is_space and "\n\n" not in token.text:
            continue
        usable = _fits(token, run, story)
        if not usable or _breaks_run(token, run, story):
            yield _trim(run)
            run = []
        if usable:
            run.append(token)
    yield _trim(run)


def _trim(run: list) -> list:
    while run and run[-1].lower_ in GLUE:
        run = run[:-1]
    return run


def _units(run: list, atomic_names: bool) -> list[list]:
    """The pieces a phrase is made of: a whole name ("Bank of England") or one word."""
    units: list[list] = []
    for token in run:
        hyphened = units and (token.text == "-" or units[-1][-1].text == "-")
        joined = units and (token.lower_ in JOINERS or units[-1][-1].lower_ in JOINERS)
        same_name = units and _is_name(token) and _is_name(units[-1][-1]) and not _next_entity(token)
        if hyphened or atomic_names and (joined or same_name):
            units[-1].append(token)
        else:
            units.append([token])
    return units


def _next_entity(token) -> bool:
    """Two names side by side: "Chicago | NAPM"."""
    return token.ent_iob_ == "B" and token.i > 0 and token.doc[token.i - 1].ent_type_ != ""


def _phrases(run: list, atomic_names: bool):
    """Every stretch of whole units that ends in a noun: up to MAX_WORDS words, or one name."""
    units = _units(run, atomic_names)
    for i in range(len(units)):
        if units[i][0].lower_ in GLUE:
            continue
        tokens: list = []
        for j in range(i, len(units)):
            tokens = tokens + units[j]
            if _word_count([t.lower_ for t in tokens]) > MAX_WORDS and j > i:
                break
            if tokens[-1].pos_ in HEAD_POS:
                yield tokens


# --- candidates ----------------------------------------------------------------------------


def _word_count(words) -> int:
    """Words, not counting joiners, and a hyphenated compound as one."""
    return sum(w not in GLUE and (i == 0 or words[i - 1] != "-") for i, w in enumerate(words))


def _unit_count(tokens: list) -> int:
    """Words, counting a name ("Bank of England") as one."""
    count = 0
    for i, t in enumerate(tokens):
        before = tokens[i - 1] if i else None
        part = before is not None and (
            before.text == "-" or _is_name(t) and (_is_name(before) or before.lower_ in JOINERS)
        )
        count += t.lower_ not in GLUE and not part
    return count


def _singular(word: str) -> str:
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def _core(tokens: list) -> list:
    """A company's name without its legal form, when what is left is still plainly a name
    ("Champion Products", "BankAmerica"; but "News Corp", "Exxon Corp")."""
    if len(tokens) < 2 or tokens[-1].lower_.rstrip(".") not in LEGAL_FORMS or not _is_name(tokens[-2]):
        return tokens
    rest = tokens[:-1]
    return rest if len(rest) > 1 or not rest[0].text[1:].islower() else tokens


def _key(tokens) -> tuple[str, ...]:
    words = [t.lower_ for t in tokens]
    if tokens[-1].tag_ in ("NNS", "NNPS"):
        words[-1] = _singular(words[-1])
    return tuple(words)


def _full_names(doc) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Surname ("Kerry", "Vazquez-Rana": the last word) -> the full name the story uses most for it."""
    names: dict[tuple[str, ...], Counter] = {}
    for e in doc.ents:
        if e.label_ != "PERSON" or any(t.pos_ != "PROPN" and t.text != "-" for t in e):
            continue
        last = next((i for i in range(len(e) - 1, 0, -1) if e[i - 1].whitespace_), None)
        if last is not None:
            names.setdefault(_key(e[last:]), Counter())[_key(e)] += 1
    return {surname: full.most_common(1)[0][0] for surname, full in names.items()}


def _candidates(story: Story, doc) -> dict[tuple[str, ...], Candidate]:
    full_names = _full_names(doc)
    candidates: dict[tuple[str, ...], Candidate] = {}
    for run in _runs(doc, story):
        atomic = story.trusted_headline or not (run and story.in_headline(run[0]))
        for tokens in _phrases(run, atomic):
            core = _core(tokens)
            key, folded = _candidate_key(core, full_names, story.text)
            if key is None:
                continue
            c = candidates.get(key) or candidates.setdefault(key, Candidate(key))
            _add_mention(c, tokens, core, story, folded)
    return {key: c for key, c in candidates.items() if _worth_keeping(c, story)}


def _candidate_key(core: list, full_names: dict, text: str) -> tuple[tuple[str, ...] | None, bool]:
    """The key mentions are counted under, and whether the mention was folded into a longer name.
    A surname alone counts as the full name; every name of a country ("US", "United States",
    "U.S.") as the country; a demonym alone ("American") is no keyword (None)."""
    key = _key(core)
    if key in full_names and core[0].pos_ == "PROPN" and core[0].ent_type_ not in ("GPE", "LOC", "FAC", "NORP"):
        return full_names[key], True
    if not all(_is_name(t) or t.lower_ in GLUE for t in core):
        return key, False
    name = _plain(text, core)
    place = gazetteer().names.get(tuple(t.text for t in tokenize(name))) or place_for_name(name)  # "US", "U.S."
    if place is None or place.kind != "country":
        return key, False
    return (None if place.via_demonym else (f"country:{place.country_code}",)), False


def _worth_keeping(c: Candidate, story: Story) -> bool:
    if sum(ch.isalpha() for w in c.key for ch in w) < 2:
        return False
    if c.words == 1 and len(c.key) == 1 and _singular(c.key[0]) in WEAK_ALONE:
        return False
    return c.in_body or story.trusted_headline


def _add_mention(c: Candidate, tokens: list, core: list, story: Story, folded: bool) -> None:
    in_headline = story.in_headline(tokens[0]) and story.has_body
    if not c.spans or not (in_headline or c.in_body):
        c.describe(core)
    c.spans.append((tokens[0].i, tokens[-1].i + 1))
    c.weights.append(story.weight(tokens[0]))
    c.in_body = c.in_body or not in_headline
    if not folded:  # "Kerry" is shown as the full name
        c.surfaces[_surface(story.text, core, in_headline)] += 1


def _plain(text: str, tokens: list) -> str:
    return " ".join(text[tokens[0].idx : tokens[-1].idx + len(tokens[-1])].split())


def _surface(text: str, tokens: list, in_headline: bool) -> str:
    """The words as the story prints them, one space apart (the model's recased copy for words in
    capitals). A headline or capitals form is marked, so that a body form wins when there is one."""
    shown = _plain(text, tokens)
    if shown.isupper() and len(shown) > 4:
        shown = " ".join("".join(t.text_with_ws for t in tokens).split())
        in_headline = True
    return ("\x00" if in_headline else "") + shown


# --- choosing ------------------------------------------------------------------------------


def _choose(candidates: dict[tuple[str, ...], Candidate], limit: int) -> list[tuple[Candidate, float, list[int]]]:
    """Best first; a candidate whose mentions overlap a chosen one is rescored on its other
    mentions and needs at least two of them."""
    heap = [(-c.score(list(range(len(c.spans)))), c.key) for c in candidates.values()]
    heapq.heapify(heap)
    chosen: list[tuple[Candidate, float, list[int]]] = []
    covered: set[int] = set()
    while heap and len(chosen) < limit:
        best, key = heapq.heappop(heap)
        c = candidates[key]
        own = [i for i, (s, e) in enumerate(c.spans) if covered.isdisjoint(range(s, e))]
        score = c.score(own)
        if score < MIN_SCORE or (len(own) < len(c.spans) and len(own) < 2):
            continue
        if score < -best - 1e-9:
            heapq.heappush(heap, (-score, key))
            continue
        chosen.append((c, score, own))
        covered.update(t for i in own for t in range(*c.spans[i]))
    return chosen


def _name(c: Candidate, text: str) -> str:
    """The commonest body form (else headline form); a common noun phrase in lower case though a
    sentence starts with it (or the story has its first word in lower case elsewhere)."""
    body = Counter({s: n for s, n in c.surfaces.items() if not s.startswith("\x00")})
    shown = (body or c.surfaces or Counter({" ".join(c.key).title(): 1})).most_common(1)[0][0].lstrip("\x00")
    first = shown.split()[0]
    if c.proper or not first[1:].islower() or not first[:1].isupper():
        return shown
    if not c.sentence_start and re.search(rf"(?<![\w-]){re.escape(first.lower())}(?![\w-])", text) is None:
        return shown
    return shown[:1].lower() + shown[1:]
