"""Nothing stays QUEUED or RUNNING forever: runs whose worker died are declared FAILED.

Every worker writes a heartbeat while it runs (PROGRESS_INTERVAL); a RUNNING run whose
heartbeat is older than STALE_RUN_AFTER seconds lost its worker (killed, machine gone,
server restarted). A worker on this very machine whose process is gone is known dead at
once, without waiting for its heartbeat to age. The update is conditional, so any
number of servers may reap at once. Such runs are not re-run automatically: their model
file was never published (it is written to a temporary name first), and a person decides
whether to train again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.job_lifecycle import move_job
from models.run_lifecycle import move_run
from models.training_runs import RunStatus, TrainingRun
from models.trust_jobs import BatchPrediction, ModelEvaluation
from trainer.jobs.job import worker_is_dead
from trainer.jobs.job_refs import JobKind, JobRef
from trainer.jobs.trust_jobs import remove_partial_outputs

logger = logging.getLogger("trainer.jobs.reaper")


async def fail_stale_runs(stale_after: float) -> list[int]:
    now = datetime.now(UTC)
    threshold = now - timedelta(seconds=stale_after)
    running = await TrainingRun.filter(status=RunStatus.RUNNING).values_list(
        "id", "worker", "heartbeat_at"
    )
    failed = []
    for run_id, worker, heartbeat in running:
        if worker_is_dead(worker):
            reason = f"worker lost: process {worker} died (killed or crashed) while training"
        elif heartbeat is not None and heartbeat < threshold:
            reason = (
                f"worker lost: {worker or 'its worker'} sent no heartbeat for "
                f"{stale_after:g} s (killed, crashed or restarted)"
            )
        else:
            continue
        # Conditional on the heartbeat read above: a worker that reported meanwhile
        # is alive after all and keeps its run.
        if await move_run(
            run_id,
            RunStatus.RUNNING,
            RunStatus.FAILED,
            only_if={"heartbeat_at": heartbeat},
            finished_at=now,
            error_message=reason,
        ):
            failed.append(run_id)
            logger.warning("run %s failed: %s", run_id, reason)
    return failed


async def reap_forever(stale_after: float, predictions: Path | None = None) -> None:
    """Background task of every server process."""
    while True:
        try:
            await fail_stale_runs(stale_after)
            await fail_stale_jobs(stale_after, predictions)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("reaper: check failed, retrying", exc_info=True)
        await asyncio.sleep(max(stale_after / 3, 0.5))


async def fail_stale_jobs(stale_after: float, predictions: Path | None = None) -> list[JobRef]:
    """fail_stale_runs for batch predictions and model evaluations: same rule, same
    conditional move (models/job_lifecycle.py). A batch prediction failed here never
    presents a file: its output only gets its final name (and the row its output_path)
    when the worker completes it; the temporary files it was writing are removed when the
    predictions folder is given (a process that shares the artifacts folder)."""
    now = datetime.now(UTC)
    threshold = now - timedelta(seconds=stale_after)
    failed = []
    for kind, table in (
        (JobKind.BATCH_PREDICTION, BatchPrediction),
        (JobKind.EVALUATION, ModelEvaluation),
    ):
        running = await table.filter(status=RunStatus.RUNNING).values_list(
            "id", "worker", "heartbeat_at"
        )
        for job_id, worker, heartbeat in running:
            if worker_is_dead(worker):
                reason = f"worker lost: process {worker} died (killed or crashed) while working"
            elif heartbeat is not None and heartbeat < threshold:
                reason = (
                    f"worker lost: {worker or 'its worker'} sent no heartbeat for "
                    f"{stale_after:g} s (killed, crashed or restarted)"
                )
            else:
                continue
            if await move_job(
                table,
                job_id,
                RunStatus.RUNNING,
                RunStatus.FAILED,
                only_if={"heartbeat_at": heartbeat},
                finished_at=now,
                error_message=reason,
            ):
                failed.append(JobRef(kind, job_id))
                logger.warning("%s %s failed: %s", kind.value, job_id, reason)
                if predictions is not None and kind is JobKind.BATCH_PREDICTION:
                    remove_partial_outputs(predictions, job_id)
    return failed
