"""startBatchPrediction, cancelBatchPrediction, batchPrediction(s): scoring whole files.

The request is checked (a dataset file under artifacts/datasets/, a model that can
predict, 0 to MAX_REASONS reasons per row: predictFutureNeed's bound), recorded QUEUED
with the model it resolved to if the caller is within MAX_ACTIVE_JOBS_PER_USER, and
handed to the runners; the scoring itself is
trainer/jobs/trust_jobs.py's. Refusals are FieldErrors and create nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from models.accounts import Identity
from models.trust_jobs import BatchPrediction, JobKind
from resolvers.errors import FieldError, FieldErrorCode
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
from trainer.jobs.runners import JobRunner
from trainer.ml.predictor import MAX_REASONS

__all__ = [
    "MAX_REASONS",
    "BatchPrediction",
    "BatchPredictionOutcome",
    "cancel_batch_prediction",
    "get_batch_prediction",
    "list_batch_predictions",
    "start_batch_prediction",
]

logger = logging.getLogger("resolvers.batch_predictions")
TYPE_NAME = "BatchPrediction"


@dataclass
class BatchPredictionOutcome:
    batch_prediction: BatchPrediction | None = None
    errors: list[FieldError] = field(default_factory=list)


async def start_batch_prediction(
    viewer: Identity | None,
    artifacts: ArtifactPaths,
    jobs: JobRunner,
    model: str,
    dataset_path: str,
    explain: int = 0,
) -> BatchPredictionOutcome:
    dataset, dataset_error = check_dataset_path(artifacts, dataset_path, ["input", "datasetPath"])
    run, model_error = await resolve_model(model, ["input", "model"])
    explain_error = None
    if not 0 <= explain <= MAX_REASONS:
        explain_error = FieldError(
            ["input", "explain"],
            f"ask for 0 to {MAX_REASONS} reasons per row, not {explain}",
            FieldErrorCode.OUT_OF_RANGE,
        )
    errors = [e for e in (model_error, dataset_error, explain_error) if e is not None]
    if errors or run is None or dataset is None:
        return BatchPredictionOutcome(errors=errors)
    row, quota_error = await create_queued(
        BatchPrediction,
        viewer,
        jobs.max_active_jobs_per_user,
        run_id=run.id,
        model_requested=model,
        model_version=run.model_version,
        dataset_path=dataset,
        explain=explain,
    )
    if row is None:
        return BatchPredictionOutcome(errors=[quota_error] if quota_error else [])
    logger.info(
        "batch prediction %s queued by %s (%s with %s, %d reasons per row)",
        row.id,
        viewer.username if viewer else "-",
        dataset,
        run.model_version,
        explain,
    )
    return BatchPredictionOutcome(await submit(jobs, JobKind.BATCH_PREDICTION, row))


async def cancel_batch_prediction(viewer: Identity | None, raw_id: str) -> BatchPredictionOutcome:
    row, errors = await cancel_job(BatchPrediction, viewer, raw_id, TYPE_NAME, "batch prediction")
    return BatchPredictionOutcome(row, errors)


async def get_batch_prediction(raw_id: str) -> BatchPrediction | None:
    return await get_job(BatchPrediction, raw_id, TYPE_NAME)


async def list_batch_predictions(first: int | None, after: str | None, max_page: int) -> JobPage:
    return await job_page(BatchPrediction, first, after, max_page)
