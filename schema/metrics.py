"""/metrics in Prometheus' text format, and the extension that counts GraphQL operations.

Two sources. Per-process instruments (resolvers/telemetry.py: operations, latency, login
refusals) are counted where things happen and, with several server processes, summed
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
import re
import threading
import time
from collections.abc import Iterator

from graphql import GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.extensions import SchemaExtension

from models.availability import is_database_outage
from models.run_metrics import DurationHistogram, completed_durations, runs_by_status
from models.training_runs import RunStatus
from resolvers.telemetry import GRAPHQL_LATENCY, GRAPHQL_REQUESTS
from trainer.logs import update_log_context

logger = logging.getLogger("schema.metrics")

DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
# Operation names come from clients: only names of documents that parsed and validated
# count, at most this many distinct ones per process (later ones count as "other").
MAX_OPERATION_NAMES = 100
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


class OperationNames:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if name is None:
            return "anonymous"
        if not _NAME.fullmatch(name):
            return "other"
        with self._lock:
            if name in self._seen:
                return name
            if len(self._seen) < self.limit:
                self._seen.add(name)
                return name
        return "other"


OPERATION_NAMES = OperationNames(MAX_OPERATION_NAMES)


def _outcome(errors: list[GraphQLError] | None) -> str:
    if not errors:
        return "ok"
    code = (errors[0].extensions or {}).get("code")
    return str(code)[:40] if code else "ERROR"


class OperationMetrics(SchemaExtension):
    """Counts each operation by name, type and outcome, and times queries and mutations.

    Errors are already coded (Schema.process_errors runs inside the operation), so the
    outcome is the first error's stable code, a bounded set.
    """

    _validated = False

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        self._validated = not context.pre_execution_errors
        if self._validated:
            update_log_context(operation=_label(context.operation_name))

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._record(time.perf_counter() - started)

    def _record(self, seconds: float) -> None:
        context = self.execution_context
        name = OPERATION_NAMES.label(context.operation_name) if self._validated else "invalid"
        try:
            kind = context.operation_type.value if self._validated else "unknown"
        except RuntimeError:
            kind = "unknown"
        result = context.result
        errors = getattr(result, "errors", None) or context.pre_execution_errors
        GRAPHQL_REQUESTS.labels(name, kind, _outcome(errors)).inc()
        if kind != "subscription":  # a subscription's "latency" is its lifetime
            GRAPHQL_LATENCY.labels(name, kind).observe(seconds)


def _label(name: str | None) -> str:
    return name[:64] if name else "anonymous"


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
            return JSONResponse(
                {"error": "a valid metrics token is required"},
                status_code=401,
                headers={"www-authenticate": 'Bearer realm="metrics"'},
            )
        run_metrics = await _run_metrics(self.timeout)
        scrape = CollectorRegistry()
        scrape.register(run_metrics)
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            processes = CollectorRegistry()
            multiprocess.MultiProcessCollector(processes)
            body = generate_latest(processes)
        else:
            body = generate_latest(REGISTRY)
        return Response(body + generate_latest(scrape), media_type=CONTENT_TYPE_LATEST)
