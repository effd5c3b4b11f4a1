"""What each dataset file version holds, remembered so a listing reads no file twice.

A row is keyed by the file's path; it describes the version of the given size and
mtime. Every server process (and a restarted one) shares it through the database, so a
200 MB file is read once per version, not once per listing per process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model


class DatasetFile(Model):
    id = fields.IntField(primary_key=True)
    path = fields.CharField(max_length=255, unique=True)
    size_bytes = fields.BigIntField()
    mtime_ns = fields.BigIntField()
    # Null when the file is not a readable CSV (training says why when asked to use it).
    rows = fields.IntField(null=True)
    columns: Any = fields.JSONField(default=list)
    sha256 = fields.CharField(max_length=64)
    described_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "dataset_file"

    def describes(self, size_bytes: int, mtime_ns: int) -> bool:
        return self.size_bytes == size_bytes and self.mtime_ns == mtime_ns


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
) -> DatasetFile:
    """Insert or overwrite the description of `path` (two processes describing the same
    new version write the same values, so the last write winning is harmless)."""
    values = {
        "size_bytes": size_bytes,
        "mtime_ns": mtime_ns,
        "rows": rows,
        "columns": columns,
        "sha256": sha256,
    }
    try:
        row, _ = await DatasetFile.update_or_create(path=path, defaults=values)
    except IntegrityError:
        # Another process inserted the path between our look and our insert.
        await DatasetFile.filter(path=path).update(**values)
        row = await DatasetFile.get(path=path)
    return row


async def forget_dataset_files(paths: Iterable[str]) -> None:
    """Drop descriptions of files no longer in the folder."""
    gone = list(paths)
    if gone:
        await DatasetFile.filter(path__in=gone).delete()
