"""The jobs that execute one batch prediction or one model evaluation, the same in a local
pool worker and in Celery (as trainer/jobs/job.py executes a training run).

Each claims its row (QUEUED → RUNNING) atomically, works in a thread while this coroutine
writes progress and a heartbeat at a bounded rate and picks up a cancel, then records the
outcome; every status change goes through models/job_lifecycle.move_job. A batch
prediction writes its output and rejects under temporary names and gives them their
final names only once the whole file is scored, just before the row says COMPLETED: a
worker killed mid-file leaves a RUNNING row the reaper fails and no file that a
download could take for a complete one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from models.job_lifecycle import JobModel, move_job
from models.training_runs import RunStatus, TrainingRun
from models.trust_jobs import BatchPrediction, ModelEvaluation
from trainer.artifacts import UnsafePath
from trainer.jobs.job import JobSettings, worker_name
from trainer.logs import bind_log_context
from trainer.ml.errors import TrainerError, TrainingCancelled, UnexplainableModel
from trainer.model_files import (
    ModelFileChanged,
    ModelFileInvalid,
    ModelFileMissing,
    ModelFileTooLarge,
    load_verified_model,
    model_file_path,
)

logger = logging.getLogger("trainer.jobs.trust_jobs")

T = TypeVar("T")
J = TypeVar("J", BatchPrediction, ModelEvaluation)


class _Box:
    """Latest progress from the work thread, read by the reporting coroutine."""

    def __init__(self) -> None:
        self.progress = 0.0
        self.rows_total: int | None = None
        self.rows_done = 0
        self.stop = threading.Event()


def output_names(folder: Path, job_id: int) -> tuple[Path, Path]:
    """The final output and rejects files of batch prediction `job_id` in `folder`."""
    return folder / f"batch-{job_id}.csv", folder / f"batch-{job_id}-rejects.csv"


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def remove_partial_outputs(folder: Path, job_id: int) -> None:
    """What a worker killed mid-file left behind (the reaper calls this as it fails the
    job): never a final name, only the temporary ones."""
    for path in output_names(folder, job_id):
        with contextlib.suppress(OSError):
            os.unlink(_partial(path))


async def _claim(model: JobModel, job_id: int) -> bool:
    now = datetime.now(UTC)
    return await move_job(
        model,
        job_id,
        RunStatus.QUEUED,
        RunStatus.RUNNING,
        only_if={"cancel_requested": False},
        started_at=now,
        heartbeat_at=now,
        worker=worker_name(),
        progress=0.0,
    )


async def _report(model: JobModel, job_id: int, box: _Box, interval: float) -> None:
    """Progress and heartbeat every `interval` seconds; a cancel sets box.stop (the work
    thread looks at it between chunks)."""
    while True:
        await asyncio.sleep(interval)
        try:
            values: dict[str, Any] = {"progress": box.progress, "heartbeat_at": datetime.now(UTC)}
            if model is BatchPrediction:
                values.update(rows_done=box.rows_done, rows_total=box.rows_total)
            await model.filter(id=job_id, status=RunStatus.RUNNING).update(**values)
            row = await model.filter(id=job_id).only("id", "cancel_requested").first()
            if row is None or row.cancel_requested:
                box.stop.set()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("job %s: could not write progress", job_id, exc_info=True)


async def _begin(table: type[J], job_id: int, noun: str) -> tuple[J, TrainingRun] | None:
    """Claim job `job_id` if it is still QUEUED: the job and its run; None if skipped."""
    bind_log_context(job=f"{noun.replace(' ', '_')} {job_id}")
    if not await _claim(table, job_id):
        logger.info("%s %s skipped: no longer queued", noun, job_id)
        return None
    job = await table.get(id=job_id)
    return job, await TrainingRun.get(id=job.run_id)


def _load_model(settings: JobSettings, run: TrainingRun) -> Any:
    """The run's fitted pipeline, its bytes checked against the recorded sha256."""
    if not run.model_path or not run.model_sha256:
        raise TrainerError(f"run {run.id} has no model file")
    try:
        path = model_file_path(settings.artifacts, run.model_path)
        return load_verified_model(
            path, run.model_sha256, max_bytes=settings.max_model_bytes
        ).pipeline
    except (UnsafePath, ModelFileMissing):
        raise TrainerError(f"the model file of run {run.id} is missing") from None
    except ModelFileChanged:
        raise TrainerError(
            f"the model file of run {run.id} no longer matches the checksum recorded when it "
            "was trained; it was not loaded"
        ) from None
    except ModelFileInvalid:
        raise TrainerError(f"the model file of run {run.id} holds no fitted model") from None
    except ModelFileTooLarge as exc:
        raise TrainerError(
            f"the model file of run {run.id} is {exc.size} bytes, more than MAX_MODEL_BYTES"
        ) from None


def _dataset(settings: JobSettings, relative: str) -> Path:
    try:
        return settings.artifacts.dataset(relative)
    except UnsafePath as exc:
        raise TrainerError(f"dataset path refused: {exc}") from exc


async def _work(
    model: JobModel,
    job_id: int,
    settings: JobSettings,
    box: _Box,
    work: Callable[[], T],
) -> tuple[RunStatus, T | None, str | None]:
    """Run `work` in a thread beside the reporter: (status, result, error message)."""
    reporter = asyncio.create_task(_report(model, job_id, box, settings.report_interval))
    try:
        try:
            result = await asyncio.to_thread(work)
        finally:
            reporter.cancel()
    except TrainingCancelled:
        return RunStatus.CANCELLED, None, "cancelled while running"
    except TrainerError as exc:
        logger.warning("%s %s failed: %s", model.__name__, job_id, exc)
        return RunStatus.FAILED, None, str(exc)
    except Exception as exc:
        logger.exception("%s %s failed with an unexpected error", model.__name__, job_id)
        return RunStatus.FAILED, None, f"internal error: {type(exc).__name__}"
    return RunStatus.COMPLETED, result, None


async def _finish(model: JobModel, job_id: int, status: RunStatus, **values: Any) -> bool:
    """Only the worker that holds the job may end it (a reaper may have failed it)."""
    values.setdefault("heartbeat_at", datetime.now(UTC))
    moved = await move_job(
        model, job_id, RunStatus.RUNNING, status, only_if={"worker": worker_name()}, **values
    )
    if not moved:
        logger.warning(
            "%s %s: result discarded (the job had already ended)", model.__name__, job_id
        )
    return moved


async def execute_batch_prediction(job_id: int, settings: JobSettings) -> RunStatus | None:
    """Score batch prediction `job_id`'s file if it is still QUEUED; its final status."""
    from trainer.ml.batch_scoring import count_data_rows, score_file

    begun = await _begin(BatchPrediction, job_id, "batch prediction")
    if begun is None:
        return None
    job, run = begun
    logger.info(
        "batch prediction %s started on %s (%s with %s, %d reasons per row)",
        job_id,
        worker_name(),
        job.dataset_path,
        run.model_version,
        job.explain,
    )
    output, rejects = output_names(settings.artifacts.predictions, job_id)
    partial_output, partial_rejects = _partial(output), _partial(rejects)
    box = _Box()

    def progress(rows: int) -> None:
        box.rows_done = rows
        if box.rows_total:
            box.progress = min(rows / box.rows_total, 0.99)

    def score() -> Any:
        pipeline = _load_model(settings, run)
        source = _dataset(settings, job.dataset_path)
        box.rows_total = count_data_rows(source, job.dataset_path)
        output.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = score_file(
                pipeline,
                list(run.features_used or []),
                source,
                job.dataset_path,
                partial_output,
                partial_rejects,
                on_progress=progress,
                should_stop=box.stop.is_set,
                explain=job.explain,
            )
        except UnexplainableModel as exc:  # refused before a row was read
            raise TrainerError(f"the model cannot explain its predictions: {exc}") from None
        os.replace(partial_rejects, rejects)
        os.replace(partial_output, output)
        return result

    status, result, error = await _work(BatchPrediction, job_id, settings, box, score)
    # Before the status moves: a client that sees the job end finds no temporary file left
    # (a completed job's were renamed to their final names already).
    for path in (partial_output, partial_rejects):
        with contextlib.suppress(OSError):
            os.unlink(path)
    values: dict[str, Any] = {"progress": box.progress, "rows_done": box.rows_done}
    if result is not None:
        relative = settings.artifacts.relative
        values.update(
            progress=1.0,
            rows_total=result.rows_total,
            rows_done=result.rows_total,
            rows_scored=result.rows_scored,
            rows_rejected=result.rows_rejected,
            output_path=relative(output),
            output_sha256=result.sha256,
            rejects_path=relative(rejects),
            rejects_sha256=result.rejects_sha256,
            reason_units=result.units,
        )
    if not await _finish(BatchPrediction, job_id, status, error_message=error, **values):
        status = RunStatus.FAILED
    if status is not RunStatus.COMPLETED:
        for path in (output, rejects):
            with contextlib.suppress(OSError):
                os.unlink(path)
        logger.info("batch prediction %s %s: %s", job_id, status.value.lower(), error)
        return status
    assert result is not None
    logger.info(
        "batch prediction %s finished: %d rows scored, %d rejected",
        job_id,
        result.rows_scored,
        result.rows_rejected,
    )
    return status


async def execute_evaluation(job_id: int, settings: JobSettings) -> RunStatus | None:
    """Evaluate model evaluation `job_id` if it is still QUEUED; its final status."""
    from trainer.ml.evaluation import evaluate_model

    begun = await _begin(ModelEvaluation, job_id, "evaluation")
    if begun is None:
        return None
    job, run = begun
    logger.info(
        "evaluation %s started on %s (%s on %s)",
        job_id,
        worker_name(),
        run.model_version,
        job.dataset_path,
    )
    box = _Box()

    def evaluate() -> Any:
        pipeline = _load_model(settings, run)

        def progress(fraction: float) -> None:
            box.progress = fraction

        return evaluate_model(
            pipeline,
            list(run.features_used or []),
            _dataset(settings, job.dataset_path),
            job.dataset_path,
            _dataset(settings, run.dataset_path),
            run.dataset_path,
            run.dataset_sha256,
            limits=settings.dataset_limits,
            on_progress=progress,
            should_stop=box.stop.is_set,
        )

    status, result, error = await _work(ModelEvaluation, job_id, settings, box, evaluate)
    values: dict[str, Any] = {"progress": box.progress, "error_message": error}
    if result is not None:
        values.update(
            progress=1.0,
            dataset_sha256=result.dataset_sha256,
            metrics=result.metrics,
            drift=result.drift,
        )
    if not await _finish(ModelEvaluation, job_id, status, **values):
        return RunStatus.FAILED
    if result is not None:
        logger.info(
            "evaluation %s finished: accuracy %.4f, %d of %d features drifted",
            job_id,
            result.metrics["accuracy"],
            result.drift["drifted_features"],
            len(result.drift["features"]),
        )
    else:
        logger.info("evaluation %s %s: %s", job_id, status.value.lower(), error)
    return status
