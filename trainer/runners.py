"""Where training runs execute: a local pool of worker processes (the embedded default)
or Celery workers on any number of machines.

The web process only hands over run ids; training happens in other processes so the
server's event loop keeps answering while models fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from models.training_runs import ACTIVE_STATUSES, RunStatus, TrainingRun
from trainer.jobs import JobSettings
from trainer.reaper import fail_stale_runs
from trainer.worker_process import init_worker_process, ready, run_in_worker_process

logger = logging.getLogger("trainer.runners")

# How often wait() looks at a run that this process cannot follow directly.
WAIT_POLL_INTERVAL = 0.1


class JobRunner(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, run_id: int) -> None:
        """Hand the (already committed, QUEUED) run to a worker."""

    async def wait(self, run_id: int) -> None:
        """Return once the run has left QUEUED/RUNNING."""

    async def check(self, seconds: float) -> dict[str, object]:
        """For /readyz: {"ok": can runs be handed over now, ...what was looked at}."""


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    # Before 3.14 the executor has no public way to stop busy workers.
    for process in list((pool._processes or {}).values()):
        process.terminate()


async def wait_until_final(run_id: int) -> None:
    """Follow a run through the database, wherever it executes."""
    # Polling, not an event: the run may be trained by another process or machine.
    while await TrainingRun.filter(  # noqa: ASYNC110
        id=run_id, status__in=list(ACTIVE_STATUSES)
    ).exists():
        await asyncio.sleep(WAIT_POLL_INTERVAL)


class LocalPoolRunner:
    """A ProcessPoolExecutor started with the server and warmed up before the first run.

    A worker killed mid-run breaks the whole executor (that is how ProcessPoolExecutor
    reports it): the runner then starts a fresh pool, has the dead worker's run declared
    FAILED at once, and re-submits the runs that had not started yet.
    """

    def __init__(
        self, database_url: str, settings: JobSettings, workers: int, *, warm_up: bool = True
    ) -> None:
        assert workers >= 1, "the local pool needs at least one worker"
        self._warm_up = warm_up
        self._database_url = database_url
        self._settings = settings
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[int, Future[str | None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restart = asyncio.Lock()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            # spawn, not fork: the server holds an event loop and open connections that a
            # forked child must not inherit.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker_process,
            initargs=(self._database_url, self._settings),
        )

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._pool = self._new_pool()
        if not self._warm_up:
            # The executor spawns its processes at the first submissions instead.
            logger.info("local training pool of %d worker(s), started on demand", self._workers)
            return
        # Start the processes (and their scikit-learn imports) now rather than at the
        # first trainModel, which would otherwise pay seconds of start-up.
        warmups = [self._pool.submit(ready) for _ in range(self._workers)]
        await asyncio.gather(*(asyncio.wrap_future(f) for f in warmups))
        logger.info("local training pool ready with %d worker(s)", self._workers)

    async def stop(self) -> None:
        """Stop at once: queued jobs are dropped (they stay QUEUED in the database and
        are re-submitted at the next start), running ones are killed and recorded as
        FAILED, interrupted. Waiting for a long training would hold up a restart."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        _terminate_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.sleep(0.1)  # let the killed processes disappear before the check
        await fail_stale_runs(self._settings.stale_after)

    async def submit(self, run_id: int) -> None:
        assert self._pool is not None, "runner not started"
        future = self._pool.submit(run_in_worker_process, run_id)
        self._pending[run_id] = future
        future.add_done_callback(lambda f: self._done(run_id, f))

    def _done(self, run_id: int, future: Future[str | None]) -> None:
        """Called on the executor's thread when a job ends, however it ends."""
        if self._pending.get(run_id) is future:
            del self._pending[run_id]
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, BrokenProcessPool) and self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._recover(run_id)))
        elif error is not None:
            logger.error("run %s: worker failed", run_id, exc_info=error)

    async def _recover(self, run_id: int) -> None:
        if self._pool is None:  # stopping: the server is shutting down
            return
        async with self._restart:
            if self._pool is not None and getattr(self._pool, "_broken", False):
                logger.error("a training worker process died; starting a fresh pool")
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
        await fail_stale_runs(self._settings.stale_after)
        if (
            self._pool is not None
            and await TrainingRun.filter(id=run_id, status=RunStatus.QUEUED).exists()
        ):
            logger.info("run %s re-submitted after a worker crash", run_id)
            await self.submit(run_id)

    async def check(self, seconds: float) -> dict[str, object]:
        pool = self._pool
        if pool is None or getattr(pool, "_broken", False):
            return {"ok": False, "backend": "local", "error": "the training pool is not running"}
        alive = sum(p.is_alive() for p in list((pool._processes or {}).values()))
        return {"ok": alive > 0, "backend": "local", "workers": alive}

    async def wait(self, run_id: int) -> None:
        future = self._pending.get(run_id)
        if future is not None:
            # However the job ended, the run's row tells what happened; _done logged it.
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.wrap_future(future))
        await wait_until_final(run_id)
