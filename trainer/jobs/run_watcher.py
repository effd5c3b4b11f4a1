"""Live updates of training runs, for the trainingRunUpdated subscription.

Workers write progress to the database (they may run on other machines), so the
database is the bus: one poller per server process reads every watched run in a single
query per tick and wakes the subscribers whose run changed. That reaches subscribers
on any server process, costs one query per tick however many are watching, and needs no
broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from models.training_runs import FINAL_STATUSES, TrainingRun

logger = logging.getLogger("trainer.jobs.run_watcher")

# Columns whose change is news to a subscriber.
_WATCHED = ("status", "stage", "progress", "cancel_requested")


def _state(run: TrainingRun) -> tuple[object, ...]:
    return tuple(getattr(run, column) for column in _WATCHED)


class RunWatcher:
    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._subscribers: dict[int, set[asyncio.Queue[TrainingRun | None]]] = {}
        self._last: dict[int, tuple[object, ...]] = {}
        self._task: asyncio.Task[None] | None = None

    async def watch(
        self,
        run: TrainingRun,
        *,
        check: Callable[[], Awaitable[None]] | None = None,
        check_every: float = 5.0,
    ) -> AsyncIterator[TrainingRun]:
        """Yield `run` now, then each changed state, ending after a final status.

        `check` runs before each update is yielded and at least every `check_every`
        seconds while none arrives (a queued run may not change for hours); whatever it
        raises ends the stream, which is how a revoked caller stops receiving updates.
        """
        yield run
        if run.status in FINAL_STATUSES:
            return
        queue: asyncio.Queue[TrainingRun | None] = asyncio.Queue()
        self._subscribers.setdefault(run.id, set()).add(queue)
        self._last.setdefault(run.id, _state(run))
        self._ensure_polling()
        # One pending get across timeouts: cancelling it on each timeout could drop an
        # update that arrived at the same moment.
        getter: asyncio.Future[TrainingRun | None] | None = None
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
                if update is None:  # the run was deleted
                    return
                yield update
                if update.status in FINAL_STATUSES:
                    return
        finally:
            if getter is not None:
                getter.cancel()
            watchers = self._subscribers.get(run.id)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._subscribers[run.id]
                    self._last.pop(run.id, None)

    def _ensure_polling(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="run-watcher")

    async def _poll(self) -> None:
        while self._subscribers:
            await asyncio.sleep(self.interval)
            try:
                runs = await TrainingRun.filter(id__in=list(self._subscribers))
            except Exception:
                logger.warning("run watcher: poll failed, retrying", exc_info=True)
                continue
            for gone in set(self._subscribers) - {run.id for run in runs}:
                for queue in self._subscribers.get(gone, ()):
                    queue.put_nowait(None)
            for run in runs:
                state = _state(run)
                if state == self._last.get(run.id):
                    continue
                self._last[run.id] = state
                for queue in self._subscribers.get(run.id, ()):
                    queue.put_nowait(run)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
