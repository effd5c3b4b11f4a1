"""Reading a future-skills CSV into a clean, checked table the trainer can rely on.

HR exports are messy: stray spaces, lower-case levels, blank cells, columns missing. What
can be repaired is repaired here (and counted); what cannot becomes a DataLoadError whose
message tells the user what is wrong with their file.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trainer.ml.dataset_files import (
    DEFAULT_CSV_LIMITS,
    CsvLimits,
    CsvSummary,
    HashingReader,
    scan_csv,
)
from trainer.ml.errors import DataLoadError, os_error_reason
from trainer.ml.levels import TARGET_CLASSES

__all__ = [
    "CATEGORICAL_COLUMNS",
    "FEATURE_COLUMNS",
    "NUMERIC_COLUMNS",
    "TARGET_CLASSES",
    "TARGET_COLUMN",
    "Dataset",
    "check_dataset",
    "csv_chunks",
    "load_dataset",
    "open_regular_file",
    "stream_dataset",
]

CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "job_role_name",
    "skill_name",
    "skill_category",
    "job_department",
)
NUMERIC_COLUMNS: tuple[str, ...] = (
    "trend_score",
    "internal_usage",
    "training_requests",
    "scarcity_index",
    "hiring_difficulty",
    "avg_salary_k",
    "economic_indicator",
)
FEATURE_COLUMNS: tuple[str, ...] = CATEGORICAL_COLUMNS + NUMERIC_COLUMNS
TARGET_COLUMN = "future_need_level"

_READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: only usable rows, only the known columns that hold data.

    features lists the feature columns actually present, categorical first then numeric,
    in FEATURE_COLUMNS order; the model is built from exactly these.
    """

    frame: pd.DataFrame
    features: tuple[str, ...]
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    dropped_rows: int
    sha256: str
    total_rows_read: int


def load_dataset(
    path: Path, display_name: str | None = None, limits: CsvLimits = DEFAULT_CSV_LIMITS
) -> Dataset:
    """Load and clean the CSV at `path`, naming it `display_name` in any error message.

    The file's shape is checked against `limits` first (trainer.ml.dataset_files.scan_csv),
    so a file too wide for them is refused before pandas reads it. The sha256 is of the
    exact bytes parsed, hashed as pandas reads them, so the recorded fingerprint always
    matches the data the model learnt from.
    """
    name = display_name if display_name is not None else path.name
    read = _read(path, name, limits, keep_rows=True)
    frame = pd.concat(read.chunks, ignore_index=True)
    features = read.categorical + read.numeric
    return Dataset(
        frame=frame[[*features, TARGET_COLUMN]],
        features=features,
        categorical=read.categorical,
        numeric=read.numeric,
        dropped_rows=read.total_rows - len(frame),
        sha256=read.sha256,
        total_rows_read=read.total_rows,
    )


def check_dataset(path: Path, display_name: str, limits: CsvLimits) -> CsvSummary:
    """Every check load_dataset makes, without keeping the rows: what an upload is
    validated with, in the web process, whose memory stays within one chunk of rows
    whatever the file's size. Returns the file's description (rows, columns, sha256)."""
    return _read(path, display_name, limits, keep_rows=False).summary


def stream_dataset(
    path: Path,
    display_name: str,
    limits: CsvLimits,
    on_chunk: Callable[[pd.DataFrame, int, int | None], None],
    rows_per_chunk: int | None = None,
) -> str:
    """load_dataset's reading and checks without keeping the rows: each chunk's usable
    rows go to `on_chunk(rows, rows read so far, rows in the file)` (which may raise to
    stop). Returns the sha256 of the bytes read. `rows_per_chunk`: the chunks' size
    (by default about _CHUNK_CELLS cells, as load_dataset reads)."""
    return _read(
        path, display_name, limits, keep_rows=False, on_chunk=on_chunk, chunk_rows=rows_per_chunk
    ).sha256


# The rows pandas parses at once: about this many cells, and this many bytes of the file,
# so that neither a wide file nor one of long values makes a large chunk.
_CHUNK_CELLS = 500_000
_CHUNK_BYTES = 16 << 20


@dataclass
class _Read:
    summary: CsvSummary
    sha256: str
    chunks: list[pd.DataFrame]
    total_rows: int
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]


def _read(
    path: Path,
    name: str,
    limits: CsvLimits,
    *,
    keep_rows: bool,
    on_chunk: Callable[[pd.DataFrame, int, int | None], None] | None = None,
    chunk_rows: int | None = None,
) -> _Read:
    """Check the file's shape, then read it a chunk of rows at a time, cleaning each and
    keeping (if asked) only its usable rows and known columns; refuse it with the first
    reason it cannot be trained on."""
    raw = open_regular_file(path, name)
    with raw:
        summary = scan_csv(raw, name, limits)
        raw.seek(0)
        hashing = HashingReader(raw)
        rows_per_chunk = chunk_rows or _rows_per_chunk(summary, os.fstat(raw.fileno()).st_size)
        chunks: list[pd.DataFrame] = []
        total_rows = kept_rows = 0
        with_values: set[str] = set()
        for chunk in csv_chunks(hashing, name, rows_per_chunk):
            if TARGET_COLUMN not in chunk.columns:
                raise DataLoadError(
                    f"the dataset '{name}' has no '{TARGET_COLUMN}' column, "
                    "which must hold the need level to learn (LOW, MEDIUM or HIGH)"
                )
            total_rows += len(chunk)
            cleaned = _clean(chunk)
            kept_rows += len(cleaned)
            with_values.update(c for c in cleaned.columns if cleaned[c].notna().any())
            if keep_rows:
                chunks.append(cleaned)
            if on_chunk is not None:
                on_chunk(cleaned, total_rows, summary.rows)
        hashing.drain()
    if total_rows == 0:
        raise DataLoadError(f"the dataset '{name}' has a header but no data rows")
    if kept_rows == 0:
        raise DataLoadError(
            f"none of the {total_rows} rows of the dataset '{name}' has a "
            f"'{TARGET_COLUMN}' of LOW, MEDIUM or HIGH"
        )
    # A column with no value at all teaches nothing and would be dropped silently by the
    # imputers, shifting the feature importances onto the wrong names.
    categorical = tuple(c for c in CATEGORICAL_COLUMNS if c in with_values)
    numeric = tuple(c for c in NUMERIC_COLUMNS if c in with_values)
    if not categorical + numeric:
        raise DataLoadError(
            f"the dataset '{name}' has no usable feature column: it needs at least one of "
            f"{', '.join(FEATURE_COLUMNS)} with values in it"
        )
    return _Read(summary, hashing.hexdigest(), chunks, total_rows, categorical, numeric)


def _rows_per_chunk(summary: CsvSummary, size_bytes: int) -> int:
    by_cells = _CHUNK_CELLS // max(1, len(summary.columns))
    bytes_per_row = size_bytes / max(1, summary.rows or 0)
    by_bytes = int(_CHUNK_BYTES / max(1.0, bytes_per_row))
    return max(1, min(by_cells, by_bytes))


def _clean(chunk: pd.DataFrame) -> pd.DataFrame:
    """The usable rows of one chunk (a known need level), with its known columns only,
    repaired: levels upper-cased, blank categories missing, numbers that are not finite
    missing."""
    target = _each_distinct(chunk[TARGET_COLUMN], lambda v: v.str.strip().str.upper())
    usable = target.isin(TARGET_CLASSES)
    known = [c for c in FEATURE_COLUMNS if c in chunk.columns]
    frame = chunk.loc[usable, known].reset_index(drop=True)
    # Assigned as a Series (same index as frame): an empty chunk's array would turn the
    # column's dtype to object, and the concatenated column with it.
    frame[TARGET_COLUMN] = target[usable].reset_index(drop=True)
    for column in (c for c in CATEGORICAL_COLUMNS if c in frame.columns):
        frame[column] = _each_distinct(frame[column], lambda v: v.str.strip().replace("", np.nan))
    for column in (c for c in NUMERIC_COLUMNS if c in frame.columns):
        values = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
        frame[column] = values.where(np.isfinite(values))
    return frame


def _each_distinct(column: pd.Series, clean: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`clean` applied to each distinct value of a text column once, its results put back
    in every row: pandas' string methods call Python once a row, and a column of a few
    dozen job families over a million rows cost a second of the load. Missing stays
    missing."""
    codes, distinct = pd.factorize(column)
    cleaned = clean(pd.Series(distinct, dtype=object)).to_numpy(dtype=object)
    values = np.append(cleaned, np.nan)  # code -1 (missing) takes the last
    return pd.Series(values[codes], index=column.index, dtype=column.dtype)


def open_regular_file(path: Path, name: str) -> io.FileIO:
    """Open `path` for reading only if it is a regular file.

    A FIFO would block open() (and a device read()) until something else writes, with no way
    to cancel: it is opened non-blocking, and the type is checked on the opened descriptor
    itself, so a file swapped in after a check cannot slip through.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise DataLoadError(f"the dataset '{name}' does not exist") from None
    except IsADirectoryError:
        raise DataLoadError(f"the dataset '{name}' is a folder, not a CSV file") from None
    except OSError as exc:
        raise DataLoadError(
            f"the dataset '{name}' cannot be read: {os_error_reason(exc)}"
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise DataLoadError(f"the dataset '{name}' is a folder, not a CSV file")
        if not stat.S_ISREG(mode):
            raise DataLoadError(
                f"the dataset '{name}' is not a regular file (a pipe, socket or device), "
                "so it was not read"
            )
        os.set_blocking(fd, True)
        return io.FileIO(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def csv_chunks(source: io.RawIOBase, name: str, rows_per_chunk: int) -> Iterator[pd.DataFrame]:
    """The file as pandas parses it, `rows_per_chunk` rows at a time, with pandas'
    refusals worded for HR users."""
    try:
        # Every column is read, known or not: with usecols, pandas silently accepts rows
        # with too many fields, the sign of an unquoted comma that shifted a row.
        with warnings.catch_warnings():
            # With index_col=False pandas only *warns* when the first data row has a
            # field too many (later rows raise): make it an error there too.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            with pd.read_csv(
                io.BufferedReader(source, _READ_CHUNK_BYTES),
                dtype={column: str for column in (*CATEGORICAL_COLUMNS, TARGET_COLUMN)},
                encoding="utf-8-sig",
                # Never take the first column for an index: a trailing comma on every
                # row would otherwise shift all columns left without a word.
                index_col=False,
                chunksize=rows_per_chunk,
            ) as reader:
                yield from reader
    except pd.errors.ParserWarning:
        raise DataLoadError(
            f"the dataset '{name}' is not a valid CSV file: its first data row has more "
            "fields than the header (an unquoted comma in a value?)"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataLoadError(f"the dataset '{name}' is empty") from None
    except UnicodeDecodeError:
        raise DataLoadError(
            f"the dataset '{name}' is not a text CSV file (it is not UTF-8 encoded)"
        ) from None
    except ValueError as exc:  # pandas' ParserError and its kin
        reason = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise DataLoadError(f"the dataset '{name}' is not a valid CSV file: {reason}") from None
    except OSError as exc:
        raise DataLoadError(
            f"the dataset '{name}' cannot be read: {os_error_reason(exc)}"
        ) from None
