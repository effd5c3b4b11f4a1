"""startEvaluation, cancelEvaluation, modelEvaluation(s), TrainingRun.evaluations, and
the evaluations a promotion gate needs (reused when the same model was already judged on
the same bytes).

An evaluation is a job (trainer/jobs/trust_jobs.py): metrics of the model on a labelled
file, and that file's drift against the run's own training data.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from models.accounts import Identity
from models.training_runs import RunStatus, TrainingRun
from models.trust_jobs import JobKind, ModelEvaluation
from resolvers.errors import FieldError
from resolvers.trust_jobs import (
    JobPage,
    cancel_job,
    check_dataset_path,
    create_queued,
    get_job,
    job_page,
    resolve_model,
    submit,
)
from trainer.artifacts import ArtifactPaths
from trainer.jobs.job_refs import JobRef
from trainer.jobs.runners import JobRunner, wait_until_job_final

__all__ = [
    "EvaluationOutcome",
    "ModelEvaluation",
    "cancel_evaluation",
    "evaluation_of",
    "evaluations_by_ids",
    "get_model_evaluation",
    "list_model_evaluations",
    "run_evaluations",
    "start_evaluation",
]

logger = logging.getLogger("resolvers.model_evaluations")
TYPE_NAME = "ModelEvaluation"


@dataclass
class EvaluationOutcome:
    evaluation: ModelEvaluation | None = None
    errors: list[FieldError] = field(default_factory=list)


async def _queue(
    viewer: Identity | None,
    jobs: JobRunner,
    run: TrainingRun,
    requested: str,
    dataset: str,
    limit: int | None,
) -> tuple[ModelEvaluation | None, FieldError | None]:
    row, error = await create_queued(
        ModelEvaluation,
        viewer,
        limit,
        run_id=run.id,
        model_requested=requested[:64],
        model_version=run.model_version,
        dataset_path=dataset,
    )
    if row is None:
        return None, error
    logger.info(
        "evaluation %s queued by %s (%s on %s)",
        row.id,
        viewer.username if viewer else "-",
        run.model_version,
        dataset,
    )
    return await submit(jobs, JobKind.EVALUATION, row), None


async def start_evaluation(
    viewer: Identity | None,
    artifacts: ArtifactPaths,
    jobs: JobRunner,
    model: str,
    dataset_path: str,
) -> EvaluationOutcome:
    dataset, dataset_error = check_dataset_path(artifacts, dataset_path, ["input", "datasetPath"])
    run, model_error = await resolve_model(model, ["input", "model"], run_ids=True)
    errors = [e for e in (model_error, dataset_error) if e is not None]
    if errors or run is None or dataset is None:
        return EvaluationOutcome(errors=errors)
    row, quota_error = await _queue(
        viewer, jobs, run, model, dataset, jobs.max_active_jobs_per_user
    )
    return EvaluationOutcome(row, [quota_error] if quota_error else [])


async def cancel_evaluation(viewer: Identity | None, raw_id: str) -> EvaluationOutcome:
    row, errors = await cancel_job(ModelEvaluation, viewer, raw_id, TYPE_NAME, "evaluation")
    return EvaluationOutcome(row, errors)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


async def evaluation_of(
    viewer: Identity | None,
    artifacts: ArtifactPaths,
    jobs: JobRunner,
    run: TrainingRun,
    dataset: str,
) -> ModelEvaluation:
    """A finished evaluation of `run` on the dataset file as it is now: the newest
    COMPLETED one of the same model and the same bytes (sha256) if any, else a new one,
    waited for. Its status says whether it could be made."""
    sha256 = await asyncio.to_thread(_sha256, artifacts.dataset(dataset))
    kept = (
        await ModelEvaluation.filter(
            run_id=run.id, dataset_sha256=sha256, status=RunStatus.COMPLETED
        )
        .order_by("-id")
        .first()
    )
    if kept is not None:
        logger.info("evaluation %s reused for run %s on %s", kept.id, run.id, dataset)
        return kept
    # Not bounded by MAX_ACTIVE_JOBS_PER_USER: the promotion request waits for it, so a
    # user holds at most two per setModelAlias call in flight (and a refusal here would
    # fail a gate for a reason that has nothing to do with the models).
    row, _ = await _queue(viewer, jobs, run, str(run.id), dataset, None)
    assert row is not None
    await wait_until_job_final(JobRef(JobKind.EVALUATION, row.id))
    await row.refresh_from_db()
    return row


async def get_model_evaluation(raw_id: str) -> ModelEvaluation | None:
    return await get_job(ModelEvaluation, raw_id, TYPE_NAME)


async def list_model_evaluations(first: int | None, after: str | None, max_page: int) -> JobPage:
    return await job_page(ModelEvaluation, first, after, max_page)


async def run_evaluations(
    run_id: int, first: int | None, after: str | None, max_page: int
) -> JobPage:
    return await job_page(ModelEvaluation, first, after, max_page, run_id=run_id)


async def evaluations_by_ids(ids: list[int]) -> list[ModelEvaluation]:
    """The rows of `ids`, in that order (those deleted since are left out)."""
    rows = {row.id: row for row in await ModelEvaluation.filter(id__in=ids)}
    return [rows[i] for i in ids if i in rows]
