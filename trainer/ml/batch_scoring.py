"""Scoring a whole CSV file with a trained model, a chunk of rows at a time.

A file of millions of rows never sits whole in memory: pandas reads `chunk_rows` rows,
they are cleaned as predictFutureNeed cleans a row (trainer.ml.predictor.features_frame),
scored with one predict_proba, and written out (input columns, `predicted_level`, one
`probability_<LEVEL>` column per level the model knows, `imputed`) before the next chunk
is read. With `explain` = k > 0, each row also gets the k columns that weighed most on its
level, as predictFutureNeed's reasons (trainer.ml.explanations.contributions, one call per
chunk): `reason_<i>_feature` (the dataset's column, one-hot parts summed back),
`reason_<i>_value` (the row's value, blank if missing) and `reason_<i>_contribution`
(signed, in ScoringResult.units: probability for forests, log-odds for boosting and linear
models). A model with fewer columns than k leaves the extra reason columns blank.
A row the model cannot take (text in a numeric column, a number beyond float32's range
as written or once scaled) is not scored: it goes to the rejects file with its row
number and the reason, and the job goes on.

No web, database or job code here: the caller gives the loaded model, the paths, and two
callables (progress, and whether to stop between chunks).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainer.ml.dataset import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS, csv_chunks, open_regular_file
from trainer.ml.errors import DataLoadError, TrainingCancelled
from trainer.ml.explanations import contributions, imputed_columns, units_of
from trainer.ml.levels import class_order
from trainer.ml.predictor import FLOAT32_MAX

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "EXPLAIN_CHUNK_ROWS",
    "ScoringResult",
    "count_data_rows",
    "reason_columns",
    "score_file",
]

# Rows read, scored and written at once: large enough that predict_proba's and pandas'
# per-call costs vanish, small enough that a chunk of a wide file stays a few MB.
DEFAULT_CHUNK_ROWS = 50_000
# Rows per chunk when explaining: shap's values are rows x matrix columns x classes
# float64 (5,000 x 139 x 3 = 17 MB on the shipped dataset's model, against 170 MB at
# 50,000), and at tens of microseconds a row and tree, shap's work dwarfs a chunk's reads.
EXPLAIN_CHUNK_ROWS = 5_000
_COUNT_BLOCK = 1 << 20
REJECT_COLUMNS = ("row", "column", "reason")


@dataclass(frozen=True)
class ScoringResult:
    rows_total: int
    rows_scored: int
    rows_rejected: int
    # Of the output file's bytes, and of the rejects file's, as written.
    sha256: str
    rejects_sha256: str
    # What the reason_<i>_contribution columns are in (explanations.PROBABILITY or
    # LOG_ODDS); None when no reasons were asked for.
    units: str | None = None


def count_data_rows(path: Path, display_name: str) -> int:
    """Lines after the header (a cheap pass over the bytes, for the progress bar: a quoted
    value holding a line break makes it an overestimate, which the final count corrects)."""
    lines = 0
    last = b"\n"
    with open_regular_file(path, display_name) as raw:
        while block := raw.read(_COUNT_BLOCK):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1  # a last line without its line break
    return max(0, lines - 1)


def score_file(
    model: Any,
    features: Sequence[str],
    source: Path,
    display_name: str,
    output: Path,
    rejects: Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_progress: Callable[[int], None] = lambda _rows: None,
    should_stop: Callable[[], bool] = lambda: False,
    explain: int = 0,
) -> ScoringResult:
    """Score every row of `source` into `output` (rejected rows into `rejects`), with
    `explain` reasons per row.

    Raises DataLoadError when the file cannot be read as a CSV at all, TrainingCancelled
    when `should_stop()` turns true between two chunks (the caller removes the partial
    files then: it chose their names), and UnexplainableModel before reading anything when
    reasons are asked of a model that cannot give them.
    """
    units = None
    if explain > 0:
        units = units_of(model)  # builds the explainer once, or refuses the model now
        chunk_rows = min(chunk_rows, EXPLAIN_CHUNK_ROWS)
    classes = [str(label) for label in model.classes_]
    order = sorted(range(len(classes)), key=lambda i: class_order(classes[i]))
    digest = hashlib.sha256()
    rejects_digest = hashlib.sha256()
    scored = rejected = done = 0
    with (
        open_regular_file(source, display_name) as raw,
        output.open("wb") as out,
        rejects.open("wb") as rejects_file,
    ):

        def write_rejects(rows: Sequence[Sequence[object]]) -> None:
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows(rows)
            data = text.getvalue().encode("utf-8")
            rejects_digest.update(data)
            rejects_file.write(data)

        write_rejects([REJECT_COLUMNS])
        header = True
        for chunk in csv_chunks(raw, display_name, chunk_rows):
            if should_stop():
                raise TrainingCancelled("cancelled while scoring")
            frame, refused = _features(chunk, features, first_row=done + 1)
            keep = np.ones(len(chunk), dtype=bool)
            for row, _column, _reason in refused:
                keep[row - done - 1] = False
            probabilities, transformed, late = _predict(model, frame[keep], features)
            if late:
                kept_rows = np.flatnonzero(keep)
                for position, column, reason in late:
                    index = kept_rows[position]
                    refused.append((done + 1 + int(index), column, reason))
                    keep[index] = False
            refused.sort()
            if refused:
                write_rejects(refused)
            # Most chunks have no reject: no copy of them then.
            written = chunk if keep.all() else chunk[keep].reset_index(drop=True)
            best = probabilities.argmax(axis=1) if len(probabilities) else np.array([], int)
            written["predicted_level"] = np.asarray(classes, dtype=object)[best]
            for i in order:
                written[f"probability_{classes[i]}"] = probabilities[:, i]
            # The inputs the model's imputers filled in: the answer rests on a guess there.
            kept_frame = frame[keep]
            written["imputed"] = [";".join(c) for c in imputed_columns(kept_frame, features)]
            if explain > 0:
                reasons = reason_columns(model, kept_frame, transformed, best, explain)
                for name, column in reasons.items():
                    written[name] = column
            text = written.to_csv(index=False, header=header, lineterminator="\n")
            header = False
            data = text.encode("utf-8")
            digest.update(data)
            out.write(data)
            done += len(chunk)
            scored += int(keep.sum())
            rejected += len(refused)
            on_progress(done)
        if header:
            raise DataLoadError(f"the file '{display_name}' has a header but no data rows")
    return ScoringResult(
        done, scored, rejected, digest.hexdigest(), rejects_digest.hexdigest(), units
    )


def reason_columns(
    model: Any, frame: pd.DataFrame, transformed: Any, predicted: Any, top_k: int
) -> dict[str, Any]:
    """The `reason_<i>_{feature,value,contribution}` columns (i = 1..top_k) for the rows
    of `frame` (`transformed` and `predicted` are the chunk's matrix and class indices,
    already computed): one contributions() call for all of them, the top k picked with
    numpy as explain_rows picks them (largest |contribution| first, ties in the
    explanation's column order), no Python object per row."""
    rows = len(frame)
    columns: dict[str, Any] = {}
    if rows:
        explanation = contributions(model, frame, transformed=transformed, predicted=predicted)
        values = explanation.values
        order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :top_k]
        names = np.asarray(explanation.columns, dtype=object)
        cells = frame[explanation.columns].to_numpy(dtype=object)
        index = np.arange(rows)
        for i, chosen in enumerate(order.T, start=1):
            columns[f"reason_{i}_feature"] = names[chosen]
            columns[f"reason_{i}_value"] = cells[index, chosen]
            columns[f"reason_{i}_contribution"] = values[index, chosen]
    # No row in the chunk, or fewer columns in the model than reasons asked: blank cells.
    for i in range(len(columns) // 3 + 1, top_k + 1):
        columns[f"reason_{i}_feature"] = np.full(rows, None, dtype=object)
        columns[f"reason_{i}_value"] = np.full(rows, None, dtype=object)
        columns[f"reason_{i}_contribution"] = np.full(rows, np.nan)
    return columns


Reject = tuple[int, str, str]


def _features(
    chunk: pd.DataFrame, features: Sequence[str], first_row: int
) -> tuple[pd.DataFrame, list[Reject]]:
    """The model's input for a chunk, and the rows it cannot take (row number, column,
    reason: the first bad column of each row only)."""
    data: dict[str, Any] = {}
    bad: dict[int, tuple[str, str]] = {}
    for column in features:
        if column not in chunk.columns:
            # A column the file lacks is missing everywhere: the model's imputers fill it.
            data[column] = np.full(len(chunk), np.nan)
            continue
        values = chunk[column]
        if column in CATEGORICAL_COLUMNS:
            # As trainer.ml.dataset cleans a training file: the model saw these values.
            data[column] = values.str.strip().replace("", np.nan)
        elif column in NUMERIC_COLUMNS:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, copy=True)
            if not pd.api.types.is_numeric_dtype(values.dtype):
                text = values.str.strip()
                is_text = (text.notna() & (text != "")).to_numpy() & np.isnan(numbers)
                for index in np.flatnonzero(is_text):
                    bad.setdefault(
                        int(index), (column, f"{str(values.iloc[index])[:40]!r} is not a number")
                    )
            too_large = np.abs(numbers) > FLOAT32_MAX  # NaN compares False
            for index in np.flatnonzero(too_large):
                bad.setdefault(int(index), (column, "beyond the range models take (±3.4e38)"))
            numbers[too_large] = np.nan
            data[column] = numbers
        else:
            raise ValueError(f"the model uses an unknown feature column {column!r}")
    frame = pd.DataFrame(data, columns=list(features))
    return frame, [(first_row + index, *reason) for index, reason in sorted(bad.items())]


def _predict(
    model: Any, frame: pd.DataFrame, features: Sequence[str]
) -> tuple[np.ndarray, Any, list[Reject]]:
    """predict_proba over the rows, less those whose scaled value a float32 cannot hold
    (returned as (position in `frame`, column, reason), their probabilities dropped), and
    the preprocessed matrix of the rows kept (for their explanation)."""
    if frame.empty:
        return np.zeros((0, len(model.classes_))), None, []
    with np.errstate(over="ignore", invalid="ignore"):
        transformed = model[:-1].transform(frame)
    finite = _finite_rows(transformed)
    late: list[Reject] = []
    if not finite.all():
        names = _input_columns(model, features)
        dense = transformed.toarray() if hasattr(transformed, "toarray") else transformed
        for position in np.flatnonzero(~finite):
            column = int(np.flatnonzero(~(np.abs(dense[position]) <= FLOAT32_MAX))[0])
            late.append(
                (
                    int(position),
                    names[column] if column < len(names) else features[0],
                    "too far from the values the model was trained on (beyond float32 once scaled)",
                )
            )
        transformed = transformed[finite]
    return model[-1].predict_proba(transformed), transformed, late


def _finite_rows(transformed: Any) -> np.ndarray:
    if hasattr(transformed, "tocsr"):
        csr = transformed.tocsr()
        bad_cells = ~(np.abs(csr.data) <= FLOAT32_MAX)
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        finite = np.ones(csr.shape[0], dtype=bool)
        finite[rows[bad_cells]] = False
        return finite
    return np.asarray(np.all(np.abs(np.asarray(transformed)) <= FLOAT32_MAX, axis=1))


def _input_columns(model: Any, features: Sequence[str]) -> list[str]:
    """The dataset column behind each preprocessed column (`<group>__<column>`)."""
    try:
        names = [str(name) for name in model[:-1].get_feature_names_out()]
    except (AttributeError, ValueError):
        return []
    columns = []
    for name in names:
        column = name.partition("__")[2]
        match = next((f for f in features if column == f or column.startswith(f + "_")), None)
        columns.append(match or features[0])
    return columns
