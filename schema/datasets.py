"""Datasets as the API shows them, and what uploadDataset answers."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.errors import UserError


@strawberry.type(description="A CSV file of the datasets folder, as trainModel can use it.")
class Dataset:
    path: str = strawberry.field(description="As trainModel's datasetPath takes it.")
    size_bytes: int
    rows: int | None = strawberry.field(
        description="Data rows (blank lines not counted); null if the file is not a readable CSV."
    )
    columns: list[str] = strawberry.field(description="The header's column names, in order.")
    sha256: str = strawberry.field(description="Of the file's bytes, as runs record it.")
    modified_at: datetime


@strawberry.type
class UploadDatasetPayload:
    dataset: Dataset | None
    errors: list[UserError]
