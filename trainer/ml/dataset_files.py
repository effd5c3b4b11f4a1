"""The CSV files of the datasets folder: which ones there are, and what each holds.

Reading a file for its row count and hash costs a full pass over it, so callers keep
the answer per file version (see models/datasets.py); this module only reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.ml.errors import DataLoadError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# Temporary files of uploads in progress start with this (and are hidden: a leading dot).
UPLOAD_PREFIX = ".upload-"
DATASET_SUFFIX = ".csv"
_READ_CHUNK_BYTES = 1 << 20
# An open file, as training opens it (FileIO) or open() does (BufferedReader).
Readable = io.RawIOBase | io.BufferedIOBase


@dataclass(frozen=True)
class FileVersion:
    """A dataset file as the folder holds it now: a changed size or mtime is a new version."""

    path: str  # relative to the datasets folder, '/'-separated, as trainModel takes it
    size_bytes: int
    mtime_ns: int


@dataclass(frozen=True)
class CsvSummary:
    """What one full read of a file tells: data rows (None when it is not a readable
    CSV), the header's columns, and the sha256 of its bytes."""

    rows: int | None
    columns: tuple[str, ...]
    sha256: str


def is_dataset_name(name: str) -> bool:
    return name.lower().endswith(DATASET_SUFFIX) and not name.startswith(".")


def dataset_files(root: Path) -> Iterator[FileVersion]:
    """Every regular `.csv` file under `root`, at any depth, sorted by path.

    Symbolic links are not followed (nor listed): a link could lead out of the folder,
    and the folder's own files are listed under their own names anyway. Hidden entries
    (uploads in progress among them) are skipped.
    """
    found: list[FileVersion] = []
    for directory, folders, files in os.walk(root, followlinks=False):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not is_dataset_name(name):
                continue
            full = Path(directory, name)
            try:
                info = os.lstat(full)
            except FileNotFoundError:
                continue  # removed while we walked
            if stat.S_ISREG(info.st_mode):
                relative = full.relative_to(root).as_posix()
                found.append(FileVersion(relative, info.st_size, info.st_mtime_ns))
    return iter(sorted(found, key=lambda version: version.path))


@dataclass(frozen=True)
class CsvLimits:
    """How wide a dataset may be: at most `max_columns` fields per record and
    `max_cell_chars` characters per field (MAX_DATASET_COLUMNS, MAX_DATASET_CELL_CHARS).

    The trainer uses at most a dozen columns of short values, but without a bound a file of
    14 MB with a million columns cost 150 s of CPU and 2.2 GB to read, and one 150 MB field
    almost 1 GB. Checked by `scan_csv`, which holds at most one line of text in memory.
    """

    max_columns: int = 500
    max_cell_chars: int = 4096

    @property
    def max_line_chars(self) -> int:
        """The longest physical line a record within the limits can take: every field at
        its longest, every character a doubled quote, with its quotes and separator."""
        return self.max_columns * (2 * self.max_cell_chars + 3)


DEFAULT_CSV_LIMITS = CsvLimits()


def scan_csv(raw: Readable, name: str, limits: CsvLimits) -> CsvSummary:
    """Read a CSV once, record by record, as training's reader counts it (blank lines
    skipped, quoted line breaks kept in their field), and hash its bytes; refuse it with a
    DataLoadError as soon as it breaks `limits`, holds a NUL character (which no database
    column can store, and no text CSV holds), or is not UTF-8.

    This is the one check of a dataset's shape, run before pandas reads anything (pandas
    holds a whole line, and a frame of every column, in memory): the upload's validation
    and training's loader both start with it. Memory stays within one line of at most
    `limits.max_line_chars` characters and one record.

    Most files are plain (see _scan_plain) and are counted a block at a time; any other
    file, or one that breaks a rule, is read again record by record, which says why.
    """
    if raw.seekable():
        start = raw.tell()
        summary = _scan_plain(raw, limits)
        if summary is not None:
            return summary
        raw.seek(start)
    return _scan_records(raw, name, limits)


_BOM = b"\xef\xbb\xbf"


def _scan_plain(raw: Readable, limits: CsvLimits) -> CsvSummary | None:
    """scan_csv's summary of a plain file, None for any other: one without a quote, a NUL
    or a carriage return outside a CRLF, in UTF-8, with every line, record and value
    within `limits` (counted in bytes, never fewer than its characters). Its records are
    then its non-blank lines split at every comma, which numpy counts over blocks of
    bytes: a million rows (95 MB) in 0.3-0.7 s of CPU where the csv reader and the
    per-line checks of _scan_records take 1.7 s. Memory stays within a block and one
    line, with numpy's masks and positions of that block."""
    digest = hashlib.sha256()
    header: bytes | None = None
    records = 0
    carry = b""
    first = True
    while True:
        block = raw.read(_READ_CHUNK_BYTES)
        digest.update(block)
        data = carry + block
        if first:
            data, first = data.removeprefix(_BOM), False
        # Whole lines only (a UTF-8 character never holds the byte \n); the last line of
        # the file may have no line break.
        cut = data.rfind(b"\n") + 1 if block else len(data)
        lines, carry = data[:cut], data[cut:]
        if len(carry) > limits.max_line_chars:
            return None
        counted = _plain_lines(lines, limits)
        if counted is None:
            return None
        count, first_line = counted
        records += count
        header = header if header is not None else first_line
        if not block:
            break
    columns = header.decode().rstrip("\r\n").split(",") if header is not None else []
    return CsvSummary(
        rows=max(records - 1, 0),
        columns=tuple(column.strip() for column in columns),
        sha256=digest.hexdigest(),
    )


def _plain_lines(lines: bytes, limits: CsvLimits) -> tuple[int, bytes | None] | None:
    """The non-blank lines among whole `lines` and the first of them; None unless every
    line is plain (see _scan_plain)."""
    import numpy as np  # here: the API process lists datasets long before it needs numpy

    if not lines:
        return 0, None
    if b'"' in lines or b"\x00" in lines:
        return None
    if b"\r" in lines and lines.count(b"\r") != lines.count(b"\r\n"):
        return None
    try:
        lines.decode()
    except UnicodeDecodeError:
        return None
    data = np.frombuffer(lines, dtype=np.uint8)
    newline = data == ord("\n")
    comma = data == ord(",")
    last = len(data) - 1
    ends = np.flatnonzero(newline)
    if not newline[last]:
        ends = np.append(ends, last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > limits.max_line_chars:
        return None
    # A value runs between two separators (a comma or a line break; a CRLF's \r counts
    # in the value before it, an overestimate by one byte).
    separators = np.flatnonzero(newline | comma)
    bounds = np.concatenate(([-1], separators, [] if newline[last] else [len(data)]))
    if np.diff(bounds).max() - 1 > limits.max_cell_chars:
        return None
    commas = np.searchsorted(np.flatnonzero(comma), ends, side="right")  # up to each end
    if np.diff(commas, prepend=0).max() + 1 > limits.max_columns:
        return None
    content = lengths - newline[ends] - ((lengths >= 2) & (data[np.maximum(ends - 1, 0)] == 13))
    filled = np.flatnonzero(content > 0)
    if not len(filled):
        return 0, None
    at = filled[0]
    return len(filled), lines[starts[at] : ends[at] + 1]


def _scan_records(raw: Readable, name: str, limits: CsvLimits) -> CsvSummary:
    """scan_csv record by record, with the csv reader: any file, every refusal worded."""
    digest = hashlib.sha256()
    hashing = HashingReader(raw, digest)
    text = io.TextIOWrapper(
        io.BufferedReader(hashing, _READ_CHUNK_BYTES),
        encoding="utf-8-sig",  # a spreadsheet's BOM is not part of the first column's name
        newline="",
    )
    # The csv module's limit is process-wide; every scan sets it to its cap (one process
    # reads with one configuration).
    csv.field_size_limit(limits.max_cell_chars)
    records = csv.reader(_lines(text, name, limits))
    header: list[str] | None = None
    rows = 0
    try:
        for record in records:
            if not record:
                continue
            if len(record) > limits.max_columns:
                raise _too_many_columns(name, limits, records.line_num)
            if header is None:
                header = record
            else:
                rows += 1
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DataLoadError(
                f"the dataset '{name}' has a value longer than {limits.max_cell_chars} "
                f"characters on line {records.line_num} (MAX_DATASET_CELL_CHARS)"
            ) from None
        raise DataLoadError(f"the dataset '{name}' is not a valid CSV file: {exc}") from None
    except UnicodeDecodeError:
        raise DataLoadError(
            f"the dataset '{name}' is not a text CSV file (it is not UTF-8 encoded)"
        ) from None
    hashing.drain()
    columns = tuple(column.strip() for column in header or ())
    return CsvSummary(rows=rows, columns=columns, sha256=digest.hexdigest())


def _lines(text: io.TextIOWrapper, name: str, limits: CsvLimits) -> Iterator[str]:
    """The physical lines of `text` for the csv reader, refusing a NUL character, and a
    line longer than a record within `limits` can be: of such a line no more than
    `limits.max_line_chars` + 1 characters are read (a 14 MB header is never held whole).

    A record has a field per comma outside quotes, and one: too many of them is refused
    here, before the csv reader builds a list of a million fields."""
    max_chars = limits.max_line_chars
    number = 0
    inside_quotes = False
    while line := text.readline(max_chars + 1):
        number += 1
        if "\x00" in line:
            raise DataLoadError(
                f"the dataset '{name}' holds a NUL character on line {number}, which no "
                "text CSV file holds (is it a binary or UTF-16 file?)"
            )
        if _separators(line, inside_quotes) >= limits.max_columns:
            raise _too_many_columns(name, limits, number)
        # Doubled quotes inside a value count two: an odd count opens or closes one.
        inside_quotes ^= line.count('"') % 2 == 1
        yield line
        if len(line) > max_chars:
            # After the csv reader has seen its start, which may tell a more precise
            # reason (too many columns, a value too long).
            raise DataLoadError(
                f"the dataset '{name}' has a line longer than a row of {limits.max_columns} "
                f"columns of {limits.max_cell_chars} characters can be, line {number} "
                "(MAX_DATASET_COLUMNS, MAX_DATASET_CELL_CHARS)"
            )


# A quoted stretch: from a quote to the next one, or to the end of the line. A doubled
# quote inside a value ends one stretch and starts the next, which removes it all the same.
_QUOTED = re.compile(r'"[^"]*(?:"|$)')


def _separators(line: str, inside_quotes: bool) -> int:
    """The commas of `line` outside quoted values (`inside_quotes`: the line starts
    inside one, opened on an earlier line), as the csv reader will split it."""
    if '"' not in line and not inside_quotes:
        return line.count(",")
    return _QUOTED.sub("", ('"' if inside_quotes else "") + line).count(",")


def _too_many_columns(name: str, limits: CsvLimits, line: int) -> DataLoadError:
    return DataLoadError(
        f"the dataset '{name}' has more than {limits.max_columns} columns on line {line}, "
        "the most accepted (MAX_DATASET_COLUMNS)"
    )


def describe_csv(path: Path, limits: CsvLimits) -> CsvSummary:
    """`scan_csv` for a listing: a file it refuses is described as not readable (rows
    None, no columns) rather than refused, with the hash of all its bytes."""
    with open(path, "rb") as raw:
        try:
            return scan_csv(raw, path.name, limits)
        except DataLoadError:
            raw.seek(0)
            return CsvSummary(rows=None, columns=(), sha256=_sha256(raw))


def _sha256(raw: Readable) -> str:
    digest = hashlib.sha256()
    HashingReader(raw, digest).drain()
    return digest.hexdigest()


class HashingReader(io.RawIOBase):
    """Hashes the bytes of `raw` as they pass through, so that one read of a file serves
    both a reader (csv, pandas) and its sha256."""

    def __init__(self, raw: Readable, digest: hashlib._Hash | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._digest = digest if digest is not None else hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        count = self._raw.readinto(buffer)
        if count:
            self._digest.update(memoryview(buffer)[:count])
        return count or 0

    def drain(self) -> None:
        """Hash what the reader left unread (after an error, say), so the digest always
        covers the whole file."""
        while chunk := self._raw.read(_READ_CHUNK_BYTES):
            self._digest.update(chunk)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
