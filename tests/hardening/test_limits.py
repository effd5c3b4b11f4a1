"""Abusive and clumsy requests: each is refused with its code before any resolver runs.

Most run on the in-process app. A real server process (tests/processes.py) is
used where the HTTP transport itself matters (body size, chunked bodies, WebSocket frames),
where the in-process app's shared state would leak into other tests (the login limiter
counts per client address for the whole session), for the server log, and for settings
that only take effect when the server starts (INTROSPECTION, GRAPHIQL, CORS_ORIGINS,
MAX_QUERY_DEPTH).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from httpx_ws import WebSocketDisconnect
from strawberry import relay

from tests.conftest import Server
from tests.helpers import codes, graphql_ws, http_client, json_of
from tests.prestart import prestartable
from tests.processes import (
    DRH_USER,
    LiveServer,
    postgres_database,
    start_live_server,
    start_live_servers,
)

RUN_COUNT = "query RunCount { trainingRuns { totalCount } }"
VIEWER = "query Viewer { viewer { username } }"
SMALL_TRAIN = """
mutation Train($input: TrainModelInput!) {
  trainModel(input: $input) { trainingRun { id databaseId status } errors { code field } }
}
"""
RUN = "query Run($id: ID!) { trainingRun(id: $id) { databaseId status stage } }"
LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) { token user { username } }
}
"""
RUNS_PAGE = """
query Runs($first: Int, $last: Int) { trainingRuns(first: $first, last: $last) { nodes { id } } }
"""
RUNS_AFTER = (
    "query RunsAfter($after: String) { trainingRuns(first: 5, after: $after) { nodes { id } } }"
)
RUNS_FROM = """
query RunsFrom($from: DateTime) { trainingRuns(filter: {runDateFrom: $from}) { nodes { id } } }
"""
INTROSPECTION_SCHEMA = "query Schema { __schema { queryType { name } } }"
INTROSPECTION_TYPE = 'query Type { __type(name: "TrainingRun") { name } }'
SUBSCRIPTION = 'subscription Follow { trainingRunUpdated(id: "1") { databaseId status } }'


def _train_field(alias: str, version: str) -> str:
    return (
        f'{alias}: trainModel(input: {{modelVersion: "{version}", '
        "hyperparameters: {nEstimators: 1}}) { errors { code } }"
    )


# `username` 14 levels below the root field, beyond the default limit of 12. No object type
# of this schema lies deeper than `trainedBy`, so a document this deep is also invalid for
# other reasons; the depth limit refuses it on its own code all the same (the configured
# server below shows the limit on a valid document).
TOO_DEEP = (
    "query TooDeep { trainingRuns { nodes { trainedBy { "
    + "".join("x { " for _ in range(11))
    + "username"
    + " }" * 11
    + " } } } }"
)
# Valid, and through fragments and an inline fragment: depth 3 (username is 3 levels
# under trainModel), above the limit of 2 that the configured server below runs with.
DEEP_THROUGH_FRAGMENTS = """
mutation DeepThroughFragments {
  trainModel(input: {modelVersion: "deep-1", hyperparameters: {nEstimators: 1}}) { ...Payload }
}
fragment Payload on TrainModelPayload { trainingRun { ... on TrainingRun { ...Trainer } } }
fragment Trainer on TrainingRun { trainedBy { username } }
"""
DEPTH_TWO = "query DepthTwo { trainingRuns(first: 1) { nodes { id } } }"
# 2,001 tokens or more: `code` repeated (identical fields merge, so it is valid otherwise).
TOO_MANY_TOKENS = (
    'mutation TooManyTokens { trainModel(input: {modelVersion: "tokens-1"}) { errors { '
    + " ".join(["code"] * 2001)
    + " } } }"
)
# 16 aliases inside one root field: only the alias limit (15) is broken.
TOO_MANY_ALIASES = (
    'mutation TooManyAliases { trainModel(input: {modelVersion: "aliases-1", '
    "hyperparameters: {nEstimators: 1}}) { errors { "
    + " ".join(f"c{i}: code" for i in range(16))
    + " } } }"
)
# 11 root fields with 11 aliases: only the root field limit (10) is broken.
TOO_MANY_ROOT_FIELDS = (
    "mutation TooManyRootFields { "
    + " ".join(_train_field(f"t{i}", f"root-{i}") for i in range(11))
    + " }"
)
TEN_ROOT_FIELDS = (
    "query TenRootFields { " + " ".join(f"v{i}: viewer {{ username }}" for i in range(10)) + " }"
)
GET_MUTATION = f"mutation ViaGet {{ {_train_field('t', 'get-1')} }}"
BODY_LIMIT = 100_000


async def run_count(post: Callable[[str], Awaitable[httpx.Response]]) -> int:
    response = await post(RUN_COUNT)
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["trainingRuns"]["totalCount"])


def assert_json_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert codes(response.json()) == [code]


# --- documents refused while validating, on the in-process app -------------------------
@pytest.mark.parametrize(
    ("document", "code"),
    [
        pytest.param(TOO_MANY_TOKENS, "TOO_MANY_TOKENS", id="tokens"),
        pytest.param(TOO_MANY_ALIASES, "TOO_MANY_ALIASES", id="aliases"),
        pytest.param(TOO_MANY_ROOT_FIELDS, "TOO_MANY_ROOT_FIELDS", id="root-fields"),
    ],
)
async def test_oversized_mutation_is_refused_with_its_code_and_creates_no_run(
    clean_runs: Server, document: str, code: str
) -> None:
    # given
    before = await run_count(clean_runs.post)

    # when
    response = await clean_runs.post(document)

    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    assert codes(body) == [code]
    assert await run_count(clean_runs.post) == before


async def test_too_deep_document_is_refused_with_query_too_deep(server: Server) -> None:
    # when
    body = await server.gql(TOO_DEEP)

    # then
    assert body["data"] is None
    assert "QUERY_TOO_DEEP" in codes(body)


async def test_ten_root_fields_are_allowed(server: Server) -> None:
    # when
    data = await server.data(TEN_ROOT_FIELDS)

    # then
    assert [data[f"v{i}"]["username"] for i in range(10)] == ["drh-user"] * 10


@pytest.mark.parametrize("argument", ["first", "last"])
async def test_page_of_101_is_refused(server: Server, argument: str) -> None:
    # when
    body = await server.gql(RUNS_PAGE, {argument: 101})

    # then
    assert body["data"] is None
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["argument"] == argument


# --- the HTTP transport, on the in-process app --------------------------------------------
async def test_batch_of_eleven_operations_is_refused_as_a_json_400(clean_runs: Server) -> None:
    # given
    batch = [
        {"query": SMALL_TRAIN, "variables": {"input": {"modelVersion": f"batch-{i}"}}}
        for i in range(11)
    ]

    # when
    response = await clean_runs.client.post(
        "/graphql",
        json=batch,
        headers={"Authorization": f"Token {clean_runs.tokens['drh']}"},
    )

    # then
    assert_json_error(response, 400, "BAD_REQUEST")
    assert await run_count(clean_runs.post) == 0


async def test_batch_of_two_operations_is_answered_in_order(server: Server) -> None:
    # when
    response = await server.client.post(
        "/graphql",
        json=[{"query": VIEWER}, {"query": RUNS_PAGE, "variables": {"first": 1}}],
        headers={"Authorization": f"Token {server.tokens['drh']}"},
    )

    # then
    assert response.status_code == 200, response.text
    first, second = response.json()
    assert first["data"]["viewer"]["username"] == "drh-user"
    assert "nodes" in second["data"]["trainingRuns"]
    assert "errors" not in first
    assert "errors" not in second


@pytest.mark.parametrize(
    "body", [b'{"query": ', b"{'query': '{ viewer { username } }'}", b"\xff\xfe"], ids=str
)
async def test_malformed_json_is_a_json_400_with_a_code(server: Server, body: bytes) -> None:
    # when
    response = await server.client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )

    # then
    assert_json_error(response, 400, "BAD_REQUEST")


async def test_mutation_over_get_is_refused(clean_runs: Server) -> None:
    # when
    response = await clean_runs.client.get(
        "/graphql",
        params={"query": GET_MUTATION},
        headers={"Authorization": f"Token {clean_runs.tokens['drh']}"},
    )

    # then
    assert_json_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"
    assert await run_count(clean_runs.post) == 0


async def test_graphiql_page_carries_the_security_headers(server: Server) -> None:
    # when
    response = await server.client.get("/graphql", headers={"Accept": "text/html"})

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


# --- edges of the calendar, other operation types and methods --------------------------------
@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
async def test_run_date_filter_at_the_edge_of_the_calendar_is_a_user_error(
    server: Server, moment: str
) -> None:
    # when
    body = await server.gql(RUNS_FROM, {"from": moment})

    # then
    assert codes(body) in ([], ["BAD_USER_INPUT"])


async def test_cursor_with_a_date_at_the_edge_of_the_calendar_is_an_invalid_cursor(
    server: Server,
) -> None:
    # given: a well-formed cursor of the default order whose date cannot be moved to UTC
    raw = orjson.dumps(["run_date:desc", "0001-01-01T00:00:00+05:00", 1])
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    # when
    body = await server.gql(RUNS_AFTER, {"after": cursor})

    # then
    assert codes(body) == ["INVALID_CURSOR"]


async def test_subscription_over_plain_http_is_refused_with_a_clear_code(server: Server) -> None:
    # when
    response = await server.post(SUBSCRIPTION)

    # then: a transport refusal, or a GraphQL error that is not an internal one
    assert response.status_code in {200, 400}, response.text
    assert codes(response.json())
    assert "INTERNAL_SERVER_ERROR" not in codes(response.json())


async def test_other_http_method_is_a_json_405(server: Server) -> None:
    # when
    response = await server.client.put("/graphql", json={"query": VIEWER})

    # then
    assert_json_error(response, 405, "METHOD_NOT_ALLOWED")


# --- a real server with default settings ---------------------------------------------------
PASSWORD = "right-password-1"


@pytest.fixture(scope="module")
@prestartable
async def live_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """A server with default settings (the DRH user has a password), and one configured
    for production with a tight depth limit; started together to save time."""
    default, configured = await start_live_servers(
        start_live_server(tmp_path_factory.mktemp("limits-default"), password=PASSWORD),
        start_live_server(
            tmp_path_factory.mktemp("limits-configured"),
            settings={
                "INTROSPECTION": "false",
                "GRAPHIQL": "false",
                "CORS_ORIGINS": '["https://hr.example"]',
                "MAX_QUERY_DEPTH": "2",
            },
        ),
    )
    try:
        yield default, configured
    finally:
        await default.kill()
        await configured.kill()


@pytest.fixture(scope="module")
def default_server(live_servers: tuple[LiveServer, LiveServer]) -> LiveServer:
    return live_servers[0]


@pytest.fixture(scope="module")
def configured_server(live_servers: tuple[LiveServer, LiveServer]) -> LiveServer:
    return live_servers[1]


async def test_body_over_the_limit_with_content_length_is_413(default_server: LiveServer) -> None:
    # given: a trainModel request of 150 kB, its length declared up front
    body = json.dumps(
        {
            "query": SMALL_TRAIN,
            "variables": {"input": {"modelVersion": "big-1", "notes": "x" * 150_000}},
        }
    ).encode()
    async with default_server.client() as client:
        before = await run_count(default_server.post)

        # when
        response = await client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )

        # then
        assert response.request.headers["content-length"] == str(len(body))
        assert_json_error(response, 413, "REQUEST_TOO_LARGE")
        assert await run_count(default_server.post) == before


@pytest.mark.parametrize("total", [150_000, 5_000_000])
async def test_chunked_body_over_the_limit_is_413(default_server: LiveServer, total: int) -> None:
    # given: a body of unknown length, sent with Transfer-Encoding: chunked
    body = json.dumps(
        {
            "query": SMALL_TRAIN,
            "variables": {"input": {"modelVersion": "chunked-1", "notes": "x" * total}},
        }
    ).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    async with default_server.client() as client:
        before = await run_count(default_server.post)

        # when
        response = await client.post(
            "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
        )

        # then
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert_json_error(response, 413, "REQUEST_TOO_LARGE")
        assert await run_count(default_server.post) == before


async def test_body_just_under_the_limit_is_served(default_server: LiveServer) -> None:
    # given: 95 kB of variables, under the 100 kB limit
    body = json.dumps({"query": VIEWER, "variables": {"padding": "x" * 95_000}}).encode()
    assert len(body) < BODY_LIMIT

    # when
    async with default_server.client() as client:
        response = await client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )

    # then
    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["username"] == DRH_USER


async def test_websocket_message_over_the_limit_closes_the_connection(
    default_server: LiveServer,
) -> None:
    # given
    subscribe = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": SUBSCRIPTION, "variables": {"padding": "x" * 150_000}},
    }
    async with (
        http_client(base_url=default_server.url, timeout=30) as client,
        graphql_ws(client) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": default_server.auth})
        assert (await ws.receive_json(timeout=30))["type"] == "connection_ack"

        # when
        await ws.send_json(subscribe)

        # then: closed with 1009 (message too big)
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_json(timeout=30)
    assert closed.value.code == 1009


@dataclass
class LoginAttempts:
    """Every login attempt the limiter scenario made from one address, in order."""

    bodies: list[dict[str, Any]]
    seconds: float

    def codes(self) -> list[list[str]]:
        return [codes(body) for body in self.bodies]


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"username": username, "password": password}},
    )
    assert response.status_code == 200, response.text
    return json_of(response)


@pytest.fixture(scope="module")
async def login_attempts(default_server: LiveServer) -> LoginAttempts:
    """From one address, within a minute: ten wrong passwords for the DRH user, then its
    right password, then other usernames until the address is refused (at most 40 in all).

    Run once, in one go, because both limits count in the server for 60 seconds.
    """
    started = time.monotonic()
    bodies: list[dict[str, Any]] = []
    async with http_client(base_url=default_server.url, timeout=60) as client:
        bodies += [await _login(client, DRH_USER, f"wrong-{i}") for i in range(10)]
        bodies.append(await _login(client, DRH_USER, PASSWORD))
        for attempt in range(12, 41):
            bodies.append(await _login(client, f"someone-{attempt}", "wrong-password"))
            if codes(bodies[-1]) == ["RATE_LIMITED"]:
                break
    return LoginAttempts(bodies, time.monotonic() - started)


async def test_eleventh_login_attempt_for_a_username_is_rate_limited(
    login_attempts: LoginAttempts,
) -> None:
    # then: ten refusals for the password, then one for the rate, though the password is right
    assert login_attempts.codes()[:11] == [["INVALID_CREDENTIALS"]] * 10 + [["RATE_LIMITED"]]
    assert login_attempts.bodies[10]["data"] is None


async def test_rate_limited_login_says_when_to_retry(login_attempts: LoginAttempts) -> None:
    # then
    extensions = login_attempts.bodies[10]["errors"][0]["extensions"]
    assert 0 < extensions["retryAfter"] <= 60


async def test_login_attempts_from_one_address_are_limited_to_thirty_a_minute(
    login_attempts: LoginAttempts,
) -> None:
    # then: other usernames were still let through to the password check, up to 30
    # failures from the address in all (the refused 11th attempt counts for nobody); the
    # next was refused
    assert login_attempts.seconds < 60, "the attempts outlasted the limiter's window"
    assert login_attempts.codes()[11:] == [["INVALID_CREDENTIALS"]] * 20 + [["RATE_LIMITED"]]


async def test_unexpected_error_is_masked_and_logged_with_its_id(
    default_server: LiveServer,
) -> None:
    # given: a finished run (a row: the read is under test, not a training) whose stored
    # stage an older or foreign writer corrupted
    run_id = default_server.insert_run(status="COMPLETED", progress=1.0, n_estimators=1)
    global_id = relay.to_base64("TrainingRun", run_id)
    async with default_server.client() as client:
        before = await client.post("/graphql", json={"query": RUN, "variables": {"id": global_id}})
        run = before.json()["data"]["trainingRun"]
        assert run["status"] == "COMPLETED", before.text
        database = default_server.artifacts / "training_api.sqlite3"
        with (
            contextlib.closing(sqlite3.connect(database, timeout=30)) as connection,
            connection,
        ):
            connection.execute(
                "UPDATE training_run SET stage = 'NOT_A_STAGE' WHERE id = ?", (run["databaseId"],)
            )

        # when
        response = await client.post(
            "/graphql", json={"query": RUN, "variables": {"id": global_id}}
        )

    # then: the client gets a code and an id, and nothing internal
    assert response.status_code == 200
    body = response.json()
    assert codes(body) == ["INTERNAL_SERVER_ERROR"]
    error_id = body["errors"][0]["extensions"]["errorId"]
    assert re.fullmatch(r"[0-9a-f]{12}", error_id)
    for leak in (
        "Traceback",
        'File "',
        ".py",
        "NOT_A_STAGE",
        "ValueError",
        "SELECT",
        "/tmp",
        "/work",
    ):
        assert leak not in response.text, f"{leak!r} leaked: {response.text}"
    # and the log has the same id, followed by the traceback
    log = default_server.log_text()
    position = log.find(f"unexpected error {error_id}")
    assert position >= 0, default_server.tail()
    assert "Traceback (most recent call last)" in log[position : position + 5000]
    assert "NOT_A_STAGE" in log[position:]


@pytest.mark.parametrize(
    "body",
    [
        b'"just a string"',
        b"123",
        b"null",
        b"[]",
        b"[1]",
        b'[{"query": "{ viewer { username } }"}, 5]',
    ],
    ids=["string", "number", "null", "empty-batch", "batch-of-number", "batch-with-a-number"],
)
async def test_json_body_that_is_not_an_operation_is_a_json_400(
    default_server: LiveServer, body: bytes
) -> None:
    # when
    async with default_server.client() as client:
        response = await client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )

    # then
    assert_json_error(response, 400, "BAD_REQUEST")


async def test_no_cors_header_by_default(default_server: LiveServer) -> None:
    # when: a preflight and a request from a web page elsewhere
    async with http_client(base_url=default_server.url, timeout=30) as client:
        preflight = await client.options(
            "/graphql",
            headers={
                "Origin": "https://hr.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        response = await client.post(
            "/graphql", json={"query": VIEWER}, headers={"Origin": "https://hr.example"}
        )

    # then
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in response.headers


# --- a real server configured for production -----------------------------------------------
@pytest.mark.parametrize(
    "document", [INTROSPECTION_SCHEMA, INTROSPECTION_TYPE], ids=["schema", "type"]
)
async def test_introspection_can_be_switched_off(
    configured_server: LiveServer, document: str
) -> None:
    # when
    response = await configured_server.post(document)

    # then
    assert response.status_code == 200
    assert response.json()["data"] is None
    # one error per introspection field the document selects
    assert set(codes(response.json())) == {"INTROSPECTION_DISABLED"}


async def test_normal_queries_work_without_introspection(configured_server: LiveServer) -> None:
    # when
    data = await configured_server.data(VIEWER)

    # then
    assert data["viewer"]["username"] == DRH_USER


async def test_graphiql_can_be_switched_off(configured_server: LiveServer) -> None:
    # when
    async with http_client(base_url=configured_server.url, timeout=30) as client:
        response = await client.get("/graphql", headers={"Accept": "text/html"})

    # then
    assert not response.headers["content-type"].startswith("text/html")
    assert "graphiql" not in response.text.lower()
    assert_json_error(response, 404, "NOT_FOUND")


async def test_configured_depth_limit_sees_through_fragments(
    configured_server: LiveServer,
) -> None:
    # given
    before = await run_count(configured_server.post)

    # when
    response = await configured_server.post(DEEP_THROUGH_FRAGMENTS)

    # then
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert codes(response.json()) == ["QUERY_TOO_DEEP"]
    assert await run_count(configured_server.post) == before
    assert "nodes" in (await configured_server.data(DEPTH_TWO))["trainingRuns"]


CORS_PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


async def test_cors_allows_a_configured_origin(configured_server: LiveServer) -> None:
    # when
    async with http_client(base_url=configured_server.url, timeout=30) as client:
        preflight = await client.options(
            "/graphql", headers={"Origin": "https://hr.example", **CORS_PREFLIGHT}
        )
        response = await client.post(
            "/graphql",
            json={"query": VIEWER},
            headers={"Origin": "https://hr.example", **configured_server.auth},
        )

    # then
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://hr.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert response.headers["access-control-allow-origin"] == "https://hr.example"


async def test_cors_refuses_another_origin(configured_server: LiveServer) -> None:
    # when
    async with http_client(base_url=configured_server.url, timeout=30) as client:
        preflight = await client.options(
            "/graphql", headers={"Origin": "https://evil.example", **CORS_PREFLIGHT}
        )
        response = await client.post(
            "/graphql",
            json={"query": VIEWER},
            headers={"Origin": "https://evil.example", **configured_server.auth},
        )

    # then
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in response.headers


# --- PostgreSQL ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    async with postgres_database() as database_url:
        server = await start_live_server(
            tmp_path_factory.mktemp("limits-postgres"), database_url=database_url
        )
        try:
            yield server
        finally:
            await server.kill()


RUNS_OF_VERSION = """
query RunsOfVersion($version: String) {
  trainingRuns(filter: {modelVersion: $version}) { nodes { id } }
}
"""
RUNS_OF_USER = """
query RunsOfUser($username: String) {
  trainingRuns(filter: {trainedBy: $username}) { nodes { id } }
}
"""
# The same NUL written in the document, with the two escapes GraphQL has.
RUNS_OF_NUL_VERSION = (
    'query NulVersion { trainingRuns(filter: {modelVersion: "v\\u0000"}) { nodes { id } } }'
)
RUNS_OF_NUL_VERSION_BRACED = (
    'query NulVersion { trainingRuns(filter: {modelVersion: "v\\u{0}"}) { nodes { id } } }'
)
NO_MATCH = [[], ["BAD_USER_INPUT"]]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("method", "document", "variables", "expected"),
    [
        pytest.param("POST", RUNS_OF_VERSION, {"version": "v\x00"}, NO_MATCH, id="filter-version"),
        pytest.param("POST", RUNS_OF_USER, {"username": "drh\x00"}, NO_MATCH, id="filter-user"),
        pytest.param(
            "POST",
            SMALL_TRAIN,
            {"input": {"notes": "a\x00b", "hyperparameters": {"nEstimators": 1}}},
            [[]],
            id="train-notes",
        ),
        pytest.param(
            "POST",
            LOGIN,
            {"username": "drh\x00", "password": "whatever"},
            [["INVALID_CREDENTIALS"]],
            id="login",
        ),
        pytest.param("POST", RUNS_OF_NUL_VERSION, {}, NO_MATCH, id="literal"),
        pytest.param(
            "POST",
            RUNS_OF_NUL_VERSION_BRACED,
            {},
            NO_MATCH,
            id="literal-braced",
        ),
        pytest.param("GET", RUNS_OF_VERSION, {"version": "v\x00"}, NO_MATCH, id="get"),
        pytest.param("GET", RUNS_OF_NUL_VERSION, {}, NO_MATCH, id="get-literal"),
    ],
)
async def test_nul_character_is_refused_clearly_on_postgresql(
    postgres_server: LiveServer,
    method: str,
    document: str,
    variables: dict[str, Any],
    expected: list[list[str]],
) -> None:
    # PostgreSQL can neither store nor compare a NUL character (SQLite can).

    # when
    async with postgres_server.client() as client:
        if method == "GET":
            params = {"query": document, "variables": json.dumps(variables)}
            response = await client.get("/graphql", params=params)
        else:
            response = await client.post(
                "/graphql", json={"query": document, "variables": variables}
            )

    # then: refused as a bad request, or answered; never an internal error
    assert response.status_code in {200, 400}, response.text
    if response.status_code == 400:
        assert codes(response.json()) == ["BAD_REQUEST"]
    else:
        assert codes(response.json()) in expected
