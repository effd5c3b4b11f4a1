"""Judging a trained model on new labelled data, and that data against the model's own
training data: the work of a model evaluation (startEvaluation, the promotion gate).

Metrics are those a training run records on its test split (trainer.ml.model_trainer
.evaluate_pipeline), here over every usable row of the new file; drift is
trainer.ml.drift's report of the new file against the training file, whose sha256 must
still be the one the run recorded (otherwise it is not the data the model learnt from).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.ml.dataset import TARGET_CLASSES, TARGET_COLUMN, load_dataset
from trainer.ml.dataset_files import DEFAULT_CSV_LIMITS, CsvLimits
from trainer.ml.drift import drift_report
from trainer.ml.errors import DataLoadError
from trainer.ml.model_trainer import evaluate_pipeline

__all__ = ["EvaluationResult", "evaluate_model"]


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
) -> EvaluationResult:
    """Raises DataLoadError when either file cannot be used (the reference also when its
    bytes changed since the run was trained on it)."""
    current = load_dataset(dataset, dataset_name, limits)
    on_progress(0.3)
    frame = current.frame.reindex(columns=[*features, TARGET_COLUMN])
    labels = set(frame[TARGET_COLUMN])
    classes = [c for c in TARGET_CLASSES if c in labels or c in {str(k) for k in model.classes_}]
    metrics = evaluate_pipeline(model, frame[list(features)], frame[TARGET_COLUMN], classes)
    metrics.update(samples=len(frame), dropped_rows=current.dropped_rows)
    on_progress(0.6)
    training = load_dataset(reference, reference_name, limits)
    if reference_sha256 is not None and training.sha256 != reference_sha256:
        raise DataLoadError(
            f"the training dataset '{reference_name}' changed since the model was trained on "
            "it (its sha256 differs): there is no reference to measure drift against"
        )
    on_progress(0.8)
    report = drift_report(training.frame, current.frame, features)
    return EvaluationResult(current.sha256, metrics, report.as_dict())
