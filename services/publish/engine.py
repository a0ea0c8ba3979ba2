"""The delivery engine: one asyncio event loop per delivery worker process, in a thread of its
own, sending many webhooks at once over one pooled aiohttp client.

* Celery's ``delivery.send`` task hands it (delivery id, subscriber id) pairs and returns; the
  engine takes it from there. The database is the safety net: a delivery is only ever sent
  under a lease, and one whose worker died is handed out again by the scheduler's sweep.
* **Fan-out.** Claims and results go to the database in batches, group-commit style: while one
  batch is being written, the next one gathers (``Batcher``). Signing is per delivery,
  the body is built once per version.
* **Isolation.** Each subscriber has its own few slots (``NEWSWIRE_DELIVERY_CONCURRENCY_PER_SUBSCRIBER``):
  a slow or dead receiver queues behind its own slots only, and every attempt ends by its
  deadline, so it can never take the slots of the others. A delivery takes its lease only
  once it has a slot, so waiting behind a slow receiver never eats into the lease.
* **Back-pressure.** At most ``NEWSWIRE_DELIVERY_BACKLOG`` deliveries wait in the engine; past
  that, ``submit`` blocks the Celery thread, so further messages stay in Redis.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from services.publish import delivery
from services.publish.channels import webhook
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


class DeliveryEngine:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.loop = asyncio.new_event_loop()
        self.capacity = threading.BoundedSemaphore(self.settings.delivery_backlog)
        self.database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery-db")
        self.claims = Batcher(self._claim, self.database)
        self.records = Batcher(self._record, self.database)
        self.in_engine: set[str] = set()
        self.tasks: set[asyncio.Task] = set()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="delivery-engine", daemon=True)

    # -- the loop's thread --------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._open())
        self._ready.set()
        self.loop.run_forever()

    async def _open(self) -> None:
        s = self.settings
        self.session = webhook.make_session(
            s.webhook_allowed_networks, s.delivery_deadline_seconds, max_connections=s.delivery_concurrency
        )
        self.slots = asyncio.Semaphore(s.delivery_concurrency)
        self.subscriber_slots: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(s.delivery_concurrency_per_subscriber)
        )

    def start(self) -> DeliveryEngine:
        self.thread.start()
        self._ready.wait(30)
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
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=grace)
        await self.session.close()

    # -- called from Celery's threads ---------------------------------------------------------

    def submit(self, dues: list[delivery.Due]) -> None:
        """Take deliveries over (blocks while the engine holds ``delivery_backlog`` already)."""
        for due in dues:
            self.capacity.acquire()
            self.loop.call_soon_threadsafe(self._spawn, due)

    # -- in the loop ----------------------------------------------------------------------

    def _spawn(self, due: delivery.Due) -> None:
        if due.delivery_id in self.in_engine:  # already here (a sweep and a publish both sent it)
            self.capacity.release()
            return
        self.in_engine.add(due.delivery_id)
        task = self.loop.create_task(self._deliver(due))
        self.tasks.add(task)
        task.add_done_callback(lambda t, d=due: self._finished(t, d))

    def _finished(self, task: asyncio.Task, due: delivery.Due) -> None:
        self.tasks.discard(task)
        self.in_engine.discard(due.delivery_id)
        self.capacity.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery %s: %s (its lease runs out and it is sent again)", due.delivery_id, task.exception())

    async def _deliver(self, due: delivery.Due) -> None:
        async with self.subscriber_slots[due.subscriber_id], self.slots:
            outgoing = await self.claims.call(due.delivery_id)
            if outgoing is None:
                return
            started = utcnow()
            headers = webhook.signed_headers(outgoing.secrets, outgoing.message_id, outgoing.body)
            result = await webhook.send(
                self.session, outgoing.url, outgoing.body, headers, self.settings.delivery_deadline_seconds
            )
            follow_ups = await self.records.call(delivery.Attempt(outgoing, started, result))
        for follow_up in follow_ups:
            if self.capacity.acquire(blocking=False):
                self._spawn(follow_up)

    # -- in the database thread -------------------------------------------------------------

    def _claim(self, ids: list[str]) -> list[delivery.Outgoing | None]:
        claimed = delivery.claim(ids, settings=self.settings)
        return [claimed[i] for i in ids]

    def _record(self, attempts: list[delivery.Attempt]) -> list[list[delivery.Due]]:
        recorded = delivery.record(attempts, settings=self.settings)
        # every follow-up goes back once, with the first attempt of the batch
        return [recorded.follow_ups] + [[] for _ in attempts[1:]]


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
