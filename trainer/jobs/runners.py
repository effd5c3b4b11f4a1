"""Where training runs (and the other jobs: batch predictions, model evaluations)
execute: a local pool of worker processes (the embedded default) or Celery workers on any
number of machines.

The web process only hands over job references (kind and id, trainer/jobs/job_refs.py);
the work happens in other processes so the server's event loop keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Coroutine
from typing import Protocol

from models.training_runs import ACTIVE_STATUSES, RunStatus, TrainingRun
from trainer.jobs.fair_queue import FairQueue
from trainer.jobs.job import STOPPED_FOR_CANCEL_EXIT_CODE, JobSettings
from trainer.jobs.job_refs import JobKind, JobRef, job_owner, job_table, still_queued
from trainer.jobs.reaper import fail_stale_jobs, fail_stale_runs
from trainer.jobs.worker_process import PoolWorker, WorkerGone

logger = logging.getLogger("trainer.jobs.runners")

# How often wait() looks at a run that this process cannot follow directly.
WAIT_POLL_INTERVAL = 0.1
# Pause before trying again to start a worker process that failed to start.
RESPAWN_DELAY = 1.0


class JobRunner(Protocol):
    # trainModel refuses a run beyond this many active ones of the same user: the queue's
    # admission rule, and under Celery (a FIFO broker queue) what keeps users fair.
    max_active_runs_per_user: int
    # startBatchPrediction and startEvaluation refuse a job beyond this many active batch
    # predictions and evaluations of the same user (the same rule for the other jobs).
    max_active_jobs_per_user: int

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, run_id: int) -> None:
        """Hand the (already committed, QUEUED) run to a worker."""

    async def submit_job(self, ref: JobRef) -> None:
        """Hand the (already committed, QUEUED) job of any kind to a worker."""

    async def wait(self, run_id: int) -> None:
        """Return once the run has left QUEUED/RUNNING."""

    async def check(self, seconds: float) -> dict[str, object]:
        """For /readyz: {"ok": can runs be handed over now, ...what was looked at}."""


async def wait_until_final(run_id: int) -> None:
    """Follow a run through the database, wherever it executes."""
    # Polling, not an event: the run may be trained by another process or machine.
    while await TrainingRun.filter(  # noqa: ASYNC110
        id=run_id, status__in=list(ACTIVE_STATUSES)
    ).exists():
        await asyncio.sleep(WAIT_POLL_INTERVAL)


async def wait_until_job_final(ref: JobRef) -> None:
    """Follow a job of any kind through the database, wherever it executes."""
    table = job_table(ref.kind)
    while await table.filter(id=ref.id, status__in=list(ACTIVE_STATUSES)).exists():  # noqa: ASYNC110
        await asyncio.sleep(WAIT_POLL_INTERVAL)


# What the fork server imports once, before it forks any worker (see worker_context).
# The estimators are imported where a run builds one (trainer/ml/algorithms.py keeps the
# GraphQL layer free of them), so they are named here: every worker forks with them loaded.
PRELOADED_MODULES = [
    "trainer.jobs.worker_process",
    "trainer.ml.model_trainer",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.inspection",
    # Every run explains its test rows for its SHAP importance (0.3 s to import).
    "shap",
]


def worker_context() -> multiprocessing.context.ForkServerContext:
    """How worker processes start: forked from a fork server that imported scikit-learn.

    Not a plain fork of the server, which holds an event loop, threads and open
    connections that a child must not inherit; not spawn either, where every new worker
    (at start-up, and after each cancel or crash replaces one) imports scikit-learn and
    pandas afresh: seconds of CPU each time. The fork server is a clean process started
    once, at the first worker; each worker it forks shares its imported modules.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED_MODULES)
    return context


class LocalPoolRunner:
    """Worker processes started with the server (forked from a fork server that imported
    scikit-learn once, see worker_context), or at the first run without warm-up.

    Runs wait in a FairQueue (round-robin between users) until a worker is free, so one
    user's backlog cannot hold back another user's run. A worker that dies (killed, or
    stopped by itself to honour a cancel mid-chunk) takes only its own run with it: that
    run is settled by the reaper at once and a fresh process takes the dead one's place.
    """

    def __init__(
        self,
        database_url: str,
        settings: JobSettings,
        workers: int,
        *,
        max_active_runs_per_user: int,
        max_active_jobs_per_user: int,
        warm_up: bool = True,
    ) -> None:
        if workers < 1:
            raise ValueError("the local pool needs at least one worker (TRAINING_WORKERS >= 1)")
        self._warm_up = warm_up
        self._database_url = database_url
        self._settings = settings
        self._workers = workers
        self.max_active_runs_per_user = max_active_runs_per_user
        self.max_active_jobs_per_user = max_active_jobs_per_user
        self._context = worker_context()
        self._queue: FairQueue[JobRef] = FairQueue()
        self._idle: list[PoolWorker] = []
        self._all: set[PoolWorker] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._brought_up = False

    def _spawn(self) -> PoolWorker:
        worker = PoolWorker(self._context, self._database_url, self._settings)
        self._all.add(worker)
        return worker

    def _background(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Start the processes (and their scikit-learn imports) now rather than at the first
        trainModel, which would otherwise pay seconds of start-up; or, without warm-up, at
        the first submission (a server that never trains never imports scikit-learn)."""
        self._started = True
        if not self._warm_up:
            logger.info("local training pool of %d worker(s), started on demand", self._workers)
            return
        await self._bring_up_all()

    def warm_up_in_background(self) -> None:
        """Start bringing the workers up now without waiting for them, unless they are up
        or on their way: for a caller that started without warm-up but expects runs soon
        (a test session). A run submitted meanwhile waits for them."""
        if self._started and not self._brought_up:
            self._background(self._bring_up_all())

    async def _bring_up_all(self) -> None:
        self._brought_up = True
        await asyncio.gather(*(self._bring_up() for _ in range(self._workers)))
        logger.info("local training pool ready with %d worker(s)", self._workers)

    async def _bring_up(self) -> None:
        """Start one worker process and put it to work once it is ready; retry on failure."""
        while self._started:
            worker = self._spawn()
            try:
                await worker.ready()
            except WorkerGone:
                self._all.discard(worker)
                await asyncio.to_thread(worker.close)
                logger.error("a training worker process failed to start; retrying")
                await asyncio.sleep(RESPAWN_DELAY)
                continue
            self._idle.append(worker)
            self._dispatch()
            return

    async def stop(self) -> None:
        """Stop at once: queued runs stay QUEUED in the database and are re-submitted at the
        next start; running ones are killed and recorded as FAILED, interrupted. Waiting for
        a long training would hold up a restart."""
        if not self._started:
            return
        self._started = self._brought_up = False
        for task in list(self._tasks):
            task.cancel()
        workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            worker.terminate()
        await asyncio.gather(*(asyncio.to_thread(worker.close) for worker in workers))
        await fail_stale_runs(self._settings.stale_after)
        await fail_stale_jobs(self._settings.stale_after, self._settings.artifacts.predictions)

    async def submit(self, run_id: int) -> None:
        await self.submit_job(JobRef(JobKind.TRAINING, run_id))

    async def submit_job(self, ref: JobRef) -> None:
        # One turn per user whatever the kind: a user's batch scoring waits behind their
        # own trainings, not behind everybody's.
        self._queue.put(await job_owner(ref), ref)
        self.warm_up_in_background()
        self._dispatch()

    def _dispatch(self) -> None:
        while self._started and self._idle and self._queue:
            self._background(self._execute(self._idle.pop(), self._queue.pop()))

    async def _execute(self, worker: PoolWorker, ref: JobRef) -> None:
        try:
            await worker.run(ref)
        except WorkerGone:
            await self._replace(worker, ref)
            if await still_queued(ref):
                # It died while idle, before claiming this job: the job waits for another.
                await self.submit_job(ref)
            return
        self._idle.append(worker)
        self._dispatch()

    async def _replace(self, worker: PoolWorker, ref: JobRef) -> None:
        """Settle the dead worker's job, then start a fresh process in its place."""
        self._all.discard(worker)
        await asyncio.to_thread(worker.close)
        if not self._started:  # stopping: stop() settles the runs
            return
        await fail_stale_runs(self._settings.stale_after)
        await fail_stale_jobs(self._settings.stale_after, self._settings.artifacts.predictions)
        exit_code = worker.process.exitcode
        run_id = ref.id  # the log lines' wording predates other kinds of job
        if exit_code == STOPPED_FOR_CANCEL_EXIT_CODE:
            logger.info("worker process for cancelled run %s stopped; starting a fresh one", run_id)
        elif ref.kind is JobKind.TRAINING:
            logger.error(
                "a training worker process died (exit code %s) during run %s; starting a fresh one",
                exit_code,
                run_id,
            )
        else:
            logger.error(
                "a training worker process died (exit code %s) during %s; starting a fresh one",
                exit_code,
                ref,
            )
        self._background(self._bring_up())

    async def check(self, seconds: float) -> dict[str, object]:
        if not self._started:
            return {"ok": False, "backend": "local", "error": "the training pool is not running"}
        if not self._brought_up:  # started on demand, at the first run
            return {"ok": True, "backend": "local", "workers": 0, "startsOnDemand": True}
        alive = sum(worker.process.is_alive() for worker in list(self._all))
        return {"ok": alive > 0, "backend": "local", "workers": alive}

    async def wait(self, run_id: int) -> None:
        await wait_until_final(run_id)


async def requeue_queued_runs(runner: JobRunner) -> None:
    """After a restart, hand the local pool the runs that were queued but never started.

    (Celery keeps its queue in the broker, so only the local backend needs this.) The
    job's atomic claim makes a second submission of the same run harmless.
    """
    queued = await TrainingRun.filter(status=RunStatus.QUEUED).order_by("id")
    for run_id in [run.id for run in queued]:
        await runner.submit(run_id)
        logger.info("run %s re-queued after restart", run_id)
    for kind in (JobKind.BATCH_PREDICTION, JobKind.EVALUATION):
        rows = await job_table(kind).filter(status=RunStatus.QUEUED).order_by("id").only("id")
        for job_id in [row.id for row in rows]:
            await runner.submit_job(JobRef(kind, job_id))
            logger.info("%s %s re-queued after restart", kind.value, job_id)
