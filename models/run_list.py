"""The run list's SQL: which runs a filter matches, and one keyset page of them in an order.

Resolvers hand in typed values (`RunFilter`, `RunOrder`, `Position`) and get records
back; the WHERE and keyset fragments are written here only.

A page is one indexed range scan: `WHERE (col, id) beyond the cursor ORDER BY col, id
LIMIT n+1`, so page 50,000 costs what page 1 costs and rows inserted meanwhile neither
repeat nor skip. Columns that may be NULL (a run's accuracy before it finishes) are
split in two segments, scored rows first then unscored ones by id, in either direction,
so each segment still reads straight off an index on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise import fields

from models.accounts import User
from models.run_records import RunQuery, RunRecord
from models.run_search import with_search
from models.run_tags import with_tags
from models.training_runs import ORDER_COLUMNS, RunStatus, TrainingRun

NULLABLE_ORDER_COLUMNS = frozenset({"accuracy", "f1_score", "training_duration_seconds"})
MAX_ID = 2**31 - 1  # ids are 4-byte integers on PostgreSQL
# The most rows a read may return and still be "short" (run on SQLite's loop thread).
SHORT_READ_ROWS = 100


def as_utc(moment: datetime) -> datetime:
    """Compare dates in one offset: SQLite compares stored dates as text. Naive = UTC.

    ValueError for a date that has no UTC equivalent within years 1 to 9999."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 is before year 1 in UTC
        raise ValueError("date outside the supported range (years 1 to 9999 in UTC)") from None


def max_length(model: type[TrainingRun] | type[User], column: str) -> int:
    """A character column's size: a longer value can match nothing."""
    field = model._meta.fields_map[column]
    assert isinstance(field, fields.CharField)
    return field.max_length


@dataclass(frozen=True)
class RunFilter:
    """Runs to keep; every condition given must hold. Dates are compared as given
    (callers normalise them with `as_utc`)."""

    status: Sequence[RunStatus] | None = None
    trained_by: str | None = None  # a username
    model_version: str | None = None
    algorithm: str | None = None  # trainer/ml/algorithms.py Algorithm's value
    run_date_from: datetime | None = None
    run_date_to: datetime | None = None
    # A substring of modelVersion, trainedByUsername or notes, in any case (run_search.py).
    search: str | None = None
    # The runs one training schedule started (TrainingSchedule.runs).
    schedule_id: int | None = None
    # Runs holding any of `tags_any` and all of `tags_all` (models/run_tags.py); the
    # tags as stored (normalised by resolvers/run_tags.py).
    tags_any: Sequence[str] | None = None
    tags_all: Sequence[str] | None = None
    # The trials of one sweep (issue 23).
    sweep_id: int | None = None


@dataclass(frozen=True)
class RunOrder:
    column: str
    descending: bool

    def __post_init__(self) -> None:
        if self.column not in ORDER_COLUMNS:  # it is written into SQL
            raise ValueError(f"runs cannot be ordered by {self.column!r}")

    @property
    def name(self) -> str:
        return f"{self.column}:{'desc' if self.descending else 'asc'}"

    @property
    def nullable(self) -> bool:
        return self.column in NULLABLE_ORDER_COLUMNS


@dataclass(frozen=True)
class Position:
    """Where a cursor points: a row's sort value (None in the unscored segment) and id."""

    value: Any
    id: int


@dataclass(frozen=True)
class Page:
    rows: list[RunRecord]
    has_next_page: bool
    has_previous_page: bool


class Segment(StrEnum):
    """Rows with a value in the order column, then rows without one."""

    SCORED = "scored"
    UNSCORED = "unscored"


@dataclass(frozen=True)
class MatchingRuns:
    """The runs a filter matches, ready to be paged or counted (the filter's user has
    been looked up once). `query` is None when nothing can match."""

    query: RunQuery | None
    # The same runs for a statement that reads every one of them (a count, a history),
    # where that is written otherwise (models/run_search.py); None: `query`.
    whole: RunQuery | None = None

    @property
    def every_match(self) -> RunQuery | None:
        return self.whole if self.whole is not None else self.query

    async def page(
        self,
        order: RunOrder,
        *,
        columns: set[str] | None,
        limit: int,
        after: Position | None = None,
        before: Position | None = None,
        backwards: bool = False,
    ) -> Page:
        """The `limit` rows after `after` (forwards) or before `before` (backwards).

        `columns`: the ones to load (the cursor's are added); None loads them all.
        """
        if self.query is None:
            return Page([], False, False)
        start = before if backwards else after
        # Walking backwards is walking forwards in the reversed order.
        descending = order.descending != backwards
        if columns is not None:
            columns = columns | {"id", order.column}
        rows: list[RunRecord] = []
        for segment in _segments(order, backwards):
            if len(rows) > limit:
                break
            if (
                start is not None
                and _segment_of(start) != segment
                and _comes_before(segment, _segment_of(start), backwards)
            ):
                continue
            segment_query = _in_segment(self.query, order, segment)
            if start is not None and _segment_of(start) == segment:
                segment_query = _beyond(segment_query, order.column, segment, start, descending)
            rows += await segment_query.fetch(
                columns,
                order_by=_ordering(order.column, segment, descending),
                limit=limit + 1 - len(rows),
                # Unfiltered, every order is a range scan of its (column, id) index; a
                # page, not an export's chunk of a thousand runs.
                short=not self.query.clauses and limit <= SHORT_READ_ROWS,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        if backwards:
            rows.reverse()
            return Page(rows, has_next_page=before is not None, has_previous_page=more)
        return Page(rows, has_next_page=more, has_previous_page=after is not None)

    async def count(self) -> int:
        query = self.every_match
        return 0 if query is None else await query.count()


async def matching(run_filter: RunFilter | None) -> MatchingRuns:
    """The runs `run_filter` matches (one look-up of the user when it names one)."""
    query = RunQuery()
    if run_filter is None:
        return MatchingRuns(query)
    if run_filter.status:
        query = query.where_in("status", [status.value for status in run_filter.status])
    if run_filter.trained_by is not None:
        if len(run_filter.trained_by) > max_length(User, "username"):
            return MatchingRuns(None)
        user_id = await User.filter(username=run_filter.trained_by).values_list("id", flat=True)
        if not user_id:
            return MatchingRuns(None)
        query = query.where("trained_by_id = ?", user_id[0])
    if run_filter.model_version is not None:
        query = query.where("model_version = ?", run_filter.model_version)
    if run_filter.schedule_id is not None:
        query = query.where("schedule_id = ?", run_filter.schedule_id)
    if run_filter.sweep_id is not None:
        query = query.where("sweep_id = ?", run_filter.sweep_id)
    if run_filter.algorithm is not None:
        query = query.where("algorithm = ?", run_filter.algorithm)
    if run_filter.run_date_from is not None:
        query = query.where("run_date >= ?", run_filter.run_date_from)
    if run_filter.run_date_to is not None:
        query = query.where("run_date <= ?", run_filter.run_date_to)
    # A page and a count of the same runs may be written differently (run_search.py,
    # run_tags.py): the statement that stops early, and the one that reads every match.
    whole = query
    if run_filter.tags_any or run_filter.tags_all:
        any_of, all_of = run_filter.tags_any or (), run_filter.tags_all or ()
        query = await with_tags(query, any_of, all_of, in_order=True)
        whole = await with_tags(whole, any_of, all_of, in_order=False)
    if run_filter.search:
        query = await with_search(query, run_filter.search, in_order=True)
        whole = await with_search(whole, run_filter.search, in_order=False)
    return MatchingRuns(query, whole=None if whole == query else whole)


def _segments(order: RunOrder, backwards: bool) -> list[Segment]:
    segments = [Segment.SCORED, Segment.UNSCORED] if order.nullable else [Segment.SCORED]
    return segments[::-1] if backwards else segments


def _segment_of(position: Position) -> Segment:
    return Segment.UNSCORED if position.value is None else Segment.SCORED


def _comes_before(segment: Segment, other: Segment, backwards: bool) -> bool:
    order = [Segment.SCORED, Segment.UNSCORED]
    if backwards:
        order.reverse()
    return order.index(segment) < order.index(other)


def _in_segment(query: RunQuery, order: RunOrder, segment: Segment) -> RunQuery:
    if not order.nullable:
        return query
    null = "NULL" if segment is Segment.UNSCORED else "NOT NULL"
    return query.where(f"{order.column} IS {null}")


def _ordering(column: str, segment: Segment, descending: bool) -> list[tuple[str, bool]]:
    if segment is Segment.UNSCORED:
        return [("id", descending)]
    return [(column, descending), ("id", descending)]


def _beyond(
    query: RunQuery, column: str, segment: Segment, position: Position, descending: bool
) -> RunQuery:
    op = "<" if descending else ">"
    if segment is Segment.UNSCORED:
        return query.where(f"id {op} ?", position.id)
    # `col <= v AND (col < v OR id < i)`: the first term bounds the index range scan,
    # the second drops the rows at or before the cursor among equal values.
    return query.where(f"{column} {op}= ?", position.value).where(
        f"({column} {op} ? OR id {op} ?)", position.value, position.id
    )
