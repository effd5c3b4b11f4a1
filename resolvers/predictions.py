"""predictFutureNeed: which model answers (an alias, else a modelVersion), and the
checks before it may: a COMPLETED run with a model file whose bytes are those recorded.

Loading and predicting are trainer/ml/predictor.py's (off the event loop, cached per
process); this module only finds the run and turns the predictor's refusals into codes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from models.model_aliases import model_run
from models.run_records import RunRecord
from models.training_runs import RunStatus, TrainingRun
from resolvers.errors import ApiError, ModelFileChanged, ModelFileMissing, ModelNotFound
from trainer import model_files
from trainer.artifacts import ArtifactPaths, UnsafePath
from trainer.ml.predictor import MAX_PREDICTION_ROWS, ModelCache, Row, RowPrediction

logger = logging.getLogger("resolvers.predictions")

# What `model` names when the client names nothing.
DEFAULT_MODEL = "production"
# Longer than any alias (32) or modelVersion (64): names nothing.
_MAX_MODEL_NAME = 64


@dataclass(frozen=True)
class PredictionOutcome:
    model_version: str
    run: RunRecord
    predictions: list[RowPrediction]


async def find_model_run(model: str) -> TrainingRun:
    """The run that answers for `model`: an alias's run, else the run of that modelVersion."""
    run = await model_run(model) if 0 < len(model) <= _MAX_MODEL_NAME else None
    shown = model if len(model) <= 40 else model[:40] + "…"
    if run is None:
        raise ModelNotFound(
            f"no model alias or modelVersion {shown!r} (HR staff promote a run with setModelAlias)",
            argument="model",
        )
    if run.status != RunStatus.COMPLETED or not run.model_path or not run.model_sha256:
        raise ModelNotFound(
            f"{shown!r} names run {run.id}, which has no model to predict with "
            f"(its status is {run.status.value})",
            argument="model",
        )
    return run


async def predict_future_need(
    artifacts: ArtifactPaths, models: ModelCache, model: str, rows: Sequence[Row]
) -> PredictionOutcome:
    if not 1 <= len(rows) <= MAX_PREDICTION_ROWS:
        raise ApiError(
            f"send 1 to {MAX_PREDICTION_ROWS} rows per request, not {len(rows)}",
            argument="rows",
        )
    run = await find_model_run(model)
    assert run.model_path is not None
    assert run.model_sha256 is not None
    try:
        path = model_files.model_file_path(artifacts, run.model_path)
        predictions = await models.predict(path, run.model_sha256, rows, run.features_used or [])
    except (UnsafePath, model_files.ModelFileMissing):
        logger.error("prediction: run %s's model file is missing", run.id)
        raise ModelFileMissing(
            f"the model file of run {run.id} ({run.model_version}) is missing",
            argument="model",
        ) from None
    except model_files.ModelFileChanged as exc:
        logger.error(
            "prediction: run %s's model file (%d bytes) no longer matches the sha256 "
            "recorded when it was trained; not loaded",
            run.id,
            exc.size,
        )
        raise ModelFileChanged(
            f"the model file of run {run.id} ({run.model_version}) no longer matches the "
            "checksum recorded when it was trained; it was not loaded",
            argument="model",
        ) from None
    return PredictionOutcome(run.model_version, RunRecord.of(run), predictions)
