"""Named entities — PER, ORG, LOC, MISC — from the statistical model, corrected by rules and
gazetteers where the model is weak on newswire:

1. the model's spans (all-caps lines recased first, see ``ner``), trimmed of a leading
   "the", a trailing possessive and stray punctuation;
2. datelines ("LONDON 1996-08-30", "MOSCOW, Nov 3 (Reuters) -") are places;
3. gazetteer types win: a demonym is MISC ("Uzbek", "West Indian"), a country is LOC;
4. in sports reports, towns and counties that play (not countries) are clubs: ORG;
5. what the model missed: gazetteer places and demonyms, organisation-word phrases
   ("Nazarbaev University"), known agencies;
6. a person's surname alone is that person; one text gets one type per document (vote).

Each entity keeps its surface text, offsets, a canonical name and a confidence.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from services.enrichment.taggers import ner
from services.enrichment.taggers.places import PlaceEntry, gazetteer

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
#: Agencies and bodies that newswire names by acronym or short name.
KNOWN_ORGS = {
    "Reuters",
    "UN",
    "U.N.",
    "NATO",
    "EU",
    "IMF",
    "WTO",
    "OPEC",
    "OSCE",
    "UNESCO",
    "UNICEF",
    "ASEAN",
    "FIFA",
    "UEFA",
    "IAEA",
    "OECD",
    "CIA",
    "FBI",
    "KGB",
    "BBC",
    "CNN",
    "AFP",
    "SCO",
    "CSTO",
    "Interfax",
    "Itar-Tass",
    "Tass",
    "Xinhua",
    "Nasdaq",
    "Fed",
    "Bundesbank",
    "Kremlin",
    "Pentagon",
    "Hamas",
    "Hizbollah",
    "Taleban",
    "Taliban",
    "IOC",
    "ICC",
    "PLO",
    "ANC",
    "IRA",
    "Sinn Fein",
    "World Bank",
    "European Commission",
}
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
#: English first-class cricket counties: in cricket reports they are teams, not places.
CRICKET_COUNTIES = {
    "Derbyshire",
    "Durham",
    "Essex",
    "Glamorgan",
    "Gloucestershire",
    "Hampshire",
    "Kent",
    "Lancashire",
    "Leicestershire",
    "Middlesex",
    "Northamptonshire",
    "Nottinghamshire",
    "Somerset",
    "Surrey",
    "Sussex",
    "Warwickshire",
    "Worcestershire",
    "Yorkshire",
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
_COUNTY = re.compile(r"\b(?:" + "|".join(sorted(CRICKET_COUNTIES)) + r")\b", re.I)
#: Words that open rows of sports tables without naming a side.
TABLE_WORDS = {
    "Attendance",
    "Attendancce",
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
#: "LONDON 1996-08-30", "LA CORUNA, Spain 1996-08-31", "MOSCOW, Nov 3 (Reuters) -"
_DATELINE = re.compile(
    r"^[ \t]*([A-Z][A-Z .'\-]*[A-Z])(?:,[ \t]+([A-Z][A-Za-z .'\-]*[a-zA-Z]))?"
    r"(?=[ \t]+\d{4}-\d{2}-\d{2}|,[ \t]+[A-Z][a-z]{2}\.?[ \t]+\d{1,2}[ \t]+\(Reuters\))",
    re.M,
)
_TRIM_LEFT = re.compile(r"^(?:the|The|THE)\s+")
_TRIM_RIGHT = re.compile(r"(?:'s|’s|'|’)$")
#: Trailing words that are never part of a name: numbers, lower-case words, table/headline words.
_TRIM_TAIL = re.compile(
    r"(?:\s+(?:\d[\d.,:/-]*|[a-z][\w'’-]*|QUALIFIERS?|Qualifiers?|SCHEDULE|Schedule|RESULTS?|Results?|"
    r"STANDINGS|Standings|SCORES?|Scores?|SUMMARY|Summary|SUMMARIES|STATISTICS|Statistics))+$"
)
_PHRASE = re.compile(r"[A-Z][\w&'’\-.]*(?:\s+(?:of|for|de|and)?\s*[A-Z][\w&'’\-.]*)*")


@dataclass
class Entity:
    type: str  # PER | ORG | LOC | MISC
    text: str
    start: int
    end: int
    confidence: float
    source: str  # model | dateline | gazetteer | rule
    place: PlaceEntry | None = field(default=None, repr=False)

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
    m = _TRIM_TAIL.search(text[start:end])
    if m and m.start() > 0 and not (e.type == "MISC" and re.fullmatch(r"\s+\d{2,4}", m.group())):
        end -= len(m.group())  # "Essex 372" -> "Essex", but "Euro 96" stays
    m = _TRIM_RIGHT.search(text[start:end])
    if m:
        end -= len(m.group())
    if end - start < 1 or not text[start].isalnum():
        return None
    if text[end - 1] == "." and not re.search(r"\b(?:[A-Z]\.)+$|\b(?:Co|Corp|Inc|Ltd|St|Jr)\.$", text[start:end]):
        end -= 1
    e.start, e.end, e.text = start, end, text[start:end]
    return e


def is_sports(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0].upper()
    head = re.split(r"\s+-\s+|:", first, maxsplit=1)[0].strip()
    return head in SPORT_WORDS


def _place_of(text: str) -> PlaceEntry | None:
    key = tuple(text.split())
    gaz = gazetteer()
    entry = gaz.names.get(key)
    if entry is None and text.isupper():
        entry = gaz.names.get(tuple(w.capitalize() for w in text.split()))
    return entry


def find_entities(text: str) -> list[Entity]:
    entities: list[Entity] = []
    for span in ner.find_spans(text):
        # a number inside a span separates two names ("Norwich 1 Wolverhampton")
        for start, end in _split_at_numbers(text, span.start, span.end):
            e = _trim(text, Entity(span.type, text[start:end], start, end, 0.8, "model"))
            if e is not None:
                entities.append(e)

    # 2. datelines
    for m in _DATELINE.finditer(text):
        for group in (1, 2):
            if m.group(group):
                start, end = m.span(group)
                entities = [e for e in entities if not e.overlaps(start, end)]
                entities.append(Entity("LOC", text[start:end], start, end, 0.95, "dateline", _place_of(m.group(group))))

    entities = _split_shouted(text, entities)
    entities = _split_place_prefix(text, entities)
    sports = is_sports(text)
    # 3./4. gazetteer types and sports clubs
    for e in entities:
        place = _place_of(e.text)
        if place is None:
            continue
        e.place = place
        if place.via_demonym:
            e.type, e.confidence = "MISC", 0.9
        elif place.kind == "country" and e.type != "LOC" and e.source == "model":
            e.type, e.confidence = "LOC", 0.85
    if sports:
        entities = _table_sides(text, entities)
        cricket = text.lstrip().upper().startswith("CRICKET")
        if cricket:
            for e in entities:
                if e.text.title() in CRICKET_COUNTIES:
                    e.type, e.confidence = "ORG", 0.8
            taken = [(e.start, e.end) for e in entities]
            for m in _COUNTY.finditer(text):  # the sides the model missed
                if m.group()[0].isupper() and all(m.end() <= a or m.start() >= b for a, b in taken):
                    entities.append(Entity("ORG", m.group(), m.start(), m.end(), 0.75, "gazetteer"))
        for e in entities:
            is_country = e.place is not None and e.place.kind == "country"
            could_be_side = e.type == "LOC" or (e.type == "PER" and " " not in e.text and "." not in e.text)
            if could_be_side and not is_country and e.source != "dateline" and _plays(text, e):
                e.type, e.confidence = "ORG", 0.6

    # 5. what the model missed
    taken = [(e.start, e.end) for e in entities]

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for mention in gazetteer().find(ner.recase(text)):
        mention.text = text[mention.start : mention.end]
        if free(mention.start, mention.end):
            kind = "MISC" if mention.entry.via_demonym else "LOC"
            if sports and kind == "LOC" and mention.entry.kind == "city" and _plays(text, mention):
                kind = "ORG"
            entities.append(Entity(kind, mention.text, mention.start, mention.end, 0.7, "gazetteer", mention.entry))
            taken.append((mention.start, mention.end))
    for m in _PHRASE.finditer(text):
        words = m.group().split()
        if len(words) > 1 and words[-1].rstrip(".") in ORG_WORDS and free(m.start(), m.end()):
            e = _trim(text, Entity("ORG", m.group(), m.start(), m.end(), 0.7, "rule"))
            if e is not None:
                entities.append(e)
                taken.append((e.start, e.end))
    for name in KNOWN_ORGS:
        for m in re.finditer(rf"(?<![\w.]){re.escape(name)}(?![\w])", text):
            if free(m.start(), m.end()):
                entities.append(Entity("ORG", name, m.start(), m.end(), 0.8, "rule"))
                taken.append(m.span())
            else:
                for e in entities:
                    if (e.start, e.end) == m.span() and e.type != "ORG":
                        e.type, e.confidence = "ORG", 0.8

    entities = [
        e
        for e in entities
        if e.text not in TABLE_WORDS
        and e.text not in NOT_ENTITIES
        and not (e.source == "model" and e.text[:1].islower())
    ]
    entities = _hyphenated_and_events(text, entities)

    # 6. surnames and one type per text
    _propagate_surnames(text, entities)
    _vote(entities)
    return sorted(entities, key=lambda e: e.start)


_SCORE_AFTER = re.compile(r"^\s+\d")
_RESULT_VERB_AFTER = re.compile(r"^\s+(?:beat|beats|drew|draw|lost|lose|won|win|defeated|v|vs\.?|were|have|has|\d)\b")
_RESULT_WORD_BEFORE = re.compile(r"\b(?:beat|v|vs\.?|against|with|over|to|defeated|host|hosts|visit|visiting)\s+$")


def _plays(text: str, e) -> bool:
    """In a sports report: is this name a side in a result, a fixture or a table row?"""
    after, before = text[e.end : e.end + 20], text[max(0, e.start - 15) : e.start]
    line_start = text.rfind("\n", 0, e.start) + 1
    return bool(
        _SCORE_AFTER.match(after)
        or _RESULT_VERB_AFTER.match(after)
        or _RESULT_WORD_BEFORE.search(before)
        or text[line_start : e.start].strip() == ""  # a table row starts with the side's name
    )


def _hyphenated_and_events(text: str, entities: list[Entity]) -> list[Entity]:
    """A place inside "New York-based" or "pro-Moscow" makes the whole word MISC; a place
    followed by an event word ("U.S. Open") is the event, MISC."""
    out: list[Entity] = []
    for e in entities:
        if e.type == "LOC" and e.source != "dateline":
            after, before = text[e.end : e.end + 40], text[max(0, e.start - 12) : e.start]
            m_after, m_before = _HYPHEN_AFTER.match(after), _HYPHEN_BEFORE.search(before)
            if m_after or m_before:
                start = e.start - (len(m_before.group()) if m_before else 0)
                end = e.end + (len(m_after.group()) if m_after else 0)
                out.append(Entity("MISC", text[start:end], start, end, 0.6, "rule", e.place))
                continue
            shouted = ner.is_shouting(text[text.rfind("\n", 0, e.start) + 1 : e.end])
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
    spans = [(e.start, e.end) for e in out if e.source == "rule" and e.type == "MISC"]
    return [
        e
        for e in out
        if e.type == "MISC"
        and e.source == "rule"
        or not any(e.overlaps(a, b) and (e.start, e.end) != (a, b) for a, b in spans)
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
    out = list(entities)
    for m in _TABLE_SIDE.finditer(text):
        start, end = m.span(1)
        name = m.group(1)
        if name.split()[0] in TABLE_WORDS or name.upper() in {"W", "L", "PCT", "GB"}:
            continue
        overlapping = [e for e in out if e.overlaps(start, end)]
        if any(e.type == "PER" and (" " in e.text or "." in e.text) for e in overlapping):
            continue
        if any(e.source == "dateline" for e in overlapping):
            continue
        place = _place_of(name)
        side_type = "LOC" if place is not None and place.kind == "country" else "ORG"
        out = [e for e in out if not e.overlaps(start, end)]
        out.append(Entity(side_type, name, start, end, 0.7, "rule", place))
    return out


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
    for e in entities:
        line_start = text.rfind("\n", 0, e.start) + 1
        line_end = text.find("\n", e.end)
        line = text[line_start : line_end if line_end >= 0 else len(text)]
        if e.source == "model" and ner.is_shouting(line):
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


def _propagate_surnames(text: str, entities: list[Entity]) -> None:
    surnames = {}
    for e in entities:
        words = e.text.split()
        if e.type == "PER" and len(words) >= 2 and words[-1][:1].isupper():
            surnames[words[-1]] = e.text
    if not surnames:
        return
    for e in entities:
        if e.type != "PER" and e.text in surnames and e.place is None:
            e.type, e.confidence = "PER", 0.7
    taken = [(e.start, e.end) for e in entities]
    for surname in surnames:
        for m in re.finditer(rf"\b{re.escape(surname)}\b", text):
            if all(m.end() <= a or m.start() >= b for a, b in taken):
                entities.append(Entity("PER", surname, m.start(), m.end(), 0.7, "rule"))
                taken.append(m.span())


def _vote(entities: list[Entity]) -> None:
    votes: dict[str, Counter] = defaultdict(Counter)
    for e in entities:
        votes[e.text][e.type] += e.confidence
    for e in entities:
        best = votes[e.text].most_common(1)[0][0]
        if best != e.type:
            e.type = best


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
