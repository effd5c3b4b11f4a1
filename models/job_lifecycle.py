"""Every change of status of a batch prediction or a model evaluation, and the one table
of the moves allowed (the same story as a training run's, models/run_lifecycle.py).

A job is QUEUED when its mutation accepts it, RUNNING once a worker claims it, and ends
COMPLETED, FAILED or CANCELLED; an ended job never changes again. Each move is one
conditional UPDATE ("from this status, and whatever else the mover relies on, to that
one"), so the request, cancel, the worker and any server's reaper may race: the first
wins, the others see False with nothing written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from models.training_runs import FINAL_STATUSES, RunStatus
from models.trust_jobs import BatchPrediction, ModelEvaluation
from models.webhook_outbox import WebhookEventType, evaluation_event_data, update_announced

__all__ = ["ALLOWED_MOVES", "IllegalJobMove", "move_job"]

JobModel = type[BatchPrediction] | type[ModelEvaluation]

ALLOWED_MOVES: MappingProxyType[RunStatus, frozenset[RunStatus]] = MappingProxyType(
    {
        # claimed by a worker; cancelled before it started; never handed to a worker
        RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}),
        # done; failed (or its worker was lost); cancelled between two chunks
        RunStatus.RUNNING: frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}),
        RunStatus.COMPLETED: frozenset(),
        RunStatus.FAILED: frozenset(),
        RunStatus.CANCELLED: frozenset(),
    }
)


class IllegalJobMove(Exception):
    """A move outside ALLOWED_MOVES: a bug in the caller, not a race."""


async def move_job(
    model: JobModel,
    job_id: int,
    source: RunStatus,
    target: RunStatus,
    *,
    only_if: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move job `job_id` of table `model` from `source` to `target` with `values`, if it
    is still in `source` (and its columns equal `only_if`). True if this call moved it.
    A move to an ended status records `finished_at` (now, unless given)."""
    if target not in ALLOWED_MOVES[source]:
        raise IllegalJobMove(f"a job cannot move from {source.value} to {target.value}")
    if target in FINAL_STATUSES:
        values.setdefault("finished_at", datetime.now(UTC))
    # A completed evaluation is announced to webhooks, in the move's own transaction.
    announced = model is ModelEvaluation and target is RunStatus.COMPLETED
    return await update_announced(
        model,
        job_id,
        {"status": source, **(only_if or {})},
        {"status": target, **values},
        WebhookEventType.EVALUATION_COMPLETED if announced else None,
        evaluation_event_data,
    )
