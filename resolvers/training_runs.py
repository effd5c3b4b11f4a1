"""Reading training runs: the paginated, filtered list and single runs by id."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tortoise.models import Model

from models.run_records import RunQuery, RunRecord
from models.training_runs import RunStatus, TrainingRun
from models.users import User
from resolvers.errors import ApiError
from resolvers.pagination import (
    Order,
    Page,
    as_utc,
    decode_cursor,
    encode_cursor,
    fetch_page,
)

if TYPE_CHECKING:
    from schema.auth.context import RequestContext


@dataclass(frozen=True)
class RunFilter:
    status: Sequence[RunStatus] | None = None
    trained_by: str | None = None
    model_version: str | None = None
    run_date_from: datetime | None = None
    run_date_to: datetime | None = None


@dataclass(frozen=True)
class PageInfo:
    """Where a page sits, as Relay's PageInfo shows it."""

    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass
class RunConnection:
    """One page plus what the connection fields need to finish lazily."""

    page: Page
    order: Order
    query: RunQuery | None  # None: the filter cannot match anything

    def cursor(self, run: RunRecord) -> str:
        return encode_cursor(self.order, run)

    @property
    def nodes(self) -> list[RunRecord]:
        return self.page.rows

    @property
    def page_info(self) -> PageInfo:
        rows = self.page.rows
        return PageInfo(
            has_next_page=self.page.has_next_page,
            has_previous_page=self.page.has_previous_page,
            start_cursor=self.cursor(rows[0]) if rows else None,
            end_cursor=self.cursor(rows[-1]) if rows else None,
        )

    async def total_count(self) -> int:
        # Only run when a client selects totalCount: counting a million rows is the
        # cost the REST original paid on every page.
        return 0 if self.query is None else await self.query.count()


def _refuse_too_long(name: str, value: str | None, model: type[Model], column: str) -> None:
    """A value longer than its column matches nothing and would trip Tortoise's check."""
    maximum = model._meta.fields_map[column].max_length
    if value is not None and len(value) > maximum:
        raise ApiError(f"filter `{name}` must be at most {maximum} characters", argument="filter")


async def _filtered(run_filter: RunFilter | None) -> RunQuery | None:
    """The filter's conditions, or None when the filter cannot match anything."""
    query = RunQuery()
    if run_filter is None:
        return query
    if run_filter.status:
        query = query.where_in("status", [status.value for status in run_filter.status])
    _refuse_too_long("trainedBy", run_filter.trained_by, User, "username")
    _refuse_too_long("modelVersion", run_filter.model_version, TrainingRun, "model_version")
    if run_filter.trained_by is not None:
        user_id = await User.filter(username=run_filter.trained_by).values_list("id", flat=True)
        if not user_id:
            return None
        query = query.where("trained_by_id = ?", user_id[0])
    if run_filter.model_version is not None:
        query = query.where("model_version = ?", run_filter.model_version)
    try:
        if run_filter.run_date_from is not None:
            query = query.where("run_date >= ?", as_utc(run_filter.run_date_from))
        if run_filter.run_date_to is not None:
            query = query.where("run_date <= ?", as_utc(run_filter.run_date_to))
    except ValueError as exc:
        raise ApiError(str(exc), argument="filter") from None
    return query


def _page_size(context: RequestContext, first: int | None, last: int | None) -> int:
    if first is not None and last is not None:
        raise ApiError("pass either `first` or `last`, not both", argument="first")
    size = first if first is not None else last
    if size is None:
        return context.services.default_page_size
    maximum = context.services.max_page_size
    if size < 0 or size > maximum:
        name = "first" if first is not None else "last"
        raise ApiError(f"`{name}` must be between 0 and {maximum}, got {size}", argument=name)
    return size


async def list_training_runs(
    context: RequestContext,
    *,
    order: Order,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    run_filter: RunFilter | None = None,
    columns: set[str] | None = None,
) -> RunConnection:
    """One page of runs. `columns`: load only these (plus what cursors need); None: all."""
    size = _page_size(context, first, last)
    backwards = last is not None or (before is not None and first is None)
    if backwards and after is not None:
        raise ApiError("`after` goes with `first`; use `before` with `last`", argument="after")
    if not backwards and before is not None:
        raise ApiError("`before` goes with `last`; use `after` with `first`", argument="before")
    after_position = decode_cursor(order, after) if after else None
    before_position = decode_cursor(order, before, "before") if before else None
    query = await _filtered(run_filter)
    if query is None:
        return RunConnection(Page([], False, False), order, None)
    page = await fetch_page(
        query,
        order,
        columns=columns,
        limit=size,
        after=after_position,
        before=before_position,
        backwards=backwards,
    )
    return RunConnection(page, order, query)


# Ids are 4-byte integers (IntField) on PostgreSQL; larger numbers cannot name a row.
MAX_DATABASE_ID = 2**31 - 1


def parse_database_id(raw: str) -> int | None:
    """A decimal id the database can hold, or None (ASCII digits only: int() and
    str.isdigit() disagree on characters such as '²')."""
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= MAX_DATABASE_ID else None


def parse_run_id(raw: str) -> int | None:
    """Accept a numeric database id or a global id of a TrainingRun; None if neither."""
    if raw.isascii() and raw.isdigit():
        return parse_database_id(raw)
    try:
        decoded = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, _, node_id = decoded.partition(":")
    return parse_database_id(node_id) if type_name == "TrainingRun" else None
