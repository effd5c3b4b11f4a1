"""The process's Prometheus instruments (counted where things happen; exposed by
/metrics, server/metrics.py) and the schema extension that counts GraphQL operations.

prometheus_client picks its storage when it is first imported: in memory, or files in
PROMETHEUS_MULTIPROC_DIR when several server processes must add up (`serve --workers N`
sets that up), so these module-level objects work in both cases.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from graphql import GraphQLError
from prometheus_client import Counter, Histogram
from strawberry.extensions import SchemaExtension

from trainer.logs import update_log_context

if TYPE_CHECKING:
    from resolvers.context import RequestContext

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

GRAPHQL_REQUESTS = Counter(
    "training_api_graphql_requests",
    "GraphQL operations served, by operation name, type and outcome (ok or the first error code).",
    ["operation", "type", "outcome"],
)
GRAPHQL_LATENCY = Histogram(
    "training_api_graphql_request_duration_seconds",
    "Time to answer a query or mutation (parse, validate, execute), by operation name.",
    ["operation", "type"],
    buckets=LATENCY_BUCKETS,
)


# Operation names come from clients: only names of documents that parsed and validated,
# sent by signed-in callers, count, at most this many distinct ones per process (later
# ones count as "other"); an anonymous caller's named operation counts as "unauthenticated",
# so nobody without a token can use up the slots the real operations need.
MAX_OPERATION_NAMES = 100
UNAUTHENTICATED = "unauthenticated"
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

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._record(time.perf_counter() - started, await self._name())

    async def _name(self) -> str:
        """The label of the operation's name; the caller's token is looked up only for a
        named, validated operation that did not look it up itself (its identity is kept
        per request), such as a signed-in client's `login`."""
        context = self.execution_context
        if not self._validated:
            return "invalid"
        if context.operation_name is None:
            return OPERATION_NAMES.label(None)
        request: RequestContext | None = context.context
        if request is None or not await request.signed_in():
            return UNAUTHENTICATED
        return OPERATION_NAMES.label(context.operation_name)

    def _record(self, seconds: float, name: str) -> None:
        context = self.execution_context
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
