"""No receiver can stall the wire: with a receiver that drips its answer a byte at a time and
one that never answers, another subscriber gets every story while their attempts still hang;
each slow subscriber holds no more than its own slots, and every attempt ends at its deadline."""

import pytest

from tests.integration.conftest import running_stack
from tests.support import SlowEndpoint, wait_for

DEADLINE = 10
SLOTS = 2


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory):
    extra = {
        "NEWSWIRE_DELIVERY_DEADLINE_SECONDS": str(DEADLINE),
        "NEWSWIRE_DELIVERY_LEASE_SECONDS": "30",
        "NEWSWIRE_DELIVERY_CONCURRENCY_PER_SUBSCRIBER": str(SLOTS),
    }
    yield from running_stack("sqlite", tmp_path_factory.mktemp("slow"), extra_env=extra)


def test_slow_receivers_hold_only_their_own_slots_and_end_at_the_deadline(slow_stack):
    stack = slow_stack
    drip, hang = SlowEndpoint("drip", pause=1.0), SlowEndpoint("hang")
    try:
        with stack.client(stack.admin_key) as admin:
            slow = {
                e.mode: admin.post("/v1/subscribers", json={"name": e.mode, "url": e.url}).json()["id"]
                for e in (drip, hang)
            }
        _healthy, receiver = stack.subscribe("healthy")
        with stack.client(stack.editor_key) as api:
            stories = [
                api.post("/v1/stories", json={"headline": f"Story {n}", "body_text": "In Astana."}).json()
                for n in range(6)
            ]
        uris = {s["uri"] for s in stories}
        wait_for(
            lambda: uris <= {e["event"]["data"]["uri"] for e in receiver.events()},
            timeout=DEADLINE * 3,
            what="every story at the healthy receiver",
        )
        # All six arrived while the slow receivers still held their first attempts open:
        assert hang.opened <= SLOTS and hang.open_now >= 1
        assert drip.most_at_once <= SLOTS and hang.most_at_once <= SLOTS

        def ended(subscriber_id):
            with stack.client(stack.admin_key) as admin:
                rows = admin.get(f"/v1/subscribers/{subscriber_id}/deliveries").json()["items"]
            return [a for d in rows for a in d["attempts"]]

        for mode, subscriber_id in slow.items():
            attempts = wait_for(lambda s=subscriber_id: ended(s), timeout=DEADLINE * 4, what=f"{mode} attempts")
            assert all("deadline" in a["error"] for a in attempts), attempts
            assert all(a["latency_ms"] < (DEADLINE + 2) * 1000 for a in attempts)
        receiver.stop()
    finally:
        drip.close()
        hang.close()
