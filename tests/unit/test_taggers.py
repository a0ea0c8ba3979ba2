from services.enrichment.taggers import tag_story
from services.enrichment.taggers.places import find_places, place_for_name
from services.enrichment.taggers.tokens import tokenize


def seed_tags(seed_story):
    return tag_story(headline=seed_story["headline"], body=seed_story["body_text"])


def test_seed_story_places_carry_iso_codes(seed_story):
    places = {p["name"]: p for p in seed_tags(seed_story)["places"]}
    for name, code in [("Kazakhstan", "KZ"), ("Kyrgyzstan", "KG"), ("Uzbekistan", "UZ"), ("Turkmenistan", "TM"),
                       ("Tajikistan", "TJ"), ("Russia", "RU"), ("China", "CN"), ("Iran", "IR"),
                       ("Afghanistan", "AF"), ("Bishkek", "KG"), ("Tashkent", "UZ"), ("Astana", "KZ")]:
        assert places[name]["code"] == code, name
        assert 0 < places[name]["confidence"] <= 1
    assert places["Astana"]["geonames_id"] == 1526273
    assert places["Astana"]["uri"] == "https://sws.geonames.org/1526273/"


def test_old_spellings_and_capitals_resolve():
    found = {m.text: m.entry.country_code for m in find_places("Kerry flew from Tadjikistan to Kirghizia and Astana.")}
    assert found == {"Tadjikistan": "TJ", "Kirghizia": "KG", "Astana": "KZ"}


def test_demonym_is_a_subject_place_not_a_mention():
    tags = tag_story(headline="Talks", body="The Uzbek President met reporters.")
    (uz,) = [p for p in tags["places"] if p["code"] == "UZ"]
    assert uz["rel"] == "subject"
    assert uz["confidence"] < 0.6


def test_dateline_resolves():
    assert place_for_name("ASTANA").country_code == "KZ"
    tags = tag_story(headline="Talks", body="Talks went on.", located="Bishkek")
    assert [(p["name"], p["rel"]) for p in tags["places"]] == [("Bishkek", "dateline")]


def test_people_and_organisations_in_seed_story(seed_story):
    tags = seed_tags(seed_story)
    people = {p["name"] for p in tags["people"]}
    orgs = {o["name"] for o in tags["organisations"]}
    assert {"John Kerry", "Islam Karimov"} <= people
    assert "Central Asia" not in people
    assert {"American University of Central Asia", "Nazarbaev University"} <= orgs


def test_language_and_counts(seed_story):
    tags = seed_tags(seed_story)
    assert tags["language"]["code"] == "en" and tags["language"]["source"] == "detected"
    assert tags["counts"]["words"] > 1000
    assert tags["counts"]["characters"] == len(seed_story["body_text"])
    assert tag_story(headline="Hola", body="El presidente viajó a Madrid el lunes por la mañana.")["language"]["code"] == "es"


def test_editor_language_wins():
    assert tag_story(headline="x", body="y", language="fr")["language"] == {
        "code": "fr", "confidence": 1.0, "source": "editor"}


def test_a_failing_tagger_leaves_the_others(monkeypatch):
    import services.enrichment.taggers as taggers

    def broken(_text):
        raise RuntimeError("gazetteer unavailable")

    monkeypatch.setattr(taggers, "find_organisations", broken)
    tags = taggers.tag_story(headline="Kerry in Astana", body="John Kerry visited Astana. Kerry spoke.")
    assert tags["failures"] == [{"tagger": "organisations", "error": "RuntimeError: gazetteer unavailable"}]
    assert {p["code"] for p in tags["places"]} == {"KZ"}


def test_tokens_keep_abbreviation_dots():
    assert [t.text for t in tokenize("The U.S. said so.")] == ["The", "U.S.", "said", "so"]
