"""Exceptions the trainer raises, worded so a run's error message can be shown to HR users as is.

Every message names the dataset or model file by the name it was given, never by an absolute
path, because messages end up in the API where server paths must not leak.
"""

from __future__ import annotations

__all__ = [
    "DataLoadError",
    "TrainerError",
    "TrainingCancelled",
    "TrainingError",
    "UnexplainableModel",
    "os_error_reason",
]


class TrainerError(Exception):
    """Root of the trainer's errors, so a job runner can tell expected failures from bugs."""


class DataLoadError(TrainerError):
    """The dataset cannot be used: the run failed before any training started."""


class TrainingError(TrainerError):
    """The data loaded but no model could be trained or saved from it."""


class TrainingCancelled(TrainerError):
    """Someone asked the run to stop; it stopped cleanly and left no model file behind."""


class UnexplainableModel(ValueError):
    """The classifier is neither a tree ensemble shap explains nor a linear model, or its
    preprocessing cannot be mapped back to the dataset's columns (trainer.ml.explanations;
    declared here so that callers catch it without importing numpy)."""


def os_error_reason(exc: OSError) -> str:
    """The OS's plain reason ("Permission denied") without the file name, which is a path."""
    return exc.strerror or type(exc).__name__
