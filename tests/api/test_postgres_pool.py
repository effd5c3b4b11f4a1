"""PostgreSQL: the pool's connections go back without asyncpg's reset statement, which
was a second round trip on every one-statement read (models/postgres_connection.py), and
connections the server cut (a restart, an operator) are replaced without a client or a
run seeing it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from tortoise import Tortoise

from models.training_runs import TrainingRun
from tests.conftest import DATABASE, Server
from tests.helpers import FINISHED_RUN, RUN_ROW, train

pytestmark = pytest.mark.skipif(DATABASE != "postgres", reason="PostgreSQL's pool only")


async def test_a_read_connection_goes_back_to_the_pool_without_a_reset(server: Server) -> None:
    pool = Tortoise.get_connection("default")._pool
    async with pool.acquire() as connection:
        backend = await connection.fetchval("SELECT pg_backend_pid()")
        await connection.fetchval("SELECT 'the last statement'")
    # The server's own view of that session: its last statement is still the read.
    observer = await asyncpg.connect(database_url(server))
    try:
        last = await observer.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", backend)
    finally:
        await observer.close()
    # Not a reset (asyncpg's own ends with UNLISTEN and RESET ALL). The server's
    # background tasks (sweep driver, schedule ticker, webhook dispatcher) may have taken
    # the connection for a read of their own since: any such read is no reset either.
    assert "RESET ALL" not in last, last
    assert "UNLISTEN" not in last, last
    assert last.startswith("SELECT "), last


async def cut_every_connection(observer: asyncpg.Connection) -> int:
    """Have PostgreSQL end every session on the observer's database but its own (the
    server's pool, the training workers'), as a restart would; returns how many."""
    return int(
        await observer.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )


def database_url(server: Server) -> str:
    return str(server.settings.database_url).replace("postgres://", "postgresql://", 1)


RUNS = "{ trainingRuns(first: 1) { nodes { modelVersion } } }"


async def test_connections_cut_by_the_server_are_replaced_without_an_error(
    server: Server,
) -> None:
    await TrainingRun.create(**RUN_ROW, **FINISHED_RUN, model_version="v-cut")
    pool = Tortoise.get_connection("default")._pool
    observer = await asyncpg.connect(database_url(server))
    try:
        for _ in range(10):
            # Every idle connection of the pool open, then cut by the server (as a
            # restart or an operator would), and the page asked for at once.
            async with pool.acquire(), pool.acquire():
                pass
            assert await cut_every_connection(observer) >= 2
            body = await server.gql(RUNS)
            assert "errors" not in body, body
            assert body["data"]["trainingRuns"]["nodes"] == [{"modelVersion": "v-cut"}]
    finally:
        await observer.close()


async def test_a_run_after_the_connections_were_cut_still_trains(server: Server) -> None:
    # given: training workers that have trained (their connections open), then cut
    assert (await asyncio.wait_for(train(server.data, 5, wait=True), 60))["status"] == "COMPLETED"
    observer = await asyncpg.connect(database_url(server))
    try:
        assert await cut_every_connection(observer) >= 1
    finally:
        await observer.close()

    # when: the next run (it stayed QUEUED for ever: its worker's claim failed)
    run = await asyncio.wait_for(train(server.data, 5, wait=True), 60)

    # then
    assert run["status"] == "COMPLETED", run
