"""Types of trainingMetricsHistory: runs counted and summarised per time bucket, for charts.

They read the dataclasses resolvers/metrics_history.py returns."""

from __future__ import annotations

from datetime import datetime

import strawberry


@strawberry.type(description="A metric over a bucket's COMPLETED runs that recorded it.")
class MetricSummary:
    min: float
    avg: float
    max: float


@strawberry.type(description="The runs of one time bucket: counts by status and metrics.")
class MetricsBucket:
    start: datetime = strawberry.field(
        description="First instant of the bucket in the time zone asked for, with its offset."
    )
    end: datetime = strawberry.field(description="First instant of the next bucket.")
    runs: int = strawberry.field(description="Runs of any status.")
    completed: int
    failed: int
    cancelled: int
    accuracy: MetricSummary | None = strawberry.field(
        description="Null when no COMPLETED run of the bucket has it; so are the others."
    )
    f1_score: MetricSummary | None
    training_duration_seconds: MetricSummary | None
