"""The need levels a model learns, in their one order (LOW, MEDIUM, HIGH).

A run's perClassMetrics and confusion matrix, a prediction's probabilities and a
comparison's perClass all list classes in this order. Kept apart from dataset.py so that
code ordering labels (the web process) does not import pandas.
"""

from __future__ import annotations

TARGET_CLASSES: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH")


def class_order(label: str) -> int:
    """A label's place in TARGET_CLASSES; any other label sorts after them."""
    return TARGET_CLASSES.index(label) if label in TARGET_CLASSES else len(TARGET_CLASSES)
