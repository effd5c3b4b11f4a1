"""An open trainingRunUpdated ends once its caller's access is withdrawn (issue 12).

The connection looks its token up again every WEBSOCKET_RECHECK_SECONDS (0.25 s here), at
each update and on a timer when none comes, so a revoked token, a deactivated account or
a lost group ends the stream with an error carrying the code, then `complete`, whichever
protocol the client speaks. Updates are made by writing the run row, as a worker would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx_ws import AsyncWebSocketSession

from models.accounts import ApiToken, Group, User, create_token, create_user, revoke_token
from models.training_runs import RunStatus, TrainingRun
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import RUN_ROW, graphql_ws

RECHECK = 0.25
# Far more than RECHECK: a liveness bound on a shared machine, not a timing assertion.
ENDS_WITHIN = 15.0
FOLLOW = """
subscription Follow($id: ID!) { trainingRunUpdated(id: $id) { databaseId status progress } }
"""
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
# What each protocol calls its messages.
START = {"graphql-transport-ws": "subscribe", "graphql-ws": "start"}
UPDATE = {"graphql-transport-ws": "next", "graphql-ws": "data"}


async def manager_with_token() -> tuple[User, str]:
    user = await create_user(f"live-{uuid.uuid4().hex[:10]}", groups=["MANAGER"])
    return user, await create_token(user, "live")


async def active_run(status: RunStatus = RunStatus.RUNNING) -> TrainingRun:
    now = datetime.now(UTC)
    return await TrainingRun.create(
        **RUN_ROW,
        model_version=f"live-{uuid.uuid4().hex[:12]}",
        status=status,
        stage="FITTING" if status is RunStatus.RUNNING else None,
        started_at=now if status is RunStatus.RUNNING else None,
        heartbeat_at=now,
        n_estimators=100,
    )


async def keep_changing(run_id: int) -> None:
    """Move the run's progress on, as a worker does, a few times a second (bounded)."""
    for step in range(1, 400):
        await TrainingRun.filter(id=run_id).update(
            progress=step / 1000, heartbeat_at=datetime.now(UTC)
        )
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def changing(run_id: int) -> AsyncIterator[None]:
    task = asyncio.create_task(keep_changing(run_id))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def subscribe(ws: AsyncWebSocketSession, protocol: str, token: str, run_id: int) -> None:
    await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Token {token}"}})
    assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
    payload = {"query": FOLLOW, "variables": {"id": str(run_id)}}
    await ws.send_json({"id": "1", "type": START[protocol], "payload": payload})


async def messages_until_complete(ws: AsyncWebSocketSession, within: float) -> list[dict[str, Any]]:
    """Every message up to the operation's `complete`; fails if it does not come in time."""
    deadline = time.monotonic() + within
    messages: list[dict[str, Any]] = []
    while not messages or messages[-1]["type"] not in {"complete", "error"}:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"still streaming {within:g} s later: {messages[-3:]}"
        with contextlib.suppress(TimeoutError):
            messages.append(await ws.receive_json(timeout=remaining))
    return messages


def error_codes(message: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in message["payload"].get("errors", [])]


async def withdraw(how: str, user: User) -> None:
    if how == "revoke":
        token = await ApiToken.get(user_id=user.id)
        assert await revoke_token(token.id)
    elif how == "deactivate":
        await User.filter(id=user.id).update(is_active=False)
    else:  # the account loses the group that let it read runs
        await user.groups.remove(*await Group.filter(name="MANAGER"))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("how", "code"),
    [("revoke", "UNAUTHENTICATED"), ("deactivate", "UNAUTHENTICATED"), ("ungroup", "FORBIDDEN")],
)
async def test_a_changing_run_stops_streaming_once_access_is_withdrawn(
    server: Server, protocol: str, how: str, code: str
) -> None:
    # given: a manager following a run that keeps changing
    app = ConfiguredApp(server, websocket_recheck_seconds=RECHECK)
    user, token = await manager_with_token()
    run = await active_run()
    async with (
        app.client() as client,
        graphql_ws(client, protocol) as ws,
        changing(run.id),
    ):
        await subscribe(ws, protocol, token, run.id)
        first, second = [await ws.receive_json(timeout=10) for _ in range(2)]
        assert [first["type"], second["type"]] == [UPDATE[protocol]] * 2

        # when
        await withdraw(how, user)
        messages = await messages_until_complete(ws, ENDS_WITHIN)

    # then: maybe an update or two already on their way, then the error, then complete
    *updates, error, complete = messages
    assert complete == {"id": "1", "type": "complete"}
    assert error["type"] == UPDATE[protocol]
    assert error["payload"]["data"] is None
    assert error_codes(error) == [code]
    assert all(error_codes(update) == [] for update in updates)
    # and the subscription's slot was given back
    assert app.services.subscriptions.open_for(user.id) == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_queued_run_that_never_changes_stops_streaming_after_revocation(
    server: Server, protocol: str
) -> None:
    # given: a run nobody works on, so no update ever wakes the subscription
    app = ConfiguredApp(server, websocket_recheck_seconds=RECHECK)
    user, token = await manager_with_token()
    run = await active_run(RunStatus.QUEUED)
    async with (
        app.client() as client,
        graphql_ws(client, protocol) as ws,
    ):
        await subscribe(ws, protocol, token, run.id)
        assert (await ws.receive_json(timeout=10))["type"] == UPDATE[protocol]

        # when
        await withdraw("revoke", user)
        messages = await messages_until_complete(ws, ENDS_WITHIN)

    # then
    assert [m["type"] for m in messages] == [UPDATE[protocol], "complete"]
    assert error_codes(messages[0]) == ["UNAUTHENTICATED"]
    await TrainingRun.filter(id=run.id).delete()
