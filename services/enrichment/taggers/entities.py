"""People and organisations, first cut: capitalised-phrase rules.

* an organisation is a capitalised phrase that holds an organisation word
  ("University", "Ministry", "Department", ...) or a known acronym;
* a person follows a title ("President", "Secretary of State", "Mr") or is a
  two- or three-word name whose last word recurs on its own elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ORG_WORDS = {
    "University", "College", "School", "Institute", "Academy", "Department", "Ministry", "Agency",
    "Bank", "Council", "Committee", "Commission", "Party", "Organisation", "Organization", "Association",
    "Union", "Corporation", "Corp", "Inc", "Ltd", "Group", "Company", "Court", "Parliament", "Congress",
    "Senate", "Army", "Navy", "Police", "Fund", "Federation", "Office", "Foundation", "Assembly",
    "Authority", "Board", "Bureau", "Service", "Services", "Airlines", "Club", "Exchange", "Reuters",
}
ORG_ACRONYMS = {
    "UN", "NATO", "EU", "IMF", "WTO", "OPEC", "OSCE", "WHO", "UNESCO", "UNICEF", "ASEAN", "FIFA", "IAEA",
    "OECD", "CIA", "FBI", "KGB", "BBC", "CNN", "AFP", "AP", "SCO", "CSTO", "G7", "G20",
}
TITLES = [
    "Secretary of State", "Prime Minister", "Foreign Minister", "Defence Minister", "Defense Minister",
    "President", "Vice President", "Chancellor", "Minister", "Secretary", "Senator", "Governor",
    "King", "Queen", "Prince", "Princess", "Pope", "General", "Gen.", "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.",
    "Dr", "Dr.", "Sheikh", "Ambassador", "Mayor", "Judge", "Premier", "Sir", "Lord",
]
TITLE_WORDS = {w.rstrip(".") for t in TITLES for w in t.split() if w[0].isupper()} | {"State"}
CONNECTORS = {"of", "for", "the", "de", "du", "la", "von", "van"}
_CONNECTOR = r"(?:of the|of|for|de|du|la|von|van)"
NOT_NAMES = {"The", "A", "An", "In", "On", "At", "From", "For", "And", "But", "This", "That", "These",
             "Those", "He", "She", "It", "We", "They", "Monday", "Tuesday", "Wednesday", "Thursday",
             "Friday", "Saturday", "Sunday", "January", "February", "March", "April", "May", "June",
             "July", "August", "September", "October", "November", "December", "Speaking", "During",
             "Now", "Source", "Photo", "Other", "Every", "Your", "Our", "What", "When", "So", "If", "As"}

#: Words that do not occur in personal names (regions, compass points).
REGION_WORDS = {"Asia", "Asian", "Central", "Europe", "European", "Africa", "African", "America", "Middle",
                "East", "West", "North", "South", "Eastern", "Western", "Northern", "Southern", "Gulf"}

_WORD = r"[A-Z][\w'’\-]*\.?"
# A capitalised phrase: capitalised words, optionally joined by lower-case connectors.
_PHRASE = re.compile(rf"{_WORD}(?:\s+(?:{_CONNECTOR}\s+)?{_WORD})*")
_TITLE = re.compile(
    r"\b(?:" + "|".join(re.escape(t) for t in sorted(TITLES, key=len, reverse=True)) + r")\s+"
    r"((?:[A-Z][\w'’\-]+)(?:\s+[A-Z][\w'’\-]+){0,2})"
)


@dataclass
class EntityMention:
    type: str  # "person" | "organisation"
    text: str
    start: int
    end: int
    confidence: float


def find_organisations(text: str) -> list[EntityMention]:
    found = []
    for match in _PHRASE.finditer(text):
        phrase = match.group()
        words = phrase.split()
        start = match.start()
        while words and (words[0] in NOT_NAMES):
            start = text.index(words[1], start + len(words[0])) if len(words) > 1 else match.end()
            words = words[1:]
        while words and words[-1].lower() in CONNECTORS:
            words = words[:-1]
        if not words:
            continue
        bare = [w.rstrip(".") for w in words]
        if any(w in ORG_WORDS for w in bare) and len(words) > 1:
            name = " ".join(words)
            found.append(EntityMention("organisation", name, start, start + len(name), 0.7))
        elif len(words) == 1 and bare[0] in ORG_ACRONYMS:
            found.append(EntityMention("organisation", bare[0], start, start + len(bare[0]), 0.8))
    return found


def find_people(text: str, taken: list[tuple[int, int]]) -> list[EntityMention]:
    """People by title, then repeated surnames; spans inside ``taken`` (orgs, places) are skipped."""

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    found: list[EntityMention] = []
    for match in _TITLE.finditer(text):
        name = match.group(1)
        words = name.split()
        while words and words[-1] in NOT_NAMES:
            words.pop()
        if not words:
            continue
        name = " ".join(words)
        start = match.start(1)
        if free(start, start + len(name)):
            found.append(EntityMention("person", name, start, start + len(name), 0.75))
    # Two- or three-word names whose surname also stands alone: "John Kerry ... Kerry said".
    for match in re.finditer(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+){1,2})\b", text):
        words = match.group(1).split()
        start = match.start()
        while words and (words[0] in TITLE_WORDS or words[0] in NOT_NAMES):
            start += len(words[0]) + 1
            words = words[1:]
        if len(words) < 2 or not free(start, match.end()) or REGION_WORDS & set(words):
            continue
        name, surname = " ".join(words), words[-1]
        alone = len(re.findall(rf"\b{re.escape(surname)}\b", text)) - len(re.findall(rf"\b{re.escape(name)}\b", text))
        if alone >= 1 and not any(m.start <= start < m.end for m in found):
            found.append(EntityMention("person", name, start, start + len(name), 0.6))
    return found
