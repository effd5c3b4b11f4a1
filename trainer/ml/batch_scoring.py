"""Scoring a whole CSV file with a trained model, a chunk of rows at a time.

A file of millions of rows never sits whole in memory: pandas reads `chunk_rows` rows,
they are cleaned as predictFutureNeed cleans a row (trainer.ml.predictor.features_frame),
scored with one predict_proba, and written out (input columns, `predicted_level`, one
`probability_<LEVEL>` column per level the model knows) before the next chunk is read.
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
from trainer.ml.explanations import imputed_columns
from trainer.ml.levels import class_order
from trainer.ml.predictor import FLOAT32_MAX

__all__ = ["DEFAULT_CHUNK_ROWS", "ScoringResult", "count_data_rows", "score_file"]

# Rows read, scored and written at once: large enough that predict_proba's and pandas'
# per-call costs vanish, small enough that a chunk of a wide file stays a few MB.
DEFAULT_CHUNK_ROWS = 50_000
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
) -> ScoringResult:
    """Score every row of `source` into `output` (rejected rows into `rejects`).

    Raises DataLoadError when the file cannot be read as a CSV at all, and
    TrainingCancelled when `should_stop()` turns true between two chunks; the caller
    removes the partial files then (it chose their names).
    """
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
            probabilities, late = _predict(model, frame[keep], features)
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
            written["imputed"] = [";".join(c) for c in imputed_columns(frame[keep], features)]
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
    return ScoringResult(done, scored, rejected, digest.hexdigest(), rejects_digest.hexdigest())


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
) -> tuple[np.ndarray, list[Reject]]:
    """predict_proba over the rows, less those whose scaled value a float32 cannot hold
    (returned as (position in `frame`, column, reason), their probabilities dropped)."""
    if frame.empty:
        return np.zeros((0, len(model.classes_))), []
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
    return model[-1].predict_proba(transformed), late


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
