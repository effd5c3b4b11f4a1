"""Reading training runs: the paginated, filtered list and single runs by id.

Checks what the client sent (page size, cursors, filter values) and hands models/ typed
values: the filter, the order and the cursor positions. models/run_list.py writes and
runs the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from models.accounts import User
from models.run_list import MatchingRuns, Page, RunFilter, RunOrder, as_utc, matching, max_length
from models.run_records import RunRecord, all_columns, get_run_record
from models.run_search import MAX_SEARCH_LENGTH, MIN_SEARCH_LENGTH
from models.training_runs import FOREST_COLUMNS, RunStatus, TrainingRun, parameters_of
from resolvers.errors import ApiError
from resolvers.ids import parse_id
from resolvers.pagination import decode_cursor, encode_cursor
from resolvers.run_tags import filter_tags

__all__ = [
    "FOREST_COLUMNS",
    "PageSizes",
    "RunConnection",
    "RunEdge",
    "RunFilter",
    "RunOrder",
    "RunRecord",
    "RunStatus",
    "all_columns",
    "checked_filter",
    "get_run_record",
    "get_training_run",
    "list_training_runs",
    "parameters_of",
    "parse_run_id",
]


@dataclass(frozen=True)
class RunEdge:
    cursor: str
    node: RunRecord


@dataclass
class RunConnection:
    """One page plus what the connection fields need to finish lazily."""

    page: Page
    order: RunOrder
    runs: MatchingRuns

    def cursor(self, run: RunRecord) -> str:
        return encode_cursor(self.order, run)

    def edges(self) -> list[RunEdge]:
        return [RunEdge(self.cursor(run), run) for run in self.page.rows]

    @property
    def nodes(self) -> list[RunRecord]:
        return self.page.rows

    @property
    def start_cursor(self) -> str | None:
        return self.cursor(self.page.rows[0]) if self.page.rows else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(self.page.rows[-1]) if self.page.rows else None

    async def total_count(self) -> int:
        # Only run when a client selects totalCount: counting a million rows is the
        # cost the REST original paid on every page.
        return await self.runs.count()


def _refuse_too_long(name: str, value: str | None, maximum: int) -> None:
    """A value longer than its column matches nothing; the client is told so."""
    if value is not None and len(value) > maximum:
        raise ApiError(f"filter `{name}` must be at most {maximum} characters", argument="filter")


def checked_filter(run_filter: RunFilter | None) -> RunFilter | None:
    """The filter with its dates in UTC and its tags as stored (resolvers/run_tags.py),
    or a BAD_USER_INPUT naming what is wrong."""
    if run_filter is None:
        return None
    _refuse_too_long("trainedBy", run_filter.trained_by, max_length(User, "username"))
    _refuse_too_long(
        "modelVersion", run_filter.model_version, max_length(TrainingRun, "model_version")
    )
    _check_search(run_filter.search)
    try:
        return replace(
            run_filter,
            run_date_from=_utc(run_filter.run_date_from),
            run_date_to=_utc(run_filter.run_date_to),
            tags_any=filter_tags(run_filter.tags_any, "any"),
            tags_all=filter_tags(run_filter.tags_all, "all"),
        )
    except ValueError as exc:
        raise ApiError(str(exc), argument="filter") from None


def _check_search(term: str | None) -> None:
    """1 or 2 characters hold no trigram: refused rather than answered by a scan of
    every run (models/run_search.py). "" filters nothing. NUL cannot be stored."""
    if not term:
        return
    if not MIN_SEARCH_LENGTH <= len(term) <= MAX_SEARCH_LENGTH:
        message = (
            f"filter `search` must be {MIN_SEARCH_LENGTH} to {MAX_SEARCH_LENGTH} "
            f"characters, got {len(term)}"
        )
    elif "\x00" in term:
        message = "filter `search` cannot hold the NUL character"
    else:
        return
    raise ApiError(message, argument="filter", field=["filter", "search"])


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


@dataclass(frozen=True)
class PageSizes:
    """How many runs a page holds when not told (`default`), and at most (`maximum`)."""

    default: int
    maximum: int


def _page_size(sizes: PageSizes, first: int | None, last: int | None) -> int:
    if first is not None and last is not None:
        raise ApiError("pass either `first` or `last`, not both", argument="first")
    size = first if first is not None else last
    if size is None:
        return sizes.default
    maximum = sizes.maximum
    if size < 0 or size > maximum:
        name = "first" if first is not None else "last"
        raise ApiError(f"`{name}` must be between 0 and {maximum}, got {size}", argument=name)
    return size


async def list_training_runs(
    sizes: PageSizes,
    *,
    order: RunOrder,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    run_filter: RunFilter | None = None,
    columns: set[str] | None = None,
) -> RunConnection:
    """One page of runs. `columns`: load only these (plus what cursors need); None: all."""
    size = _page_size(sizes, first, last)
    backwards = last is not None or (before is not None and first is None)
    if backwards and after is not None:
        raise ApiError("`after` goes with `first`; use `before` with `last`", argument="after")
    if not backwards and before is not None:
        raise ApiError("`before` goes with `last`; use `after` with `first`", argument="before")
    after_position = decode_cursor(order, after) if after else None
    before_position = decode_cursor(order, before, "before") if before else None
    runs = await matching(checked_filter(run_filter))
    page = await runs.page(
        order,
        columns=columns,
        limit=size,
        after=after_position,
        before=before_position,
        backwards=backwards,
    )
    return RunConnection(page, order, runs)


async def get_training_run(raw_id: str) -> RunRecord | None:
    """The run a global or numeric id names; None for anything else."""
    run_id = parse_run_id(raw_id)
    return None if run_id is None else await get_run_record(run_id)


def parse_run_id(raw: str) -> int | None:
    """Accept a numeric database id or a global id of a TrainingRun; None if neither."""
    return parse_id(raw, "TrainingRun")
