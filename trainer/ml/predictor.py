"""Predictions from trained models: load a model file only once its bytes are proved to be
those the run recorded, keep a few loaded per process, and answer rows exactly as
`pipeline.predict_proba` would.

No web or database code here: the caller says which file and which sha256 (from the run),
and gives rows keyed by the dataset's column names.

A joblib file is a pickle, and unpickling runs code: the hash is taken from the very
open file that is then loaded (as trainer.ml.model_trainer.load_model does), so no file
swapped in after the check can be loaded. Paths are resolved inside the models folder
only (trainer.model_files.model_file_path), as for downloads.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import stat
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from anyio import CapacityLimiter, to_thread

from trainer.ml.levels import class_order
from trainer.model_files import ModelFileChanged, ModelFileMissing

if TYPE_CHECKING:
    import pandas as pd

# numpy, pandas and joblib (and scikit-learn, through the unpickling) are imported by the
# functions that run in prediction threads: a server that never predicts never loads them
# (nor does a CLI command), as a server that never trains never imports scikit-learn.

logger = logging.getLogger("trainer.predictor")

# Rows of one prediction request; more are refused before anything is loaded.
MAX_PREDICTION_ROWS = 1000
# Predictions (and model loads) running at once per process: each holds a core for its
# length, and beyond the cores more threads only slow every one of them down.
PREDICTION_THREADS = max(1, min(4, os.cpu_count() or 1))

Row = Mapping[str, str | float | None]


class LabelProbability(NamedTuple):
    label: str
    probability: float


@dataclass(frozen=True)
class RowPrediction:
    level: str
    # In LOW, MEDIUM, HIGH order, for the classes the model knows only.
    probabilities: list[LabelProbability]


def features_frame(rows: Sequence[Row], features: Sequence[str]) -> pd.DataFrame:
    """The rows as the model's input, each value cleaned as trainer.ml.dataset cleans a CSV
    cell, so a value missing here is what a blank cell was in training (the model's
    imputers then fill it as they learnt to).

    Categories are stripped, and an empty one is missing; numbers are floats, missing
    (None) or non-finite ones are NaN. Columns the model was not trained on are ignored.
    """
    import numpy as np
    import pandas as pd

    from trainer.ml.dataset import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS

    data: dict[str, Any] = {}
    for column in features:
        values = [row.get(column) for row in rows]
        if column in CATEGORICAL_COLUMNS:
            cleaned = [
                value.strip() or np.nan if isinstance(value, str) else np.nan for value in values
            ]
            data[column] = pd.Series(cleaned, dtype=object)
        elif column in NUMERIC_COLUMNS:
            numbers = np.array(
                [np.nan if value is None else float(value) for value in values], dtype=np.float64
            )
            numbers[~np.isfinite(numbers)] = np.nan
            data[column] = numbers
        else:
            raise ValueError(f"the model uses an unknown feature column {column!r}")
    return pd.DataFrame(data, columns=list(features))


def predict_rows(model: Any, rows: Sequence[Row], features: Sequence[str]) -> list[RowPrediction]:
    """One predict_proba over all rows; each row's level is its most probable class (as
    the forest's own predict chooses it: the first of equals in `classes_` order)."""
    probabilities = model.predict_proba(features_frame(rows, features))
    classes = [str(label) for label in model.classes_]
    order = sorted(range(len(classes)), key=lambda i: class_order(classes[i]))
    best = probabilities.argmax(axis=1)
    return [
        RowPrediction(
            level=classes[best[r]],
            probabilities=[LabelProbability(classes[i], float(probabilities[r, i])) for i in order],
        )
        for r in range(len(probabilities))
    ]


def load_verified_model(path: Path, expected_sha256: str) -> Any:
    """Unpickle the model at `path` only if its bytes hash to `expected_sha256`.

    Raises ModelFileMissing (no regular file there) or ModelFileChanged (other bytes: the
    file is never unpickled).
    """
    import joblib

    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ModelFileMissing()
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            if not hmac.compare_digest(digest.encode(), expected_sha256.strip().lower().encode()):
                raise ModelFileChanged(info.st_size)
            handle.seek(0)
            return joblib.load(handle)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise ModelFileMissing() from None


class ModelCache:
    """Models loaded by this process: at most `max_models`, the least recently used
    forgotten first, keyed by file and sha256 (a run's model never changes, so an entry
    never goes stale). `loads` counts files read and unpickled.

    Loading and predicting run in worker threads (at most PREDICTION_THREADS at once), so
    the event loop keeps answering other requests meanwhile; concurrent first requests
    for one model wait for a single load.
    """

    def __init__(self, max_models: int = 4) -> None:
        self.max_models = max_models
        self.loads = 0
        self._models: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._pending: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._threads = CapacityLimiter(PREDICTION_THREADS)

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._models

    async def model(self, path: Path, sha256: str) -> Any:
        key = (str(path), sha256)
        model = self._models.get(key)
        if model is not None:
            self._models.move_to_end(key)
            return model
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(path, sha256))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        # Shielded: a client that goes away does not cancel the others' load.
        model = await asyncio.shield(pending)
        self._models[key] = model
        self._models.move_to_end(key)
        while len(self._models) > self.max_models:
            self._models.popitem(last=False)
        return model

    async def _load(self, path: Path, sha256: str) -> Any:
        self.loads += 1
        model = await to_thread.run_sync(load_verified_model, path, sha256, limiter=self._threads)
        logger.info("model %s loaded (sha256 %s)", path.name, sha256)
        return model

    async def predict(
        self, path: Path, sha256: str, rows: Sequence[Row], features: Sequence[str]
    ) -> list[RowPrediction]:
        model = await self.model(path, sha256)
        return await to_thread.run_sync(predict_rows, model, rows, features, limiter=self._threads)
