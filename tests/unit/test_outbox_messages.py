"""How the relay packs outbox events into messages: consecutive events for one stage share one
message, in order, at one priority and up to that stage's group size; a flash goes to enrichment
alone."""

from shared.events import messages
from shared.queue import priority_for_urgency

STORED, ENRICHED, RELEASED = "version.stored", "version.enriched", "version.released"


def packed(events, group_size=8, enrichment_size=1):
    sizes = {"publish.render_version": group_size, "enrichment.tag_version": enrichment_size}
    return [(m.task, m.argument, m.priority, m.event_ids) for m in messages(events, sizes)]


def test_consecutive_publish_events_at_one_priority_share_a_message():
    events = [(1, ENRICHED, 10, 4), (2, ENRICHED, 11, 4), (3, RELEASED, 12, 4)]
    assert packed(events) == [("publish.render_version", [10, 11, 12], 4, [1, 2, 3])]


def test_a_lone_event_sends_its_version_id_alone():
    assert packed([(1, ENRICHED, 10, 4)]) == [("publish.render_version", 10, 4, [1])]


def test_enrichment_events_share_a_message_up_to_their_own_group_size():
    events = [(1, STORED, 10, 4), (2, STORED, 11, 4), (3, STORED, 12, 4)]
    assert packed(events, group_size=8, enrichment_size=2) == [
        ("enrichment.tag_version", [10, 11], 4, [1, 2]),
        ("enrichment.tag_version", 12, 4, [3]),
    ]


def test_flashes_go_to_enrichment_one_to_a_message_and_to_publish_together():
    flash = priority_for_urgency(1)
    events = [(1, STORED, 10, flash), (2, STORED, 11, flash), (3, ENRICHED, 12, flash), (4, ENRICHED, 13, flash)]
    assert packed(events, enrichment_size=4) == [
        ("enrichment.tag_version", 10, flash, [1]),
        ("enrichment.tag_version", 11, flash, [2]),
        ("publish.render_version", [12, 13], flash, [3, 4]),
    ]


def test_a_group_stops_at_its_size_at_another_priority_and_at_another_task():
    events = [(1, ENRICHED, 10, 0), (2, ENRICHED, 11, 4), (3, ENRICHED, 12, 4), (4, ENRICHED, 13, 4)]
    events += [(5, STORED, 14, 4), (6, ENRICHED, 15, 4)]
    assert packed(events, group_size=2) == [
        ("publish.render_version", 10, 0, [1]),
        ("publish.render_version", [11, 12], 4, [2, 3]),
        ("publish.render_version", 13, 4, [4]),
        ("enrichment.tag_version", 14, 4, [5]),
        ("publish.render_version", 15, 4, [6]),
    ]


def test_a_version_named_by_two_events_is_named_once():
    events = [(1, ENRICHED, 10, 4), (2, ENRICHED, 10, 4), (3, ENRICHED, 11, 4)]
    assert packed(events, group_size=2) == [("publish.render_version", [10, 11], 4, [1, 2, 3])]


def test_a_group_size_of_one_sends_each_version_alone():
    events = [(1, ENRICHED, 10, 4), (2, ENRICHED, 11, 4)]
    assert packed(events, group_size=1) == [
        ("publish.render_version", 10, 4, [1]),
        ("publish.render_version", 11, 4, [2]),
    ]
