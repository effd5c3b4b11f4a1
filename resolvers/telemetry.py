"""The process's Prometheus instruments (counted where things happen; exposed by /metrics).

prometheus_client picks its storage when it is first imported: in memory, or files in
PROMETHEUS_MULTIPROC_DIR when several server processes must add up (`serve --workers N`
sets that up), so these module-level objects work in both cases.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
LOGIN_REFUSALS = Counter(
    "training_api_login_refusals",
    "Refused login attempts, by reason (invalid_credentials, rate_limited).",
    ["reason"],
)
