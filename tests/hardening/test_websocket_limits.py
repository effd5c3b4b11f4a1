"""WebSocket sockets that do nothing useful are not kept, and none may multiply without
bound (issue 12): no connection_init in time (4408, both protocols), an anonymous socket
with no operation (4408), too many sockets from one address (4429), too many operations
on one socket or subscriptions for one account (an error with TOO_MANY_SUBSCRIPTIONS).
Each test builds its own app with small limits (tests/api/configured_app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect

from models.training_runs import RunStatus, TrainingRun
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import RUN_ROW, graphql_ws

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
START = {"graphql-transport-ws": "subscribe", "graphql-ws": "start"}
UPDATE = {"graphql-transport-ws": "next", "graphql-ws": "data"}
FOLLOW = "subscription Follow($id: ID!) { trainingRunUpdated(id: $id) { databaseId status } }"
# The time limits the tests below configure: short, so that waiting them out is cheap.
LIMIT = 0.3
# Liveness bounds, far above LIMIT.
WITHIN = 15.0


@pytest.fixture
async def queued_run(server: Server) -> AsyncIterator[TrainingRun]:
    """A run nobody works on: its subscriptions stay open until the socket goes."""
    run = await TrainingRun.create(
        model_version=f"ws-{uuid.uuid4().hex[:12]}",
        **RUN_ROW,
        status=RunStatus.QUEUED,
        n_estimators=100,
    )
    yield run
    await TrainingRun.filter(id=run.id).delete()


async def closed_with(ws: AsyncWebSocketSession, within: float = WITHIN) -> int:
    """The close code the server ends this socket with (fails if it stays open)."""
    for _ in range(100):
        try:
            await ws.receive_json(timeout=within)
        except WebSocketDisconnect as closed:
            return closed.code
    raise AssertionError("the socket stayed open")


async def init(ws: AsyncWebSocketSession, token: str | None) -> None:
    payload = {"Authorization": f"Token {token}"} if token else {}
    await ws.send_json({"type": "connection_init", "payload": payload})
    assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"


async def start(ws: AsyncWebSocketSession, protocol: str, op_id: str, run_id: int) -> None:
    payload = {"query": FOLLOW, "variables": {"id": str(run_id)}}
    await ws.send_json({"id": op_id, "type": START[protocol], "payload": payload})


def codes_of(message: dict[str, Any]) -> list[str]:
    payload = message["payload"]
    if isinstance(payload, list):  # graphql-transport-ws `error`
        errors = payload
    elif message["type"] == "error":  # graphql-ws `error`
        errors = [payload]
    else:
        errors = payload.get("errors", [])
    return [error.get("extensions", {}).get("code") for error in errors]


@contextlib.asynccontextmanager
async def socket(client: httpx.AsyncClient, protocol: str) -> AsyncIterator[AsyncWebSocketSession]:
    async with graphql_ws(client, protocol) as ws:
        yield ws


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_without_connection_init_is_closed(server: Server, protocol: str) -> None:
    # given
    app = ConfiguredApp(server, ws_connection_init_timeout=LIMIT)

    # when: a socket that never says connection_init
    async with app.client() as client, socket(client, protocol) as ws:
        code = await closed_with(ws)

    # then
    assert code == 4408


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_anonymous_socket_without_operation_is_closed(
    server: Server, protocol: str
) -> None:
    # given
    app = ConfiguredApp(server, ws_anonymous_idle_seconds=LIMIT)

    # when: acknowledged without credentials, then nothing
    async with app.client() as client, socket(client, protocol) as ws:
        await init(ws, None)
        code = await closed_with(ws)

    # then
    assert code == 4408


async def test_an_authenticated_socket_without_operation_stays_open(server: Server) -> None:
    # given
    app = ConfiguredApp(server, ws_anonymous_idle_seconds=LIMIT, ws_connection_init_timeout=LIMIT)
    async with app.client() as client, socket(client, "graphql-transport-ws") as ws:
        await init(ws, server.tokens["manager"])

        # when: idle for several times the anonymous limit
        await asyncio.sleep(3.5 * LIMIT)

        # then: still answering
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=10))["type"] == "pong"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_one_address_may_open_only_so_many_sockets(server: Server, protocol: str) -> None:
    # given: two sockets open from one address
    app = ConfiguredApp(server, ws_max_connections_per_address=2)
    token = server.tokens["manager"]
    async with (
        app.client("10.40.0.1") as crowded,
        app.client("10.40.0.2") as other,
        socket(crowded, protocol) as first,
        socket(crowded, protocol) as second,
    ):
        await init(first, token)
        await init(second, token)

        # when: a third from there, and one from another address
        async with socket(crowded, protocol) as third:
            code = await closed_with(third)
        async with socket(other, protocol) as elsewhere:
            await init(elsewhere, token)

        # then
        assert code == 4429
    # and the count goes down as sockets close
    await asyncio.sleep(0.2)
    async with app.client("10.40.0.1") as again, socket(again, protocol) as ws:
        await init(ws, token)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_one_socket_may_run_only_so_many_subscriptions(
    server: Server, protocol: str, queued_run: TrainingRun
) -> None:
    # given: two subscriptions open on one socket
    app = ConfiguredApp(server, ws_max_subscriptions_per_connection=2)
    async with app.client() as client, socket(client, protocol) as ws:
        await init(ws, server.tokens["manager"])
        for op_id in ("1", "2"):
            await start(ws, protocol, op_id, queued_run.id)
            assert (await ws.receive_json(timeout=10))["type"] == UPDATE[protocol]

        # when
        await start(ws, protocol, "3", queued_run.id)
        refused = await ws.receive_json(timeout=10)

    # then
    assert refused["type"] == "error"
    assert refused["id"] == "3"
    assert codes_of(refused) == ["TOO_MANY_SUBSCRIPTIONS"]


async def test_one_account_may_hold_only_so_many_subscriptions(
    server: Server, queued_run: TrainingRun
) -> None:
    # given: an account holding two subscriptions on two sockets
    app = ConfiguredApp(server, ws_max_subscriptions_per_user=2)
    protocol = "graphql-transport-ws"
    async with (
        app.client() as client,
        socket(client, protocol) as first,
        socket(client, protocol) as second,
    ):
        for ws in (first, second):
            await init(ws, server.tokens["manager"])
            await start(ws, protocol, "1", queued_run.id)
            assert (await ws.receive_json(timeout=10))["type"] == "next"

        # when: a third
        await start(second, protocol, "2", queued_run.id)
        refused = await second.receive_json(timeout=10)
        completed = await second.receive_json(timeout=10)

        # then
        assert refused["type"] == "next"
        assert codes_of(refused) == ["TOO_MANY_SUBSCRIPTIONS"]
        assert completed == {"id": "2", "type": "complete"}
        # while another account is not affected
        async with socket(client, protocol) as third:
            await init(third, server.tokens["drh"])
            await start(third, protocol, "1", queued_run.id)
            assert codes_of(await third.receive_json(timeout=10)) == []
