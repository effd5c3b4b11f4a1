"""The dashboard tests' server: a DRH and a manager account, both with passwords, and a
few finished runs to list, compare and chart (`start_dashboard_server`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.helpers import train_completed
from tests.processes import LiveServer, provision, start_live_server

DRH = ("drh-user", "drh-password")
MANAGER = ("manager-user", "manager-password")
SEED_RUNS = 6


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
            await train_completed(server.data, 2 + index * 3, modelVersion=f"seed-{index}")
        await manager
    except BaseException:
        await server.kill()
        raise
    return server
