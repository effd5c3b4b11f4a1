"""A run's or an evaluation's metrics as they are stored and served: one shape, written here
once for the two ways they are computed (model_trainer.evaluate_pipeline over the test rows,
evaluation.metrics_from_confusion over a file read in chunks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support


def classification_metrics(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    classes: list[str],
    matrix: np.ndarray,
    sample_weight: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy, weighted precision / recall / F1, the same per class with its support (the
    confusion matrix's row sums) and the matrix itself, over `classes` in their order."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true,
        y_pred,
        labels=classes,
        average="weighted",
        zero_division=0,
        sample_weight=sample_weight,
    )
    per_precision, per_recall, per_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0, sample_weight=sample_weight
    )
    support = matrix.sum(axis=1)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred, sample_weight=sample_weight)),
        "precision": float(precision),
        "recall": float(recall),
        "f1_score": float(f1),
        "per_class_metrics": [
            {
                "label": label,
                "precision": float(per_precision[i]),
                "recall": float(per_recall[i]),
                "f1_score": float(per_f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(classes)
        ],
        "confusion_matrix": {"labels": list(classes), "matrix": matrix.tolist()},
    }
