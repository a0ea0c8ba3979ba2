"""Which countries a story is about, and datelines in the forms wires write them."""

import pytest

from services.enrichment.taggers import tag_story
from services.enrichment.taggers.datelines import find_dateline
from services.publish.formats.ninjs import places as ninjs_places
from shared.tags import StoryTags


@pytest.mark.parametrize(
    ("opening", "city", "country"),
    [
        ("HONG KONG, April 8 - Shares fell.", "HONG KONG", "HK"),
        ("LONDON (Reuters) - Sterling rose.", "LONDON", "GB"),
        ("WASHINGTON, D.C. — The Senate voted.", "WASHINGTON", "US"),
        ("SANTA CRUZ, Calif., Feb 26 - The bank said.", "SANTA CRUZ", "US"),
        ("KOKOMO, Ind., Feb 26 - Net rose.", "KOKOMO", "US"),
        ("MONTREAL, March 3 - The company said.", "MONTREAL", "CA"),
        ("LA CORUNA, Spain 1996-08-31\nDeportivo won.", "LA CORUNA", "ES"),
        ("PARIS, 3 March (AFP) – Ministers met.", "PARIS", "FR"),
    ],
)
def test_dateline_forms(opening, city, country):
    found = find_dateline(f"A headline about something\n\n{opening}".replace("\\\n", "\n"))
    assert found is not None and (found.city, found.country_code) == (city, country)


def test_no_dateline_in_plain_prose():
    assert find_dateline("The United States returns to Central Asia.\n03 November 2015\n\nUS officials said.") is None
    assert find_dateline("LONDON\n\nA headline alone on its line is no dateline.") is None


STORY = (
    "Japan and Brazil sign trade pact",
    "TOKYO, May 4 - Japan and Brazil signed a trade agreement on Monday, officials said. Japanese exporters "
    "welcomed the deal, and Brazil's farm ministry said soybean shipments would grow. The pact follows talks "
    "held last year in Geneva. Japan is Brazil's third-largest trading partner, and Brazilian officials said "
    "they hoped Japan would invest more.",
)


def test_countries_the_story_is_about_are_subjects_others_mentioned():
    tags = tag_story(headline=STORY[0], body=STORY[1])
    rel = {p["code"]: p["rel"] for p in tags["places"] if p["kind"] == "country"}
    assert rel["JP"] == rel["BR"] == "subject"
    assert rel["CH"] == "mentioned"  # Geneva, once, late in the story


def test_seed_story_is_about_the_five_central_asian_states(seed_story):
    tags = tag_story(headline=seed_story["headline"], body=seed_story["body_text"])
    subjects = {p["code"] for p in tags["places"] if p["rel"] == "subject" and p["kind"] == "country"}
    assert {"KZ", "KG", "UZ", "TM", "TJ"} <= subjects


def test_ninjs_carries_each_country_code_once(seed_story):
    tags = tag_story(headline=seed_story["headline"], body=seed_story["body_text"])
    places = ninjs_places(StoryTags.from_stored(tags))
    codes = [p.literal for p in places if p.literal]
    assert len(codes) == len(set(codes)) and {"KZ", "KG", "UZ", "TM", "TJ"} <= set(codes)
    astana = next(p for p in places if p.name == "Astana")
    assert astana.literal is None and astana.uri == "https://sws.geonames.org/1526273/"
