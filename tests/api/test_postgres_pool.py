"""PostgreSQL: the pool's connections go back without asyncpg's reset statement, which
was a second round trip on every one-statement read (models/postgres_connection.py)."""

from __future__ import annotations

import asyncpg
import pytest
from tortoise import Tortoise

from tests.conftest import DATABASE, Server

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
