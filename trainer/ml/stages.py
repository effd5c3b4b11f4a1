"""The stages of a training run: a module of its own so that the web side can name them
without importing scikit-learn."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Stage"]


class Stage(StrEnum):
    """Where a run is; the values are what job runners store and the API shows."""

    LOADING_DATA = "LOADING_DATA"
    FITTING = "FITTING"
    EVALUATING = "EVALUATING"
    SAVING = "SAVING"
