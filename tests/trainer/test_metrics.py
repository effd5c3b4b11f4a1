"""trainer/ml/metrics.py computes every figure from the confusion matrix: the same numbers
as scikit-learn's functions on the labels, edge cases included (a class never predicted, a
class absent from the true labels, labels outside the classes)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from trainer.ml.metrics import classification_metrics, confusion

CLASSES = ["LOW", "MEDIUM", "HIGH"]


def labels(seed: int, size: int, pool: list[str]) -> np.ndarray:
    return np.random.default_rng(seed).choice(pool, size).astype(object)


CASES = {
    "mostly right": (labels(1, 500, CLASSES), None),
    "one class never predicted": (labels(2, 300, CLASSES), labels(3, 300, ["LOW", "HIGH"])),
    "one class never true": (labels(4, 300, ["LOW", "MEDIUM"]), labels(5, 300, CLASSES)),
    "all wrong": (np.array(["LOW"] * 10, dtype=object), np.array(["HIGH"] * 10, dtype=object)),
}


@pytest.mark.parametrize("case", CASES)
def test_the_figures_are_scikit_learns(case: str) -> None:
    # given
    y_true, y_pred = CASES[case]
    if y_pred is None:
        y_pred = y_true.copy()
        y_pred[::7] = "MEDIUM"

    # when
    matrix = confusion(y_true, y_pred, CLASSES)
    metrics = classification_metrics(matrix, CLASSES)

    # then
    assert matrix.tolist() == confusion_matrix(y_true, y_pred, labels=CLASSES).tolist()
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    weighted = precision_recall_fscore_support(
        y_true, y_pred, labels=CLASSES, average="weighted", zero_division=0
    )
    assert [metrics["precision"], metrics["recall"], metrics["f1_score"]] == pytest.approx(
        list(weighted[:3]), abs=1e-12
    )
    per_class = precision_recall_fscore_support(
        y_true, y_pred, labels=CLASSES, average=None, zero_division=0
    )
    for i, row in enumerate(metrics["per_class_metrics"]):
        assert row["label"] == CLASSES[i]
        assert [row["precision"], row["recall"], row["f1_score"]] == pytest.approx(
            [per_class[0][i], per_class[1][i], per_class[2][i]], abs=1e-12
        )
        assert row["support"] == per_class[3][i]


def test_labels_outside_the_classes_are_left_out_as_scikit_learn_does() -> None:
    # given: a pair with an unknown true label and one with an unknown prediction
    y_true = np.array(["LOW", "HIGH", "??", "MEDIUM"], dtype=object)
    y_pred = np.array(["LOW", "MEDIUM", "LOW", "nope"], dtype=object)

    # when
    matrix = confusion(y_true, y_pred, CLASSES)

    # then
    assert matrix.tolist() == confusion_matrix(y_true, y_pred, labels=CLASSES).tolist()
    assert classification_metrics(matrix, CLASSES)["accuracy"] == 0.5
