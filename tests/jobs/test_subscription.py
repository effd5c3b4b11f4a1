"""trainingRunUpdated over a real WebSocket (graphql-transport-ws) against the ASGI app."""

from __future__ import annotations

from tests.conftest import Server
from tests.helpers import follow, train


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
