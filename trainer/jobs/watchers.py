"""Live updates of training runs, batch predictions and evaluations, for their subscriptions
(trainingRunUpdated, batchPredictionUpdated, evaluationUpdated).

Workers write progress to the database (they may run on other machines), so the
database is the bus: one poller per server process and kind of row reads every watched
row in a single query per tick and wakes the subscribers whose row changed. That reaches
subscribers on any server process, costs one query per tick however many are watching,
and needs no broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from models.run_records import RunRecord, get_run_records
from models.training_runs import FINAL_STATUSES
from models.trust_jobs import BatchPrediction, JobRow, ModelEvaluation

logger = logging.getLogger("trainer.jobs.watchers")


class Watched(Protocol):
    """A row with an id and a status that ends (RunStatus): a run or a job. (Any: a
    Tortoise model declares its columns as fields, which mypy does not read as values.)"""

    @property
    def id(self) -> Any: ...

    @property
    def status(self) -> Any: ...


R = TypeVar("R", bound=Watched)
J = TypeVar("J", BatchPrediction, ModelEvaluation)


class RowWatcher(Generic[R]):
    """Subscribers to rows of one kind, fed by one poll of all their rows per tick.

    `fetch` reads the rows of the given ids (those absent were deleted); `state` is the
    part of a row whose change is news to a subscriber.
    """

    def __init__(
        self,
        fetch: Callable[[list[int]], Awaitable[Iterable[R]]],
        state: Callable[[R], tuple[object, ...]],
        interval: float = 0.25,
        name: str = "row-watcher",
    ) -> None:
        self.interval = interval
        self._fetch = fetch
        self._state = state
        self._name = name
        self._subscribers: dict[int, set[asyncio.Queue[R | None]]] = {}
        self._last: dict[int, tuple[object, ...]] = {}
        self._task: asyncio.Task[None] | None = None

    async def watch(
        self,
        row: R,
        *,
        check: Callable[[], Awaitable[None]] | None = None,
        check_every: float = 5.0,
    ) -> AsyncIterator[R]:
        """Yield `row` now, then each changed state, ending after a final status.

        `check` runs before each update is yielded and at least every `check_every`
        seconds while none arrives (a queued run may not change for hours); whatever it
        raises ends the stream, which is how a revoked caller stops receiving updates.
        """
        yield row
        if row.status in FINAL_STATUSES:
            return
        queue: asyncio.Queue[R | None] = asyncio.Queue()
        self._subscribers.setdefault(row.id, set()).add(queue)
        self._last.setdefault(row.id, self._state(row))
        self._ensure_polling()
        # One pending get across timeouts: cancelling it on each timeout could drop an
        # update that arrived at the same moment.
        getter: asyncio.Future[R | None] | None = None
        try:
            while True:
                if getter is None:
                    getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter}, timeout=check_every)
                if check is not None:
                    await check()
                if not done:
                    continue
                update, getter = getter.result(), None
                if update is None:  # the row was deleted
                    return
                yield update
                if update.status in FINAL_STATUSES:
                    return
        finally:
            if getter is not None:
                getter.cancel()
            watchers = self._subscribers.get(row.id)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._subscribers[row.id]
                    self._last.pop(row.id, None)

    def _ensure_polling(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name=self._name)

    async def _poll(self) -> None:
        while self._subscribers:
            await asyncio.sleep(self.interval)
            try:
                rows = list(await self._fetch(list(self._subscribers)))
            except Exception:
                logger.warning("%s: poll failed, retrying", self._name, exc_info=True)
                continue
            for gone in set(self._subscribers) - {row.id for row in rows}:
                for queue in self._subscribers.get(gone, ()):
                    queue.put_nowait(None)
            for row in rows:
                state = self._state(row)
                if state == self._last.get(row.id):
                    continue
                self._last[row.id] = state
                for queue in self._subscribers.get(row.id, ()):
                    queue.put_nowait(row)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


RunWatcher = RowWatcher[RunRecord]


async def _runs(ids: list[int]) -> Iterable[RunRecord]:
    return (await get_run_records(ids)).values()


def run_watcher(interval: float) -> RunWatcher:
    """Runs: news is a change of status, stage, progress or cancel request."""

    def state(run: RunRecord) -> tuple[object, ...]:
        return (run.status, run.stage, run.progress, run.cancel_requested)

    return RowWatcher(_runs, state, interval, "run-watcher")


def job_watcher(table: type[J], interval: float) -> RowWatcher[J]:
    """Batch predictions or evaluations: news is a change of status, progress or cancel
    request."""

    async def fetch(ids: list[int]) -> Iterable[J]:
        return await table.filter(id__in=ids)

    def state(job: JobRow) -> tuple[object, ...]:
        return (job.status, job.progress, job.cancel_requested)

    return RowWatcher(fetch, state, interval, f"{table.__name__}-watcher")
