"""Every change of a training run's status, and the one table of the moves allowed.

A run is QUEUED when trainModel accepts it, RUNNING once a worker claims it, and ends
COMPLETED, FAILED or CANCELLED; an ended run never changes again. Several actors move
runs (the request that queued it, cancelTrainingRun, the worker, the reaper of any server
process), often at the same moment, so each move is one conditional UPDATE: "from this
status (and whatever else the mover relies on) to that one". The first mover wins and the
others see False, with nothing written. A move the table does not allow is a programming
error, refused before any SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from models.training_runs import FINAL_STATUSES, RunStatus, TrainingRun
from models.webhook_outbox import WebhookEventType, run_event_data, update_announced

__all__ = ["ALLOWED_MOVES", "IllegalRunMove", "move_run"]

ALLOWED_MOVES: MappingProxyType[RunStatus, frozenset[RunStatus]] = MappingProxyType(
    {
        # claimed by a worker; cancelled before it started; never handed to a worker
        RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}),
        # trained; failed (or its worker was lost); cancelled while running
        RunStatus.RUNNING: frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}),
        RunStatus.COMPLETED: frozenset(),
        RunStatus.FAILED: frozenset(),
        RunStatus.CANCELLED: frozenset(),
    }
)


# The moves that emit a webhook event (docs/DESIGN.md, "Webhooks").
_EVENTS = {
    RunStatus.COMPLETED: WebhookEventType.RUN_COMPLETED,
    RunStatus.FAILED: WebhookEventType.RUN_FAILED,
}


class IllegalRunMove(Exception):
    """A move outside ALLOWED_MOVES: a bug in the caller, not a race."""


async def move_run(
    run_id: int,
    source: RunStatus,
    target: RunStatus,
    *,
    only_if: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move run `run_id` from `source` to `target`, writing `values` with it, if it is
    still in `source` (and its columns still equal `only_if`: the worker that holds it,
    the heartbeat the reaper read). True if this call made the move.

    A move to an ended status records `finished_at` (now, unless given): an ended run
    always says when it ended. A move to COMPLETED or FAILED also records its webhook
    event, in the same transaction.
    """
    if target not in ALLOWED_MOVES[source]:
        raise IllegalRunMove(f"a run cannot move from {source.value} to {target.value}")
    if target in FINAL_STATUSES:
        values.setdefault("finished_at", datetime.now(UTC))
    # A move a webhook announces is written with its event, in one transaction, so the
    # event exists exactly when the move does (models/webhook_outbox.py).
    return await update_announced(
        TrainingRun,
        run_id,
        {"status": source, **(only_if or {})},
        {"status": target, **values},
        _EVENTS.get(target),
        run_event_data,
    )
