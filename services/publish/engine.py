"""The delivery engine: one asyncio event loop per delivery worker process, in a thread of its
own, sending many webhooks at once over one pooled aiohttp client.

* Celery's ``delivery.send`` task hands it (delivery id, subscriber id) pairs and returns; the
  engine takes it from there. The database is the safety net: a delivery is only ever sent
  under a lease, and one whose worker died is handed out again by the scheduler's sweep.
* **Fan-out.** Claims and results go to the database in batches, group-commit style: while one
  batch is being written, the next one gathers (``Batcher``), claims and results together in one
  transaction. Signing is per delivery, the body is built once per version.
* **Isolation.** Each subscriber has its own few slots (``NEWSWIRE_DELIVERY_CONCURRENCY_PER_SUBSCRIBER``):
  a slow or dead receiver queues behind its own slots only, and every attempt ends by its
  deadline, so it can never take the slots of the others. A delivery takes its lease only
  once it has a slot, so waiting behind a slow receiver never eats into the lease.
* **Urgency.** Slots go to the most urgent waiter first: a kill or a flash never queues behind
  routine sends to the same subscriber.
* **Back-pressure.** At most ``NEWSWIRE_DELIVERY_BACKLOG`` routine deliveries wait in the engine;
  past that, ``submit`` blocks the Celery thread, so further messages stay in Redis (flash and
  kill deliveries are always taken). Every 20 s the engine marks what it holds as queued, so the
  scheduler's sweep does not queue it again however long it waits for a slot.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from services.publish import channels, delivery
from shared import logs
from shared import webhook_client as webhook
from shared.config import Settings, get_settings
from shared.timeutil import utcnow

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Turns many concurrent ``await call(item)`` into few ``fn(items)`` runs in a thread, as a
    database's group commit does: one batch runs at a time, and whatever arrives meanwhile
    becomes the next batch (up to ``max_size``). The busier it is, the larger the batches."""

    def __init__(self, fn: Callable[[list[Item]], list[Result]], executor: ThreadPoolExecutor, max_size: int = 1000):
        self.fn, self.executor, self.max_size = fn, executor, max_size
        self.waiting: list[tuple[Item, asyncio.Future]] = []
        self.running = False

    async def call(self, item: Item) -> Result:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        if not self.running:
            self.running = True
            asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[: self.max_size], self.waiting[self.max_size :]
                await self._run(batch)
        finally:
            self.running = False

    async def _run(self, batch: list[tuple[Item, asyncio.Future]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await asyncio.get_running_loop().run_in_executor(self.executor, self.fn, items)
        except Exception as exc:  # the database failed the whole batch
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


class PrioritySlots:
    """A counting semaphore that hands a freed slot to the most urgent waiter (lowest priority
    number, then first come): a kill or a flash never queues behind routine sends."""

    def __init__(self, size: int):
        self.free, self.waiting, self.arrivals = size, [], 0

    async def acquire(self, priority: int) -> None:
        if self.free > 0:  # free slots exist only while nobody waits
            self.free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        self.arrivals += 1
        heapq.heappush(self.waiting, (priority, self.arrivals, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # it was handed a slot at the moment it was cancelled
            raise

    def release(self) -> None:
        while self.waiting:
            _priority, _n, future = heapq.heappop(self.waiting)
            if not future.done():
                future.set_result(None)  # the slot passes straight to the waiter
                return
        self.free += 1


class DeliveryEngine:
    #: How often the engine tells the database that it still holds deliveries waiting for a slot,
    #: so the scheduler's sweep does not queue them again (well inside the 60 s it trusts a queue).
    KEEP_QUEUED_EVERY = 20.0

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.loop = asyncio.new_event_loop()
        self.capacity = threading.BoundedSemaphore(self.settings.delivery_backlog)
        self.database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery-db")
        #: Claims and results share one batcher: those waiting together go in one transaction.
        self.writes: Batcher[str | delivery.Attempt, Any] = Batcher(self._write, self.database)
        self.held: dict[str, bool] = {}  # deliveries in the engine -> whether they took backlog capacity
        #: Held deliveries handed over again meanwhile: taken up again once the one held finishes.
        self.asked_again: dict[str, delivery.Due] = {}
        self.held_lock = threading.Lock()
        self.tasks: set[asyncio.Task] = set()
        self._ready = threading.Event()
        self.closing = False  # stopping: nothing new is taken up (the sweep queues it again)
        self.thread = threading.Thread(target=self._run, name="delivery-engine", daemon=True)

    # -- the loop's thread --------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._open())
        self._ready.set()
        self.keeper = self.loop.create_task(self._keep_queued())
        self.loop.run_forever()

    async def _open(self) -> None:
        s = self.settings
        self.session = webhook.make_session(
            s.webhook_allowed_networks, s.delivery_deadline_seconds, max_connections=s.delivery_concurrency
        )
        self.slots = PrioritySlots(s.delivery_concurrency)
        self.subscriber_slots: defaultdict[str, PrioritySlots] = defaultdict(
            lambda: PrioritySlots(s.delivery_concurrency_per_subscriber)
        )

    def start(self) -> DeliveryEngine:
        self.thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the delivery engine did not start; see the log above")
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Let sends in flight finish (up to ``grace`` seconds), then close."""
        if not self.thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close(grace), self.loop).result(grace + 5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.database.shutdown(wait=True)

    async def _close(self, grace: float) -> None:
        self.closing = True
        self.keeper.cancel()  # ended, not left pending (asyncio would log an error for it)
        await asyncio.gather(self.keeper, return_exceptions=True)
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=grace)
        await self.session.close()

    async def _keep_queued(self) -> None:
        while True:
            await asyncio.sleep(self.KEEP_QUEUED_EVERY)
            with self.held_lock:
                ids = list(self.held)
            if ids:
                try:
                    await self.loop.run_in_executor(self.database, delivery.keep_queued, ids)
                except Exception:
                    log.warning("could not renew the queue marks of %d deliveries", len(ids), exc_info=True)

    # -- called from Celery's threads ---------------------------------------------------------

    def submit(self, dues: list[delivery.Due]) -> None:
        """Take deliveries over. Blocks while the engine holds ``delivery_backlog`` already —
        except for flash and kill deliveries (priority 0), which are never kept waiting in Redis."""
        for due in dues:
            with self.held_lock:
                if self._note_if_held(due):
                    continue
            counted = due.priority > 0
            if counted:
                self.capacity.acquire()
            with self.held_lock:
                if self._note_if_held(due):
                    if counted:
                        self.capacity.release()
                    continue
                self.held[due.delivery_id] = counted
            self.loop.call_soon_threadsafe(self._spawn, due)

    def _note_if_held(self, due: delivery.Due) -> bool:
        """(Under ``held_lock``.) True if the engine holds the delivery already: a sweep and a
        publish both sent it, or the sweep found it due again while its failed attempt was still
        being finished here. Then it is noted, and taken up again when the one held finishes (its
        claim takes it only if it is still pending and due): dropped, it would wait out the mark
        the sweep gave it (a minute) before anyone sent it again."""
        if due.delivery_id not in self.held:
            return False
        self.asked_again[due.delivery_id] = due
        return True

    # -- in the loop ----------------------------------------------------------------------

    def _spawn(self, due: delivery.Due) -> None:
        ids = logs.fresh_context(delivery_id=due.delivery_id, subscriber_id=due.subscriber_id)
        task = self.loop.create_task(self._deliver(due), context=ids)  # its log lines carry these
        self.tasks.add(task)
        task.add_done_callback(lambda t, d=due: self._finished(t, d))

    def _finished(self, task: asyncio.Task, due: delivery.Due) -> None:
        self.tasks.discard(task)
        with self.held_lock:
            counted = self.held.pop(due.delivery_id, False)
            again = self.asked_again.pop(due.delivery_id, None)
        if counted:
            self.capacity.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery %s: %s (its lease runs out and it is sent again)", due.delivery_id, task.exception())
        if again is not None and not self.closing:
            self._take_over(again)

    async def _deliver(self, due: delivery.Due) -> None:
        slot, everyone = self.subscriber_slots[due.subscriber_id], self.slots
        await slot.acquire(due.priority)
        try:
            await everyone.acquire(due.priority)
            try:
                follow_ups = await self._attempt(due)
            finally:
                everyone.release()
        finally:
            slot.release()
        for follow_up in follow_ups:
            self._take_over(follow_up)

    async def _attempt(self, due: delivery.Due) -> list[delivery.Due]:
        outgoing = await self.writes.call(due.delivery_id)
        if outgoing is None:
            return []
        logs.bind(story_id=outgoing.story_id, version=outgoing.version)
        started = utcnow()
        result = await self._send(outgoing)
        return await self.writes.call(delivery.Attempt(outgoing, started, result))

    async def _send(self, outgoing: delivery.Outgoing) -> webhook.SendResult:
        if outgoing.channel is not None:
            return await channels.deliver_file(outgoing, self.settings)
        headers = webhook.signed_headers(
            outgoing.secrets,
            outgoing.message_id,
            outgoing.body,
            content_type=outgoing.content_type,
            event_type=outgoing.event_type,
        )
        return await webhook.send(
            self.session, outgoing.url, outgoing.body, headers, self.settings.delivery_deadline_seconds
        )

    def _take_over(self, due: delivery.Due) -> None:
        """A later version woken by a delivery: taken up at once, in the backlog's room if there is
        some and past it if not — left to the sweep, it would wait out the one-minute queue mark its
        wake-up gave it. What it takes past the backlog is bounded by the deliveries that woke it (one
        later version each). If the engine still holds it (its own claim, which found it had to wait,
        is finishing), it is noted and taken up again once that finishes (``_note_if_held``)."""
        with self.held_lock:
            if self._note_if_held(due):
                return
            self.held[due.delivery_id] = self.capacity.acquire(blocking=False)
        self._spawn(due)

    # -- in the database thread -------------------------------------------------------------

    def _write(self, items: list[str | delivery.Attempt]) -> list[Any]:
        """The answer to each item of a batch: to a claim (a delivery id), what to send (or None);
        to a finished attempt, the later versions its delivery woke."""
        ids = [item for item in items if isinstance(item, str)]
        attempts = [item for item in items if isinstance(item, delivery.Attempt)]
        claimed, follow_ups = self._claim_and_record(ids, attempts)
        woken = iter(follow_ups)
        return [claimed[item] if isinstance(item, str) else next(woken) for item in items]

    def _claim_and_record(
        self, ids: list[str], attempts: list[delivery.Attempt]
    ) -> tuple[dict[str, delivery.Outgoing | None], list[list[delivery.Due]]]:
        """Record the attempts and claim the deliveries in one transaction: what to send for each
        id, and each attempt's follow-ups (every one goes back once, with the first attempt)."""
        claimed, recorded = delivery.claim_and_record(ids, attempts, settings=self.settings)
        return claimed, [recorded.follow_ups] + [[] for _ in attempts[1:]]


_engine: DeliveryEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> DeliveryEngine:
    """The process's engine, started on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = DeliveryEngine().start()
        return _engine


def stop_engine(*_args: Any, **_kwargs: Any) -> None:
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.stop()
            _engine = None
