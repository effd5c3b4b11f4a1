"""Training metrics over time, for charts: runs per hour / day / week / month in a time zone.

The database does the grouping (models/metrics_history.py); this module decides what the
buckets are. SQLite knows no time zones, and PostgreSQL's would be a second copy of the
tz database that may disagree with Python's, so both get the same thing: the zone's UTC
offsets as segments between its transitions, found here with zoneinfo over the range the
matching runs can span (the table's oldest and newest run_date, narrowed by the filter's
dates). A local bucket key is then plain arithmetic on the run's UTC instant plus the
offset in force at that instant, identical on both databases and exact across DST
changes, for any offset (half-hour zones included): no run is ever loaded into Python,
only at most MAX_BUCKETS + 1 grouped rows.

Transitions are found by stepping through the range a day at a time and bisecting to the
second where the offset changes: a few thousand offset look-ups for a decade of runs.
A bucket's `start` is the first instant of its local period (local midnight, or the end
of the DST gap that skipped it), shown with the offset in force then.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from models.metrics_history import (
    Bucket,
    GroupedRuns,
    OffsetSegment,
    Summary,
    grouped_runs,
    run_date_span,
)
from models.run_list import RunFilter, matching
from resolvers.errors import ApiError
from resolvers.training_runs import checked_filter

# Bucket with the functions: schema/ reads it here, never from models/.
__all__ = [
    "MAX_BUCKETS",
    "MAX_ZONE_NAME",
    "Bucket",
    "HistoryBucket",
    "first_instant",
    "metrics_history",
    "offset_segments",
    "parse_zone",
]

MAX_BUCKETS = 1000
MAX_ZONE_NAME = 64  # longest IANA name is ~32; longer input is not echoed whole
_STEP = 86_400


@dataclass(frozen=True)
class HistoryBucket:
    """One bucket of the answer, as the schema's MetricsBucket shows it."""

    start: datetime
    end: datetime
    runs: int
    completed: int
    failed: int
    cancelled: int
    accuracy: Summary | None
    f1_score: Summary | None
    training_duration_seconds: Summary | None


@functools.cache
def _zone_names() -> frozenset[str]:
    # Checked against the list first: ZoneInfo() would also open other files of the
    # tz folders (zone.tab, directories) and fail in less helpful ways.
    return frozenset(zoneinfo.available_timezones())


def parse_zone(name: str) -> zoneinfo.ZoneInfo:
    if name not in _zone_names():
        shown = name if len(name) <= MAX_ZONE_NAME else name[:MAX_ZONE_NAME] + "…"
        raise ApiError(
            f"unknown time zone {shown!r}: give an IANA name such as 'UTC' or 'Europe/Paris'",
            argument="timeZone",
        )
    return zoneinfo.ZoneInfo(name)


def _offset(zone: zoneinfo.ZoneInfo, epoch: int) -> int:
    offset = datetime.fromtimestamp(epoch, zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def offset_segments(zone: zoneinfo.ZoneInfo, low: datetime, high: datetime) -> list[OffsetSegment]:
    """The zone's offsets from `low` to `high`: the first segment holds from the
    beginning of time, each next one from its transition on."""
    start, end = int(low.timestamp()) - _STEP, int(high.timestamp()) + _STEP
    current = _offset(zone, start)
    segments = [OffsetSegment(None, current)]
    moment = start
    while moment < end:
        step = min(moment + _STEP, end)
        if _offset(zone, step) == current:
            moment = step
            continue
        before, after = moment, step  # offset `current` at before, another at after
        while after - before > 1:
            middle = (before + after) // 2
            if _offset(zone, middle) == current:
                before = middle
            else:
                after = middle
        current = _offset(zone, after)
        segments.append(OffsetSegment(after, current))
        moment = after
    return segments


def first_instant(day: date, zone: zoneinfo.ZoneInfo) -> datetime:
    """The first instant of a local day: midnight, or the end of a DST gap over it."""
    wall = datetime.combine(day, time())
    local = wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    if local.replace(tzinfo=None) == wall:
        return local
    low, high = sorted(int(wall.replace(tzinfo=zone, fold=fold).timestamp()) for fold in (0, 1))
    while high - low > 1:  # the first second whose wall clock reads `day` or later
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, zone)


def _bounds(bucket: Bucket, key: int, zone: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
    if bucket is Bucket.HOUR:
        return datetime.fromtimestamp(key, zone), datetime.fromtimestamp(key + 3600, zone)
    if bucket is Bucket.DAY:
        day = date.fromordinal(key + 1)
        following = day + timedelta(days=1)
    elif bucket is Bucket.WEEK:
        day = date.fromordinal(key * 7 + 1)
        following = day + timedelta(days=7)
    else:
        year, month = divmod(key, 100)
        day = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
    return first_instant(day, zone), first_instant(following, zone)


def _bucket(bucket: Bucket, group: GroupedRuns, zone: zoneinfo.ZoneInfo) -> HistoryBucket:
    start, end = _bounds(bucket, group.key, zone)
    return HistoryBucket(
        start=start,
        end=end,
        runs=group.runs,
        completed=group.completed,
        failed=group.failed,
        cancelled=group.cancelled,
        accuracy=group.summaries["accuracy"],
        f1_score=group.summaries["f1_score"],
        training_duration_seconds=group.summaries["training_duration_seconds"],
    )


async def metrics_history(
    bucket: Bucket, run_filter: RunFilter | None, time_zone: str
) -> list[HistoryBucket]:
    """The buckets holding runs that match `run_filter`, oldest first."""
    zone = parse_zone(time_zone)
    run_filter = checked_filter(run_filter)
    runs = await matching(run_filter)
    if runs.query is None:
        return []
    span = await run_date_span()
    if span is None:
        return []
    low, high = span
    if run_filter is not None and run_filter.run_date_from is not None:
        low = max(low, run_filter.run_date_from)
    if run_filter is not None and run_filter.run_date_to is not None:
        high = min(high, run_filter.run_date_to)
    if low > high:
        return []
    segments = offset_segments(zone, low, high)
    groups = await grouped_runs(runs, bucket, segments, MAX_BUCKETS + 1)
    if len(groups) > MAX_BUCKETS:
        raise ApiError(
            f"more than {MAX_BUCKETS} {bucket.value} buckets hold runs: narrow the range "
            "(filter runDateFrom / runDateTo) or widen the bucket (e.g. WEEK or MONTH)",
            argument="bucket",
        )
    return [_bucket(bucket, group, zone) for group in groups]
