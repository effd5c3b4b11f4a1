"""GraphQL over HTTP as the GraphQL Foundation's spec has it, on the in-process app:
the response media type a client asks for, and the status codes that go with it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from models.training_runs import TrainingRun
from tests.conftest import Server
from tests.helpers import codes

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
TYPENAME = "{ __typename }"
VIEWER = "query Viewer { viewer { username } }"
RUN_COUNT = "{ trainingRuns { totalCount } }"
PARSE_ERROR = "{ viewer { username }"
VALIDATION_ERROR = "{ noSuchField }"
COERCION_ERROR = "query Run($id: ID!) { trainingRun(id: $id) { databaseId } }"
TRAIN_OVER_GET = (
    'mutation Train { trainModel(input: {modelVersion: "via-get", '
    "hyperparameters: {nEstimators: 1}}) { errors { code } } }"
)


async def _post(
    server: Server, body: dict[str, Any], accept: str | None, *, as_: str | None = None
) -> httpx.Response:
    headers = {} if accept is None else {"Accept": accept}
    if as_ is not None:
        headers["Authorization"] = f"Token {server.tokens[as_]}"
    return await server.client.post("/graphql", json=body, headers=headers)


# --- the media type of the answer --------------------------------------------------------
@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, JSON),
        ("*/*", JSON),
        (JSON, JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
        ("text/html,application/xhtml+xml,*/*;q=0.8", JSON),
    ],
)
async def test_answer_is_in_the_media_type_the_client_prefers(
    server: Server, accept: str | None, media_type: str
) -> None:
    # when
    response = await _post(server, {"query": TYPENAME}, accept)

    # then: an unauthenticated { __typename } works
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": PARSE_ERROR}, "GRAPHQL_PARSE_FAILED"),
        ({"query": VALIDATION_ERROR}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": COERCION_ERROR, "variables": {"id": None}}, "GRAPHQL_VALIDATION_FAILED"),
    ],
    ids=["parse", "validation", "variable-coercion"],
)
async def test_request_errors_are_400_without_data_in_graphql_response_json(
    server: Server, body: dict[str, Any], code: str
) -> None:
    # when
    response = await _post(server, body, GRAPHQL_RESPONSE, as_="drh")

    # then
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert "data" not in response.json()
    assert codes(response.json()) == [code]


@pytest.mark.parametrize(
    "body",
    [
        {"query": PARSE_ERROR},
        {"query": VALIDATION_ERROR},
        {"query": COERCION_ERROR, "variables": {"id": None}},
    ],
    ids=["parse", "validation", "variable-coercion"],
)
async def test_request_errors_stay_200_with_null_data_in_application_json(
    server: Server, body: dict[str, Any]
) -> None:
    # when
    response = await _post(server, body, JSON, as_="drh")

    # then: as clients written before the spec expect
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(JSON)
    assert response.json()["data"] is None
    assert codes(response.json())


async def test_field_error_is_200_with_data_in_graphql_response_json(server: Server) -> None:
    # when: execution began, and the field refused the anonymous caller
    response = await _post(server, {"query": RUN_COUNT}, GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 200, response.text
    assert "data" in response.json()
    assert codes(response.json()) == ["UNAUTHENTICATED"]


async def test_nothing_acceptable_is_406(server: Server) -> None:
    # when
    response = await _post(server, {"query": TYPENAME}, "text/html")

    # then
    assert response.status_code == 406, response.text
    assert codes(response.json()) == ["NOT_ACCEPTABLE"]


# --- methods and content types -----------------------------------------------------------
async def test_mutation_over_get_is_405_naming_post(clean_runs: Server) -> None:
    # when
    response = await clean_runs.client.get(
        "/graphql",
        params={"query": TRAIN_OVER_GET},
        headers={"Authorization": f"Token {clean_runs.tokens['drh']}", "Accept": JSON},
    )

    # then
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert codes(response.json()) == ["METHOD_NOT_ALLOWED"]
    assert await TrainingRun.all().count() == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405_naming_get_and_post(server: Server, method: str) -> None:
    # when
    response = await server.client.request(method, "/graphql", json={"query": TYPENAME})

    # then
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "GET, POST"
    assert codes(response.json()) == ["METHOD_NOT_ALLOWED"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/graphql", "x/json"])
async def test_post_body_that_is_not_json_is_415(server: Server, content_type: str | None) -> None:
    # when
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await server.client.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers=headers
    )

    # then
    assert response.status_code == 415, response.text
    assert codes(response.json()) == ["UNSUPPORTED_MEDIA_TYPE"]


async def test_json_with_a_charset_is_accepted(server: Server) -> None:
    # when
    response = await server.client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    # then
    assert response.status_code == 200, response.text


# --- request parameters --------------------------------------------------------------------
@pytest.mark.parametrize("operation_name", [0, False, ["Viewer"], {"name": "Viewer"}])
async def test_operation_name_that_is_not_a_string_is_400(
    server: Server, operation_name: object
) -> None:
    # when
    response = await _post(server, {"query": VIEWER, "operationName": operation_name}, None)

    # then
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]
    assert "operationName" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_several_operations_without_operation_name_is_an_error(
    server: Server, accept: str
) -> None:
    # given: strawberry alone would run the first one
    body = {"query": f"query Kind {{ __typename }} {VIEWER}"}

    # when
    response = await _post(server, body, accept, as_="drh")

    # then
    assert response.status_code == (400 if accept == GRAPHQL_RESPONSE else 200), response.text
    assert response.json().get("data") is None
    errors = response.json()["errors"]
    assert [e["message"] for e in errors] == [
        "Must provide operation name if query contains multiple operations."
    ]
    assert codes(response.json()) == ["OPERATION_RESOLUTION_FAILURE"]


async def test_several_operations_with_operation_name_run_that_one(server: Server) -> None:
    # when
    response = await _post(
        server,
        {"query": f"query Kind {{ __typename }} {VIEWER}", "operationName": "Viewer"},
        None,
        as_="drh",
    )

    # then
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"viewer": {"username": "drh-user"}}}


async def test_several_invalid_operations_report_their_validation_errors(server: Server) -> None:
    # when
    response = await _post(
        server, {"query": "query A { nope } query B { __typename }"}, None, as_="drh"
    )

    # then
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "nope" in response.json()["errors"][0]["message"]
