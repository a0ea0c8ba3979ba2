"""The delivery engine's pieces that need no network: slots handed out by urgency,
group-commit batching, and what it holds."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from services.publish.delivery import Due
from services.publish.engine import Batcher, DeliveryEngine, PrioritySlots
from shared.config import get_settings
from tests.support import wait_for


def test_a_freed_slot_goes_to_the_most_urgent_waiter_then_first_come():
    async def scenario():
        slots, order = PrioritySlots(1), []
        await slots.acquire(4)  # held by a routine send

        async def wait(name, priority):
            await slots.acquire(priority)
            order.append(name)
            slots.release()

        waiters = [asyncio.create_task(wait(n, p)) for n, p in (("routine-1", 4), ("routine-2", 4), ("kill", 0))]
        await asyncio.sleep(0)
        slots.release()
        await asyncio.gather(*waiters)
        return order, slots.free

    assert asyncio.run(scenario()) == (["kill", "routine-1", "routine-2"], 1)


def test_a_cancelled_waiter_does_not_take_a_slot_with_it():
    async def scenario():
        slots = PrioritySlots(1)
        await slots.acquire(4)
        waiter = asyncio.create_task(slots.acquire(0))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        slots.release()
        return slots.free

    assert asyncio.run(scenario()) == 1


def test_calls_made_while_a_batch_runs_form_the_next_batch():
    batches = []

    def double(items):
        batches.append(list(items))
        return [i * 2 for i in items]

    async def scenario():
        batcher = Batcher(double, ThreadPoolExecutor(max_workers=1))
        first = asyncio.create_task(batcher.call(1))
        await asyncio.sleep(0)  # the first batch starts with one item
        rest = [asyncio.create_task(batcher.call(n)) for n in (2, 3, 4)]
        return await first, await asyncio.gather(*rest)

    assert asyncio.run(scenario()) == (2, [4, 6, 8])
    assert batches == [[1], [2, 3, 4]]


def test_a_failed_batch_fails_each_call():
    def broken(items):
        raise RuntimeError("database gone")

    async def scenario():
        batcher = Batcher(broken, ThreadPoolExecutor(max_workers=1))
        return await asyncio.gather(batcher.call(1), batcher.call(2), return_exceptions=True)

    assert [str(e) for e in asyncio.run(scenario())] == ["database gone", "database gone"]


class ScriptedEngine(DeliveryEngine):
    """The engine with its database and network steps scripted (``_claim_and_record`` in two
    halves): every claim succeeds, every send returns, and recording the first attempt waits until
    the test lets it go on."""

    def __init__(self, settings=None):
        super().__init__(settings or get_settings())
        self.claimed: list[str] = []
        self.recording, self.go_on = threading.Event(), threading.Event()

    def _claim(self, ids):
        self.claimed.extend(ids)
        return [SimpleNamespace(story_id="story", version=1) for _ in ids]

    async def _send(self, outgoing):
        return None

    def _record(self, attempts):
        if len(self.claimed) == 1:
            self.recording.set()
            self.go_on.wait(10)
        return [[] for _ in attempts]

    def _claim_and_record(self, ids, attempts):
        """The results first, then the claims, as the real engine writes them."""
        follow_ups = self._record(attempts) if attempts else []
        return dict(zip(ids, self._claim(ids) if ids else [], strict=True)), follow_ups


def test_a_delivery_handed_over_again_while_its_attempt_finishes_is_taken_up_once_more():
    """The sweep may find a delivery due again (its failed attempt recorded, its back-off over)
    before the engine is done with that attempt. Dropped as "held already", it would wait out
    the sweep's one-minute queue mark; it is taken up again once the attempt is finished."""
    engine, due = ScriptedEngine().start(), Due("delivery-1", "subscriber-1")
    try:
        engine.submit([due])
        assert engine.recording.wait(10)
        engine.submit([due, due])  # handed over again (twice) while the first attempt is recorded
        engine.go_on.set()
        wait_for(lambda: len(engine.claimed) == 2 and not engine.held, timeout=10, what="the second attempt")
        assert engine.claimed == ["delivery-1", "delivery-1"] and not engine.asked_again
    finally:
        engine.stop()


class WakingEngine(ScriptedEngine):
    """The scripted engine, but the first claim is what waits until the test lets it go on, and it
    finds the delivery must wait (an earlier version is in flight); recording never waits."""

    def __init__(self):
        super().__init__()
        self.claiming = threading.Event()

    def _claim(self, ids):
        if not self.claimed:
            self.claimed.extend(ids)
            self.claiming.set()
            self.go_on.wait(10)
            return [None for _ in ids]
        return super()._claim(ids)

    def _record(self, attempts):
        return [[] for _ in attempts]


async def wake(engine: DeliveryEngine, due: Due) -> None:
    engine._take_over(due)  # what a recorded delivery of the earlier version does with the later one


def test_a_later_version_woken_while_its_own_claim_finishes_is_taken_up_again():
    """The earlier version's delivery may be recorded, waking the later one, while the later one's
    own claim (which found it had to wait) is still finishing. Dropped as "held already", the later
    version would wait out the sweep's one-minute queue mark; it is taken up again instead."""
    engine, later = WakingEngine().start(), Due("later", "subscriber-1")
    try:
        engine.submit([later])
        assert engine.claiming.wait(10)
        asyncio.run_coroutine_threadsafe(wake(engine, later), engine.loop).result(10)
        engine.go_on.set()
        wait_for(lambda: len(engine.claimed) == 2 and not engine.held, timeout=10, what="the later version again")
        assert engine.claimed == ["later", "later"] and not engine.asked_again
    finally:
        engine.stop()


class FollowingEngine(ScriptedEngine):
    """The scripted engine whose backlog holds one delivery, and whose first recorded attempt
    wakes a later version (``later``) of the same story for the same subscriber."""

    def __init__(self):
        super().__init__(get_settings().model_copy(update={"delivery_backlog": 1}))

    def _record(self, attempts):
        if self.claimed == ["earlier"]:
            return [[Due("later", "subscriber-1")]] + [[] for _ in attempts[1:]]
        return [[] for _ in attempts]


def test_a_later_version_woken_while_the_backlog_is_full_is_taken_up_at_once():
    """With the engine's backlog full (here: the one delivery that wakes it), the woken later
    version is taken up anyway — left to the sweep, it would wait out the one-minute queue mark
    its wake-up gave it. It can take up no more room than the deliveries that woke it."""
    engine = FollowingEngine().start()
    try:
        engine.submit([Due("earlier", "subscriber-1")])
        wait_for(lambda: len(engine.claimed) == 2 and not engine.held, timeout=10, what="the later version")
        assert engine.claimed == ["earlier", "later"]
        assert engine.capacity.acquire(blocking=False)  # the backlog's room is all back
    finally:
        engine.stop()
