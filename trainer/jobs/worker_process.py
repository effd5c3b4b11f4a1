"""One training worker process: its event loop and database connection, set up once.

Shared by the local pool (each PoolWorker process) and Celery (worker process
init signal), so both execute runs with the very same code.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext

from models.availability import is_database_outage
from models.db import renew_connections
from models.training_runs import RunStatus
from trainer.jobs.job import JobSettings, execute_run
from trainer.jobs.job_refs import JobKind, JobRef
from trainer.jobs.trust_jobs import execute_batch_prediction, execute_evaluation

logger = logging.getLogger("trainer.jobs.worker_process")
_READY = "ready"

_loop: asyncio.AbstractEventLoop | None = None
_settings: JobSettings | None = None


def init_worker_process(database_url: str, settings: JobSettings) -> None:
    global _loop, _settings
    from tortoise import Tortoise

    from models.db import tortoise_config
    from trainer.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    if settings.nice > 0:
        os.nice(settings.nice)
    # Import scikit-learn now rather than inside the first run (a no-op in a local pool
    # worker, forked from a fork server that has imported it).
    import trainer.ml.model_trainer  # noqa: F401

    _settings = settings
    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)
    # Global fallback: the ORM context must outlive this init task and serve every job.
    _loop.run_until_complete(
        Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    )


def run_in_worker_process(run_id: int) -> str | None:
    """Execute one training run; its final status, or None when it was not ours to run."""
    return run_job_in_worker_process(JobRef(JobKind.TRAINING, run_id))


def _execute(ref: JobRef, settings: JobSettings) -> Coroutine[None, None, RunStatus | None]:
    if ref.kind is JobKind.BATCH_PREDICTION:
        return execute_batch_prediction(ref.id, settings)
    if ref.kind is JobKind.EVALUATION:
        return execute_evaluation(ref.id, settings)
    return execute_run(ref.id, settings)


def run_job_in_worker_process(ref: JobRef) -> str | None:
    """Execute one job (a training run, a batch prediction, an evaluation); returns its
    final status, or None when it was not ours to run.

    A worker idles between jobs while its database connections may be cut (a restart of
    PostgreSQL): the first statement of the next job would fail and leave it QUEUED
    with nobody to take it. On such an error the connections are renewed and the job is
    tried once more; its claim is atomic, so one already claimed is not run twice.
    """
    assert _loop is not None, "worker process not initialised"
    assert _settings is not None, "worker process not initialised"
    try:
        status = _loop.run_until_complete(_execute(ref, _settings))
    except Exception as error:
        if not is_database_outage(error):
            raise
        logger.warning("%s: database connection lost (%s); retrying", ref, error)
        _loop.run_until_complete(renew_connections())
        status = _loop.run_until_complete(_execute(ref, _settings))
    return status.value if status else None


def ready() -> bool:
    """A no-op task that makes the pool start (and import) its processes ahead of time."""
    return True


# --- the local pool's worker processes -------------------------------------------------
class WorkerGone(Exception):
    """The worker process ended (killed, crashed, or stopped itself to honour a cancel)."""


def serve_runs(connection: Connection, database_url: str, settings: JobSettings) -> None:
    """Main of a local pool worker: run each job it is sent (kind, id), answer with the
    final status.

    It ends when the server closes its end of the pipe, so a server killed outright does
    not leave it behind once its current run is over.
    """
    init_worker_process(database_url, settings)
    try:
        connection.send(_READY)
        while True:
            kind, job_id = connection.recv()
            ref = JobRef(JobKind(kind), job_id)
            try:
                status: str | None = run_job_in_worker_process(ref)
            except Exception:
                logger.exception("%s: the job failed unexpectedly", ref)
                status = None
            connection.send(status)
    except (EOFError, BrokenPipeError):
        return  # the server closed its end: it is stopping, or gone


class PoolWorker:
    """The server's handle on one worker process: one run at a time through a pipe.

    Each process is its own, unlike a ProcessPoolExecutor's, so one that dies or is
    stopped takes no other run down with it and can be replaced alone.
    """

    def __init__(
        self, context: ForkServerContext, database_url: str, settings: JobSettings
    ) -> None:
        self._connection, child_end = context.Pipe()
        self.process = context.Process(
            target=serve_runs,
            args=(child_end, database_url, settings),
            name="training-worker",
            daemon=True,
        )
        self.process.start()
        child_end.close()

    async def ready(self) -> None:
        if await self._receive() != _READY:
            raise WorkerGone("the worker process did not start properly")

    async def run(self, ref: JobRef) -> str | None:
        try:
            self._connection.send((ref.kind.value, ref.id))
        except OSError as exc:
            raise WorkerGone(f"worker process {self.process.pid} ended") from exc
        status = await self._receive()
        assert status is None or isinstance(status, str)
        return status

    async def _receive(self) -> object:
        """The next message, awaited without a thread; WorkerGone if the process ended."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        fd = self._connection.fileno()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        try:
            return self._connection.recv()
        except (EOFError, OSError) as exc:
            raise WorkerGone(f"worker process {self.process.pid} ended") from exc

    def terminate(self) -> None:
        if self.process.is_alive():
            self.process.terminate()

    def close(self, timeout: float = 5.0) -> None:
        """Collect the ended process (blocking: call it from a thread)."""
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self._connection.close()
