"""Front ends on other origins: CORS on every answer, WebSockets, the settings' forms.

On a real server process (tests/clients/conftest.py): CORS_ORIGINS is read from the
environment at start-up, and the body size limit and WebSocket handshakes are the
transport's.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketUpgradeError
from pydantic import ValidationError

from main import Settings
from server.view import GraphQLView
from tests.api.configured_app import ConfiguredApp
from tests.clients.conftest import OTHER_ORIGIN, PageServer
from tests.conftest import Server
from tests.helpers import graphql_ws, http_client
from tests.processes import LiveServer

# The session's front-end server (clients/conftest.py): the files using it share a worker.
pytestmark = pytest.mark.xdist_group("front-end-api")

VIEWER = "query Viewer { viewer { username } }"
FOLLOW = 'subscription Follow { trainingRunUpdated(id: "999999") { databaseId status } }'
BODY_LIMIT = 100_000


def _cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


# --- settings ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "https://a.example,https://b.example",
        " https://a.example , https://B.example:443 ",
        '["https://a.example", "https://b.example"]',
    ],
)
def test_cors_origins_accept_a_comma_separated_list_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # given
    monkeypatch.setenv("CORS_ORIGINS", value)

    # when
    settings = Settings()

    # then: as browsers send them in the Origin header
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_cors_origin_with_a_path_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example/app")

    # when / then
    with pytest.raises(ValidationError, match=re.escape("Invalid origin 'https://a.example/app'")):
        Settings()


def test_cors_allow_headers_accept_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    monkeypatch.setenv("CORS_ALLOW_HEADERS", "Authorization, Content-Type,X-Custom")

    # when
    settings = Settings()

    # then
    assert settings.cors_allow_headers == ["authorization", "content-type", "x-custom"]


# --- preflights and answers ---------------------------------------------------------------
@pytest.mark.parametrize("origin", [OTHER_ORIGIN, "page"])
async def test_preflight_allows_the_headers_front_end_clients_send(
    front_end_api: LiveServer, page_server: PageServer, origin: str
) -> None:
    # given: both origins of the comma-separated CORS_ORIGINS
    origin = page_server.origin if origin == "page" else origin
    asked = (
        "authorization,content-type,x-request-id,apollo-require-preflight,x-apollo-operation-name"
    )

    # when
    async with http_client(base_url=front_end_api.url, timeout=30) as client:
        preflight = await client.options(
            "/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": asked,
            },
        )

    # then
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == origin
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert set(asked.split(",")) <= {h.lower() for h in allowed}


async def _request(client: httpx.AsyncClient, kind: str, origin: str) -> httpx.Response:
    headers: dict[str, Any] = {"Origin": origin}
    if kind == "too-large":
        body = b'{"query": "' + b"x" * (BODY_LIMIT + 1) + b'"}'
        return await client.post(
            "/graphql", content=body, headers={**headers, "Content-Type": "application/json"}
        )
    if kind == "malformed-json":
        return await client.post(
            "/graphql",
            content=b'{"query": ',
            headers={**headers, "Content-Type": "application/json"},
        )
    if kind == "other-method":
        return await client.put("/graphql", json={"query": VIEWER}, headers=headers)
    if kind == "not-json":
        return await client.post(
            "/graphql", content=VIEWER, headers={**headers, "Content-Type": "text/plain"}
        )
    if kind == "not-acceptable":
        return await client.post(
            "/graphql", json={"query": VIEWER}, headers={**headers, "Accept": "text/html"}
        )
    assert kind == "unauthenticated"
    return await client.post(
        "/graphql", json={"query": "{ trainingRuns { totalCount } }"}, headers=headers
    )


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("too-large", 413),
        ("malformed-json", 400),
        ("other-method", 405),
        ("not-json", 415),
        ("not-acceptable", 406),
        ("unauthenticated", 200),
    ],
)
async def test_every_refusal_carries_the_cors_headers_for_an_allowed_origin(
    front_end_api: LiveServer, kind: str, status: int
) -> None:
    # when
    async with http_client(base_url=front_end_api.url, timeout=60) as client:
        response = await _request(client, kind, OTHER_ORIGIN)

    # then: the browser lets the page read the refusal and its code
    assert response.status_code == status, response.text
    assert response.headers.get("access-control-allow-origin") == OTHER_ORIGIN
    assert response.json()["errors"][0]["extensions"]["code"]


async def test_an_unexpected_server_error_carries_the_cors_headers(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given: an app for a page on another origin whose GraphQL view fails unexpectedly
    app = ConfiguredApp(server, cors_origins=[OTHER_ORIGIN])
    [view] = {
        endpoint
        for route in app.app.routes
        if isinstance(endpoint := getattr(route, "endpoint", None), GraphQLView)
    }

    async def broken_context(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug outside GraphQL execution")

    monkeypatch.setattr(view, "get_context", broken_context)

    # when
    async with app.client() as client:
        with caplog.at_level(logging.ERROR, logger="schema.errors"):
            response = await client.post(
                "/graphql", json={"query": VIEWER}, headers={"Origin": OTHER_ORIGIN}
            )

    # then: the page reads a JSON 500 with an id the log repeats, not a CORS failure
    assert response.status_code == 500, response.text
    assert response.headers.get("access-control-allow-origin") == OTHER_ORIGIN
    assert response.headers.get("x-request-id")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "a bug outside" not in response.text
    assert f"unexpected error {error['extensions']['errorId']}" in caplog.text
    assert "RuntimeError: a bug outside GraphQL execution" in caplog.text


async def test_refusals_carry_no_cors_headers_for_another_origin(
    front_end_api: LiveServer,
) -> None:
    # when
    async with http_client(base_url=front_end_api.url, timeout=60) as client:
        response = await _request(client, "too-large", "https://evil.example")

    # then
    assert response.status_code == 413
    assert _cors_headers(response) == {}


# --- WebSockets ---------------------------------------------------------------------------
async def _first_subscription_message(server: LiveServer, origin: str) -> dict[str, Any]:
    async with (
        http_client(base_url=server.url, timeout=30) as client,
        graphql_ws(client, headers={"Origin": origin}) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": server.auth})
        assert (await ws.receive_json(timeout=30))["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": FOLLOW}})
        message: dict[str, Any] = await ws.receive_json(timeout=30)
        return message


@pytest.mark.parametrize("origin", [OTHER_ORIGIN, "page"])
async def test_websocket_from_an_allowed_origin_is_accepted(
    front_end_api: LiveServer, page_server: PageServer, origin: str
) -> None:
    # when
    message = await _first_subscription_message(
        front_end_api, page_server.origin if origin == "page" else origin
    )

    # then: the subscription ran (the run does not exist)
    assert message["type"] == "next", message
    assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_websocket_from_another_origin_is_refused(front_end_api: LiveServer) -> None:
    # when / then
    with pytest.raises(WebSocketUpgradeError) as refused:
        await _first_subscription_message(front_end_api, "https://evil.example")
    assert refused.value.response.status_code == 403
    assert "Rejected WebSocket connection from origin 'https://evil.example'" in (
        front_end_api.log_text()
    )
