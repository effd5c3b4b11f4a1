"""Keyset (cursor) pagination over training runs, in any supported order.

A page is one indexed range scan: `WHERE (col, id) beyond the cursor ORDER BY col, id
LIMIT n+1`, so page 50,000 costs what page 1 costs and rows inserted meanwhile neither
repeat nor skip. Columns that may be NULL (a run's accuracy before it finishes) are
split in two segments, scored rows first then unscored ones by id, in either direction,
so each segment still reads straight off an index on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from models.run_records import RunQuery, RunRecord
from models.training_runs import ORDER_COLUMNS
from resolvers.errors import InvalidCursor

_NULLABLE = {"accuracy", "f1_score", "training_duration_seconds"}
_MAX_ID = 2**31 - 1  # ids are 4-byte integers on PostgreSQL


@dataclass(frozen=True)
class Order:
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
        return self.column in _NULLABLE


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


def as_utc(moment: datetime) -> datetime:
    """Compare dates in one offset: SQLite compares stored dates as text. Naive = UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 is before year 1 in UTC
        raise ValueError("date outside the supported range (years 1 to 9999 in UTC)") from None


def encode_cursor(order: Order, run: RunRecord) -> str:
    value = getattr(run, order.column)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = orjson.dumps([order.name, value, run.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(order: Order, cursor: str, argument: str = "after") -> Position:
    try:
        return _decode(order, cursor)
    except InvalidCursor as exc:
        exc.argument = argument
        raise


def _decode(order: Order, cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, value, run_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor(f"malformed cursor {cursor[:60]!r}") from exc
    if name != order.name:
        raise InvalidCursor(
            f"this cursor belongs to the order {name!r}, not {order.name!r}: "
            "restart paging without after/before when changing the order"
        )
    if not isinstance(run_id, int) or not 0 <= run_id <= _MAX_ID:
        raise InvalidCursor("malformed cursor")
    if value is None and not order.nullable:
        raise InvalidCursor("malformed cursor")
    if order.column == "run_date":
        try:
            value = as_utc(datetime.fromisoformat(value))
        except (TypeError, ValueError) as exc:
            raise InvalidCursor("malformed cursor") from exc
    elif value is not None:
        if not isinstance(value, int | float):
            raise InvalidCursor("malformed cursor")
        value = float(value)  # the order columns besides run_date are all floats
    return Position(value, run_id)


async def fetch_page(
    query: RunQuery,
    order: Order,
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
        segment_query = _in_segment(query, order.column, segment)
        if start is not None and _segment_of(start) == segment:
            segment_query = _beyond(segment_query, order.column, segment, start, descending)
        rows += await segment_query.fetch(
            columns,
            order_by=_ordering(order.column, segment, descending),
            limit=limit + 1 - len(rows),
        )
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
        return Page(rows, has_next_page=before is not None, has_previous_page=more)
    return Page(rows, has_next_page=more, has_previous_page=after is not None)


# Segment names: "scored" rows have a value in the order column, "unscored" rows do not.
def _segments(order: Order, backwards: bool) -> list[str]:
    segments = ["scored", "unscored"] if order.nullable else ["scored"]
    return segments[::-1] if backwards else segments


def _segment_of(position: Position) -> str:
    return "unscored" if position.value is None else "scored"


def _comes_before(segment: str, other: str, backwards: bool) -> bool:
    order = ["scored", "unscored"]
    if backwards:
        order.reverse()
    return order.index(segment) < order.index(other)


def _in_segment(query: RunQuery, column: str, segment: str) -> RunQuery:
    if column not in _NULLABLE:
        return query
    return query.where(f"{column} IS {'NULL' if segment == 'unscored' else 'NOT NULL'}")


def _ordering(column: str, segment: str, descending: bool) -> list[tuple[str, bool]]:
    if segment == "unscored":
        return [("id", descending)]
    return [(column, descending), ("id", descending)]


def _beyond(
    query: RunQuery, column: str, segment: str, position: Position, descending: bool
) -> RunQuery:
    op = "<" if descending else ">"
    if segment == "unscored":
        return query.where(f"id {op} ?", position.id)
    # `col <= v AND (col < v OR id < i)`: the first term bounds the index range scan,
    # the second drops the rows at or before the cursor among equal values.
    return query.where(f"{column} {op}= ?", position.value).where(
        f"({column} {op} ? OR id {op} ?)", position.value, position.id
    )
