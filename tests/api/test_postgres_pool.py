"""PostgreSQL: the pool's connections go back without asyncpg's reset statement, which
was a second round trip on every one-statement read (models/postgres_connection.py), and
a pooled connection the server cut is replaced without a client seeing it."""

from __future__ import annotations

import asyncpg
import pytest
from tortoise import Tortoise

from models.training_runs import TrainingRun
from tests.conftest import DATABASE, Server
from tests.helpers import FINISHED_RUN, RUN_ROW

pytestmark = pytest.mark.skipif(DATABASE != "postgres", reason="PostgreSQL's pool only")


async def test_a_read_connection_goes_back_to_the_pool_without_a_reset(server: Server) -> None:
    pool = Tortoise.get_connection("default")._pool  # type: ignore[attr-defined]
    async with pool.acquire() as connection:
        backend = await connection.fetchval("SELECT pg_backend_pid()")
        await connection.fetchval("SELECT 'the last statement'")
    # The server's own view of that session: its last statement is still the read.
    url = str(server.settings.database_url).replace("postgres://", "postgresql://", 1)
    observer = await asyncpg.connect(url)
    try:
        last = await observer.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", backend)
    finally:
        await observer.close()
    assert last == "SELECT 'the last statement'"


RUNS = "{ trainingRuns(first: 5) { nodes { modelVersion } } }"


async def test_connections_cut_by_the_server_are_replaced_without_an_error(
    server: Server,
) -> None:
    await TrainingRun.create(**RUN_ROW, **FINISHED_RUN, model_version="v-cut")
    pool = Tortoise.get_connection("default")._pool  # type: ignore[attr-defined]
    url = str(server.settings.database_url).replace("postgres://", "postgresql://", 1)
    database = url.rsplit("/", 1)[1]
    observer = await asyncpg.connect(url)
    try:
        for _ in range(10):
            # Every idle connection of the pool open, then cut by the server (as a
            # restart or an operator would), and the page asked for at once.
            async with pool.acquire(), pool.acquire():
                pass
            cut = await observer.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
            assert cut >= 2
            body = await server.gql(RUNS)
            assert "errors" not in body, body
            assert body["data"]["trainingRuns"]["nodes"] == [{"modelVersion": "v-cut"}]
    finally:
        await observer.close()
