"""predictFutureNeed: which model answers (an alias, else a modelVersion), and the
checks before it may: rows a model can take, the caller's budget of rows, a COMPLETED run
with a model file whose bytes are those recorded, and not too large to load.

Loading and predicting are trainer/ml/predictor.py's (off the event loop, cached per
process); this module only finds the run and turns the predictor's refusals into codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.model_aliases import model_run
from models.run_records import RunRecord
from models.training_runs import RunStatus, TrainingRun
from resolvers.errors import ApiError, ErrorCode, ModelNotFound
from trainer import model_files
from trainer.artifacts import ArtifactPaths, UnsafePath
from trainer.ml.errors import UnexplainableModel
from trainer.ml.predictor import (
    MAX_EXPLAINED_ROWS,
    MAX_PREDICTION_ROWS,
    MAX_REASONS,
    ModelCache,
    Predictions,
    Row,
    RowPrediction,
    RowValueOutOfRange,
    check_row_values,
)

logger = logging.getLogger("resolvers.predictions")

# What `model` names when the client names nothing.
DEFAULT_MODEL = "production"
# Longer than any alias (32) or modelVersion (64): names nothing.
_MAX_MODEL_NAME = 64


@dataclass(frozen=True)
class PredictionOutcome:
    model_version: str
    run: RunRecord
    # The answers column by column; `predictions` gives them one object per row.
    result: Predictions

    @property
    def predictions(self) -> list[RowPrediction]:
        return self.result.rows

    @property
    def reason_units(self) -> str | None:
        """What the reasons' contributions are measured in; None when none were asked for."""
        return self.result.units


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
    artifacts: ArtifactPaths,
    models: ModelCache,
    model: str,
    rows: Sequence[Row],
    *,
    explain: int = 0,
    spend: Callable[[int], None] = lambda _rows: None,
) -> PredictionOutcome:
    """`spend(len(rows))` charges the caller's budget (raising to refuse) once the rows
    are known to be valid, before anything is looked up or loaded. `explain`: reasons per
    row (0 to MAX_REASONS), for at most MAX_EXPLAINED_ROWS rows."""
    if not 1 <= len(rows) <= MAX_PREDICTION_ROWS:
        raise ApiError(
            f"send 1 to {MAX_PREDICTION_ROWS} rows per request, not {len(rows)}",
            argument="rows",
        )
    if not 0 <= explain <= MAX_REASONS:
        raise ApiError(
            f"explain: ask for 0 to {MAX_REASONS} reasons per row, not {explain}",
            argument="explain",
            field=["explain"],
        )
    if explain and len(rows) > MAX_EXPLAINED_ROWS:
        raise ApiError(
            f"explain: reasons are given for at most {MAX_EXPLAINED_ROWS} rows per request, "
            f"not {len(rows)} (score a whole file with reasons as a batch)",
            argument="explain",
            field=["explain"],
        )
    try:
        check_row_values(rows)
    except RowValueOutOfRange as exc:
        raise _row_error(exc) from None
    spend(len(rows))
    run = await find_model_run(model)
    assert run.model_path is not None
    assert run.model_sha256 is not None
    try:
        path = model_files.model_file_path(artifacts, run.model_path)
        predictions = await models.predict(
            path, run.model_sha256, rows, run.features_used or [], explain
        )
    except RowValueOutOfRange as exc:
        raise _row_error(exc) from None
    except (UnsafePath, model_files.ModelFileMissing):
        logger.error("prediction: run %s's model file is missing", run.id)
        raise ApiError(
            f"the model file of run {run.id} ({run.model_version}) is missing",
            code=ErrorCode.MODEL_FILE_MISSING,
            argument="model",
        ) from None
    except model_files.ModelFileChanged as exc:
        logger.error(
            "prediction: run %s's model file (%d bytes) no longer matches the sha256 "
            "recorded when it was trained; not loaded",
            run.id,
            exc.size,
        )
        raise ApiError(
            f"the model file of run {run.id} ({run.model_version}) no longer matches the "
            "checksum recorded when it was trained; it was not loaded",
            code=ErrorCode.MODEL_FILE_CHANGED,
            argument="model",
        ) from None
    except model_files.ModelFileInvalid as exc:
        logger.error(
            "prediction: run %s's model file has its recorded sha256 but holds a %s, "
            "not a fitted Pipeline; not kept",
            run.id,
            exc.kind[:100],
        )
        raise ApiError(
            f"the model file of run {run.id} ({run.model_version}) holds no fitted model",
            code=ErrorCode.MODEL_FILE_INVALID,
            argument="model",
        ) from None
    except UnexplainableModel as exc:
        logger.warning("prediction: run %s's model cannot be explained: %s", run.id, exc)
        raise ApiError(
            f"the model of run {run.id} ({run.model_version}) cannot give reasons: {exc}",
            argument="explain",
            field=["explain"],
        ) from None
    except model_files.ModelFileTooLarge as exc:
        logger.warning(
            "prediction: run %s's model file is %d bytes, over MAX_MODEL_BYTES (%d); not loaded",
            run.id,
            exc.size,
            exc.limit,
        )
        raise ApiError(
            f"the model file of run {run.id} ({run.model_version}) is {exc.size} bytes, more "
            f"than this server loads ({exc.limit}, MAX_MODEL_BYTES)",
            code=ErrorCode.MODEL_TOO_LARGE,
            argument="model",
            size=exc.size,
            limit=exc.limit,
        ) from None
    if explain:
        logger.info("prediction: run %s explained %d rows", run.id, len(rows))
    return PredictionOutcome(run.model_version, RunRecord.of(run), predictions)


def _row_error(exc: RowValueOutOfRange) -> ApiError:
    """BAD_USER_INPUT naming the row and its field, as the client spelt it."""
    head, *rest = exc.column.split("_")
    name = head + "".join(part[:1].upper() + part[1:] for part in rest)  # as GraphQL spells it
    return ApiError(
        f"rows[{exc.row}].{name}: {exc}",
        argument="rows",
        field=["rows", str(exc.row), name],
    )
