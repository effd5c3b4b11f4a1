"""Judging a trained model on new labelled data, and that data against the model's own
training data: the work of a model evaluation (startEvaluation, the promotion gate).

Metrics are those a training run records on its test split (trainer.ml.model_trainer
.evaluate_pipeline), here over every usable row of the new file; drift is
trainer.ml.drift's report of the new file against the training file, whose sha256 must
still be the one the run recorded (otherwise it is not the data the model learnt from).

The new file is read a chunk of rows at a time and never held whole: each chunk is
predicted and added to a confusion matrix and to the drift's counts, then dropped, so a
million-row file takes the memory of one chunk. The metrics come from the summed matrix
(the same numbers as over the whole file at once), progress is reported and a cancel
honoured between chunks. The training file is read whole, as training read it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainer.ml.dataset import TARGET_CLASSES, TARGET_COLUMN, load_dataset, stream_dataset
from trainer.ml.dataset_files import DEFAULT_CSV_LIMITS, CsvLimits
from trainer.ml.drift import DriftAccumulator
from trainer.ml.errors import DataLoadError, TrainingCancelled
from trainer.ml.metrics import classification_metrics, confusion

__all__ = ["EvaluationResult", "evaluate_model", "metrics_from_confusion"]

# Progress: the reference read by then, the new file's chunks share the rest.
_REFERENCE_READ = 0.1


@dataclass(frozen=True)
class EvaluationResult:
    dataset_sha256: str
    metrics: dict[str, Any]
    drift: dict[str, Any]


def evaluate_model(
    model: Any,
    features: Sequence[str],
    dataset: Path,
    dataset_name: str,
    reference: Path,
    reference_name: str,
    reference_sha256: str | None,
    *,
    limits: CsvLimits = DEFAULT_CSV_LIMITS,
    on_progress: Callable[[float], None] = lambda _fraction: None,
    should_stop: Callable[[], bool] = lambda: False,
    rows_per_chunk: int | None = None,
) -> EvaluationResult:
    """Raises DataLoadError when either file cannot be used (the reference also when its
    bytes changed since the run was trained on it), TrainingCancelled when `should_stop`
    says so between two chunks."""
    training = load_dataset(reference, reference_name, limits)
    if reference_sha256 is not None and training.sha256 != reference_sha256:
        raise DataLoadError(
            f"the training dataset '{reference_name}' changed since the model was trained on "
            "it (its sha256 differs): there is no reference to measure drift against"
        )
    drift = DriftAccumulator(training.frame, features)
    del training
    on_progress(_REFERENCE_READ)
    columns = [*features, TARGET_COLUMN]
    matrix = np.zeros((len(TARGET_CLASSES), len(TARGET_CLASSES)), np.int64)
    counted = {"kept": 0, "read": 0}

    def take(rows: pd.DataFrame, read: int, total: int | None) -> None:
        if should_stop():
            raise TrainingCancelled("cancelled while running")
        counted["kept"] += len(rows)
        counted["read"] = read
        if len(rows):
            frame = rows.reindex(columns=columns)
            predicted = model.predict(frame[list(features)])
            matrix[...] += confusion(frame[TARGET_COLUMN], predicted, list(TARGET_CLASSES))
            drift.add(rows)
        if total:
            on_progress(_REFERENCE_READ + (1 - _REFERENCE_READ) * min(read / total, 0.99))

    sha256 = stream_dataset(dataset, dataset_name, limits, take, rows_per_chunk)
    labels = {c for i, c in enumerate(TARGET_CLASSES) if matrix[i].sum() > 0}
    predictable = {str(k) for k in model.classes_}
    classes = [c for c in TARGET_CLASSES if c in labels or c in predictable]
    metrics = metrics_from_confusion(matrix, list(TARGET_CLASSES), classes)
    metrics.update(samples=counted["kept"], dropped_rows=counted["read"] - counted["kept"])
    return EvaluationResult(sha256, metrics, drift.report().as_dict())


def metrics_from_confusion(
    matrix: np.ndarray, matrix_labels: list[str], classes: list[str]
) -> dict[str, Any]:
    """evaluate_pipeline's metrics over `classes`, from a confusion matrix over
    `matrix_labels` (rows: true, columns: predicted): its rows and columns of `classes`."""
    index = [matrix_labels.index(c) for c in classes]
    return classification_metrics(matrix[np.ix_(index, index)], classes)
