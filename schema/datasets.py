"""Datasets as the API shows them, what uploadDataset and deleteDataset answer, and the
one listing of the folder an operation's `datasets` fields share."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from datetime import datetime

import strawberry
from strawberry.extensions import SchemaExtension

from resolvers.datasets import (
    DEFAULT_LISTED_COLUMNS,
    MAX_LISTED_COLUMNS,
    DatasetInfo,
    DatasetListing,
)
from schema.errors import UserError


@strawberry.type(description="A CSV file of the datasets folder, as trainModel can use it.")
class Dataset:
    path: str = strawberry.field(description="As trainModel's datasetPath takes it.")
    size_bytes: int
    rows: int | None = strawberry.field(
        description="Data rows (blank lines not counted); null if the file is not a readable CSV."
    )
    column_count: int = strawberry.field(description="How many columns the header names.")
    sha256: str = strawberry.field(description="Of the file's bytes, as runs record it.")
    modified_at: datetime
    uploaded_by: str | None = strawberry.field(
        description="Who uploaded it (a username); null for a file put in the folder otherwise."
    )

    @strawberry.field(
        description=(
            f"The header's first `first` column names, in order (0 to {MAX_LISTED_COLUMNS}); "
            "columnCount says how many there are."
        )
    )
    def columns(
        self, root: strawberry.Parent[DatasetInfo], first: int = DEFAULT_LISTED_COLUMNS
    ) -> list[str]:
        return root.first_columns(first)


@strawberry.type
class UploadDatasetPayload:
    dataset: Dataset | None
    errors: list[UserError]


@strawberry.type
class DeleteDatasetPayload:
    deleted_path: str | None = strawberry.field(
        description="The path of the file removed; null when refused (see errors)."
    )
    errors: list[UserError]


_listing: ContextVar[DatasetListing | None] = ContextVar("dataset_listing", default=None)


class OneDatasetListingPerOperation(SchemaExtension):
    """Gives each operation its own DatasetListing, so that all its `datasets` fields
    (aliases, fragments) share one walk of the folder. Per operation rather than per
    connection: a WebSocket's context lives for hours, and a listing must be fresh."""

    def on_execute(self) -> Iterator[None]:
        token = _listing.set(DatasetListing())
        try:
            yield
        finally:
            # A stream closed from another task ends in another context, where the token
            # is unknown; the listing goes with the context it was set in anyway.
            with contextlib.suppress(ValueError):
                _listing.reset(token)


async def listed_datasets(
    list_all: Callable[[], Awaitable[list[DatasetInfo]]],
) -> list[DatasetInfo]:
    """The operation's listing: `list_all` (a call of list_datasets) runs once per
    operation, the first `datasets` field to ask waiting for it, the others sharing it."""
    listing = _listing.get()
    if listing is None:  # outside an operation (not through the schema)
        return await list_all()
    return await listing.datasets(list_all)
