import json

import pytest

from services.enrichment.taggers.subjects import CUES, vocabulary
from shared import mediatopics
from shared.tags import effective_tags


def test_every_cue_label_is_a_current_media_topic():
    labels = {t.name.lower() for t in mediatopics.topics().values()}
    for label in json.loads(CUES.read_text()):
        if not label.startswith("_"):
            assert label.lower() in labels, label
    assert vocabulary().pattern.search("the secretary of state arrived")


def test_vocabulary_lookups():
    assert len(mediatopics.topics()) > 1000
    diplomacy = mediatopics.find("medtop:20000639")
    assert diplomacy.name == "diplomacy"
    assert mediatopics.find("http://cv.iptc.org/newscodes/mediatopic/20000639") == diplomacy
    assert mediatopics.find("20000639") == diplomacy
    assert mediatopics.find("medtop:99999999") is None
    assert mediatopics.find("medtop:11000000").broader == ()


AUTO = {
    "places": [{"type": "place", "name": "Istanbul", "code": "TR"}, {"type": "place", "name": "Astana", "code": "KZ"}],
    "subjects": [{"type": "subject", "uri": "u:1", "name": "sport"}],
    "people": [{"type": "person", "name": "John Kerry"}],
}


def test_editor_removals_and_additions_win():
    manual = {"add": [{"type": "place", "name": "Dushanbe", "code": "TJ"},
                      {"type": "person", "name": "john kerry", "uri": "https://example.org/kerry"}],
              "remove": [{"type": "place", "name": "ISTANBUL"}, {"type": "subject", "uri": "u:1"}]}
    tags = effective_tags(AUTO, manual)
    assert [(p["name"], p["source"]) for p in tags["places"]] == [("Astana", "auto"), ("Dushanbe", "editor")]
    assert tags["subjects"] == []
    assert tags["people"] == [{"type": "person", "name": "john kerry", "uri": "https://example.org/kerry",
                               "source": "editor", "confidence": 1.0}]


def test_no_editor_changes_keeps_automatic_tags():
    tags = effective_tags(AUTO, None)
    assert [p["name"] for p in tags["places"]] == ["Istanbul", "Astana"]
    assert AUTO["places"][0].get("source") is None  # the input is not modified


@pytest.mark.parametrize("manual", [{"add": [], "remove": []}, {}])
def test_empty_changes(manual):
    assert effective_tags(AUTO, manual)["people"][0]["name"] == "John Kerry"
