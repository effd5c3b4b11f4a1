"""cancelTrainingRun: a queued run is cancelled at once; a running one is asked to stop.

A running job checks the flag with every progress report (PROGRESS_INTERVAL) and
between chunks of trees, then records CANCELLED and removes its partial model file; if the
current chunk has not ended CANCEL_GRACE_SECONDS later, its worker process records
CANCELLED, removes the files and exits, and the pool replaces it (trainer/jobs/job.py).
"""

from __future__ import annotations

import logging

from models.accounts import Identity
from models.run_lifecycle import move_run
from models.run_records import RunRecord
from models.training_runs import RunStatus, TrainingRun
from resolvers.errors import FieldError, FieldErrorCode, RunOutcome

logger = logging.getLogger("resolvers.cancel_training_run")


async def cancel_training_run(run_id: int | None, viewer: Identity | None) -> RunOutcome:
    run = await TrainingRun.get_or_none(id=run_id) if run_id is not None else None
    if run is None:
        return RunOutcome(
            errors=[FieldError(["id"], "no such training run", FieldErrorCode.NOT_FOUND)]
        )
    who = viewer.username if viewer else "-"
    # Conditional updates: whichever of the worker and this request acts first wins,
    # and the loser sees zero rows updated.
    if await move_run(
        run.id,
        RunStatus.QUEUED,
        RunStatus.CANCELLED,
        cancel_requested=True,
        error_message=f"cancelled by {who} before it started",
    ):
        logger.info("run %s cancelled by %s while queued", run.id, who)
    # Not a move: the worker sees the flag and records CANCELLED itself.
    elif await TrainingRun.filter(id=run.id, status=RunStatus.RUNNING).update(
        cancel_requested=True
    ):
        logger.info("run %s: cancellation requested by %s", run.id, who)
    else:
        await run.refresh_from_db()
        return RunOutcome(
            training_run=RunRecord.of(run),
            errors=[
                FieldError(
                    ["id"],
                    f"run {run.id} has already ended ({run.status.value}); nothing to cancel",
                    FieldErrorCode.INVALID_STATE,
                )
            ],
        )
    await run.refresh_from_db()
    return RunOutcome(training_run=RunRecord.of(run))
