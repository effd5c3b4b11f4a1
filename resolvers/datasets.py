"""Datasets through the API: the folder's CSV files, and uploads that land there whole.

Listing reads a file only for a version (size, mtime) not yet described in the
database. An upload is validated exactly as training validates before it takes a name,
and takes it atomically (a reader sees the old file or the new one, never half of one),
so a run that read the old file keeps the datasetSha256 of what it read.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from models.dataset_files import (
    forget_dataset_files,
    known_dataset_files,
    remember_dataset_file,
)
from resolvers.errors import FieldError, FieldErrorCode
from resolvers.train_model import MAX_DATASET_PATH_LENGTH
from trainer.artifacts import ArtifactPaths, UnsafePath, canonical_path
from trainer.ml.dataset_files import (
    DATASET_SUFFIX,
    CsvLimits,
    CsvSummary,
    FileVersion,
    dataset_files,
    describe_csv,
)
from trainer.ml.errors import DataLoadError

logger = logging.getLogger("resolvers.datasets")


@dataclass(frozen=True)
class DatasetInfo:
    path: str
    size_bytes: int
    rows: int | None
    columns: list[str]
    sha256: str
    modified_at: datetime


@dataclass
class UploadOutcome:
    dataset: DatasetInfo | None = None
    errors: list[FieldError] = field(default_factory=list)


def _info(version: FileVersion, rows: int | None, columns: list[str], sha256: str) -> DatasetInfo:
    return DatasetInfo(
        path=version.path,
        size_bytes=version.size_bytes,
        rows=rows,
        columns=columns,
        sha256=sha256,
        modified_at=datetime.fromtimestamp(version.mtime_ns / 1e9, UTC),
    )


async def list_datasets(artifacts: ArtifactPaths, limits: CsvLimits) -> list[DatasetInfo]:
    """Every CSV of the datasets folder, sorted by path; files of a version already
    described are not read again (by this process or any other). A file beyond `limits`
    (or with a NUL, or not UTF-8) is listed as not readable: rows null, no columns."""
    root = artifacts.datasets
    versions = await asyncio.to_thread(lambda: list(dataset_files(root)))
    known = await known_dataset_files()
    listed = []
    for version in versions:
        row = known.get(version.path)
        if row is not None and row.describes(version.size_bytes, version.mtime_ns):
            listed.append(_info(version, row.rows, list(row.columns), row.sha256))
            continue
        summary = await _describe(root, version, limits)
        listed.append(_info(version, summary.rows, list(summary.columns), summary.sha256))
    await forget_dataset_files(set(known) - {version.path for version in versions})
    return listed


async def _describe(root: Path, version: FileVersion, limits: CsvLimits) -> CsvSummary:
    """Read one file version and remember what it holds, unless it changed meanwhile
    (then the next listing describes the new version)."""
    path = root / version.path
    summary = await asyncio.to_thread(describe_csv, path, limits)
    after = os.stat(path)
    unchanged = (after.st_size, after.st_mtime_ns) == (version.size_bytes, version.mtime_ns)
    # A path longer than the column cannot be remembered (nor trained on: trainModel
    # refuses it too); it is read at each listing.
    if unchanged and len(version.path) <= MAX_DATASET_PATH_LENGTH:
        await remember_dataset_file(
            version.path,
            size_bytes=version.size_bytes,
            mtime_ns=version.mtime_ns,
            rows=summary.rows,
            columns=list(summary.columns),
            sha256=summary.sha256,
        )
    logger.info(
        "dataset %s described: %s rows, sha256 %s", version.path, summary.rows, summary.sha256
    )
    return summary


def _path_error(message: str) -> UploadOutcome:
    return UploadOutcome(errors=[FieldError(["path"], message, FieldErrorCode.PATH_NOT_ALLOWED)])


def upload_target(artifacts: ArtifactPaths, path: str) -> tuple[str, Path]:
    """The canonical spelling of `path` (`./x.csv` is `x.csv`) and where it names a
    dataset, by trainModel's rules (UnsafePath if it may not)."""
    path = canonical_path(path)
    if len(path) > MAX_DATASET_PATH_LENGTH:
        raise UnsafePath(f"must be at most {MAX_DATASET_PATH_LENGTH} characters")
    if not path.lower().endswith(DATASET_SUFFIX):
        raise UnsafePath(f"must name a '{DATASET_SUFFIX}' file")
    return path, artifacts.dataset(path)


async def upload_dataset(
    artifacts: ArtifactPaths,
    limits: CsvLimits,
    spooled: Path | None,
    path: str,
    replace: bool,
    *,
    uploaded_by: str,
) -> UploadOutcome:
    """Validate the uploaded file at `spooled` (a temporary file of the datasets
    folder) against training's checks and `limits`, and rename it to `path`. Whatever is
    refused leaves the folder as it was; the temporary file is the caller's to remove
    (it is, at the end of the request)."""
    outcome = await _upload(artifacts, limits, spooled, path, replace, uploaded_by=uploaded_by)
    for error in outcome.errors:
        logger.info(
            "dataset upload to %r by %s refused (%s): %s",
            path[:300],
            uploaded_by,
            error.code,
            error.message[:300],
        )
    return outcome


async def _upload(
    artifacts: ArtifactPaths,
    limits: CsvLimits,
    spooled: Path | None,
    path: str,
    replace: bool,
    *,
    uploaded_by: str,
) -> UploadOutcome:
    if spooled is None:
        return UploadOutcome(
            errors=[
                FieldError(
                    ["file"],
                    "must be a file sent as the GraphQL multipart request spec says",
                    FieldErrorCode.INVALID,
                )
            ]
        )
    try:
        path, target = upload_target(artifacts, path)
    except UnsafePath as exc:
        return _path_error(f"dataset path {exc}")
    taken = _taken_by(target)
    if taken == "folder":
        return _path_error("dataset path names a folder")
    if taken == "file" and not replace:
        return _exists(path)
    try:
        summary = await asyncio.to_thread(_validate, spooled, path, limits)
    except DataLoadError as exc:
        return UploadOutcome(
            errors=[FieldError(["file"], str(exc), FieldErrorCode.DATASET_INVALID)]
        )
    # The description is stored first, keyed by the version the file will have (a link
    # or rename keeps its size and mtime): if storing fails, nothing has been placed;
    # if placing fails, the stored row describes no file there, and is dropped.
    os.chmod(spooled, 0o644)
    info = os.stat(spooled)
    version = FileVersion(path, info.st_size, info.st_mtime_ns)
    await remember_dataset_file(
        path,
        size_bytes=version.size_bytes,
        mtime_ns=version.mtime_ns,
        rows=summary.rows,
        columns=list(summary.columns),
        sha256=summary.sha256,
    )
    try:
        await asyncio.to_thread(_place, artifacts, spooled, path, replace)
    except Exception as exc:
        await forget_dataset_files([path])
        if isinstance(exc, FileExistsError):
            return _exists(path)
        if isinstance(exc, UnsafePath):
            return _path_error(f"dataset path {exc}")
        raise
    logger.info(
        "dataset %s uploaded by %s: %d bytes, %s rows, sha256 %s%s",
        path,
        uploaded_by,
        version.size_bytes,
        summary.rows,
        summary.sha256,
        " (replaced the previous file)" if replace else "",
    )
    return UploadOutcome(
        dataset=_info(version, summary.rows, list(summary.columns), summary.sha256)
    )


def _taken_by(target: Path) -> str | None:
    """What already holds the name: "file", "folder" or nothing (one lstat)."""
    if not os.path.lexists(target):
        return None
    return "folder" if os.path.isdir(target) else "file"


def _exists(path: str) -> UploadOutcome:
    return UploadOutcome(
        errors=[
            FieldError(
                ["path"],
                f"a dataset '{path}' already exists; send replace: true to replace it",
                FieldErrorCode.DATASET_EXISTS,
            )
        ]
    )


def _validate(spooled: Path, path: str, limits: CsvLimits) -> CsvSummary:
    """Training's own checks, its limits first (DataLoadError names the row or column at
    fault), read a chunk at a time; returns the description the listing shows."""
    # Imported here, by the first upload: pandas and numpy would otherwise be imported by
    # every server at start-up (a second of CPU) for this one use.
    from trainer.ml.dataset import check_dataset

    return check_dataset(spooled, path, limits)


def _place(artifacts: ArtifactPaths, spooled: Path, path: str, replace: bool) -> Path:
    """Give the file its name in one step: os.replace when replacing, otherwise a hard
    link, which fails if the name was taken since it was checked."""
    target = artifacts.dataset(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Folders made just now are the server's own; check the whole path again anyway.
    target = artifacts.dataset(path)
    if replace:
        os.replace(spooled, target)
    else:
        os.link(spooled, target)
        os.unlink(spooled)
    return target
