"""The production taggers on the seed story and on the cases newswire makes hard."""

import pytest

from services.enrichment.taggers import tag_story, tag_text
from services.enrichment.taggers.entities import find_entities
from services.enrichment.taggers.language import detect_language
from services.enrichment.taggers.places import find_places, place_for_name
from services.enrichment.taggers.tokens import tokenize


@pytest.fixture(scope="module")
def seed_tags(seed_story):
    return tag_story(headline=seed_story["headline"], body=seed_story["body_text"])


def test_seed_story_places_carry_iso_codes(seed_tags):
    places = {p["name"]: p for p in seed_tags["places"]}
    for name, code in [
        ("Kazakhstan", "KZ"),
        ("Kyrgyzstan", "KG"),
        ("Uzbekistan", "UZ"),
        ("Turkmenistan", "TM"),
        ("Tajikistan", "TJ"),
        ("Russia", "RU"),
        ("China", "CN"),
        ("Iran", "IR"),
        ("Afghanistan", "AF"),
        ("Bishkek", "KG"),
        ("Tashkent", "UZ"),
        ("Astana", "KZ"),
    ]:
        assert places[name]["code"] == code, name
        assert 0 < places[name]["confidence"] <= 1
    assert places["Astana"]["geonames_id"] == 1526273
    assert places["Astana"]["uri"] == "https://sws.geonames.org/1526273/"
    assert places["Bishkek"]["kind"] == "city" and places["Kazakhstan"]["kind"] == "country"


def test_seed_story_people_and_organisations(seed_tags):
    people = {p["name"]: p for p in seed_tags["people"]}
    orgs = {o["name"] for o in seed_tags["organisations"]}
    assert "John Kerry" in people and people["John Kerry"]["mentions"] > 10  # "Kerry" alone is him too
    assert {"Islam Karimov"} <= set(people)
    assert not {"Central Asia", "Bishkek Kerry"} & set(people)
    assert {"American University of Central Asia", "Nazarbaev University"} <= orgs
    assert "State" not in orgs


def test_seed_story_subjects_are_diplomacy_and_foreign_affairs(seed_tags):
    subjects = {s["name"]: s for s in seed_tags["subjects"]}
    assert {"diplomacy", "international relations"} <= set(subjects)
    diplomacy = subjects["diplomacy"]
    assert diplomacy["uri"] == "http://cv.iptc.org/newscodes/mediatopic/20000639"
    assert diplomacy["relevance"] >= 50 and 0 < diplomacy["confidence"] <= 1
    assert "secretary of state" in diplomacy["matched"]
    assert diplomacy["broader"] == ["medtop:20000638", "medtop:11000000"]


def test_entities_carry_offsets_names_and_confidence(seed_tags, seed_story):
    text = f"{seed_story['headline']}\n\n{seed_story['body_text']}"
    for e in seed_tags["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]
        assert e["type"] in {"PER", "ORG", "LOC", "MISC"}
        assert 0 < e["confidence"] <= 1
    kerry = [e for e in seed_tags["entities"] if e["text"] == "Kerry"]
    assert kerry and all(e["name"] == "John Kerry" and e["type"] == "PER" for e in kerry)
    tadjik = [e for e in seed_tags["entities"] if e["text"] == "Tadjikistan"]
    assert tadjik[0]["name"] == "Tajikistan" and tadjik[0]["code"] == "TJ"


def test_old_spellings_and_capitals_resolve():
    found = {m.text: m.entry.country_code for m in find_places("Kerry flew from Tadjikistan to Kirghizia and Astana.")}
    assert found == {"Tadjikistan": "TJ", "Kirghizia": "KG", "Astana": "KZ"}


def test_demonym_counts_for_its_country():
    tags = tag_story(headline="Talks", body="The Uzbek President met reporters.")
    (uz,) = [p for p in tags["places"] if p["code"] == "UZ"]
    assert uz["rel"] == "subject" and uz["mentions"] == 1 and uz["name"] == "Uzbekistan"
    assert [(e["text"], e["type"]) for e in tags["entities"]] == [("Uzbek", "MISC")]


def test_dateline_resolves():
    assert place_for_name("ASTANA").country_code == "KZ"
    tags = tag_story(headline="Talks", body="Talks went on.", located="Bishkek")
    assert [(p["name"], p["rel"], p["code"]) for p in tags["places"]] == [
        ("Kyrgyzstan", "subject", "KG"),
        ("Bishkek", "dateline", "KG"),
    ]


def test_all_caps_headline_and_wire_dateline():
    entities = {
        (e.text, e.type)
        for e in find_entities(
            "SOCCER - GERMANY BEAT ITALY 2-1.\nLA CORUNA, Spain 1996-08-31\nGermany beat Italy in Berlin."
        )
    }
    assert {("GERMANY", "LOC"), ("ITALY", "LOC"), ("LA CORUNA", "LOC"), ("Spain", "LOC")} <= entities


def test_leading_the_and_possessives_are_trimmed():
    entities = {(e.text, e.type) for e in find_entities("The United Nations said on Monday that Russia's army left.")}
    assert ("United Nations", "ORG") in entities
    assert ("Russia", "LOC") in entities


def test_sports_sides_are_organisations_but_countries_stay_places():
    text = (
        "SOCCER - ENGLISH LEAGUE RESULTS.\nLONDON 1996-08-31\nResults on Saturday:\n"
        "Norwich 1 Wolverhampton 0\nPort Vale 2 Oxford 0\nRomania 3 Lithuania 0\n"
    )
    entities = {(e.text, e.type) for e in find_entities(text)}
    assert {("Norwich", "ORG"), ("Wolverhampton", "ORG"), ("Port Vale", "ORG"), ("Oxford", "ORG")} <= entities
    assert {("Romania", "LOC"), ("Lithuania", "LOC"), ("LONDON", "LOC")} <= entities


def test_language_and_counts(seed_tags, seed_story):
    assert seed_tags["language"]["code"] == "en" and seed_tags["language"]["source"] == "detected"
    assert seed_tags["counts"]["words"] > 1000
    assert seed_tags["counts"]["characters"] == len(seed_story["body_text"])
    assert tag_text("El presidente viajó a Madrid el lunes por la mañana.")["language"]["code"] == "es"


def test_language_of_short_texts_and_of_none():
    assert detect_language("LE GOUVERNEMENT ANNONCE UNE HAUSSE DES IMPÔTS")["code"] == "fr"
    assert detect_language("Die Regierung kündigte am Montag neue Steuern an.")["code"] == "de"
    assert detect_language("12:30 -- 4.5% / 2026")["code"] is None
    assert detect_language("") == {"code": None, "confidence": 0.0}


def test_editor_language_wins():
    assert tag_text("y", language="fr")["language"] == {"code": "fr", "confidence": 1.0, "source": "editor"}


def test_a_failing_tagger_leaves_the_others(monkeypatch):
    import services.enrichment.taggers as taggers

    def broken(_text):
        raise RuntimeError("model unavailable")

    monkeypatch.setattr(taggers, "find_entities", broken)
    tags = taggers.tag_text("Kerry in Astana\n\nJohn Kerry visited Astana.")
    assert tags["failures"] == [{"tagger": "entities", "error": "RuntimeError: model unavailable"}]
    assert {p["code"] for p in tags["places"]} == {"KZ"}  # the gazetteer alone still finds places


def test_a_tagger_over_its_budget_is_cut_off(monkeypatch):
    import time

    import services.enrichment.taggers as taggers

    def slow(_text):
        time.sleep(5)

    monkeypatch.setattr(taggers, "find_entities", slow)
    started = time.perf_counter()
    tags = taggers.tag_text("Talks in Astana.", budget_seconds=0.2)
    assert time.perf_counter() - started < 2
    assert tags["failures"][0] == {"tagger": "entities", "error": "over its 0.2 s budget"}
    assert {p["code"] for p in tags["places"]} == {"KZ"}


def test_tokens_keep_abbreviation_dots():
    assert [t.text for t in tokenize("The U.S. said so.")] == ["The", "U.S.", "said", "so"]


def test_hyphenated_places_and_place_named_events_are_misc():
    entities = {
        (e.text, e.type)
        for e in find_entities(
            "The New York-based group met pro-Moscow leaders before the U.S. Open and the Greater Milwaukee Open."
        )
    }
    assert {
        ("New York-based", "MISC"),
        ("pro-Moscow", "MISC"),
        ("U.S. Open", "MISC"),
        ("Greater Milwaukee Open", "MISC"),
    } <= entities
    assert not {("New York", "LOC"), ("U.S.", "LOC")} & entities


def test_side_with_country_in_brackets():
    text = "BASKETBALL - TOURNAMENT RESULTS.\nBELGRADE 1996-08-31\nBenetton (Italy) 92 Dinamo (Russia) 81\n"
    entities = {(e.text, e.type) for e in find_entities(text)}
    assert {("Benetton", "ORG"), ("Dinamo", "ORG"), ("Italy", "LOC"), ("Russia", "LOC")} <= entities


def test_located_comes_from_the_editor_or_the_dateline():
    from_text = tag_text("Talks resume\nASTANA, Nov 3 (Reuters) - Talks resumed on Monday.")["located"]
    assert from_text == {
        "name": "Astana",
        "source": "dateline",
        "code": "KZ",
        "geonames_id": 1526273,
        "uri": "https://sws.geonames.org/1526273/",
    }
    assert tag_text("Talks resumed.", located="Bishkek")["located"]["code"] == "KG"
    assert tag_text("Talks resumed.")["located"] is None


def test_airport_codes_and_tickers_are_not_places():
    assert find_places("POTOMAC ELECTRIC <POM> said. The LON office.") == []
