"""Automatic persisted queries as Apollo's PersistedQueryLink speaks them: hash only,
PersistedQueryNotFound, then query and hash, then hash only again, over POST and GET."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from models.training_runs import TrainingRun
from server.persisted_queries import PersistedQueryStore
from tests.conftest import Server
from tests.processes import LiveServer

# The session's front-end server (clients/conftest.py): the files using it share a worker.
pytestmark = pytest.mark.xdist_group("front-end-api")

GRAPHQL_RESPONSE = "application/graphql-response+json"


def _sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def _extensions(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": _sha256(query)}}


def _unique_query(name: str) -> str:
    """A query no other test has registered (the store lives as long as the app)."""
    return f"query {name} {{ viewer {{ username }} }}"


async def _post(
    server: Server, body: dict[str, Any], *, accept: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Token {server.tokens['drh']}"}
    if accept:
        headers["Accept"] = accept
    return await server.client.post("/graphql", json=body, headers=headers)


async def _get(server: Server, query: str | None, extensions: dict[str, Any]) -> httpx.Response:
    params = {"extensions": json.dumps(extensions)}
    if query is not None:
        params["query"] = query
    return await server.client.get(
        "/graphql",
        params=params,
        headers={"Authorization": f"Token {server.tokens['drh']}", "Accept": "*/*"},
    )


def _error(response: httpx.Response) -> tuple[str, str]:
    error = response.json()["errors"][0]
    return error["message"], error["extensions"]["code"]


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_unknown_hash_is_persisted_query_not_found(server: Server, method: str) -> None:
    # given
    query = _unique_query(f"Unknown{method}")

    # when
    if method == "POST":
        response = await _post(server, {"extensions": _extensions(query)})
    else:
        response = await _get(server, None, _extensions(query))

    # then: what Apollo's PersistedQueryLink reads, never cached
    assert response.status_code == 200, response.text
    assert _error(response) == ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
    assert response.headers["cache-control"] == "private, no-cache, must-revalidate"


async def test_unknown_hash_is_404_in_graphql_response_json(server: Server) -> None:
    # when
    response = await _post(
        server, {"extensions": _extensions(_unique_query("Unknown404"))}, accept=GRAPHQL_RESPONSE
    )

    # then: no data, so a 4xx, and Apollo's link reads the body of a 4xx too
    assert response.status_code == 404, response.text
    assert "data" not in response.json()
    assert _error(response) == ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_registered_query_is_then_served_from_its_hash(server: Server, method: str) -> None:
    # given: the link's retry, with the query and its hash
    query = _unique_query(f"Registered{method}")
    registered = await _post(server, {"query": query, "extensions": _extensions(query)})
    assert registered.json() == {"data": {"viewer": {"username": "drh-user"}}}

    # when
    if method == "POST":
        response = await _post(server, {"extensions": _extensions(query)})
    else:
        response = await _get(server, None, _extensions(query))

    # then
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"viewer": {"username": "drh-user"}}}


async def test_anonymous_callers_run_their_queries_but_do_not_register_them(
    server: Server,
) -> None:
    # given: a query and its hash sent without a token (a public field: __typename)
    query = "query AnonymousRegistration { __typename }"
    sent = await server.client.post(
        "/graphql", json={"query": query, "extensions": _extensions(query)}
    )
    assert sent.json() == {"data": {"__typename": "Query"}}

    # when: anyone asks for it by its hash
    response = await _post(server, {"extensions": _extensions(query)})

    # then: the shared store did not take it (anonymous floods cannot evict others)
    assert _error(response) == ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")


async def test_hash_that_does_not_match_the_query_is_refused(server: Server) -> None:
    # given
    query = _unique_query("Mismatch")
    other = _unique_query("SomethingElse")

    # when
    response = await _post(server, {"query": query, "extensions": _extensions(other)})
    followed = await _post(server, {"extensions": _extensions(other)})

    # then: refused, and nothing registered under that hash
    assert response.status_code == 400, response.text
    assert _error(response)[1] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert _error(followed)[1] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "persisted",
    [{"version": 2, "sha256Hash": "0" * 64}, {"version": 1, "sha256Hash": "xyz"}, "abc"],
    ids=["version", "hash", "not-an-object"],
)
async def test_malformed_persisted_query_extension_is_400(server: Server, persisted: Any) -> None:
    # when
    response = await _post(server, {"extensions": {"persistedQuery": persisted}})

    # then
    assert response.status_code == 400, response.text
    assert _error(response)[1] == "PERSISTED_QUERY_INVALID"


async def test_invalid_document_is_not_remembered(server: Server) -> None:
    # given
    query = "query NotValid { noSuchField }"
    await _post(server, {"query": query, "extensions": _extensions(query)})

    # when
    response = await _post(server, {"extensions": _extensions(query)})

    # then
    assert _error(response)[1] == "PERSISTED_QUERY_NOT_FOUND"


async def test_persisted_mutation_over_get_stays_refused(clean_runs: Server) -> None:
    # given: a mutation registered over POST (its validation error leaves no run either)
    mutation = (
        'mutation PersistedTrain { trainModel(input: {modelVersion: "apq-get", '
        'hyperparameters: {nEstimators: 1}, datasetPath: "missing.csv"}) { errors { code } } }'
    )
    await _post(clean_runs, {"query": mutation, "extensions": _extensions(mutation)})
    runs_before = await TrainingRun.all().count()

    # when
    response = await _get(clean_runs, None, _extensions(mutation))

    # then: a GET is a read
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert await TrainingRun.all().count() == runs_before


def test_store_forgets_the_least_recently_used_beyond_its_size() -> None:
    # given
    store = PersistedQueryStore(2)
    store.remember("a", "{ a }")
    store.remember("b", "{ b }")
    assert store.get("a") == "{ a }"

    # when
    store.remember("c", "{ c }")

    # then: "b" was the least recently used
    assert len(store) == 2
    assert store.get("b") is None
    assert store.get("a") == "{ a }"
    assert store.get("c") == "{ c }"


async def test_apq_cache_size_zero_answers_persisted_query_not_supported(
    front_end_api: LiveServer,
) -> None:
    # given: a server started with APQ_CACHE_SIZE=0
    query = _unique_query("Disabled")

    # when
    async with front_end_api.client() as client:
        hash_only = await client.post("/graphql", json={"extensions": _extensions(query)})
        with_query = await client.post(
            "/graphql", json={"query": query, "extensions": _extensions(query)}
        )

    # then: Apollo's link stops sending hashes and sends the query
    assert hash_only.status_code == 200, hash_only.text
    assert _error(hash_only) == ("PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
    assert _error(with_query)[1] == "PERSISTED_QUERY_NOT_SUPPORTED"
