"""What each dataset file version holds, remembered so a listing reads no file twice.

A row is keyed by the file's path; it describes the version of the given size and
mtime. Every server process (and a restarted one) shares it through the database, so a
200 MB file is read once per version, not once per listing per process.

Only the first MAX_STORED_COLUMNS column names are kept (with the whole count): a file
put in the folder by hand may have a header of a million names, and every listing reads
every row of this table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from models.accounts import USERNAME_MAX_LENGTH
from models.training_runs import ACTIVE_STATUSES, TrainingRun

# Column names kept per file: as many as Dataset.columns may list (its `first` at most).
MAX_STORED_COLUMNS = 1000


class DatasetFile(Model):
    id = fields.IntField(primary_key=True)
    path = fields.CharField(max_length=255, unique=True)
    # Annotated: tortoise types BigIntField's value as Any (IntField[T_INT] unparametrised).
    size_bytes: fields.Field[int] = fields.BigIntField()
    mtime_ns: fields.Field[int] = fields.BigIntField()
    # Null when the file is not a readable CSV (training says why when asked to use it).
    rows = fields.IntField(null=True)
    # The first MAX_STORED_COLUMNS names of the header; column_count has them all (null in
    # rows written before it existed: there `columns` is whole).
    columns: Any = fields.JSONField(default=list)
    column_count = fields.IntField(null=True)
    # Who uploaded this file through the API (a username); null for files put in the
    # folder by other means, and for rows written before uploads were attributed.
    uploaded_by = fields.CharField(max_length=USERNAME_MAX_LENGTH, null=True)
    sha256 = fields.CharField(max_length=64)
    described_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "dataset_file"

    def describes(self, size_bytes: int, mtime_ns: int) -> bool:
        return self.size_bytes == size_bytes and self.mtime_ns == mtime_ns

    @property
    def total_columns(self) -> int:
        return len(self.columns) if self.column_count is None else self.column_count


async def known_dataset_files() -> dict[str, DatasetFile]:
    return {row.path: row for row in await DatasetFile.all()}


async def remember_dataset_file(
    path: str,
    *,
    size_bytes: int,
    mtime_ns: int,
    rows: int | None,
    columns: list[str],
    sha256: str,
    uploaded_by: str | None = None,
) -> DatasetFile:
    """Insert or overwrite the description of `path` (two processes describing the same
    new version write the same values, so the last write winning is harmless). The
    uploader is written only when given: a listing that describes a file again keeps
    whoever uploaded it."""
    values: dict[str, Any] = {
        "size_bytes": size_bytes,
        "mtime_ns": mtime_ns,
        "rows": rows,
        "columns": columns[:MAX_STORED_COLUMNS],
        "column_count": len(columns),
        "sha256": sha256,
    }
    if uploaded_by is not None:
        values["uploaded_by"] = uploaded_by
    try:
        row, _ = await DatasetFile.update_or_create(path=path, defaults=values)
    except IntegrityError:
        # Another process inserted the path between our look and our insert.
        await DatasetFile.filter(path=path).update(**values)
        row = await DatasetFile.get(path=path)
    return row


async def dataset_file(path: str) -> DatasetFile | None:
    return await DatasetFile.get_or_none(path=path)


async def forget_dataset_files(paths: Iterable[str]) -> None:
    """Drop descriptions of files no longer in the folder."""
    gone = list(paths)
    if gone:
        await DatasetFile.filter(path__in=gone).delete()


async def paths_uploaded_by(username: str) -> set[str]:
    """The paths whose files `username` uploaded (those still described)."""
    # cast: tortoise types values_list as tuples even with flat=True, which gives values.
    paths = cast(
        "list[str]", await DatasetFile.filter(uploaded_by=username).values_list("path", flat=True)
    )
    return set(paths)


async def datasets_of_active_runs() -> set[str]:
    """The datasetPaths of QUEUED and RUNNING runs, as they were sent (a few: each user
    has at most MAX_ACTIVE_RUNS_PER_USER)."""
    # cast: tortoise types values_list as tuples even with flat=True, which gives values.
    paths = cast(
        "list[str]",
        await TrainingRun.filter(status__in=list(ACTIVE_STATUSES))
        .distinct()
        .values_list("dataset_path", flat=True),
    )
    return set(paths)
