"""Aggregates over the run table for /metrics, computed by the database at scrape time.

The database is the one place that sees every run, whichever server or Celery worker
trained it, so gauges and the training-duration histogram are read from it rather than
counted in one process. Both queries are GROUP BY / conditional counts that the
(status, column, id) indexes serve.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import Tortoise
from tortoise.functions import Count

from models.training_runs import RunStatus, TrainingRun


async def runs_by_status() -> dict[RunStatus, int]:
    rows = await TrainingRun.annotate(n=Count("id")).group_by("status").values_list("status", "n")
    counts = dict.fromkeys(RunStatus, 0)
    for status, count in rows:
        counts[RunStatus(status)] = int(count)
    return counts


@dataclass(frozen=True)
class DurationHistogram:
    """Cumulative counts of completed runs whose training took at most each bound."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    total_seconds: float


async def completed_durations(bounds: tuple[float, ...]) -> DurationHistogram:
    column = "training_duration_seconds"
    # The bounds are this module's own numbers, never client input.
    buckets = ", ".join(
        f"SUM(CASE WHEN {column} <= {float(bound)!r} THEN 1 ELSE 0 END)" for bound in bounds
    )
    table = TrainingRun._meta.db_table
    sql = (
        f"SELECT COUNT({column}), SUM({column}), {buckets} FROM {table} "
        f"WHERE status = '{RunStatus.COMPLETED.value}' AND {column} IS NOT NULL"
    )
    _, rows = await Tortoise.get_connection("default").execute_query(sql)
    values = list(rows[0]) if rows else []
    count = int(values[0] or 0) if values else 0
    return DurationHistogram(
        bounds=bounds,
        cumulative=tuple(int(value or 0) for value in values[2:]),
        count=count,
        total_seconds=float(values[1] or 0.0) if values else 0.0,
    )
