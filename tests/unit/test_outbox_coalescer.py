"""The API's relay coalescer: concurrent requests' events are relayed by whichever thread is
relaying already, none is left behind, and a thread alone relays its own before it returns."""

import threading

from shared import events


def test_a_thread_alone_relays_its_own_events_before_returning(monkeypatch):
    relayed: list[list[int]] = []
    monkeypatch.setattr(events, "relay", lambda ids: relayed.append(list(ids)) or len(ids))
    coalescer = events.Coalescer()
    assert coalescer.relay([1, 2]) == 2
    assert relayed == [[1, 2]]


def test_events_filed_while_another_thread_relays_are_sent_by_it_and_none_is_lost(monkeypatch):
    batches: list[list[int]] = []
    first_send_started, go_on = threading.Event(), threading.Event()

    def relay(ids):
        batches.append(list(ids))
        first_send_started.set()
        assert go_on.wait(10)
        return len(ids)

    monkeypatch.setattr(events, "relay", relay)
    coalescer = events.Coalescer()
    leader = threading.Thread(target=coalescer.relay, args=([0],))
    leader.start()
    assert first_send_started.wait(10)
    # While the leader sends, 300 more requests hand over their events and return at once.
    assert [coalescer.relay([n]) for n in range(1, 301)] == [0] * 300
    go_on.set()
    leader.join(10)
    assert batches == [[0], list(range(1, 201)), list(range(201, 301))]  # each once, in batches
    assert not coalescer._relaying and coalescer.relay([301]) == 1
