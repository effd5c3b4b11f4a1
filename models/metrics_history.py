"""Training runs grouped into time buckets, counted and summarised by the database.

One statement per history: `GROUP BY` a bucket key computed in SQL from the run's UTC
instant, so a million runs come back as at most `limit` grouped rows and never as runs.
The key is the same integer on SQLite and PostgreSQL; only the spelling of "seconds since
1970 of run_date" (and, for months, of the calendar month of a shifted instant) differs
by dialect.

Time zones without SQL support for them: the caller (resolvers/metrics_history.py) hands
in the zone's UTC offset as `OffsetSegment`s, each valid from an instant on, computed in
Python from zoneinfo for the range the runs span. The local instant of a run is then
`epoch + CASE epoch of segments END`, and a local day is that divided by 86,400. The
CASE is a balanced tree of comparisons, so a decade of DST changes costs a handful of
comparisons per row, and a fixed-offset zone (UTC) none.

Keys, with E the local epoch seconds shifted to count from 0001-01-01 00:00 (a Monday), so
every division is of a positive integer and truncation is floor on both databases:
- HOUR: the UTC epoch of the hour's start (a real hour of 3,600 s starting on a local hour
  boundary; the hour repeated when clocks go back is two buckets, as it is two hours);
- DAY: E // 86,400, the day's ordinal minus one (`date.fromordinal(key + 1)`);
- WEEK: E // 604,800, ISO weeks since 0001-01-01;
- MONTH: year * 100 + month of E.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from models.run_list import MatchingRuns
from models.run_records import RunQuery, datetime_from_db, read
from models.training_runs import RunStatus, TrainingRun

# Seconds from 0001-01-01T00:00Z (a Monday) to 1970-01-01T00:00Z.
EPOCH_SHIFT = 62_135_596_800
SUMMARISED = ("accuracy", "f1_score", "training_duration_seconds")
COUNTED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class Bucket(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@dataclass(frozen=True)
class OffsetSegment:
    """From `since` (UTC epoch seconds; None: from the beginning of time) the zone is
    `offset` seconds ahead of UTC."""

    since: int | None
    offset: int


@dataclass(frozen=True)
class Summary:
    """Of one metric over a bucket's COMPLETED runs that have it."""

    min: float
    avg: float
    max: float


@dataclass(frozen=True)
class GroupedRuns:
    """One bucket as the database returned it: its key and aggregates."""

    key: int
    runs: int
    completed: int
    failed: int
    cancelled: int
    summaries: dict[str, Summary | None]


def _epoch_sql(dialect: str) -> str:
    """Whole seconds since 1970 of run_date (floored: buckets start on whole seconds)."""
    if dialect == "postgres":
        return "CAST(floor(date_part('epoch', run_date)) AS BIGINT)"
    # SQLite holds dates as ISO text, with their offset; strftime reads both.
    return "CAST(strftime('%s', run_date) AS INTEGER)"


def _offset_sql(epoch: str, segments: Sequence[OffsetSegment], value: Any = None) -> str:
    """The offset (or `value(segment)`) in force at `epoch`, as a balanced CASE tree.

    The numbers are computed by this module from zoneinfo, never taken from a client.
    """
    pick = value or (lambda segment: segment.offset)
    if len(segments) == 1:
        return str(int(pick(segments[0])))
    middle = len(segments) // 2
    boundary = segments[middle].since
    assert boundary is not None
    before = _offset_sql(epoch, segments[:middle], pick)
    after = _offset_sql(epoch, segments[middle:], pick)
    return f"(CASE WHEN {epoch} < {int(boundary)} THEN {before} ELSE {after} END)"


def bucket_key_sql(bucket: Bucket, segments: Sequence[OffsetSegment], dialect: str) -> str:
    epoch = _epoch_sql(dialect)
    if bucket is Bucket.HOUR:
        # Hours start where the local clock shows :00; only the offset modulo an hour
        # matters (a constant in every zone but a few with half-hour DST changes).
        shifts = {segment.offset % 3600 for segment in segments}
        if len(shifts) == 1:
            shift = str(shifts.pop())
        else:
            shift = _offset_sql(epoch, segments, lambda segment: segment.offset % 3600)
        return f"((({epoch}) + {shift} + {EPOCH_SHIFT}) / 3600) * 3600 - {shift} - {EPOCH_SHIFT}"
    local = f"(({epoch}) + {_offset_sql(epoch, segments)})"
    if bucket is Bucket.DAY:
        return f"(({local} + {EPOCH_SHIFT}) / 86400)"
    if bucket is Bucket.WEEK:
        return f"(({local} + {EPOCH_SHIFT}) / 604800)"
    if dialect == "postgres":
        month = f"timezone('UTC', to_timestamp({local}))"
        return f"CAST(date_part('year', {month}) * 100 + date_part('month', {month}) AS BIGINT)"
    return f"CAST(strftime('%Y%m', {local}, 'unixepoch') AS INTEGER)"


def _aggregates() -> str:
    completed = f"status = '{RunStatus.COMPLETED.value}'"
    terms = ["COUNT(*)"]
    terms += [f"SUM(CASE WHEN status = '{s.value}' THEN 1 ELSE 0 END)" for s in COUNTED]
    for column in SUMMARISED:
        value = f"CASE WHEN {completed} THEN {column} END"
        terms += [f"MIN({value})", f"AVG({value})", f"MAX({value})"]
    return ", ".join(terms)


def history_sql(
    query: RunQuery, bucket: Bucket, segments: Sequence[OffsetSegment], dialect: str, limit: int
) -> str:
    key = bucket_key_sql(bucket, segments, dialect)
    table = TrainingRun._meta.db_table
    where = query.where_sql()
    # LIMIT written in (see RunQuery.fetch); the caller asks for one more than it allows.
    return (
        f"SELECT {key} AS bucket_key, {_aggregates()} FROM {table}{where} "
        f"GROUP BY bucket_key ORDER BY bucket_key LIMIT {int(limit)}"
    )


async def grouped_runs(
    runs: MatchingRuns, bucket: Bucket, segments: Sequence[OffsetSegment], limit: int
) -> list[GroupedRuns]:
    """The `runs` grouped by bucket, oldest first, at most `limit` groups."""
    query = runs.every_match
    if query is None:
        return []
    dialect: str = TrainingRun._meta.db.capabilities.dialect
    sql = history_sql(query, bucket, segments, dialect, limit)
    rows, _ = await read(sql, query.params, fresh_plan=query.fresh_plan)
    return [_grouped(tuple(row)) for row in rows]


def _grouped(row: tuple[Any, ...]) -> GroupedRuns:
    summaries: dict[str, Summary | None] = {}
    for index, column in enumerate(SUMMARISED):
        low, mean, high = row[5 + 3 * index : 8 + 3 * index]
        summaries[column] = None if low is None else Summary(float(low), float(mean), float(high))
    return GroupedRuns(
        key=int(row[0]),
        runs=int(row[1]),
        completed=int(row[2] or 0),
        failed=int(row[3] or 0),
        cancelled=int(row[4] or 0),
        summaries=summaries,
    )


async def run_date_span() -> tuple[datetime, datetime] | None:
    """The oldest and newest run_date of the whole table (two index look-ups), or None
    when it is empty: the range a history's time-zone offsets must cover."""
    table = TrainingRun._meta.db_table
    # Two sub-selects: SQLite answers MIN or MAX from an index only when it is alone.
    rows, _ = await read(
        f"SELECT (SELECT MIN(run_date) FROM {table}), (SELECT MAX(run_date) FROM {table})"
    )
    low, high = rows[0][0], rows[0][1]
    if low is None or high is None:
        return None
    return datetime_from_db(low), datetime_from_db(high)
