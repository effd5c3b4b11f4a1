"""/metrics in Prometheus' text format.

Two sources. Per-process instruments (schema/telemetry.py: operations, latency;
resolvers/login_limiter.py: login refusals) are counted where things happen and, with
several server processes, summed
from PROMETHEUS_MULTIPROC_DIR. Run metrics (runs by status, queue length, training
durations) are read from the database at scrape time: runs are trained by other
processes, possibly Celery workers on other machines, and the database is the one place
that sees them all, including those that finished while no server was watching. The
duration histogram is therefore cumulative over the runs the database holds, and any
server process answers the same.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import Response

from models.availability import is_database_outage
from models.run_metrics import DurationHistogram, completed_durations, runs_by_status
from models.training_runs import RunStatus
from resolvers.errors import ErrorCode
from schema.errors import error_body

logger = logging.getLogger("schema.http.metrics")  # the name these lines always had

DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


class RunMetrics:
    """The run gauges and histogram, as fetched from the database for one scrape."""

    def __init__(
        self, counts: dict[RunStatus, int] | None, durations: DurationHistogram | None
    ) -> None:
        self.counts = counts
        self.durations = durations

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "training_api_database_up", "1 when the run metrics could be read from the database."
        )
        up.add_metric([], 1 if self.counts is not None else 0)
        yield up
        if self.counts is not None:
            runs = GaugeMetricFamily(
                "training_api_runs", "Training runs by status.", labels=["status"]
            )
            for status, count in self.counts.items():
                runs.add_metric([status.value], count)
            yield runs
            queue = GaugeMetricFamily(
                "training_api_queue_length", "Runs accepted and waiting for a worker (QUEUED)."
            )
            queue.add_metric([], self.counts[RunStatus.QUEUED])
            yield queue
        if self.durations is not None:
            histogram = HistogramMetricFamily(
                "training_api_training_duration_seconds",
                "Training time of the completed runs in the database.",
            )
            buckets = [
                (repr(bound), count)
                for bound, count in zip(
                    self.durations.bounds, self.durations.cumulative, strict=True
                )
            ]
            buckets.append(("+Inf", self.durations.count))
            histogram.add_metric([], buckets, self.durations.total_seconds)
            yield histogram


async def _run_metrics(seconds: float) -> RunMetrics:
    try:
        counts, durations = await asyncio.wait_for(
            asyncio.gather(runs_by_status(), completed_durations(DURATION_BUCKETS)), seconds
        )
    except Exception as exc:
        # A scrape during an outage still reports the process's own counters.
        reason = "outage" if is_database_outage(exc) else type(exc).__name__
        logger.warning("metrics: run metrics unavailable (%s)", reason)
        return RunMetrics(None, None)
    return RunMetrics(counts, durations)


class MetricsEndpoint:
    """GET /metrics. 404 unless enabled (the route does not exist then); with a token set,
    401 without `Authorization: Bearer <token>` (compared in constant time)."""

    def __init__(self, token: str | None, timeout: float) -> None:
        self.token = token.encode() if token else None
        self.timeout = timeout

    def _authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token
        )

    async def respond(self, request: Request) -> Response:
        if not self._authorized(request):
            return Response(
                error_body(
                    "a valid metrics token is required (Authorization: Bearer <METRICS_TOKEN>)",
                    ErrorCode.UNAUTHENTICATED,
                    with_data=False,
                ),
                status_code=401,
                media_type="application/json",
                headers={"www-authenticate": 'Bearer realm="metrics"'},
            )
        run_metrics = await _run_metrics(self.timeout)
        scrape = CollectorRegistry()
        scrape.register(run_metrics)
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            processes = CollectorRegistry()
            multiprocess.MultiProcessCollector(processes)  # type: ignore[no-untyped-call]  # prometheus_client leaves its __init__ unannotated
            body = generate_latest(processes)
        else:
            body = generate_latest(REGISTRY)
        return Response(body + generate_latest(scrape), media_type=CONTENT_TYPE_LATEST)
