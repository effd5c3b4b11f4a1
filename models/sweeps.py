"""Sweeps: a search for the best model, run by the service (issue 23), and the one table of
the moves a sweep's status may make.

A sweep's whole state is its row and its trial runs (training runs with `sweep_id` and a
`trial_number`): the driver that advances it holds no state another process could not
rebuild, so any API process may take it over after a crash. Which process drives a
sweep is decided by a lease on the row (`driver`, `lease_expires_at`), taken and renewed
with conditional UPDATEs, as a run's status moves are.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.expressions import Q
from tortoise.models import Model

from models.webhook_outbox import WebhookEventType, sweep_event_data, update_announced

if TYPE_CHECKING:
    from models.accounts import User
    from models.training_runs import TrainingRun

__all__ = [
    "ACTIVE_SWEEP_STATUSES",
    "ALLOWED_SWEEP_MOVES",
    "IllegalSweepMove",
    "Sweep",
    "SweepStatus",
    "claim_sweep",
    "move_sweep",
    "release_sweep",
]


class SweepStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_SWEEP_STATUSES = (SweepStatus.QUEUED, SweepStatus.RUNNING)

ALLOWED_SWEEP_MOVES: MappingProxyType[SweepStatus, frozenset[SweepStatus]] = MappingProxyType(
    {
        # a driver took it; cancelled before any driver did
        SweepStatus.QUEUED: frozenset({SweepStatus.RUNNING, SweepStatus.CANCELLED}),
        # every trial finished (COMPLETED, or FAILED when none succeeded); cancelSweep
        SweepStatus.RUNNING: frozenset(
            {SweepStatus.COMPLETED, SweepStatus.FAILED, SweepStatus.CANCELLED}
        ),
        SweepStatus.COMPLETED: frozenset(),
        SweepStatus.FAILED: frozenset(),
        SweepStatus.CANCELLED: frozenset(),
    }
)
FINAL_SWEEP_STATUSES = (SweepStatus.COMPLETED, SweepStatus.FAILED, SweepStatus.CANCELLED)


class Pruning(StrEnum):
    """How a sweep stops unpromising trials early (Optuna's pruners, resolvers/sweep_search.py).
    Here beside the table, as its workers read it too: a trial of a sweep that prunes reports
    scores as its model grows (trainer/jobs/job.py), which costs a boosting fit its one-call
    speed; one that does not is fitted as any run."""

    NONE = "NONE"
    MEDIAN = "MEDIAN"
    HYPERBAND = "HYPERBAND"


class Sweep(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    notes = fields.TextField(default="")
    status = fields.CharEnumField(SweepStatus, max_length=16, default=SweepStatus.QUEUED)
    # The request as the resolver checked it (resolvers/sweeps.py SweepRequest.as_json):
    # everything the driver needs to rebuild the search, in any process.
    input: Any = fields.JSONField()
    objective = fields.CharField(max_length=32)
    method = fields.CharField(max_length=16)
    pruning = fields.CharField(max_length=16)
    max_trials = fields.IntField()
    parallelism = fields.IntField()
    time_budget_seconds = fields.FloatField(null=True)
    seed = fields.IntField()
    dataset_path = fields.CharField(max_length=255)

    best_run: fields.ForeignKeyNullableRelation[TrainingRun] = fields.ForeignKeyField(
        "models.TrainingRun", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    best_run_id: int | None
    best_value = fields.FloatField(null=True)
    # [{"trial": n, "runId": id, "value": running best}] after each finished trial.
    best_value_history: Any = fields.JSONField(default=list)
    # Optuna's parameter importance ({name: share}), once two trials completed.
    parameter_importance: Any = fields.JSONField(null=True)

    cancel_requested = fields.BooleanField(default=False)
    error_message: str | None = fields.TextField(null=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sweeps", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_by_username = fields.CharField(max_length=150, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    # The API process driving it, until lease_expires_at (renewed while it drives).
    driver = fields.CharField(max_length=255, null=True)
    lease_expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sweep"

    def __str__(self) -> str:
        return f"sweep {self.id} ({self.name}, {self.status})"


class IllegalSweepMove(Exception):
    """A move outside ALLOWED_SWEEP_MOVES: a bug in the caller, not a race."""


async def move_sweep(
    sweep_id: int,
    source: SweepStatus,
    target: SweepStatus,
    *,
    only_if: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move sweep `sweep_id` from `source` to `target` if it is still there (and its
    columns still equal `only_if`); True if this call made the move. An ended sweep
    records when it ended and lets go of its lease."""
    if target not in ALLOWED_SWEEP_MOVES[source]:
        raise IllegalSweepMove(f"a sweep cannot move from {source.value} to {target.value}")
    if target in FINAL_SWEEP_STATUSES:
        values.setdefault("finished_at", datetime.now(UTC))
        values.setdefault("driver", None)
        values.setdefault("lease_expires_at", None)
    # A completed sweep is announced to webhooks, in the move's own transaction.
    return await update_announced(
        Sweep,
        sweep_id,
        {"status": source, **(only_if or {})},
        {"status": target, **values},
        WebhookEventType.SWEEP_COMPLETED if target is SweepStatus.COMPLETED else None,
        sweep_event_data,
    )


async def claim_sweep(sweep_id: int, driver: str, lease_seconds: float) -> bool:
    """Take (or renew) the lease on an active sweep: only when nobody holds it, its lease
    ran out, or `driver` holds it already. One conditional UPDATE, so of several
    processes asking at once exactly one gets it, on SQLite and PostgreSQL alike."""
    now = datetime.now(UTC)
    free = Q(driver__isnull=True) | Q(lease_expires_at__lt=now) | Q(driver=driver)
    moved = await Sweep.filter(
        free, id=sweep_id, status__in=[s.value for s in ACTIVE_SWEEP_STATUSES]
    ).update(driver=driver, lease_expires_at=now + timedelta(seconds=lease_seconds))
    return bool(moved)


async def release_sweep(sweep_id: int, driver: str) -> None:
    """Let another process take the sweep at once (this one is stopping)."""
    await Sweep.filter(id=sweep_id, driver=driver).update(driver=None, lease_expires_at=None)


async def prunes(sweep_id: int | None) -> bool:
    """Whether the sweep stops trials early, so its trials report intermediate scores
    (False for no sweep)."""
    if sweep_id is None:
        return False
    return await Sweep.filter(id=sweep_id).exclude(pruning=Pruning.NONE.value).exists()
