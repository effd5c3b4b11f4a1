"""Celery: training on any number of machines, through a Redis or RabbitMQ broker.

Workers run the same job code as the local pool. Each worker child process opens its own
database connection (worker_process_init); results go to the shared database and model
files to the shared artifacts folder, so any server can read them.

Delivery: acks_late + reject_on_worker_lost put a task back on the queue if its worker
dies; prefetch 1 keeps the queue FIFO and a long run from holding others hostage. The
job's atomic QUEUED → RUNNING claim makes a redelivered or duplicated task a no-op.
"""

from __future__ import annotations

import asyncio
import logging

from celery import Celery
from celery.signals import worker_process_init

from trainer.jobs.job import JobSettings
from trainer.jobs.job_refs import JobKind, JobRef
from trainer.jobs.runners import wait_until_final
from trainer.jobs.worker_process import (
    init_worker_process,
    run_in_worker_process,
    run_job_in_worker_process,
)

logger = logging.getLogger("trainer.celery")

TASK_NAME = "training_api.train_run"
# One task per kind of job (issue 24), on the same queue: the same workers take them all.
BATCH_PREDICTION_TASK = "training_api.batch_prediction"
EVALUATION_TASK = "training_api.evaluation"
QUEUE = "training"

app = Celery("training_api")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

# Set by configure_worker() in the parent worker process, inherited by forked children.
_worker_config: tuple[str, JobSettings] | None = None


@app.task(name=TASK_NAME)
def train_run(run_id: int) -> str | None:
    return run_in_worker_process(run_id)


@app.task(name=BATCH_PREDICTION_TASK)
def batch_prediction(job_id: int) -> str | None:
    return run_job_in_worker_process(JobRef(JobKind.BATCH_PREDICTION, job_id))


@app.task(name=EVALUATION_TASK)
def evaluation(job_id: int) -> str | None:
    return run_job_in_worker_process(JobRef(JobKind.EVALUATION, job_id))


_TASKS = {
    JobKind.TRAINING: train_run,
    JobKind.BATCH_PREDICTION: batch_prediction,
    JobKind.EVALUATION: evaluation,
}


@worker_process_init.connect
def _open_database(**_: object) -> None:
    assert _worker_config is not None, "configure_worker() was not called"
    init_worker_process(*_worker_config)


def configure_worker(broker_url: str, database_url: str, settings: JobSettings) -> None:
    global _worker_config
    app.conf.broker_url = broker_url
    _worker_config = (database_url, settings)


def run_worker(concurrency: int, loglevel: str = "INFO") -> None:
    app.worker_main(
        ["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}", "-Q", QUEUE]
    )


class CeleryRunner:
    """The server side: enqueue run ids; follow runs through the database."""

    def __init__(
        self, broker_url: str, *, max_active_runs_per_user: int, max_active_jobs_per_user: int
    ) -> None:
        app.conf.broker_url = broker_url
        # The broker's queue is FIFO: fairness between users rests on this bound, which
        # puts at most this many of one user's runs ahead of anyone else's.
        self.max_active_runs_per_user = max_active_runs_per_user
        self.max_active_jobs_per_user = max_active_jobs_per_user

    async def start(self) -> None:
        logger.info("training runs go to Celery at %s", _redact(app.conf.broker_url))

    async def stop(self) -> None:
        return None

    async def submit(self, run_id: int) -> None:
        await self.submit_job(JobRef(JobKind.TRAINING, run_id))

    async def submit_job(self, ref: JobRef) -> None:
        # Publishing is blocking network I/O: keep it off the event loop.
        await asyncio.to_thread(_TASKS[ref.kind].apply_async, args=[ref.id], queue=QUEUE)

    async def wait(self, run_id: int) -> None:
        await wait_until_final(run_id)

    async def check(self, seconds: float) -> dict[str, object]:
        """Whether the broker accepts a connection now (the workers are behind it)."""

        def connect() -> None:
            with app.connection_for_write(connect_timeout=seconds) as connection:
                connection.ensure_connection(max_retries=0, timeout=seconds)

        try:
            await asyncio.wait_for(asyncio.to_thread(connect), seconds)
        except Exception as exc:  # any failure means "not reachable"
            return {"ok": False, "backend": "celery", "error": f"broker: {type(exc).__name__}"}
        return {"ok": True, "backend": "celery"}


def _redact(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
