"""The GraphQL documents the benchmark sends, and the checks that their answers are right.

A fast wrong answer must not count: every figure's request is sent once and checked
before wrk repeats it, since GraphQL reports errors with HTTP 200 and wrk only sees the
status code.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import graphql
import httpx

from bench.data import REPO

LIST_FIELDS = (
    "databaseId modelVersion status accuracy precision recall f1Score runDate "
    "trainingDurationSeconds trainedByUsername"
)
_PAGE = f"nodes {{ {LIST_FIELDS} }} pageInfo {{ hasNextPage endCursor }}"

# Page 1 with literal arguments: the very same document is valid against the ceiling app.
LIST_PAGE1 = f"{{ trainingRuns(first: 20) {{ {_PAGE} }} }}"
LIST_AFTER = (
    f"query Page($after: String) {{ trainingRuns(first: 20, after: $after) {{ {_PAGE} }} }}"
)
LIST_FILTERED = (
    "query Filtered($status: [TrainingRunStatus!]) "
    f"{{ trainingRuns(first: 20, filter: {{status: $status}}) {{ {_PAGE} }} }}"
)
TRAIN = """
mutation Train($input: TrainModelInput!) {
  trainModel(input: $input) {
    trainingRun { databaseId status accuracy trainingDurationSeconds errorMessage }
    errors { field message code }
  }
}"""
RUN_STATE = "query State($id: ID!) { trainingRun(id: $id) { status stage progress } }"
CANCEL = (
    "mutation Cancel($id: ID!) { cancelTrainingRun(id: $id) "
    "{ trainingRun { status } errors { message code } } }"
)


@cache
def detail_fields() -> tuple[str, ...]:
    """Every field of TrainingRun whose type is a scalar or an enum (or a list of them),
    read from the committed SDL so the figure follows the schema as it grows."""
    sdl = (REPO / "schema" / "schema.graphql").read_text()
    run_type = graphql.build_schema(sdl).type_map["TrainingRun"]
    assert isinstance(run_type, graphql.GraphQLObjectType)
    return tuple(
        name
        for name, field in run_type.fields.items()
        if graphql.is_leaf_type(graphql.get_named_type(field.type))
    )


def detail_query() -> str:
    return f"query Run($id: ID!) {{ trainingRun(id: $id) {{ {' '.join(detail_fields())} }} }}"


def post(
    client: httpx.Client, url: str, query: str, variables: dict[str, Any] | None, token: str | None
) -> dict[str, Any]:
    """Send one document; raise unless HTTP 200 without GraphQL errors. Returns `data`."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    response = client.post(
        f"{url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


def check_page(
    data: dict[str, Any], *, first_id: int | None = None, status: str | None = None
) -> None:
    nodes = data["trainingRuns"]["nodes"]
    if len(nodes) != 20:
        raise RuntimeError(f"expected 20 runs, got {len(nodes)}")
    missing = [f for f in LIST_FIELDS.split() if f not in nodes[0]]
    if missing:
        raise RuntimeError(f"fields missing from the page: {missing}")
    if not any(n["trainedByUsername"] for n in nodes):
        raise RuntimeError("no run of the page has a trainedByUsername: the load missed it")
    if first_id is not None and nodes[0]["databaseId"] != first_id:
        raise RuntimeError(f"page starts at run {nodes[0]['databaseId']}, expected {first_id}")
    if status is not None and {n["status"] for n in nodes} != {status}:
        raise RuntimeError(f"filter {status} returned {[n['status'] for n in nodes]}")
