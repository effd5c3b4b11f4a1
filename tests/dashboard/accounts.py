"""The dashboard tests' server: a DRH and a manager account, both with passwords, and a
few finished runs to list, compare and chart (`start_dashboard_server`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.processes import LiveServer, provision, start_live_server

DRH = ("drh-user", "drh-password")
MANAGER = ("manager-user", "manager-password")
SEED_RUNS = 6
SEED = """
mutation Seed($version: String!, $trees: Int!) {
  trainModel(input: {wait: true, modelVersion: $version, hyperparameters: {nEstimators: $trees}}) {
    trainingRun { id status } errors { code message }
  }
}
"""


async def start_dashboard_server(directory: Path) -> LiveServer:
    server = await start_live_server(
        directory,
        password=DRH[1],
        settings={"PROGRESS_INTERVAL": "0.05", "TRAINING_WARM_UP": "true"},
    )
    try:
        # The manager's account is made (a short process) while the runs train.
        manager = asyncio.create_task(
            provision(
                server.env, MANAGER[0], groups=("MANAGER",), password=MANAGER[1], migrate=False
            )
        )
        for index in range(SEED_RUNS):
            seeded = await server.data(SEED, {"version": f"seed-{index}", "trees": 2 + index * 3})
            assert seeded["trainModel"]["trainingRun"]["status"] == "COMPLETED", seeded
        await manager
    except BaseException:
        await server.kill()
        raise
    return server
