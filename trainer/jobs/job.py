"""The job that executes one training run, the same in a local pool worker and in Celery.

It owns the run row's lifecycle: claim it (QUEUED → RUNNING) atomically so a run is
trained at most once, train in a thread while this coroutine writes progress and
heartbeats at a bounded rate and watches for cancellation, then record the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from models.run_lifecycle import move_run
from models.sweeps import prunes
from models.training_runs import RunStatus, TrainingRun, parameters_of
from trainer.artifacts import ArtifactPaths, UnsafePath
from trainer.logs import bind_log_context
from trainer.ml.dataset_files import DEFAULT_CSV_LIMITS, CsvLimits
from trainer.ml.errors import TrainerError, TrainingCancelled
from trainer.ml.stages import Stage

if TYPE_CHECKING:
    from trainer.ml.model_trainer import TrainingConfig, TrainingResult

logger = logging.getLogger("trainer.jobs.job")

# How a worker process that ended itself to honour a cancel exits (see _stop_process).
STOPPED_FOR_CANCEL_EXIT_CODE = 75

# Share of the overall progress bar each stage covers; FITTING dominates because
# growing the trees is where the time goes.
_STAGE_SPAN = {
    Stage.LOADING_DATA: (0.0, 0.05),
    Stage.FITTING: (0.05, 0.90),
    Stage.EVALUATING: (0.90, 0.95),
    Stage.SAVING: (0.95, 1.0),
}


def overall_progress(stage: Stage, fraction: float) -> float:
    start, end = _STAGE_SPAN[stage]
    return round(start + (end - start) * min(max(fraction, 0.0), 1.0), 4)


@dataclass(frozen=True)
class JobSettings:
    artifacts: ArtifactPaths
    # How often a running job writes progress and a heartbeat, in seconds.
    report_interval: float = 0.5
    n_jobs: int = 1
    # A RUNNING run whose heartbeat is older than this lost its worker.
    stale_after: float = 30.0
    # Added to the worker processes' niceness: a fit takes whole cores, and the API
    # beside it must keep answering (bench figure f: p99 while two trainings run).
    nice: int = 10
    # Once a cancel is seen, the fit has this long to stop at its next chunk of trees;
    # then the worker process records CANCELLED and ends itself (its pool replaces it),
    # because a chunk on a large dataset can take many seconds. None: wait for the chunk.
    cancel_grace: float | None = 1.5
    # A saved model over this many bytes is logged as a warning (MAX_MODEL_BYTES):
    # predictions will refuse to load it.
    max_model_bytes: int | None = None
    # The worker process's logging (LOG_LEVEL, LOG_FORMAT).
    log_level: str = "INFO"
    log_format: str = "text"
    # How wide a dataset may be (MAX_DATASET_COLUMNS, MAX_DATASET_CELL_CHARS).
    dataset_limits: CsvLimits = DEFAULT_CSV_LIMITS


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_is_dead(worker: str | None) -> bool:
    """True only when `worker` ran on this machine and its process no longer exists."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    """An ended process not yet collected by its parent still answers kill(pid, 0)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (not Linux), or it vanished just now: trust kill()
    return stat.rpartition(")")[2].split()[0] == "Z"


class _ProgressBox:
    """Latest progress from the training thread, read by the reporting coroutine.

    `intermediate` collects (step, objective on the validation rows) as the model grows,
    when the run has validation rows (a sweep trial): appended by the training thread,
    read by the reporting coroutine (a list append is atomic under the GIL).
    """

    def __init__(self) -> None:
        self.stage = Stage.LOADING_DATA
        self.progress = 0.0
        self.stop = threading.Event()
        self.intermediate: list[tuple[int, float]] = []

    def update(self, stage: Stage, fraction: float) -> None:
        self.stage = stage
        self.progress = max(self.progress, overall_progress(stage, fraction))

    def record_intermediate(self, step: int, value: float) -> None:
        self.intermediate.append((step, value))

    def intermediate_values(self) -> dict[str, object]:
        """The run columns the sweep driver reads (issue 23): {step: objective} so far,
        written with each progress report; nothing for a run without validation rows."""
        if not self.intermediate:
            return {}
        steps = {str(step): value for step, value in list(self.intermediate)}
        return {"intermediate_values": steps}


async def execute_run(run_id: int, settings: JobSettings) -> RunStatus | None:
    """Train run `run_id` if it is still QUEUED; return its final status (None: skipped)."""
    bind_log_context(run_id=run_id)  # this task's (and its training thread's) log lines
    me = worker_name()
    now = datetime.now(UTC)
    claimed = await move_run(
        run_id,
        RunStatus.QUEUED,
        RunStatus.RUNNING,
        only_if={"cancel_requested": False},
        started_at=now,
        heartbeat_at=now,
        worker=me,
        stage=Stage.LOADING_DATA.value,
        progress=0.0,
    )
    if not claimed:
        logger.info("run %s skipped: no longer queued", run_id)
        return None
    run = await TrainingRun.get(id=run_id)
    logger.info("run %s started on %s (%s)", run_id, me, run.model_version)
    # Scores on the validation rows as the model grows are for a pruner only: without one,
    # a trial is fitted as any run (no predictions of the validation rows as it grows).
    report_growth = bool(run.validation_fraction) and await prunes(run.sweep_id)

    box = _ProgressBox()
    model_file = settings.artifacts.model_file(run.model_version)
    reporter = asyncio.create_task(_report(run_id, box, settings, model_file))
    try:
        try:
            result = await asyncio.to_thread(_train, run, box, settings, report_growth)
        finally:
            # Before anything is recorded: the reporter may be counting down a cancel grace.
            reporter.cancel()
    except TrainingCancelled:
        return await _finish(run_id, RunStatus.CANCELLED, box, error="cancelled while running")
    except TrainerError as exc:
        logger.warning("run %s failed: %s", run_id, exc)
        return await _finish(run_id, RunStatus.FAILED, box, error=str(exc))
    except Exception as exc:
        logger.exception("run %s failed with an unexpected error", run_id)
        return await _finish(
            run_id, RunStatus.FAILED, box, error=f"internal error: {type(exc).__name__}"
        )
    return await _finish(
        run_id,
        RunStatus.COMPLETED,
        box,
        result=result,
        model_path=settings.artifacts.relative(model_file),
        model_file=model_file,
    )


def _train(
    run: TrainingRun, box: _ProgressBox, settings: JobSettings, report_growth: bool
) -> TrainingResult:
    # Imported here: scikit-learn is for worker processes; servers import this module too.
    from trainer.ml.model_trainer import ModelTrainer

    try:
        dataset = settings.artifacts.dataset(run.dataset_path)
    except UnsafePath as exc:
        # Checked when the run was accepted; checked again because the folder may have
        # changed since (a link added), and this is the last line before reading.
        raise TrainerError(f"dataset path refused: {exc}") from exc
    trainer = ModelTrainer(
        training_config(run, settings.n_jobs),
        on_progress=box.update,
        should_stop=box.stop.is_set,
        max_model_bytes=settings.max_model_bytes,
        on_intermediate=box.record_intermediate
        if report_growth and run.validation_fraction
        else None,
    )
    model_file = settings.artifacts.model_file(run.model_version)
    return trainer.train(
        dataset, model_file, display_name=run.dataset_path, limits=settings.dataset_limits
    )


def training_config(run: TrainingRun, n_jobs: int) -> TrainingConfig:
    """The trainer's configuration from what the run row stores: its algorithm and every
    parameter, the cross-validation asked ({"folds": k}), and a sweep trial's validation
    rows and objective."""
    from trainer.ml.algorithms import Algorithm
    from trainer.ml.model_trainer import TrainingConfig

    asked = run.cross_validation if isinstance(run.cross_validation, dict) else {}
    folds = asked.get("folds")
    parameters = parameters_of(run)
    try:
        return TrainingConfig(
            test_split=run.test_split,
            random_state=run.random_state,
            n_jobs=n_jobs,
            algorithm=Algorithm(run.algorithm),
            parameters=parameters,
            folds=int(folds) if folds is not None else None,
            validation_fraction=run.validation_fraction,
            objective=run.objective or "f1_score",
        )
    except ValueError as exc:
        # Checked when the run was accepted; a row written otherwise is refused here.
        raise TrainerError(f"the run's settings are not valid: {exc}") from exc


async def _report(run_id: int, box: _ProgressBox, settings: JobSettings, model_file: Path) -> None:
    """Write progress and a heartbeat every report_interval seconds; pick up cancellation.

    This task is cancelled as soon as the training thread returns, so reaching the end of
    the cancel grace period means the fit is still inside a chunk of trees.
    """
    while not box.stop.is_set():
        await asyncio.sleep(settings.report_interval)
        try:
            await TrainingRun.filter(id=run_id, status=RunStatus.RUNNING).update(
                stage=box.stage.value,
                progress=box.progress,
                heartbeat_at=datetime.now(UTC),
                **box.intermediate_values(),
            )
            row = await TrainingRun.filter(id=run_id).only("id", "cancel_requested").first()
            if row is None or row.cancel_requested:
                box.stop.set()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A database hiccup must not kill the training; the next tick retries.
            logger.warning("run %s: could not write progress", run_id, exc_info=True)
    if settings.cancel_grace is None:
        return
    await asyncio.sleep(settings.cancel_grace)
    await _stop_process(run_id, box, settings.cancel_grace, model_file)


async def _stop_process(run_id: int, box: _ProgressBox, grace: float, model_file: Path) -> None:
    """End this worker process mid-chunk: record CANCELLED, remove the model's files, exit.

    A thread cannot be interrupted, and a chunk of trees may run for many seconds; the pool
    (local or Celery) starts a fresh process in this one's place.
    """
    from trainer.ml.model_trainer import partial_model_files

    stopped = await move_run(
        run_id,
        RunStatus.RUNNING,
        RunStatus.CANCELLED,
        only_if={"worker": worker_name()},
        heartbeat_at=datetime.now(UTC),
        stage=box.stage.value,
        progress=box.progress,
        error_message="cancelled while running",
    )
    # The run never completes now, so no run points at these: the final file cannot be
    # anybody else's, because training refuses to start when it exists already.
    for path in [*partial_model_files(model_file), model_file]:
        with contextlib.suppress(OSError):
            os.unlink(path)
    logger.info(
        "run %s cancelled: the fit did not stop within %gs, ending worker process %s%s",
        run_id,
        grace,
        worker_name(),
        "" if stopped else " (the run had already ended)",
    )
    logging.shutdown()  # flush the log before the process ends without unwinding
    os._exit(STOPPED_FOR_CANCEL_EXIT_CODE)


async def _finish(
    run_id: int,
    status: RunStatus,
    box: _ProgressBox,
    *,
    error: str | None = None,
    result: TrainingResult | None = None,
    model_path: str | None = None,
    model_file: Path | None = None,
) -> RunStatus:
    values: dict[str, object] = {
        "heartbeat_at": datetime.now(UTC),
        "stage": box.stage.value,
        "progress": 1.0 if status is RunStatus.COMPLETED else box.progress,
        "error_message": error,
        **box.intermediate_values(),
    }
    if result is not None:
        values.update(
            model_path=model_path,
            model_sha256=result.model_sha256,
            dataset_sha256=result.dataset_sha256,
            accuracy=result.accuracy,
            precision=result.precision,
            recall=result.recall,
            f1_score=result.f1_score,
            training_duration_seconds=result.training_duration_seconds,
            total_samples=result.total_samples,
            train_samples=result.train_samples,
            test_samples=result.test_samples,
            dropped_rows=result.dropped_rows,
            per_class_metrics=result.per_class_metrics,
            confusion_matrix=result.confusion_matrix,
            feature_importance=result.feature_importance,
            shap_importance=result.shap_importance,
            features_used=result.features_used,
            parameters=result.parameters,
            objective_value=result.objective_value,
            cross_validation=result.cross_validation,
        )
    # Only the worker that holds the run may finish it: if a reaper already declared
    # this worker dead, its late result must not overwrite that story.
    updated = await move_run(
        run_id, RunStatus.RUNNING, status, only_if={"worker": worker_name()}, **values
    )
    if not updated:
        return await _discard_late_result(run_id, status, model_file)
    if status is RunStatus.COMPLETED:
        logger.info(
            "run %s finished: accuracy %.4f in %.2fs",
            run_id,
            result.accuracy if result else float("nan"),
            result.training_duration_seconds if result else float("nan"),
        )
    else:
        logger.info("run %s %s: %s", run_id, status.value.lower(), error)
    return status


async def _discard_late_result(
    run_id: int, outcome: RunStatus, model_file: Path | None
) -> RunStatus:
    """The run ended without this worker (a reaper failed it meanwhile): keep that story,
    and remove the model file this worker wrote, which no run points to."""
    row = await TrainingRun.filter(id=run_id).only("id", "status").first()
    current = row.status if row is not None else None
    removed = False
    if model_file is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(model_file)
            removed = True
    logger.warning(
        "run %s: result discarded (%s here, but the run had already ended as %s)%s",
        run_id,
        outcome.value.lower(),
        current.value if current is not None else "deleted",
        "; its model file was removed" if removed else "",
    )
    return current if current is not None else outcome
