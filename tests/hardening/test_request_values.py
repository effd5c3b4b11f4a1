"""What a client sends, whatever the transport: deep nesting, NUL characters, over-long
strings, deep introspection; and what of it reaches the log.

Over HTTP, a body or query string that cannot be used is a JSON 400 BAD_REQUEST; over a
WebSocket (graphql-transport-ws), the operation's `error` message with the same code.
The NUL tests run on PostgreSQL too (TEST_DATABASE=postgres), which can neither store
nor compare a NUL; the log tests use a real server process.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from models.training_runs import TrainingRun
from tests.conftest import Server
from tests.helpers import TRAIN, codes, graphql_ws, http_client, subscribe
from tests.prestart import prestartable
from tests.processes import LiveServer, start_live_server

LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) { token }
}
"""
RUNS_OF_USER = """
query RunsOfUser($username: String) {
  trainingRuns(filter: {trainedBy: $username}) { nodes { id } }
}
"""
RUNS_OF_VERSION = """
query RunsOfVersion($version: String) {
  trainingRuns(filter: {modelVersion: $version}) { nodes { id } }
}
"""
TYPENAME = "{ __typename }"


def nested(depth: int) -> str:
    """JSON of `depth` nested lists (built as text: json.dumps recurses)."""
    return "[" * depth + "1" + "]" * depth


def request_json(depth: int) -> str:
    return f'{{"query": "{TYPENAME}", "variables": {{"x": {nested(depth)}}}}}'


def variables_json(depth: int) -> str:
    return f'{{"x": {nested(depth)}}}'


JSON = {"Content-Type": "application/json"}


def assert_json_400(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    assert codes(response.json()) == ["BAD_REQUEST"]


async def over_websocket(
    server: Server, query: str, variables: dict[str, Any], role: str = "drh"
) -> dict[str, Any]:
    """The first message answering one operation sent over graphql-transport-ws."""
    async with graphql_ws(server.client) as ws:
        await subscribe(ws, server, query, variables, role)
        message: dict[str, Any] = await ws.receive_json(timeout=30)
        return message


def ws_codes(message: dict[str, Any]) -> list[str]:
    if message["type"] == "error":
        return [error["extensions"]["code"] for error in message["payload"]]
    return codes(message["payload"])


# --- deeply nested values ---------------------------------------------------------------------
@pytest.mark.parametrize("depth", [65, 400, 1000])
async def test_deeply_nested_variables_in_a_post_are_a_json_400(server: Server, depth: int) -> None:
    # when: no login needed
    response = await server.client.post("/graphql", content=request_json(depth), headers=JSON)

    # then
    assert_json_400(response)
    assert "nested" in response.json()["errors"][0]["message"]


async def test_deeply_nested_variables_in_a_get_are_a_json_400(server: Server) -> None:
    # when
    params = {"query": TYPENAME, "variables": variables_json(1000)}
    response = await server.client.get("/graphql", params=params)

    # then
    assert_json_400(response)


async def test_variables_nested_60_deep_are_served(server: Server) -> None:
    # when: 60 lists inside the variables object
    response = await server.client.post("/graphql", content=request_json(60), headers=JSON)

    # then
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"__typename": "Query"}


async def test_deeply_nested_variables_over_websocket_are_refused(server: Server) -> None:
    # when
    message = await over_websocket(server, TYPENAME, {"x": json.loads(nested(500))})

    # then
    assert ws_codes(message) == ["BAD_REQUEST"]


# --- NUL over WebSocket (SQLite and PostgreSQL) --------------------------------------------
@pytest.mark.parametrize(
    ("query", "variables"),
    [
        pytest.param(
            TRAIN,
            {"input": {"notes": "a\x00b", "hyperparameters": {"nEstimators": 1}}},
            id="train-notes",
        ),
        pytest.param(RUNS_OF_USER, {"username": "drh\x00"}, id="filter-user"),
        pytest.param(RUNS_OF_VERSION, {"version": "v\x00"}, id="filter-version"),
        pytest.param(LOGIN, {"username": "drh\x00", "password": "whatever"}, id="login"),
    ],
)
async def test_nul_in_websocket_variables_is_refused_and_stores_nothing(
    clean_runs: Server, query: str, variables: dict[str, Any]
) -> None:
    # when
    message = await over_websocket(clean_runs, query, variables)

    # then: the same code as over HTTP, and no run
    assert ws_codes(message) == ["BAD_REQUEST"]
    assert await TrainingRun.all().count() == 0


async def test_websocket_mutation_without_nul_still_runs(clean_runs: Server) -> None:
    # when
    message = await over_websocket(
        clean_runs, TRAIN, {"input": {"notes": "ab", "hyperparameters": {"nEstimators": 1}}}
    )

    # then
    assert message["type"] == "next", message
    assert message["payload"]["data"]["trainModel"]["errors"] == []
    assert await TrainingRun.all().count() == 1


# --- over-long strings ---------------------------------------------------------------------
async def test_login_with_an_overlong_username_is_invalid_credentials(server: Server) -> None:
    # when
    body = await server.gql(LOGIN, {"username": "u" * 151, "password": "whatever"}, as_=None)

    # then
    assert codes(body) == ["INVALID_CREDENTIALS"]


@pytest.mark.parametrize(
    ("query", "variables", "name", "maximum"),
    [
        pytest.param(RUNS_OF_USER, {"username": "u" * 151}, "trainedBy", 150, id="trained-by"),
        pytest.param(
            RUNS_OF_VERSION, {"version": "v" * 65}, "modelVersion", 64, id="model-version"
        ),
    ],
)
async def test_overlong_filter_is_a_user_error_naming_the_field(
    server: Server, query: str, variables: dict[str, Any], name: str, maximum: int
) -> None:
    # when
    body = await server.gql(query, variables)

    # then
    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert name in message
    assert str(maximum) in message


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        pytest.param(
            "datasetPath",
            "/".join(f"folder-{i}" for i in range(100)) + "/data.csv",
            "PATH_NOT_ALLOWED",
            id="dataset-path",
        ),
        pytest.param("modelVersion", "v" * 65, "INVALID", id="model-version"),
        pytest.param("notes", "n" * 5001, "INVALID", id="notes"),
    ],
)
async def test_overlong_train_input_is_refused_with_its_field_and_creates_no_run(
    clean_runs: Server, field: str, value: str, code: str
) -> None:
    # when
    body = await clean_runs.gql(TRAIN, {"input": {field: value}})

    # then
    assert "errors" not in body, body["errors"]
    errors = body["data"]["trainModel"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", field], code)]
    assert await TrainingRun.all().count() == 0


# --- introspection depth ----------------------------------------------------------------------
def of_type_chain(depth: int) -> str:
    """`__schema { types { fields { type { ofType ... { name } } } } }`, `depth` deep."""
    of_types = depth - 4
    return (
        "query Deep { __schema { types { fields { type { "
        + "ofType { " * of_types
        + "name"
        + " }" * of_types
        + " } } } } }"
    )


# Types, their fields' types, their fields' types...: each level multiplies the answer.
CYCLIC = (
    "query Cyclic { __schema { types { fields { type { fields { type { fields { type "
    "{ name } } } } } } } } }"
)


@pytest.mark.parametrize(
    "document",
    [pytest.param(of_type_chain(15), id="of-type-15-deep"), pytest.param(CYCLIC, id="cyclic")],
)
async def test_deep_introspection_is_refused(server: Server, document: str) -> None:
    # when
    body = await server.gql(document)

    # then
    assert body["data"] is None
    assert set(codes(body)) == {"QUERY_TOO_DEEP"}


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(get_introspection_query(), id="graphql-core"),
        pytest.param(
            get_introspection_query(
                descriptions=True,
                specified_by_url=True,
                directive_is_repeatable=True,
                schema_description=True,
                input_value_deprecation=True,
                one_of=True,
            ),
            id="graphql-core-all-options",
        ),
        # GraphiQL 3 sends graphql-js 16's query, whose type references are 7 deep.
        pytest.param(get_introspection_query(type_depth=7), id="graphiql"),
        pytest.param(of_type_chain(14), id="of-type-14-deep"),
    ],
)
async def test_introspection_queries_of_tools_are_served(server: Server, document: str) -> None:
    # when
    body = await server.gql(document)

    # then
    assert "errors" not in body, body["errors"]
    assert body["data"]["__schema"]["types"]


# --- the log of a real server ---------------------------------------------------------------
@pytest.fixture(scope="module")
@prestartable
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    server = await start_live_server(tmp_path_factory.mktemp("request-values"))
    try:
        yield server
    finally:
        await server.kill()


async def test_nested_variables_flood_writes_little_to_the_log(live: LiveServer) -> None:
    # given
    before = len(live.log_text())

    # when: 20 POSTs and 20 GETs, without credentials
    async with http_client(base_url=live.url, timeout=60) as client:
        for _ in range(20):
            assert_json_400(await client.post("/graphql", content=request_json(1000), headers=JSON))
            params = {"query": TYPENAME, "variables": variables_json(1000)}
            assert_json_400(await client.get("/graphql", params=params))

    # then: an access line each, no traceback
    grown = live.log_text()[before:]
    assert len(grown) < 40 * 2_000, grown[:3000]
    assert "Traceback" not in grown
    assert "RecursionError" not in grown


async def test_overlong_values_are_refused_and_not_echoed_into_the_log(live: LiveServer) -> None:
    # given
    username = "l" * 151
    dataset = "/".join(f"deep-folder-{i}" for i in range(100)) + "/data.csv"
    before = len(live.log_text())

    # when
    async with live.client() as client:
        login = await client.post(
            "/graphql", json={"query": LOGIN, "variables": {"username": username, "password": "x"}}
        )
        runs = await client.post(
            "/graphql", json={"query": RUNS_OF_USER, "variables": {"username": username}}
        )
        train = await client.post(
            "/graphql", json={"query": TRAIN, "variables": {"input": {"datasetPath": dataset}}}
        )

    # then
    assert codes(login.json()) == ["INVALID_CREDENTIALS"]
    assert codes(runs.json()) == ["BAD_USER_INPUT"]
    errors = train.json()["data"]["trainModel"]["errors"]
    assert [error["code"] for error in errors] == ["PATH_NOT_ALLOWED"]
    grown = live.log_text()[before:]
    assert "INTERNAL_SERVER_ERROR" not in grown
    assert "l" * 100 not in grown
    assert "deep-folder-50" not in grown


async def test_access_log_shows_no_query_string(live: LiveServer) -> None:
    # given: a login sent as a GET, its password in the query string
    password = "s3cret-in-the-url"
    query = f'mutation {{ login(username: "drh-user", password: "{password}") {{ token }} }}'
    before = len(live.log_text())

    # when
    async with http_client(base_url=live.url, timeout=30) as client:
        response = await client.get("/graphql", params={"query": query})

    # then: refused (no mutation over GET), and the log has the request without its query
    assert response.status_code == 405, response.text
    grown = live.log_text()[before:]
    assert "GET /graphql?[redacted]" in grown, grown
    assert password not in grown
    assert "login" not in grown
