"""The CSV files of the datasets folder: which ones there are, and what each holds.

Reading a file for its row count and hash costs a full pass over it, so callers keep
the answer per file version (see models/dataset_files.py); this module only reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Temporary files of uploads in progress start with this (and are hidden: a leading dot).
UPLOAD_PREFIX = ".upload-"
DATASET_SUFFIX = ".csv"
_READ_CHUNK_BYTES = 1 << 20


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


def describe_csv(path: Path) -> CsvSummary:
    """Count data rows as training's reader does (blank lines skipped, quoted line breaks
    kept inside their field) and hash the bytes, in one pass that holds one record at
    a time in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        hashing = _HashingReader(raw, digest)
        text = io.TextIOWrapper(
            io.BufferedReader(hashing, _READ_CHUNK_BYTES),
            encoding="utf-8",
            errors="replace",
            newline="",
        )
        rows: int | None = None
        columns: tuple[str, ...] = ()
        try:
            records = csv.reader(text)
            header = next((record for record in records if record), None)
            if header is not None:
                columns = tuple(name.strip() for name in header)
                rows = sum(1 for record in records if record)
            else:
                rows = 0
        except csv.Error:
            rows = None
        hashing.drain()
    return CsvSummary(rows=rows, columns=columns, sha256=digest.hexdigest())


class _HashingReader(io.RawIOBase):
    def __init__(self, raw: io.BufferedReader, digest: hashlib._Hash) -> None:
        super().__init__()
        self._raw = raw
        self._digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._raw.readinto(buffer)
        if count:
            self._digest.update(memoryview(buffer)[:count])
        return count or 0

    def drain(self) -> None:
        """Hash what the CSV reader left unread (after an error, say)."""
        while chunk := self._raw.read(_READ_CHUNK_BYTES):
            self._digest.update(chunk)


# A field of a real export can be long (free-text notes); the csv module's default
# limit of 128 kB would call such a file unreadable although pandas reads it.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
