"""startSweep, cancelSweep, sweep, sweeps: a search for the best model, run by the service.

startSweep checks the whole request (every field of the search space against the
algorithms table, refusals naming the field) and records a QUEUED sweep; the sweep driver
of whichever API process takes its lease (resolvers/sweep_driver.py) does the rest.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise.functions import Count

from models.accounts import Identity
from models.run_lifecycle import move_run
from models.sweeps import ACTIVE_SWEEP_STATUSES, Sweep, SweepStatus, move_sweep
from models.training_runs import RunStatus, TrainingRun
from resolvers.errors import ApiError, FieldError, FieldErrorCode, InvalidCursor
from resolvers.ids import parse_id
from resolvers.sweep_search import Method, Pruning, check_space
from resolvers.train_model import DEFAULT_DATASET, MAX_NOTES_LENGTH
from trainer.artifacts import ArtifactPaths, UnsafePath, canonical_path

__all__ = [
    "OBJECTIVES",
    "Sweep",
    "SweepConnection",
    "SweepCounts",
    "SweepOutcome",
    "SweepRequest",
    "SweepStatus",
    "cancel_sweep",
    "get_sweep",
    "list_sweeps",
    "parse_sweep_id",
    "start_sweep",
    "sweep_counts",
    "watch_sweep",
]

logger = logging.getLogger("resolvers.sweeps")

# The run metrics a sweep may optimise; all are maximised but the duration.
OBJECTIVES = ("accuracy", "precision", "recall", "f1_score", "training_duration_seconds")
MAX_TRIALS = 500
MAX_PARALLELISM = 32
MAX_TIME_BUDGET_SECONDS = 7 * 24 * 3600
MAX_NAME_LENGTH = 100
MAX_SEED = 2**31 - 1


def maximizes(objective: str) -> bool:
    return objective != "training_duration_seconds"


@dataclass(frozen=True)
class SweepRequest:
    """What startSweep was asked, as plain values (schema/sweeps.py builds it).

    `space`: (algorithm name, [{name, min, max, logScale, choices, steps}]) per entry.
    """

    space: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]
    dataset_path: str | None = None
    test_split: float = 0.2
    name: str | None = None
    notes: str = ""
    objective: str = "f1_score"
    method: str = Method.TPE.value
    max_trials: int = 20
    time_budget_seconds: float | None = None
    parallelism: int = 2
    pruning: str = Pruning.NONE.value
    seed: int = 42
    validation_fraction: float = 0.2
    folds: int | None = None


@dataclass
class SweepOutcome:
    sweep: Sweep | None = None
    errors: list[FieldError] = field(default_factory=list)


def _error(path: list[str], message: str, code: FieldErrorCode) -> FieldError:
    return FieldError(["input", *path], message, code)


def validate(request: SweepRequest, artifacts: ArtifactPaths) -> tuple[Any, list[FieldError]]:
    """The checked search space and every rule the request breaks, each with its path."""
    space, errors = check_space(request.space)
    out_of_range = FieldErrorCode.OUT_OF_RANGE
    if not 1 <= request.max_trials <= MAX_TRIALS:
        errors.append(
            _error(
                ["maxTrials"],
                f"must be between 1 and {MAX_TRIALS}, got {request.max_trials}",
                out_of_range,
            )
        )
    if not 1 <= request.parallelism <= MAX_PARALLELISM:
        errors.append(
            _error(
                ["parallelism"],
                f"must be between 1 and {MAX_PARALLELISM}, got {request.parallelism}",
                out_of_range,
            )
        )
    budget = request.time_budget_seconds
    if budget is not None and not 0 < budget <= MAX_TIME_BUDGET_SECONDS:
        errors.append(
            _error(
                ["timeBudgetSeconds"],
                f"must be above 0 and at most {MAX_TIME_BUDGET_SECONDS} (a week), got {budget:g}",
                out_of_range,
            )
        )
    if not 0.1 <= request.test_split <= 0.5:
        errors.append(
            _error(
                ["testSplit"],
                f"must be between 0.1 and 0.5, got {request.test_split}",
                out_of_range,
            )
        )
    if not 0.05 <= request.validation_fraction <= 0.5:
        errors.append(
            _error(
                ["validationFraction"],
                f"must be between 0.05 and 0.5, got {request.validation_fraction}",
                out_of_range,
            )
        )
    if request.folds is not None:
        if not 2 <= request.folds <= 10:
            errors.append(
                _error(["folds"], f"must be between 2 and 10, got {request.folds}", out_of_range)
            )
        if request.pruning != Pruning.NONE.value:
            errors.append(
                _error(
                    ["pruning"],
                    "pruning judges trials on validation rows as the model grows; with "
                    "folds the objective is the cross-validation mean: use pruning NONE",
                    FieldErrorCode.INVALID,
                )
            )
    if not 0 <= request.seed <= MAX_SEED:
        errors.append(
            _error(["seed"], f"must be between 0 and {MAX_SEED}, got {request.seed}", out_of_range)
        )
    if request.name is not None and not 1 <= len(request.name.strip()) <= MAX_NAME_LENGTH:
        errors.append(
            _error(["name"], f"must be 1 to {MAX_NAME_LENGTH} characters", FieldErrorCode.INVALID)
        )
    if len(request.notes) > MAX_NOTES_LENGTH:
        errors.append(
            _error(
                ["notes"], f"must be at most {MAX_NOTES_LENGTH} characters", FieldErrorCode.INVALID
            )
        )
    dataset = request.dataset_path if request.dataset_path is not None else DEFAULT_DATASET
    try:
        artifacts.dataset(dataset)
    except UnsafePath as exc:
        errors.append(
            _error(["datasetPath"], f"dataset path {exc}", FieldErrorCode.PATH_NOT_ALLOWED)
        )
    if space is not None and request.method == Method.GRID.value:
        size = space.grid_size()
        if request.max_trials > size:
            errors.append(
                _error(
                    ["maxTrials"],
                    f"the grid has {size} points: a GRID sweep runs at most that many trials, "
                    f"got {request.max_trials}",
                    out_of_range,
                )
            )
    return space, errors


async def start_sweep(
    request: SweepRequest, *, viewer: Identity | None, artifacts: ArtifactPaths
) -> SweepOutcome:
    """Check the request and record a QUEUED sweep (nothing is written when refused)."""
    space, errors = validate(request, artifacts)
    if errors or space is None:
        return SweepOutcome(errors=errors)
    dataset = canonical_path(request.dataset_path or DEFAULT_DATASET)
    name = (request.name or "").strip() or f"sweep {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    stored = {
        "datasetPath": dataset,
        "testSplit": request.test_split,
        "objective": request.objective,
        "method": request.method,
        "space": space.as_json(),
        "maxTrials": request.max_trials,
        "timeBudgetSeconds": request.time_budget_seconds,
        "parallelism": request.parallelism,
        "pruning": request.pruning,
        "seed": request.seed,
        "validationFraction": request.validation_fraction,
        "folds": request.folds,
    }
    sweep = await Sweep.create(
        name=name,
        notes=request.notes,
        input=stored,
        objective=request.objective,
        method=request.method,
        pruning=request.pruning,
        max_trials=request.max_trials,
        parallelism=request.parallelism,
        time_budget_seconds=request.time_budget_seconds,
        seed=request.seed,
        dataset_path=dataset,
        created_by_id=viewer.id if viewer else None,
        created_by_username=viewer.username if viewer else None,
    )
    logger.info(
        "sweep %s queued by %s: %s %s, %d trials, parallelism %d, pruning %s",
        sweep.id,
        viewer.username if viewer else "-",
        request.method,
        request.objective,
        request.max_trials,
        request.parallelism,
        request.pruning,
    )
    return SweepOutcome(sweep=sweep)


async def cancel_trials(sweep_id: int, reason: str) -> None:
    """Cancel the sweep's queued trials now and ask its running ones to stop."""
    queued = await TrainingRun.filter(sweep_id=sweep_id, status=RunStatus.QUEUED).values_list(
        "id", flat=True
    )
    for run_id in queued:
        await move_run(
            int(run_id),  # type: ignore[call-overload]  # values_list(flat=True) gives ids
            RunStatus.QUEUED,
            RunStatus.CANCELLED,
            cancel_requested=True,
            error_message=reason,
        )
    await TrainingRun.filter(sweep_id=sweep_id, status=RunStatus.RUNNING).update(
        cancel_requested=True
    )


async def cancel_sweep(sweep_id: int | None, viewer: Identity | None) -> SweepOutcome:
    """End the sweep now: it starts no more trials, its queued trials are cancelled and its
    running ones stop within seconds (as cancelTrainingRun stops a run)."""
    sweep = await Sweep.get_or_none(id=sweep_id) if sweep_id is not None else None
    if sweep is None:
        return SweepOutcome(errors=[FieldError(["id"], "no such sweep", FieldErrorCode.NOT_FOUND)])
    who = viewer.username if viewer else "-"
    moved = False
    for source in (SweepStatus.QUEUED, SweepStatus.RUNNING):
        if await move_sweep(
            sweep.id,
            source,
            SweepStatus.CANCELLED,
            cancel_requested=True,
            error_message=f"cancelled by {who}",
        ):
            moved = True
            break
    if not moved:
        await sweep.refresh_from_db()
        return SweepOutcome(
            sweep=sweep,
            errors=[
                FieldError(
                    ["id"],
                    f"sweep {sweep.id} has already ended ({sweep.status.value}); nothing to cancel",
                    FieldErrorCode.INVALID_STATE,
                )
            ],
        )
    await cancel_trials(sweep.id, f"sweep {sweep.id} cancelled by {who}")
    logger.info("sweep %s cancelled by %s", sweep.id, who)
    await sweep.refresh_from_db()
    return SweepOutcome(sweep=sweep)


@dataclass(frozen=True)
class SweepCounts:
    """A sweep's trials by outcome; `finished` = completed + pruned + failed + cancelled."""

    queued: int = 0
    running: int = 0
    completed: int = 0
    pruned: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def finished(self) -> int:
        return self.completed + self.pruned + self.failed + self.cancelled

    @property
    def total(self) -> int:
        return self.finished + self.queued + self.running


async def sweep_counts(sweep_id: int) -> SweepCounts:
    """Counted from the trial runs themselves (one grouped query), so they are right
    whoever moved a trial last: worker, reaper, cancel or driver."""
    rows = (
        await TrainingRun.filter(sweep_id=sweep_id)
        .annotate(n=Count("id"))
        .group_by("status", "pruned")
        .values("status", "pruned", "n")
    )
    counts = {"queued": 0, "running": 0, "completed": 0, "pruned": 0, "failed": 0, "cancelled": 0}
    for row in rows:
        status = RunStatus(row["status"])
        key = "pruned" if status is RunStatus.CANCELLED and row["pruned"] else status.value.lower()
        counts[key] += int(row["n"])
    return SweepCounts(**counts)


def parse_sweep_id(raw: str) -> int | None:
    """A sweep's global id (Sweep:n) or its numeric id; None for anything else."""
    return parse_id(raw, "Sweep")


async def get_sweep(raw_id: str) -> Sweep | None:
    sweep_id = parse_sweep_id(raw_id)
    return None if sweep_id is None else await Sweep.get_or_none(id=sweep_id)


@dataclass(frozen=True)
class SweepConnection:
    """A page of sweeps, newest first (keyset on id)."""

    sweeps: list[Sweep]
    has_next_page: bool
    has_previous_page: bool
    statuses: tuple[SweepStatus, ...] | None

    async def total_count(self) -> int:
        query = Sweep.all()
        if self.statuses:
            query = query.filter(status__in=[s.value for s in self.statuses])
        return await query.count()


def sweep_cursor(sweep: Sweep) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(["sweep", sweep.id])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        kind, sweep_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor(f"malformed cursor {cursor[:60]!r}", argument="after") from exc
    if kind != "sweep" or not isinstance(sweep_id, int):
        raise InvalidCursor("malformed cursor", argument="after")
    return sweep_id


async def list_sweeps(
    *,
    first: int | None,
    after: str | None,
    statuses: Sequence[SweepStatus] | None,
    default_size: int,
    max_size: int,
) -> SweepConnection:
    size = default_size if first is None else first
    if not 0 <= size <= max_size:
        raise ApiError(f"`first` must be between 0 and {max_size}, got {size}", argument="first")
    query = Sweep.all().order_by("-id")
    if statuses:
        query = query.filter(status__in=[s.value for s in statuses])
    if after is not None:
        query = query.filter(id__lt=_decode_cursor(after))
    rows = await query.limit(size + 1)
    return SweepConnection(
        sweeps=rows[:size],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
        statuses=tuple(statuses) if statuses else None,
    )


async def watch_sweep(
    sweep_id: int, *, interval: float, check: Callable[[], Awaitable[None]]
) -> AsyncIterator[Sweep]:
    """The sweep now, then whenever its status, trial counts or best value change; ends
    after its final state. Polls the database: the sweep is driven by whichever process
    holds its lease. `check` raises when the subscriber may no longer read sweeps."""
    last: tuple[Any, ...] | None = None
    while True:
        await check()
        sweep = await Sweep.get_or_none(id=sweep_id)
        if sweep is None:
            return
        seen = (
            sweep.status,
            await sweep_counts(sweep_id),
            sweep.best_value,
            len(sweep.best_value_history or []),
        )
        if seen != last:
            last = seen
            yield sweep
        if sweep.status not in ACTIVE_SWEEP_STATUSES:
            return
        await asyncio.sleep(interval)
