"""The request cost budget (schema/cost.py): what concrete requests cost, what is refused
with QUERY_TOO_COSTLY before anything runs, and the cost reported when asked for.

Costs here are exact: a leaf is 1, an object 1 plus its selections, a page multiplies its
nodes or edges by `first`/`last` (default 20), totalCount adds 10. The in-process app
answers the arithmetic; a real server process shows that an over-budget flood leaves its
memory where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from tests.conftest import Server
from tests.helpers import FINISHED_RUN, CostWalks, codes, graphql_ws, open_session
from tests.prestart import prestartable
from tests.processes import LiveServer, live_server

LIMIT = 30_000
RUN_FIELDS = (
    "id databaseId status modelVersion accuracy f1Score trainingDurationSeconds "
    "trainedByUsername runDate"
)
# The dashboard's page: 100 runs with the list's columns, totalCount and pageInfo.
DASHBOARD = f"""
query Dashboard($first: Int = 100) {{
  trainingRuns(first: $first) {{
    totalCount
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
    edges {{ cursor node {{ {RUN_FIELDS} }} }}
  }}
}}
"""
# 1 (connection) + 1 + 10 (totalCount, a COUNT) + 5 (pageInfo)
# + 100 x (1 (edge) + 1 (cursor) + 1 + 9 (node))
DASHBOARD_COST = 1 + 11 + 5 + 100 * (1 + 1 + 1 + 9)
HEAVY_FIELDS = """
featureImportance { feature importance }
confusionMatrix { labels matrix }
perClassMetrics { label precision recall f1Score support }
hyperparameters { nEstimators maxDepth minSamplesSplit minSamplesLeaf classWeight }
trainedBy { id username groups }
featuresUsed
"""
# What the review sent: 10 aliased pages of 100 runs with every heavy field.
ATTACK = (
    "query Attack { "
    + " ".join(
        f"a{i}: trainingRuns(first: 100) {{ nodes {{ {RUN_FIELDS} {HEAVY_FIELDS} }} }}"
        for i in range(10)
    )
    + " }"
)
HEAVY_PAGE = f"query HeavyPage {{ trainingRuns(first: 100) {{ nodes {{ id {HEAVY_FIELDS} }} }} }}"
CHEAP_TRAIN = """
mutation Train($input: TrainModelInput!) {
  trainModel(input: $input) { trainingRun { databaseId } errors { code } }
}
"""
RUN_COUNT = "query RunCount { trainingRuns { totalCount } }"


async def post_json(server: Server, payload: object, **headers: str) -> httpx.Response:
    return await server.client.post(
        "/graphql",
        json=payload,
        headers={"Authorization": f"Token {server.tokens['manager']}", **headers},
    )


async def reported_cost(server: Server, query: str, variables: dict[str, Any] | None = None) -> int:
    response = await post_json(
        server, {"query": query, "variables": variables or {}, "extensions": {"cost": True}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    assert body["extensions"]["cost"]["limit"] == LIMIT
    return int(body["extensions"]["cost"]["requested"])


async def run_count(server: Server) -> int:
    return int((await server.data(RUN_COUNT))["trainingRuns"]["totalCount"])


# --- the arithmetic, on the in-process app --------------------------------------------------
@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        pytest.param("{ trainingRuns(first: 3) { nodes { id } } }", {}, 1 + 3 * 2, id="first"),
        pytest.param("{ trainingRuns(last: 4) { nodes { id } } }", {}, 1 + 4 * 2, id="last"),
        pytest.param("{ trainingRuns { nodes { id } } }", {}, 1 + 20 * 2, id="default-page"),
        pytest.param(
            "query($n: Int) { trainingRuns(first: $n) { nodes { id } } }",
            {"n": 50},
            1 + 50 * 2,
            id="variable",
        ),
        pytest.param(
            "query($n: Int = 7) { trainingRuns(first: $n) { nodes { id } } }",
            {},
            1 + 7 * 2,
            id="variable-default",
        ),
        pytest.param(
            "query { ...Runs } fragment Runs on Query { trainingRuns(first: 5) { ...Page } }"
            " fragment Page on TrainingRunConnection { nodes { ... on TrainingRun { id } } }",
            {},
            1 + 5 * 2,
            id="fragments",
        ),
        pytest.param(
            "{ trainingRuns(first: 2) { nodes { featureImportance { feature importance } } } }",
            {},
            1 + 2 * (1 + 50 * 3),
            id="heavy-field",
        ),
        pytest.param(
            "{ a: trainingRuns(first: 2) { nodes { id } } b: trainingRuns(first: 2) "
            "{ nodes { id } } }",
            {},
            2 * (1 + 2 * 2),
            id="aliases-add-up",
        ),
        pytest.param(DASHBOARD, {}, DASHBOARD_COST, id="dashboard"),
    ],
)
async def test_cost_of_a_query_is_reported_when_asked_for(
    server: Server, query: str, variables: dict[str, Any], expected: int
) -> None:
    # when
    cost = await reported_cost(server, query, variables)

    # then
    assert cost == expected


async def test_dashboard_page_is_well_inside_the_budget(server: Server) -> None:
    # then: the page the dashboard asks for uses less than a fifth of the budget
    assert DASHBOARD_COST < LIMIT / 5
    assert await reported_cost(server, DASHBOARD) == DASHBOARD_COST


async def test_cost_is_reported_with_a_header_and_only_when_asked_for(server: Server) -> None:
    # when
    asked = await post_json(server, {"query": DASHBOARD}, **{"X-GraphQL-Cost": "1"})
    not_asked = await post_json(server, {"query": DASHBOARD})

    # then
    assert asked.json()["extensions"]["cost"] == {"requested": DASHBOARD_COST, "limit": LIMIT}
    assert "cost" not in (not_asked.json().get("extensions") or {})


async def test_over_budget_operation_is_refused_with_its_cost_and_the_limit(
    server: Server,
) -> None:
    # when
    response = await post_json(server, {"query": ATTACK})

    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    assert codes(body) == ["QUERY_TOO_COSTLY"]
    extensions = body["errors"][0]["extensions"]
    assert extensions["limit"] == LIMIT
    assert extensions["cost"] > 8 * LIMIT


async def test_page_size_variable_counts_like_a_literal(server: Server) -> None:
    # given: two pages of every heavy field; of 100 runs each they are over budget, of 10 not
    page = f"trainingRuns(first: $n) {{ nodes {{ id {HEAVY_FIELDS} }} }}"
    query = f"query($n: Int) {{ a: {page} b: {page} }}"

    # when
    small = await post_json(server, {"query": query, "variables": {"n": 10}})
    large = await post_json(server, {"query": query, "variables": {"n": 100}})

    # then
    assert "errors" not in small.json(), small.text
    assert codes(large.json()) == ["QUERY_TOO_COSTLY"]


async def test_batch_costs_add_up_and_an_over_budget_batch_runs_nothing(
    clean_runs: Server,
) -> None:
    # given: a mutation then two pages of 100 runs with every heavy field; each alone is
    # within the budget
    train = {
        "query": CHEAP_TRAIN,
        "variables": {"input": {"modelVersion": "cost-batch-1", "hyperparameters": {}}},
    }
    batch = [train] + [{"query": HEAVY_PAGE}] * 2
    assert LIMIT / 2 < await reported_cost(clean_runs, HEAVY_PAGE) <= LIMIT

    # when
    response = await clean_runs.client.post(
        "/graphql", json=batch, headers={"Authorization": f"Token {clean_runs.tokens['drh']}"}
    )

    # then: every operation refused, with the batch's total; the mutation did not run
    assert response.status_code == 200, response.text
    results = response.json()
    assert len(results) == 3
    for result in results:
        assert result["data"] is None
        assert codes(result) == ["QUERY_TOO_COSTLY"]
        assert result["errors"][0]["extensions"]["cost"] > LIMIT
    assert await run_count(clean_runs) == 0


async def test_batch_within_the_budget_runs_and_reports_each_cost(server: Server) -> None:
    # when
    response = await post_json(
        server,
        [{"query": DASHBOARD, "extensions": {"cost": True}}, {"query": DASHBOARD}],
    )

    # then
    first, second = response.json()
    assert "errors" not in first
    assert "errors" not in second
    assert first["extensions"]["cost"]["requested"] == DASHBOARD_COST


async def test_introspection_query_is_within_the_budget(server: Server) -> None:
    # when
    response = await post_json(server, {"query": get_introspection_query()})

    # then
    assert "errors" not in response.json(), response.text


async def test_over_budget_query_over_websocket_is_refused(server: Server) -> None:
    # given
    async with graphql_ws(server.client) as ws:
        await open_session(ws, server, "manager")

        # when
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": ATTACK}})
        message = await ws.receive_json(timeout=30)

    # then
    assert message["type"] == "error", message
    assert [error["extensions"]["code"] for error in message["payload"]] == ["QUERY_TOO_COSTLY"]


# --- a real server's memory -----------------------------------------------------------------
def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def copy_run(database: Path, copies: int) -> None:
    """Fill the run table with `copies` copies of its one finished run."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection, connection:
        columns = [
            row[1]
            for row in connection.execute("PRAGMA table_info(training_run)")
            if row[1] not in {"id", "model_version"}
        ]
        listed = ", ".join(columns)
        for number in range(copies):
            connection.execute(
                f"INSERT INTO training_run (model_version, {listed}) "
                f"SELECT model_version || '-copy-{number}', {listed} FROM training_run "
                "ORDER BY id LIMIT 1"
            )


@pytest.fixture(scope="module")
@prestartable
async def flood_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """A server of its own for the flood: its memory is measured."""
    async with live_server(tmp_path_factory.mktemp("cost-flood")) as server:
        yield server


async def test_flood_of_over_budget_batches_is_refused_and_memory_stays_at_baseline(
    flood_server: LiveServer,
) -> None:
    server = flood_server
    # given: 100 finished runs with their metrics (rows: nothing here trains), and a
    # warmed-up server
    server.insert_run(**FINISHED_RUN)
    copy_run(server.artifacts / "training_api.sqlite3", 99)
    for _ in range(3):
        page = await server.data(DASHBOARD)
    assert page["trainingRuns"]["totalCount"] == 100
    assert {edge["node"]["status"] for edge in page["trainingRuns"]["edges"]} == {"COMPLETED"}
    baseline = vm_rss_kib(server.pid)

    # when: three batches at once, each of ten operations of ten aliased heavy pages
    batch = [{"query": ATTACK}] * 10
    async with server.client(timeout=120) as client:
        responses = await asyncio.gather(*(client.post("/graphql", json=batch) for _ in range(3)))

    # then: every operation refused, and the server's memory is where it was
    for response in responses:
        assert response.status_code == 200, response.text[:500]
        assert len(response.text) < 50_000
        assert {code for result in response.json() for code in codes(result)} == {
            "QUERY_TOO_COSTLY"
        }
    after = vm_rss_kib(server.pid)
    print(f"server RSS {baseline} kB before, {after} kB after the flood")
    assert after <= baseline * 1.10, f"RSS {baseline} kB -> {after} kB"
    assert (await server.data(DASHBOARD))["trainingRuns"]["totalCount"] == 100


async def test_a_documents_cost_is_computed_once_per_shape_of_its_variables(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a document no other test sends, and a count of the walks computing costs
    import uuid

    walks = CostWalks(monkeypatch)
    name = f"Shape{uuid.uuid4().hex}"
    query = (
        f"query {name}($n: Int, $id: ID!) {{ trainingRuns(first: $n) {{ nodes {{ id }} }} "
        "trainingRun(id: $id) { id } }"
    )

    # when: sent with other ids but the same page size, then with another page size
    first = await reported_cost(server, query, {"n": 3, "id": "1"})
    again = await reported_cost(server, query, {"n": 3, "id": "2"})
    bigger = await reported_cost(server, query, {"n": 50, "id": "1"})

    # then: one walk per page size, and each cost as the walk computes it
    assert walks.count == 2
    assert first == again == 1 + 3 * 2 + 2
    assert bigger == 1 + 50 * 2 + 2
