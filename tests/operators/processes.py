"""`main.py serve --workers N`: a real multi-process server for the /metrics test.

tests/hardening/live_server.py starts single-process servers; this reuses its pieces
(deployment set-up, environment, LiveServer) and only adds the --workers argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import REPO, SHIPPED_DATASET
from tests.hardening.live_server import (
    DRH_USER,
    PYTHON,
    STARTUP_TIMEOUT,
    LiveServer,
    free_port,
    run_cli,
    server_env,
)


@contextlib.asynccontextmanager
async def multi_worker_server(
    directory: Path, workers: int, **settings: str
) -> AsyncIterator[LiveServer]:
    artifacts = directory / "artifacts"
    (artifacts / "datasets").mkdir(parents=True)
    shutil.copy(SHIPPED_DATASET, artifacts / "datasets" / SHIPPED_DATASET.name)
    env = server_env(f"sqlite://{artifacts}/training_api.sqlite3", artifacts, settings)
    await run_cli("migrate", env=env)
    await run_cli("createuser", DRH_USER, "--group", "DRH", env=env)
    token = (await run_cli("token", "create", DRH_USER, env=env)).strip()
    port = free_port()
    log_path = directory / "server.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            PYTHON,
            "main.py",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-migrate",
            "--workers",
            str(workers),
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", token, process, log_path, artifacts, env)
    try:
        await server.wait_healthy(STARTUP_TIMEOUT)
        yield server
    finally:
        await server.kill()
