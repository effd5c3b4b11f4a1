"""A run's or an evaluation's metrics as they are stored and served: one shape, computed here
once from a confusion matrix, however the matrix was counted (model_trainer.evaluate_pipeline
over the test rows, evaluation.evaluate_model over a file read in chunks).

Everything comes from the matrix rather than from scikit-learn's metric functions on the
labels: each of those re-sorts the string labels in Python (four calls took 4.2 s of CPU for
the 200,000 test rows of a million-row file, more than predicting them); the figures are
the same as precision_recall_fscore_support's with zero_division=0 (a test compares them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


def confusion(y_true: ArrayLike, y_pred: ArrayLike, classes: list[str]) -> np.ndarray:
    """The confusion matrix over `classes` (rows: true, columns: predicted), as
    sklearn.metrics.confusion_matrix counts it (pairs with a label outside `classes` are
    left out), counted on integer codes."""
    size = len(classes)
    index = pd.Index(classes)
    true = index.get_indexer(np.asarray(y_true, dtype=object))  # -1: not one of classes
    predicted = index.get_indexer(np.asarray(y_pred, dtype=object))
    known = (true >= 0) & (predicted >= 0)
    pairs = true[known].astype(np.int64) * size + predicted[known]
    return np.bincount(pairs, minlength=size * size).reshape(size, size)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (zero_division=0)."""
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def classification_metrics(matrix: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, support-weighted precision / recall / F1, the same per class with its
    support (the matrix's row sums) and the matrix itself, over `classes` in their order
    (the matrix's rows and columns)."""
    counts = np.asarray(matrix, dtype=np.float64)
    hits = np.diag(counts)
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted)
    total = support.sum()

    def weighted(values: np.ndarray) -> float:
        return float(values @ support / total) if total > 0 else 0.0

    return {
        "accuracy": float(hits.sum() / total) if total > 0 else 0.0,
        "precision": weighted(precision),
        "recall": weighted(recall),
        "f1_score": weighted(f1),
        "per_class_metrics": [
            {
                "label": label,
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1_score": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(classes)
        ],
        "confusion_matrix": {"labels": list(classes), "matrix": np.asarray(matrix).tolist()},
    }
