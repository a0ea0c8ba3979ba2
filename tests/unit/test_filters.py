"""Subscriber filters: any value within a field, all fields given; topics match their narrower
topics; places match by country; languages by primary subtag."""

import pytest

from shared.filters import SubscriberFilters, VersionFacts, facts_of_item, matches

FACTS = VersionFacts(
    event_type="story.published",
    urgency=3,
    language="en-GB",
    subjects=frozenset({"medtop:20000639", "medtop:20000638", "medtop:11000000"}),
    places=frozenset({"KZ", "US"}),
)


@pytest.mark.parametrize(
    "filters, expected",
    [
        (None, True),
        ({}, True),
        ({"subjects": ["medtop:11000000"]}, True),  # a broader topic finds its narrower ones
        ({"subjects": ["medtop:15000000"]}, False),
        ({"subjects": ["medtop:15000000", "medtop:20000639"]}, True),  # any value within a field
        ({"places": ["KZ"]}, True),
        ({"places": ["FR"]}, False),
        ({"urgency_max": 3}, True),
        ({"urgency_max": 2}, False),
        ({"languages": ["en"]}, True),
        ({"languages": ["fr"]}, False),
        ({"events": ["story.published", "story.killed"]}, True),
        ({"events": ["story.corrected"]}, False),
        ({"places": ["KZ"], "urgency_max": 2}, False),  # all fields given
        ({"places": ["KZ"], "subjects": ["medtop:11000000"], "events": ["story.published"]}, True),
    ],
)
def test_matching(filters, expected):
    parsed = SubscriberFilters.from_stored(filters) if filters is not None else None
    assert matches(parsed, FACTS) is expected


def test_facts_of_a_version_as_sent():
    item = {
        "urgency": 2,
        "language": "en",
        "subjects": [
            {"name": "diplomacy", "rel": "about", "uri": "http://cv.iptc.org/newscodes/mediatopic/20000639"},
            {"name": "kerry", "rel": "keyword", "literal": "kerry"},
        ],
        "places": [{"name": "Astana", "literal": "KZ"}, {"name": "Nowhere"}],
    }
    facts = facts_of_item("story.updated", item)
    assert facts.subjects == {"medtop:20000639", "medtop:20000638", "medtop:11000000"}
    assert facts.places == {"KZ"} and facts.urgency == 2 and facts.event_type == "story.updated"


def test_unknown_filter_fields_are_refused():
    with pytest.raises(ValueError):
        SubscriberFilters.model_validate({"topics": ["x"]})
