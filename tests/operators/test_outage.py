"""A database outage on PostgreSQL: requests answer SERVICE_UNAVAILABLE (retryable), /readyz
says 503, /healthz stays 200, and everything recovers when the database is back.

The outage is made on a fresh database of the test server: new connections are refused
(ALLOW_CONNECTIONS false) and the open ones are terminated; the server is never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import json_of
from tests.processes import live_server, postgres_admin_url, postgres_database

RUNS = "query Runs { trainingRuns(first: 1) { totalCount } }"
BOUND = 60.0


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(
        postgres_admin_url().replace("postgres://", "postgresql://", 1), timeout=10
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def cut(database: str) -> None:
    await _admin(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
    await _admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
    )


async def restore(database: str) -> None:
    await _admin(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')


async def ask(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": RUNS}, timeout=30)
    assert response.status_code == 200, response.text
    return json_of(response)


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


@pytest.mark.postgres
async def test_database_outage_is_service_unavailable_and_recovers(
    tmp_path: Path, database_url: str
) -> None:
    database = database_url.rsplit("/", 1)[1]
    async with live_server(tmp_path, database_url=database_url) as server:
        async with server.client() as client:
            assert "errors" not in await ask(client)
            # when the database goes away
            await cut(database)
            try:
                during = [await ask(client) for _ in range(3)]
                ready = await client.get("/readyz")
                health = await client.get("/healthz")
            finally:
                await restore(database)
            # then: a retryable code, no internal error, no id to report
            print(f"\nduring the outage: {during[-1]}\n/readyz {ready.status_code} {ready.json()}")
            for body in during:
                assert body["data"] is None
                (error,) = body["errors"]
                assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", body
                assert error["extensions"]["retryAfter"] > 0
                assert "errorId" not in error["extensions"]
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert ready.json()["checks"]["database"]["ok"] is False
            assert health.status_code == 200
            # and once it is back, the same server answers normally
            deadline = time.monotonic() + BOUND
            while (await client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, "not ready again after the outage"
                await asyncio.sleep(0.5)
            assert "errors" not in await ask(client)
        log = server.log_text()
    assert "unexpected error" not in log
    assert "database unavailable" in log
