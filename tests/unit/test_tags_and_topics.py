import json

import pytest

from services.enrichment.taggers.subjects import CUES, vocabulary
from shared import mediatopics
from shared.tags import EditorTagChanges, StoryTags, effective_tags, index_codes


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


AUTO = StoryTags.model_validate(
    {
        "places": [
            {"type": "place", "name": "Istanbul", "code": "TR"},
            {"type": "place", "name": "Astana", "code": "KZ"},
        ],
        "subjects": [{"type": "subject", "uri": "u:1", "qcode": "medtop:1", "name": "sport"}],
        "people": [{"type": "person", "name": "John Kerry"}],
    }
)


def changes(add=(), remove=()):
    return EditorTagChanges.model_validate({"add": list(add), "remove": list(remove)})


def test_editor_removals_and_additions_win():
    manual = changes(
        add=[
            {"type": "place", "name": "Dushanbe", "code": "TJ"},
            {"type": "person", "name": "john kerry", "uri": "https://example.org/kerry"},
        ],
        remove=[{"type": "place", "name": "ISTANBUL"}, {"type": "subject", "uri": "u:1"}],
    )
    tags = effective_tags(AUTO, manual)
    assert [(p.name, p.source) for p in tags.places] == [("Astana", "auto"), ("Dushanbe", "editor")]
    assert tags.places[1].code == "TJ"
    assert tags.subjects == []
    assert [p.model_dump(exclude_defaults=True) for p in tags.people] == [
        {"type": "person", "name": "john kerry", "uri": "https://example.org/kerry", "source": "editor"}
    ]


def test_no_editor_changes_keeps_automatic_tags():
    tags = effective_tags(AUTO, None)
    assert [p.name for p in tags.places] == ["Istanbul", "Astana"]
    assert tags is not AUTO and tags.places is not AUTO.places


def test_editor_changes_leave_the_automatic_tags_as_they_were():
    before = AUTO.model_dump()
    manual = changes(add=[{"type": "place", "name": "Dushanbe"}], remove=[{"type": "place", "name": "Istanbul"}])
    assert [p.name for p in effective_tags(AUTO, manual).places] == ["Astana", "Dushanbe"]
    assert AUTO.model_dump() == before


@pytest.mark.parametrize("manual", [changes(), None])
def test_empty_changes(manual):
    assert effective_tags(AUTO, manual).people[0].name == "John Kerry"


def test_index_codes_carry_broader_topics_and_place_codes():
    tags = StoryTags.model_validate(
        {
            "places": [{"name": "Astana", "code": "KZ"}, {"name": "Somewhere"}],
            "subjects": [
                {
                    "name": "summit",
                    "uri": "u:2",
                    "qcode": "medtop:20000640",
                    "broader": ["medtop:20000638", "medtop:11000000"],
                }
            ],
        }
    )
    assert index_codes(tags) == {
        ("place", "KZ"),
        ("subject", "medtop:20000640"),
        ("subject", "medtop:20000638"),
        ("subject", "medtop:11000000"),
    }


def test_stored_tags_round_trip():
    stored = AUTO.stored()
    assert StoryTags.from_stored(stored) == AUTO
    assert StoryTags.from_stored(None) is None
