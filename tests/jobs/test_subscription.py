"""trainingRunUpdated over a real WebSocket (graphql-transport-ws) against the ASGI app."""

from __future__ import annotations

from typing import Any

from httpx_ws import aconnect_ws

from tests.conftest import Server
from tests.helpers import train

FOLLOW = """
subscription Follow($id: ID!) {
  trainingRunUpdated(id: $id) { databaseId status stage progress }
}
"""


async def follow(
    server: Server,
    run_id: str,
    role: str | None = "drh",
    *,
    into: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Subscribe and collect every message until the server completes the operation;
    `into` lets a test read them as they come."""
    payload = {"Authorization": f"Token {server.tokens[role]}"} if role else {}
    async with aconnect_ws("/graphql", server.client, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": payload})
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        await ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": FOLLOW, "variables": {"id": run_id}},
            }
        )
        messages = into if into is not None else []
        while True:
            message = await ws.receive_json(timeout=60)
            messages.append(message)
            if message["type"] in {"complete", "error"}:
                return messages


async def test_subscriber_sees_progress_in_order_until_the_final_state(clean_runs: Server) -> None:
    run = await train(clean_runs.data, 500, wait=False)

    messages = await follow(clean_runs, run["id"])

    updates = [m["payload"]["data"]["trainingRunUpdated"] for m in messages if m["type"] == "next"]
    print(updates)
    assert messages[-1]["type"] == "complete"
    assert updates[-1]["status"] == "COMPLETED"
    assert updates[-1]["progress"] == 1.0
    progress = [u["progress"] for u in updates]
    assert progress == sorted(progress)
    assert len({u["progress"] for u in updates if u["stage"] == "FITTING"}) >= 3
