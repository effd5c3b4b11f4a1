"""What batch predictions and model evaluations share on the request side (issue 24):
the model and dataset a request names, checked into FieldErrors; the QUEUED row, created
within the caller's bound on active jobs and handed to the runners; cancelling one; a page
of jobs, newest first; following one job until it ends.

Both are the same story as a training run's (models/trust_jobs.py), so the checks,
the hand-over and the list are written once here; resolvers/batch_predictions.py and
resolvers/model_evaluations.py hold what is each one's own.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from models.accounts import Identity
from models.job_lifecycle import move_job
from models.job_quota import TooManyActiveJobs, create_job_within_quota
from models.model_aliases import model_run
from models.training_runs import RunStatus, TrainingRun
from models.trust_jobs import BatchPrediction, JobKind, ModelEvaluation
from resolvers.errors import ApiError, ErrorCode, FieldError, FieldErrorCode
from resolvers.ids import parse_database_id, parse_id
from resolvers.training_runs import parse_run_id
from trainer.artifacts import ArtifactPaths, UnsafePath, canonical_path
from trainer.jobs.job_refs import JobRef
from trainer.jobs.runners import JobRunner

__all__ = [
    "JobPage",
    "cancel_job",
    "check_dataset_path",
    "create_queued",
    "get_job",
    "job_page",
    "resolve_model",
    "submit",
]

logger = logging.getLogger("resolvers.trust_jobs")

J = TypeVar("J", BatchPrediction, ModelEvaluation)
# Longer than any alias (32) or modelVersion (64): names nothing.
_MAX_MODEL_NAME = 64
_MAX_DATASET_PATH = 255


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "…"


def check_dataset_path(
    artifacts: ArtifactPaths, path: str, field: list[str]
) -> tuple[str | None, FieldError | None]:
    """The canonical path of an existing dataset file, or the FieldError saying why not."""
    try:
        if len(path) > _MAX_DATASET_PATH:
            raise UnsafePath(f"must be at most {_MAX_DATASET_PATH} characters")
        canonical = canonical_path(path)
        file = artifacts.dataset(canonical)
    except UnsafePath as exc:
        return None, FieldError(field, f"dataset path {exc}", FieldErrorCode.PATH_NOT_ALLOWED)
    if not file.is_file():
        return None, FieldError(
            field, f"there is no dataset {_shown(canonical)!r}", FieldErrorCode.NOT_FOUND
        )
    return canonical, None


async def resolve_model(
    model: str, field: list[str], *, run_ids: bool = False
) -> tuple[TrainingRun | None, FieldError | None]:
    """The COMPLETED run with a model file that `model` names: an alias first, then a
    modelVersion, then (with `run_ids`) a run's numeric or global id."""
    run = await model_run(model) if 0 < len(model) <= _MAX_MODEL_NAME else None
    if run is None and run_ids:
        run_id = parse_run_id(model)
        run = await TrainingRun.get_or_none(id=run_id) if run_id is not None else None
    if run is None:
        return None, FieldError(
            field, f"no model alias or modelVersion {_shown(model)!r}", FieldErrorCode.NOT_FOUND
        )
    if run.status != RunStatus.COMPLETED or not run.model_path or not run.model_sha256:
        return None, FieldError(
            field,
            f"{_shown(model)!r} names run {run.id}, which has no model "
            f"(its status is {run.status.value})",
            FieldErrorCode.INVALID_STATE,
        )
    return run, None


async def submit(jobs: JobRunner, kind: JobKind, row: J) -> J:
    """Hand the QUEUED row to the runners; if that fails, the row says why (FAILED)."""
    try:
        await jobs.submit_job(JobRef(kind, row.id))
    except Exception as exc:
        logger.exception("%s %s failed: could not be handed to a worker", kind.value, row.id)
        await move_job(
            type(row),
            row.id,
            RunStatus.QUEUED,
            RunStatus.FAILED,
            error_message=f"could not be handed to a worker: {type(exc).__name__}",
        )
        await row.refresh_from_db()
    return row


async def get_job(table: type[J], raw_id: str, type_name: str) -> J | None:
    """The job `raw_id` names (a database id or a global id of `type_name`), if any."""
    job_id = parse_id(raw_id, type_name)
    return await table.get_or_none(id=job_id) if job_id is not None else None


def owner_fields(viewer: Identity | None) -> dict[str, Any]:
    return {
        "created_by_id": viewer.id if viewer else None,
        "created_by_username": viewer.username if viewer else None,
    }


def _too_many_active(limit: int) -> FieldError:
    return FieldError(
        ["input"],
        f"you already have {limit} batch predictions and evaluations queued or running, "
        "the most allowed at once; wait for one to end (or cancel one) and try again",
        FieldErrorCode.TOO_MANY_ACTIVE_JOBS,
    )


async def create_queued(
    table: type[J], viewer: Identity | None, limit: int | None, **values: Any
) -> tuple[J | None, FieldError | None]:
    """The new QUEUED row of `viewer`'s, unless they already have `limit` active jobs
    (MAX_ACTIVE_JOBS_PER_USER; None: no bound): then the FieldError, and no row."""
    owner = owner_fields(viewer)
    if limit is None:
        return await table.create(**owner, **values), None
    try:
        row = await create_job_within_quota(
            table,
            owner["created_by_id"],
            limit,
            created_by_username=owner["created_by_username"],
            **values,
        )
    except TooManyActiveJobs as exc:
        logger.info(
            "%s refused for %s: %d jobs active (limit %d)",
            table.__name__,
            owner["created_by_username"] or "-",
            exc.active,
            exc.limit,
        )
        return None, _too_many_active(exc.limit)
    return row, None


@dataclass(frozen=True)
class JobPage:
    """One page of jobs, newest first (keyset on the id: stable while new ones arrive)."""

    rows: list[Any]
    has_next_page: bool
    has_previous_page: bool
    count: Callable[[], Awaitable[int]]

    def cursor(self, row: Any) -> str:
        return base64.b64encode(f"job:{row.id}".encode()).decode()


def _after_id(after: str | None) -> int | None:
    if after is None:
        return None
    try:
        name, _, key = base64.b64decode(after, validate=True).decode().partition(":")
    except ValueError:
        name, key = "", ""
    value = parse_database_id(key) if name == "job" else None
    if value is None:
        raise ApiError("`after` is not a cursor of this list", code=ErrorCode.INVALID_CURSOR)
    return value


async def job_page(
    table: type[J], first: int | None, after: str | None, max_page: int, **filters: Any
) -> JobPage:
    size = 20 if first is None else first
    if not 0 <= size <= max_page:
        raise ApiError(f"`first` must be between 0 and {max_page}", argument="first")
    query = table.filter(**filters)
    after_id = _after_id(after)
    page_query = query.filter(id__lt=after_id) if after_id is not None else query
    rows = await page_query.order_by("-id").limit(size + 1)

    async def count() -> int:
        return await query.count()

    return JobPage(rows[:size], len(rows) > size, after_id is not None, count)


async def cancel_job(
    table: type[J], viewer: Identity | None, raw_id: str, type_name: str, noun: str
) -> tuple[J | None, list[FieldError]]:
    """Cancel job `raw_id` of `table`: a QUEUED one at once (CANCELLED), a RUNNING one by
    its flag, which the worker honours between two chunks; an ended one is an
    INVALID_STATE error. The row as it is now, and the errors."""
    job_id = parse_id(raw_id, type_name)
    row = await table.get_or_none(id=job_id) if job_id is not None else None
    if row is None:
        return None, [FieldError(["id"], f"no such {noun}", FieldErrorCode.NOT_FOUND)]
    who = viewer.username if viewer else "-"
    if await move_job(
        table,
        row.id,
        RunStatus.QUEUED,
        RunStatus.CANCELLED,
        cancel_requested=True,
        error_message=f"cancelled by {who} before it started",
    ):
        logger.info("%s %s cancelled by %s while queued", noun, row.id, who)
    # Not a move: the worker sees the flag between two chunks and records CANCELLED.
    elif await table.filter(id=row.id, status=RunStatus.RUNNING).update(cancel_requested=True):
        logger.info("%s %s: cancellation requested by %s", noun, row.id, who)
    else:
        await row.refresh_from_db()
        return row, [
            FieldError(
                ["id"],
                f"{noun} {row.id} has already ended ({row.status.value}); nothing to cancel",
                FieldErrorCode.INVALID_STATE,
            )
        ]
    await row.refresh_from_db()
    return row, []
