"""Datasets through the API: the folder's CSV files, and uploads that land there whole.

Listing reads a file only for a version (size, mtime) not yet described in the
database. An upload is validated exactly as training validates before it takes a name,
and takes it atomically (a reader sees the old file or the new one, never half of one),
so a run that read the old file keeps the datasetSha256 of what it read.

Uploads count against quotas (per uploader, and for the whole folder) before anything is
placed, and record who uploaded them; deleteDataset removes a file its uploader (or a DRH,
or a superuser) no longer wants, unless a run about to read it is queued or running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from models.accounts import Identity, Scope
from models.datasets import (
    MAX_STORED_COLUMNS,
    DatasetFile,
    dataset_file,
    datasets_of_active_runs,
    forget_dataset_files,
    known_dataset_files,
    paths_uploaded_by,
    remember_dataset_file,
)
from resolvers.errors import ApiError, FieldError, FieldErrorCode
from resolvers.train_model import DEFAULT_DATASET, MAX_DATASET_PATH_LENGTH
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

# Dataset.columns(first:): its default, and the most it may ask (all the names kept).
DEFAULT_LISTED_COLUMNS = 100
MAX_LISTED_COLUMNS = MAX_STORED_COLUMNS


@dataclass(frozen=True)
class DatasetInfo:
    path: str
    size_bytes: int
    rows: int | None
    # The header's first MAX_LISTED_COLUMNS names; column_count counts them all.
    columns: list[str]
    sha256: str
    modified_at: datetime
    column_count: int = 0
    uploaded_by: str | None = None

    def first_columns(self, first: int) -> list[str]:
        """The first `first` column names: a hand-placed file may have a million."""
        if not 0 <= first <= MAX_LISTED_COLUMNS:
            raise ApiError(f"first must be 0 to {MAX_LISTED_COLUMNS}", argument="first")
        return self.columns[:first]


@dataclass(frozen=True)
class DatasetQuota:
    """How much of the datasets folder uploads may fill (README, Configuration): per
    uploader a number of files and their bytes, and the folder's bytes in all."""

    max_datasets_per_user: int
    max_bytes_per_user: int
    max_total_bytes: int


@dataclass
class UploadOutcome:
    dataset: DatasetInfo | None = None
    errors: list[FieldError] = field(default_factory=list)


def _info(
    version: FileVersion,
    rows: int | None,
    columns: list[str],
    sha256: str,
    *,
    column_count: int | None = None,
    uploaded_by: str | None = None,
) -> DatasetInfo:
    return DatasetInfo(
        path=version.path,
        size_bytes=version.size_bytes,
        rows=rows,
        columns=columns[:MAX_LISTED_COLUMNS],
        sha256=sha256,
        modified_at=datetime.fromtimestamp(version.mtime_ns / 1e9, UTC),
        column_count=len(columns) if column_count is None else column_count,
        uploaded_by=uploaded_by,
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
        uploaded_by = row.uploaded_by if row is not None else None
        if row is not None and row.describes(version.size_bytes, version.mtime_ns):
            if row.column_count is None:
                await _complete(row)
            listed.append(
                _info(
                    version,
                    row.rows,
                    list(row.columns),
                    row.sha256,
                    column_count=row.total_columns,
                    uploaded_by=uploaded_by,
                )
            )
            continue
        summary = await _describe(root, version, limits)
        listed.append(
            _info(
                version,
                summary.rows,
                list(summary.columns),
                summary.sha256,
                uploaded_by=uploaded_by,
            )
        )
    await forget_dataset_files(set(known) - {version.path for version in versions})
    return listed


class DatasetListing:
    """The folder listed at most once for everything one operation asks: ten aliased
    `datasets` fields (resolved concurrently) would otherwise each walk the folder, read
    the table and describe the same new files."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._listed: list[DatasetInfo] | None = None

    async def datasets(
        self, list_all: Callable[[], Awaitable[list[DatasetInfo]]]
    ) -> list[DatasetInfo]:
        """What `list_all` (list_datasets with the caller's arguments) answered first."""
        async with self._lock:
            if self._listed is None:
                self._listed = await list_all()
            return self._listed


async def _complete(row: DatasetFile) -> None:
    """Give a row written before column counts were kept its count, and keep only the
    names a listing can show: its whole header would otherwise be read at every listing."""
    await remember_dataset_file(
        row.path,
        size_bytes=row.size_bytes,
        mtime_ns=row.mtime_ns,
        rows=row.rows,
        columns=list(row.columns),
        sha256=row.sha256,
    )


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
    quota: DatasetQuota,
) -> UploadOutcome:
    """Validate the uploaded file at `spooled` (a temporary file of the datasets
    folder) against training's checks and `limits`, and rename it to `path`. Whatever is
    refused leaves the folder as it was; the temporary file is the caller's to remove
    (it is, at the end of the request)."""
    outcome = await _upload(
        artifacts, limits, spooled, path, replace, uploaded_by=uploaded_by, quota=quota
    )
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
    quota: DatasetQuota,
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
    over_quota = await quota_error(artifacts, quota, uploaded_by, target, spooled)
    if over_quota is not None:
        return UploadOutcome(errors=[over_quota])
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
        uploaded_by=uploaded_by,
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
        dataset=_info(
            version, summary.rows, list(summary.columns), summary.sha256, uploaded_by=uploaded_by
        )
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


# --- quotas ---------------------------------------------------------------------------------
async def quota_error(
    artifacts: ArtifactPaths, quota: DatasetQuota, uploader: str, target: Path, spooled: Path
) -> FieldError | None:
    """Why placing `spooled` at `target` would exceed a quota, if it would. The folder as
    it is now is what counts (files put there by hand too, in the folder's total); a
    replaced file's bytes are counted once, the new ones."""
    root = artifacts.datasets.resolve()
    replaced = target.relative_to(root).as_posix()
    size = os.stat(spooled).st_size
    versions = await asyncio.to_thread(lambda: list(dataset_files(root)))
    sizes = {version.path: version.size_bytes for version in versions if version.path != replaced}
    own = (await paths_uploaded_by(uploader)) & set(sizes)
    own_bytes = sum(sizes[path] for path in own)
    if len(own) + 1 > quota.max_datasets_per_user:
        return _over_quota(
            f"you have {len(own)} datasets, the most one user may upload "
            f"({quota.max_datasets_per_user}); delete one first (deleteDataset)"
        )
    if own_bytes + size > quota.max_bytes_per_user:
        return _over_quota(
            f"this file ({size} bytes) would take your datasets to {own_bytes + size} bytes, "
            f"above the {quota.max_bytes_per_user} one user may upload; delete some first"
        )
    total = sum(sizes.values())
    if total + size > quota.max_total_bytes:
        return _over_quota(
            f"this file ({size} bytes) would take the datasets folder to {total + size} bytes, "
            f"above its limit of {quota.max_total_bytes}"
        )
    return None


def _over_quota(message: str) -> FieldError:
    return FieldError(["file"], message, FieldErrorCode.DATASET_QUOTA_EXCEEDED)


# --- deleteDataset --------------------------------------------------------------------------
@dataclass
class DeleteOutcome:
    deleted_path: str | None = None
    errors: list[FieldError] = field(default_factory=list)


def _refused(code: FieldErrorCode, message: str) -> DeleteOutcome:
    return DeleteOutcome(errors=[FieldError(["path"], message, code)])


async def delete_dataset(artifacts: ArtifactPaths, path: str, viewer: Identity) -> DeleteOutcome:
    """Remove a dataset file and its description. Its uploader may; so may a DRH or a
    superuser (Scope.MANAGE_DATASETS), for any file, those put there by hand included.
    The shipped default stays, and so does a file a QUEUED or RUNNING run will read."""
    outcome = await _delete(artifacts, path, viewer)
    for error in outcome.errors:
        logger.info(
            "dataset deletion of %r by %s refused (%s)", path[:300], viewer.username, error.code
        )
    return outcome


async def _delete(artifacts: ArtifactPaths, path: str, viewer: Identity) -> DeleteOutcome:
    try:
        path, target = upload_target(artifacts, path)
    except UnsafePath as exc:
        return _refused(FieldErrorCode.PATH_NOT_ALLOWED, f"dataset path {exc}")
    if target == artifacts.dataset(DEFAULT_DATASET):
        return _refused(
            FieldErrorCode.DATASET_PROTECTED,
            "the shipped default dataset cannot be deleted (trainModel falls back on it)",
        )
    root = artifacts.datasets.resolve()
    if not _is_listed(root, target, path):
        return _refused(FieldErrorCode.NOT_FOUND, f"there is no dataset '{path}'")
    relative = target.relative_to(root).as_posix()
    row = await dataset_file(relative)
    uploader = row.uploaded_by if row is not None else None
    if uploader != viewer.username and Scope.MANAGE_DATASETS not in viewer.scopes:
        return _refused(
            FieldErrorCode.DATASET_NOT_OWNED,
            "only the dataset's uploader, a DRH or a superuser may delete it",
        )
    if await _read_by_active_run(artifacts, target):
        return _refused(
            FieldErrorCode.DATASET_IN_USE,
            "a queued or running training run reads this dataset; wait for it to end "
            "(or cancel it) and try again",
        )
    try:
        size = os.stat(target).st_size
        os.unlink(target)
    except FileNotFoundError:
        return _refused(FieldErrorCode.NOT_FOUND, f"there is no dataset '{path}'")
    await forget_dataset_files([relative])
    logger.info(
        "dataset %s deleted by %s: %d bytes, uploaded by %s",
        relative,
        viewer.username,
        size,
        uploader or "-",
    )
    return DeleteOutcome(deleted_path=relative)


def _is_listed(root: Path, target: Path, path: str) -> bool:
    """Whether `datasets` lists the file: a regular file, reached through no symbolic
    link (the listing follows none, so a link's name is not a dataset's)."""
    lexical = root.joinpath(*(part for part in Path(path).parts if part != "."))
    try:
        return lexical == target and stat.S_ISREG(os.lstat(target).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


async def _read_by_active_run(artifacts: ArtifactPaths, target: Path) -> bool:
    """Whether a QUEUED or RUNNING run names this file, however its path was spelt."""
    for dataset_path in await datasets_of_active_runs():
        try:
            if artifacts.dataset(dataset_path) == target:
                return True
        except UnsafePath:
            continue  # such a run fails on its own
    return False
