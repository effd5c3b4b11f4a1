"""Settings the schema is built with (OUTAGE_RETRY_AFTER, DOCUMENT_CACHE_SIZE, the page
sizes as the query cost counts them) take effect: a server configured with other numbers
answers by them, over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tortoise.exceptions import DBConnectionError

import resolvers.training_runs
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import CostWalks, json_of

RUN = 'query Run { trainingRun(id: "1") { id } }'


async def post(app: ConfiguredApp, server: Server, body: dict[str, Any]) -> dict[str, Any]:
    async with app.client() as client:
        response = await client.post(
            "/graphql", json=body, headers={"Authorization": f"Token {server.tokens['drh']}"}
        )
    assert response.status_code == 200, response.text
    return json_of(response)


async def test_outage_retry_after_is_the_setting(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a server told to send clients away for 42 s, and a database that is gone
    app = ConfiguredApp(server, outage_retry_after=42.0)

    async def unreachable(_id: str) -> None:
        raise DBConnectionError("connection refused")

    monkeypatch.setattr(resolvers.training_runs, "get_training_run", unreachable)

    # when
    body = await post(app, server, {"query": RUN})

    # then
    [error] = body["errors"]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryAfter": 42.0}


async def test_document_cache_size_bounds_the_documents_remembered(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a server remembering 2 documents, and a count of the cost walks (each
    # document not remembered is walked again)
    app = ConfiguredApp(server, document_cache_size=2)
    walks = CostWalks(monkeypatch)
    tag = uuid.uuid4().hex
    a, b, c = (f"query {name}{tag} {{ viewer {{ username }} }}" for name in "ABC")

    # when: A and B fit; C pushes A out
    for query in (a, b, a, b):
        await post(app, server, {"query": query})
    remembered = walks.count
    for query in (c, a):
        await post(app, server, {"query": query})

    # then
    assert remembered == 2
    assert walks.count == 4


async def test_query_cost_counts_the_configured_default_page(server: Server) -> None:
    # given: pages of 7 runs unless a size is asked, at most 9
    app = ConfiguredApp(server, default_page_size=7, max_page_size=9)

    async def cost(query: str) -> int:
        body = await post(app, server, {"query": query, "extensions": {"cost": True}})
        assert "errors" not in body, body
        return int(body["extensions"]["cost"]["requested"])

    # when / then: 1 for the connection, 2 per node (an object and its id)
    assert await cost("{ trainingRuns { nodes { id } } }") == 1 + 7 * 2
    assert await cost("{ trainingRuns(first: 9) { nodes { id } } }") == 1 + 9 * 2


async def test_a_batch_is_costed_with_the_configured_page_sizes(server: Server) -> None:
    # given: pages of 500 runs unless a size is asked, and a budget one such page fits in
    app = ConfiguredApp(server, default_page_size=500, max_page_size=500, max_query_cost=1500)
    page = {"query": "{ trainingRuns { nodes { id } } }"}

    # when: two of them in one batch (1 + 500 x 2 each)
    async with app.client() as client:
        response = await client.post(
            "/graphql",
            json=[page, page],
            headers={"Authorization": f"Token {server.tokens['drh']}"},
        )

    # then: together they are over the budget, and neither runs
    assert response.status_code == 200, response.text
    for result in response.json():
        assert result["data"] is None
        [error] = result["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert error["extensions"]["cost"] == 2 * (1 + 500 * 2)
