"""Predictions from trained models: load a model file only once its bytes are proved to be
those the run recorded, keep a few loaded per process, and answer rows exactly as
`pipeline.predict_proba` would.

No web or database code here: the caller says which file and which sha256 (from the run),
and gives rows keyed by the dataset's column names.

A joblib file is a pickle, and unpickling runs code: trainer.model_files.load_verified_model
(shared with trainer.ml.model_trainer.load_model) reads the file once and unpickles the
very bytes it hashed, so no file swapped or rewritten after the check can be loaded, and
it keeps nothing but a fitted Pipeline. Paths are resolved inside the models folder only
(trainer.model_files.model_file_path), as for downloads.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from anyio import CapacityLimiter, to_thread

from trainer.ml.levels import class_order
from trainer.model_files import VerifiedModel, load_verified_model

if TYPE_CHECKING:
    import pandas as pd

    from trainer.ml.explanations import Reason

# numpy, pandas and joblib (and scikit-learn, through the unpickling) are imported by the
# functions that run in prediction threads: a server that never predicts never loads them
# (nor does a CLI command), as a server that never trains never imports scikit-learn.

logger = logging.getLogger("trainer.predictor")

# Rows of one prediction request; more are refused before anything is loaded.
MAX_PREDICTION_ROWS = 1000
# Rows of one request that asks for reasons: exact Shapley values of a deep forest cost
# tens of milliseconds a row (bench/results/explanations.md), so a request explains at
# most this many; whole files go to batch scoring.
MAX_EXPLAINED_ROWS = 100
# The most reasons a row may ask for (predictFutureNeed's and batch scoring's `explain`).
MAX_REASONS = 10
# Predictions (and model loads) running at once per process: each holds a core for its
# length, and beyond the cores more threads only slow every one of them down.
PREDICTION_THREADS = max(1, min(4, os.cpu_count() or 1))
# The largest magnitude a float32 holds: scikit-learn's trees compare float32 features,
# and refuse (with a ValueError) any input that becomes infinite once cast to it.
FLOAT32_MAX = 3.4028234663852886e38

Row = Mapping[str, str | float | None]


class LabelProbability(NamedTuple):
    label: str
    probability: float


@dataclass(frozen=True)
class RowPrediction:
    level: str
    # In LOW, MEDIUM, HIGH order, for the classes the model knows only.
    probabilities: list[LabelProbability]
    # The model's features this row left missing, which its imputers filled in.
    imputed: list[str]
    # The largest contributions to `level`, when asked for (else empty).
    reasons: list[Reason]


@dataclass(frozen=True)
class Predictions:
    """A request's rows answered, column by column, and the units of their reasons'
    contributions (None when no reasons were asked for).

    Kept as columns (what predict_proba gives): the compact answer is these very lists,
    and the objects of `rows` are built only for a client that asks for one per row.
    """

    # The classes the model knows, in LOW, MEDIUM, HIGH order.
    labels: list[str]
    # Per row: its most probable level, the probability of each of `labels`, the inputs
    # its imputers filled in, and its reasons (empty lists when none were asked for).
    levels: list[str]
    probabilities: list[list[float]]
    # Per row and feature, whether the row left it missing (a numpy array of booleans):
    # `imputed` names them, once a client asks.
    missing: Any
    features: Sequence[str]
    reasons: list[list[Reason]]
    units: str | None

    @functools.cached_property
    def imputed(self) -> list[list[str]]:
        """Per row, the features (in model order) its imputers filled in: only the rows
        that miss something (most miss nothing) are looked at one by one."""
        import numpy as np

        features = self.features
        missing = self.missing
        incomplete = set(np.flatnonzero(missing.any(axis=1)).tolist())
        return [
            [features[c] for c in np.flatnonzero(missing[r]).tolist()] if r in incomplete else []
            for r in range(len(missing))
        ]

    @functools.cached_property
    def rows(self) -> list[RowPrediction]:
        labels = self.labels
        return [
            RowPrediction(
                level=level,
                probabilities=[
                    LabelProbability(label, p) for label, p in zip(labels, row, strict=True)
                ],
                imputed=imputed,
                reasons=reasons,
            )
            for level, row, imputed, reasons in zip(
                self.levels, self.probabilities, self.imputed, self.reasons, strict=True
            )
        ]


class RowValueOutOfRange(ValueError):
    """A number the model cannot take: beyond float32's range as sent, or once scaled as
    in training (a value far outside the training data, over a small spread). `row` is
    its index in the request, `column` the dataset column."""

    def __init__(self, row: int, column: str, message: str) -> None:
        super().__init__(message)
        self.row = row
        self.column = column


def check_row_values(rows: Sequence[Row]) -> None:
    """Refuse (RowValueOutOfRange) the first number beyond float32's range, before any
    model is loaded. NaN and infinities pass: features_frame makes them missing values."""
    for index, row in enumerate(rows):
        for column, value in row.items():
            # The common values first, each settled by one cheap test: a 1,000-row
            # request holds 11,000 of them.
            if value is None or type(value) is str:
                continue
            if type(value) is float and -FLOAT32_MAX <= value <= FLOAT32_MAX:
                continue
            if isinstance(value, int | float) and math.isfinite(value) and abs(value) > FLOAT32_MAX:
                raise RowValueOutOfRange(
                    index, column, f"{value:g} is beyond the range models take (±3.4e38)"
                )


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
            try:
                # numpy reads None as NaN and converts floats in one C loop.
                numbers = np.array(values, dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                numbers = np.array(
                    [np.nan if value is None else float(value) for value in values],
                    dtype=np.float64,
                )
            numbers[~np.isfinite(numbers)] = np.nan
            data[column] = numbers
        else:
            raise ValueError(f"the model uses an unknown feature column {column!r}")
    return pd.DataFrame(data, columns=list(features))


def predict_rows(
    model: Any, rows: Sequence[Row], features: Sequence[str], explain: int = 0
) -> Predictions:
    """One predict_proba over all rows; each row's level is its most probable class (as
    the forest's own predict chooses it: the first of equals in `classes_` order), the
    inputs its imputers filled in, and with `explain` > 0 that many reasons for the level
    (trainer.ml.explanations, on the matrix and levels already computed).

    The Pipeline's steps run as Pipeline.predict_proba runs them, with the features
    checked in between: a value the scaler makes too large for a float32 is refused
    naming its row and column (RowValueOutOfRange), not failed on inside scikit-learn.
    """
    import numpy as np

    from trainer.ml.explanations import explain_rows, units_of

    frame = features_frame(rows, features)
    with np.errstate(over="ignore", invalid="ignore"):
        transformed = model[:-1].transform(frame)
    _check_transformed(model, transformed, features)
    probabilities = model[-1].predict_proba(transformed)
    classes = [str(label) for label in model.classes_]
    order = sorted(range(len(classes)), key=lambda i: class_order(classes[i]))
    best = probabilities.argmax(axis=1)
    reasons: list[list[Reason]] = [[] for _ in range(len(probabilities))]
    if explain > 0:
        reasons = explain_rows(model, frame, explain, transformed=transformed, predicted=best)
    return Predictions(
        labels=[classes[i] for i in order],
        levels=np.asarray(classes, dtype=object)[best].tolist(),
        probabilities=probabilities[:, order].tolist(),
        missing=missing_matrix(frame, features),
        features=features,
        reasons=reasons,
        units=units_of(model) if explain > 0 else None,
    )


def missing_matrix(frame: pd.DataFrame, features: Sequence[str]) -> Any:
    """Per row and feature (in `features` order), whether the frame leaves it missing:
    what trainer.ml.explanations.imputed_columns names (a column the frame lacks is
    missing in every row)."""
    import numpy as np

    missing = np.ones((len(frame), len(features)), dtype=bool)
    for index, column in enumerate(features):
        if column in frame.columns:
            missing[:, index] = frame[column].isna().to_numpy()
    return missing


def _check_transformed(model: Any, transformed: Any, features: Sequence[str]) -> None:
    """Raise RowValueOutOfRange for the first row (and its column) whose preprocessed
    value a float32 cannot hold."""
    import numpy as np

    if hasattr(transformed, "tocoo"):  # a scipy sparse matrix (mostly one-hot columns)
        coo = transformed.tocoo()
        bad = np.flatnonzero(~(np.abs(coo.data) <= FLOAT32_MAX))
        if not bad.size:
            return
        first = bad[np.lexsort((coo.col[bad], coo.row[bad]))[0]]
        row, position = int(coo.row[first]), int(coo.col[first])
    else:
        rows, columns = np.nonzero(~(np.abs(np.asarray(transformed)) <= FLOAT32_MAX))
        if not rows.size:
            return
        row, position = int(rows[0]), int(columns[0])
    raise RowValueOutOfRange(
        row,
        _input_column(model, position, features),
        "too far from the values the model was trained on (beyond float32 once scaled)",
    )


def _input_column(model: Any, position: int, features: Sequence[str]) -> str:
    """The dataset column behind the preprocessed column at `position` (ColumnTransformer
    names it `<group>__<column>`), or the first feature if the model does not say."""
    try:
        name = str(model[:-1].get_feature_names_out()[position])
    except (AttributeError, IndexError, ValueError):
        name = ""
    column = name.partition("__")[2]
    return column if column in features else features[0]


class ModelCache:
    """Models loaded by this process, keyed by file and sha256 (a run's model never
    changes, so an entry never goes stale): at most `max_models` of them and at most
    `max_bytes` of model files between them (a loaded model takes about its file's size
    in memory), the least recently used forgotten first. `loads` counts files read and
    unpickled.

    A file over `max_model_bytes` is never read (ModelFileTooLarge); one that fits that
    limit but not `max_bytes` (only when the caller sets them so) is answered from and
    not kept. Files are loaded one at a time, as a load peaks at about three times the
    file's size: memory stays under max_bytes + 3 x max_model_bytes however many models are
    asked for at once (plus any model dropped while a prediction still uses it, until
    that prediction ends).

    Loading and predicting run in worker threads (at most PREDICTION_THREADS at once), so
    the event loop keeps answering other requests meanwhile; concurrent first requests
    for one model wait for a single load. A load that fails keeps nothing.
    """

    def __init__(
        self,
        max_models: int = 4,
        max_bytes: int = 512_000_000,
        max_model_bytes: int | None = None,
    ) -> None:
        self.max_models = max_models
        self.max_bytes = max_bytes
        self.max_model_bytes = max_model_bytes
        self.loads = 0
        self._models: OrderedDict[tuple[str, str], VerifiedModel] = OrderedDict()
        self._bytes = 0
        self._pending: dict[tuple[str, str], asyncio.Future[VerifiedModel]] = {}
        self._threads = CapacityLimiter(PREDICTION_THREADS)
        self._loading = CapacityLimiter(1)

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._models

    @property
    def bytes(self) -> int:
        """The sizes of the model files kept, added up."""
        return self._bytes

    async def model(self, path: Path, sha256: str) -> Any:
        key = (str(path), sha256)
        kept = self._models.get(key)
        if kept is not None:
            self._models.move_to_end(key)
            return kept.pipeline
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key, path, sha256))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        # Shielded: a client that goes away does not cancel the others' load.
        return (await asyncio.shield(pending)).pipeline

    async def _load(self, key: tuple[str, str], path: Path, sha256: str) -> VerifiedModel:
        async with self._loading:
            self.loads += 1
            loaded = await to_thread.run_sync(
                lambda: load_verified_model(path, sha256, max_bytes=self.max_model_bytes),
                limiter=self._threads,
            )
        logger.info("model %s loaded (%d bytes, sha256 %s)", path.name, loaded.size, sha256)
        self._keep(key, loaded)
        return loaded

    def _keep(self, key: tuple[str, str], loaded: VerifiedModel) -> None:
        if loaded.size > self.max_bytes:
            logger.warning(
                "model %s (%d bytes) is larger than the whole cache (%d): not kept",
                Path(key[0]).name,
                loaded.size,
                self.max_bytes,
            )
            return
        self._models[key] = loaded
        self._bytes += loaded.size
        while len(self._models) > self.max_models or self._bytes > self.max_bytes:
            _, dropped = self._models.popitem(last=False)
            self._bytes -= dropped.size

    async def predict(
        self,
        path: Path,
        sha256: str,
        rows: Sequence[Row],
        features: Sequence[str],
        explain: int = 0,
    ) -> Predictions:
        model = await self.model(path, sha256)
        return await to_thread.run_sync(
            predict_rows, model, rows, features, explain, limiter=self._threads
        )
