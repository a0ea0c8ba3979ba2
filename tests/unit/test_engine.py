"""The delivery engine's pieces that need no network: slots handed out by urgency, and
group-commit batching."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from services.publish.engine import Batcher, PrioritySlots


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
