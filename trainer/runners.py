"""Where training runs execute: a local pool of worker processes (the embedded default).

The web process only enqueues run ids; training happens in other processes so the
server's event loop keeps answering while models fit.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Protocol

from trainer.jobs import JobSettings, execute_run

logger = logging.getLogger("trainer.runners")


class JobRunner(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def submit(self, run_id: int) -> None:
        """Hand the (already committed, QUEUED) run to a worker."""

    async def wait(self, run_id: int) -> None:
        """Return once the run has left QUEUED/RUNNING (or this runner lost track of it)."""


# --- worker-process side -------------------------------------------------------------
# Each pool process keeps one event loop and one database connection for its lifetime.
_worker_loop: asyncio.AbstractEventLoop | None = None
_worker_settings: JobSettings | None = None


def _init_worker(database_url: str, settings: JobSettings) -> None:
    global _worker_loop, _worker_settings
    from tortoise import Tortoise

    from models.db import tortoise_config
    from trainer.logs import configure_worker_logging

    configure_worker_logging()
    _worker_settings = settings
    _worker_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_worker_loop)
    # Global fallback: the context must outlive the init task and serve every later job.
    _worker_loop.run_until_complete(
        Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    )


def _ready() -> bool:
    return True


def _run_in_worker(run_id: int) -> None:
    assert _worker_loop is not None, "worker not initialised"
    assert _worker_settings is not None, "worker not initialised"
    _worker_loop.run_until_complete(execute_run(run_id, _worker_settings))


# --- server side ---------------------------------------------------------------------
class LocalPoolRunner:
    """A ProcessPoolExecutor started with the server and warmed up before the first run."""

    def __init__(self, database_url: str, settings: JobSettings, workers: int) -> None:
        assert workers >= 1, "the local pool needs at least one worker"
        self._database_url = database_url
        self._settings = settings
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[int, Future[None]] = {}

    async def start(self) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=self._workers,
            # spawn, not fork: the server holds an event loop and open connections that a
            # forked child must not inherit.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._database_url, self._settings),
        )
        # Start the processes (and their scikit-learn imports) now rather than at the
        # first trainModel, which would otherwise pay seconds of start-up.
        warmups = [self._pool.submit(_ready) for _ in range(self._workers)]
        await asyncio.gather(*(asyncio.wrap_future(f) for f in warmups))
        logger.info("local training pool ready with %d worker(s)", self._workers)

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def submit(self, run_id: int) -> None:
        assert self._pool is not None, "runner not started"
        future = self._pool.submit(_run_in_worker, run_id)
        self._pending[run_id] = future
        future.add_done_callback(lambda f: self._done(run_id, f))

    def _done(self, run_id: int, future: Future[None]) -> None:
        self._pending.pop(run_id, None)
        if not future.cancelled() and future.exception() is not None:
            logger.error("run %s: worker failed", run_id, exc_info=future.exception())

    async def wait(self, run_id: int) -> None:
        future = self._pending.get(run_id)
        if future is not None:
            await asyncio.shield(asyncio.wrap_future(future))
