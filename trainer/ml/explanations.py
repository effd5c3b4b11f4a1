"""Why a model chose a level: per-row reasons, the inputs its imputers filled in, and the
global importance measured the same way.

Pure ML, called per chunk of rows by whoever predicts (predictFutureNeed's threads, a
batch-scoring job): a fitted Pipeline whose last step is the classifier and whose steps
before it turn the dataset's columns into the classifier's matrix (one ColumnTransformer,
as trainer.ml.model_trainer.build_pipeline makes it).

- Tree ensembles (anything shap's TreeExplainer accepts: RandomForest, ExtraTrees,
  HistGradientBoosting, binary GradientBoosting...) are explained with TreeExplainer on
  the preprocessed matrix: exact Shapley values, in the model's own output units
  (probability for forests, log-odds for boosting; `Explanation.units` says which).
- Linear models (anything with `coef_`, LogisticRegression first) by their own terms:
  coefficient x preprocessed value (numbers are standardized by the pipeline's scaler),
  in log-odds, the intercept left out.

The classifier sees one-hot parts ("skill_name = Python"); users chose "skill_name": the
parts of a dataset column are summed back to it, which keeps Shapley values additive.
Contributions are those towards the row's predicted level (the class the classifier's own
predict would choose).

shap is imported inside the functions that need it (~3.5 s): a process that never explains
never pays for it. One TreeExplainer is built per fitted classifier and kept as long as
the classifier lives, so explaining chunk after chunk costs shap's own work only.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainer.ml.errors import UnexplainableModel

__all__ = [
    "LOG_ODDS",
    "PROBABILITY",
    "Explanation",
    "Reason",
    "UnexplainableModel",
    "contributions",
    "explain_rows",
    "global_importance",
    "imputed_columns",
    "output_columns",
    "units_of",
]

# The units a contribution is measured in: what the model's raw output is.
PROBABILITY = "probability"
LOG_ODDS = "log-odds"
# How long one call into shap's C code may hold the GIL (_shap_in_slices).
SLICE_SECONDS = 0.02


@dataclass(frozen=True)
class Reason:
    """One dataset column's share in a row's predicted level."""

    feature: str
    # The row's value as it was given: a category, a number, or None (missing, imputed).
    value: str | float | None
    # Signed: positive pushed towards the predicted level, in Explanation.units.
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """Contributions towards each row's predicted level, per dataset column.

    `values[r, c]` is row r's contribution from `columns[c]`; `predicted[r]` the index in
    the classifier's `classes_` of the level they explain.
    """

    columns: list[str]
    values: Any  # numpy array, rows x columns
    predicted: Any  # numpy int array, one per row
    units: str


_explainers: weakref.WeakKeyDictionary[Any, tuple[Any, str]] = weakref.WeakKeyDictionary()
_explainers_lock = threading.Lock()


def imputed_columns(frame: pd.DataFrame, features: Sequence[str]) -> list[list[str]]:
    """Per row, the features (in `features` order) whose value is missing: the model's
    imputers fill those in (a median, or the "(missing)" category), so the row's answer
    rests on a guess there. A column the frame lacks is missing in every row."""
    missing = np.zeros((len(frame), len(features)), dtype=bool)
    for index, column in enumerate(features):
        if column in frame.columns:
            missing[:, index] = frame[column].isna().to_numpy()
        else:
            missing[:, index] = True
    return [[features[int(c)] for c in np.flatnonzero(row)] for row in missing]


def output_columns(preprocess: Any, width: int) -> list[str]:
    """The dataset column behind each of the preprocessor's `width` output columns.

    A ColumnTransformer outputs its transformers' columns in declaration order (then the
    remainder's); a one-hot encoder as a transformer's last step makes one column per
    category kept, any other step one per input column.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    if not isinstance(preprocess, ColumnTransformer):
        raise UnexplainableModel(
            f"the model's preprocessing is a {type(preprocess).__name__}, not a "
            "ColumnTransformer: its columns cannot be named"
        )
    columns: list[str] = []
    for _name, transformer, selected in preprocess.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        names = _selected_names(preprocess, selected)
        if not names:
            continue
        last = transformer[-1] if hasattr(transformer, "steps") else transformer
        categories = getattr(last, "categories_", None)
        # Only a one-hot encoder widens a column; an ordinal one (HistGradientBoosting's
        # native categories) keeps one code per column.
        if categories is None or not isinstance(last, OneHotEncoder):
            columns += names
            continue
        drop = getattr(last, "drop_idx_", None)
        for index, (name, kept) in enumerate(zip(names, categories, strict=True)):
            dropped = drop is not None and drop[index] is not None
            columns += [name] * (len(kept) - int(dropped))
    if len(columns) != width:
        raise UnexplainableModel(
            f"the preprocessing makes {width} columns but {len(columns)} could be traced "
            "back to the dataset's columns"
        )
    return columns


def _selected_names(preprocess: Any, selected: Any) -> list[str]:
    """A transformer's input columns by name, however they were selected."""
    names = [str(name) for name in preprocess.feature_names_in_]
    if isinstance(selected, str):
        return [selected]
    if callable(selected):
        selected = selected(pd.DataFrame(columns=names))
    picked = list(np.asarray(selected).ravel()) if not isinstance(selected, slice) else selected
    if isinstance(picked, slice):
        return names[picked]
    if picked and isinstance(picked[0], bool | np.bool_):
        return [name for name, keep in zip(names, picked, strict=True) if keep]
    if picked and isinstance(picked[0], int | np.integer):
        return [names[int(i)] for i in picked]
    return [str(name) for name in picked]


def contributions(
    pipeline: Any,
    frame: pd.DataFrame,
    *,
    transformed: Any = None,
    predicted: Sequence[int] | None = None,
) -> Explanation:
    """Every column's contribution towards each row's predicted level.

    `transformed` (the preprocessor's output for `frame`) and `predicted` (class indices)
    spare the work when the caller has them already, as a prediction does.
    """
    classifier = pipeline[-1]
    if transformed is None:
        transformed = pipeline[:-1].transform(frame)
    matrix = _dense(transformed)
    names = output_columns(pipeline[:-1][-1], matrix.shape[1])
    if predicted is None:
        chosen = np.asarray(classifier.predict_proba(matrix).argmax(axis=1), dtype=np.intp)
    else:
        chosen = np.asarray(predicted, dtype=np.intp)
    raw, units = _raw_contributions(classifier, matrix, chosen)
    columns = list(dict.fromkeys(names))
    group = np.array([columns.index(name) for name in names], dtype=np.intp)
    summed = np.zeros((raw.shape[0], len(columns)), dtype=np.float64)
    np.add.at(summed.T, group, raw.T)  # one-hot parts back to their dataset column
    return Explanation(columns=columns, values=summed, predicted=chosen, units=units)


def explain_rows(
    pipeline: Any,
    frame: pd.DataFrame,
    top_k: int,
    *,
    transformed: Any = None,
    predicted: Sequence[int] | None = None,
) -> list[list[Reason]]:
    """Per row, the `top_k` columns that weighed most (largest |contribution| first, ties
    in the frame's column order) on its predicted level, each with the row's value."""
    if top_k <= 0:
        return [[] for _ in range(len(frame))]
    explanation = contributions(pipeline, frame, transformed=transformed, predicted=predicted)
    values = explanation.values
    # A stable sort keeps the frame's column order among equal magnitudes.
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :top_k]
    cells = [frame[column].tolist() for column in explanation.columns]
    return [
        [
            Reason(
                feature=explanation.columns[c],
                value=_cell(cells[c][r]),
                contribution=float(values[r, c]),
            )
            for c in order[r]
        ]
        for r in range(values.shape[0])
    ]


def global_importance(
    pipeline: Any, frame: pd.DataFrame, *, max_rows: int = 500, random_state: int = 0
) -> tuple[dict[str, float], str]:
    """Mean |contribution| per dataset column over `frame` (at most `max_rows` of it, drawn
    at random), most important first, and the units: the global view of the very numbers
    the per-row reasons show."""
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=random_state)
    explanation = contributions(pipeline, frame)
    means = np.abs(explanation.values).mean(axis=0)
    ranked = sorted(
        zip(explanation.columns, (float(m) for m in means), strict=True),
        key=lambda item: -item[1],
    )
    return dict(ranked), explanation.units


def units_of(pipeline: Any) -> str:
    """The units contributions of this model are in (PROBABILITY or LOG_ODDS)."""
    classifier = pipeline[-1]
    if _is_linear(classifier):
        return LOG_ODDS
    return _tree_explainer(classifier)[1]


def _raw_contributions(classifier: Any, matrix: Any, chosen: Any) -> tuple[Any, str]:
    """Per preprocessed column, each row's contribution towards class `chosen[row]`."""
    rows = np.arange(matrix.shape[0])
    if _is_linear(classifier):
        coef = np.asarray(classifier.coef_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary: one set of terms, for classes_[1]
            sign = np.where(chosen == 1, 1.0, -1.0)[:, None]
            return sign * (matrix * coef[0]), LOG_ODDS
        return matrix * coef[chosen], LOG_ODDS
    explainer, units = _tree_explainer(classifier)
    values = _shap_in_slices(explainer, matrix)
    if values.ndim == 3:  # rows x columns x outputs: one output per class
        return values[rows, :, chosen], units
    # One output (binary boosting): the margin of classes_[1].
    return values * np.where(chosen == 1, 1.0, -1.0)[:, None], units


def _shap_in_slices(explainer: Any, matrix: Any) -> Any:
    """explainer.shap_values over the rows, a slice of about SLICE_SECONDS at a time.

    shap's C code holds the GIL for a whole call (tens of milliseconds a row for a deep
    forest): in one call over 100 rows, the server's event loop (predictFutureNeed runs
    this in a thread) or a training worker's heartbeat thread would stand still for
    seconds. Between slices they run. The first slice is one row; later ones are sized
    from the time it took."""
    import time

    parts: list[Any] = []
    start, step = 0, 1
    while start < matrix.shape[0]:
        began = time.perf_counter()
        parts.append(
            np.asarray(explainer.shap_values(matrix[start : start + step], check_additivity=False))
        )
        per_row = (time.perf_counter() - began) / min(step, matrix.shape[0] - start)
        start += step
        step = max(1, min(1024, int(SLICE_SECONDS / per_row) if per_row > 0 else 1024))
    return np.concatenate(parts, axis=0)


def _is_linear(classifier: Any) -> bool:
    return hasattr(classifier, "coef_") and not hasattr(classifier, "estimators_")


def _tree_explainer(classifier: Any) -> tuple[Any, str]:
    """The classifier's TreeExplainer (built once, kept while the classifier lives)."""
    with _explainers_lock:
        kept = _explainers.get(classifier)
        if kept is not None:
            return kept
        import shap

        try:
            explainer = shap.TreeExplainer(classifier)
        except Exception as exc:  # shap raises its own InvalidModelError, and others
            raise UnexplainableModel(
                f"a {type(classifier).__name__} cannot be explained: {exc}"
            ) from exc
        output = str(getattr(explainer.model, "tree_output", ""))
        units = PROBABILITY if output == "probability" else LOG_ODDS
        _explainers[classifier] = (explainer, units)
        return explainer, units


def _dense(transformed: Any) -> Any:
    """The classifier's matrix as a dense float64 array (TreeExplainer takes no sparse)."""
    if hasattr(transformed, "toarray"):
        transformed = transformed.toarray()
    return np.asarray(transformed, dtype=np.float64)


def _cell(value: Any) -> str | float | None:
    """A frame cell as a Reason's value: None where it is missing."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, int | np.integer):
        return float(value)
    return str(value)
