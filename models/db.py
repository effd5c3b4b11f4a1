"""Database configuration shared by the server, the workers and the `tortoise` CLI
(main.TORTOISE_ORM builds it from the settings), and the connection and migration of
the commands that are not the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

from models.postgres_connection import NoResetConnection

# How long a SQLite connection waits for another's lock before "database is locked": a
# bound on waiting, not a tuning knob (under WAL only writers wait, for one short commit).
SQLITE_BUSY_TIMEOUT_MS = 10_000

MODELS_MODULES = [
    "models.users",
    "models.tokens",
    "models.training_runs",
    "models.datasets",
    "models.model_aliases",
    "models.sweeps",
]


def tortoise_config(database_url: str) -> dict[str, Any]:
    """Tortoise config for one database; the app label `models` owns the migrations."""
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            "models": {
                "models": MODELS_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(url: str) -> str | dict[str, Any]:
    """The default connection: the URL itself, but PostgreSQL's as Tortoise's expanded
    form, to give its pool connections that skip the reset on release
    (models/postgres_connection.py)."""
    if url.partition("://")[0] not in ("postgres", "postgresql", "asyncpg"):
        return _with_sqlite_pragmas(url)
    expanded = expand_db_url(url)
    expanded["credentials"]["connection_class"] = NoResetConnection
    return expanded


def _with_sqlite_pragmas(url: str) -> str:
    """Let several processes (server, local training workers) share one SQLite file.

    WAL lets readers run beside the single writer; busy_timeout makes a writer wait for
    the lock instead of failing at once with "database is locked".
    """
    if not url.startswith("sqlite://") or "busy_timeout" in url:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}busy_timeout={SQLITE_BUSY_TIMEOUT_MS}&synchronous=NORMAL"


# Tortoise is imported when these run, not with this module: main.py imports it for every
# command, and `--help` should not pay for the ORM.
@asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[None]:
    """Tortoise connected to `database_url` for the block (a command, not the server,
    whose lifespan registers Tortoise itself)."""
    from tortoise import Tortoise

    await Tortoise.init(config=tortoise_config(database_url))
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def apply_migrations(database_url: str) -> None:
    """Apply every migration of models/migrations that the database lacks."""
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate

    await migrate(config=tortoise_config(database_url))
    await Tortoise.close_connections()


async def renew_connections() -> None:
    """Have the default connection's pool (PostgreSQL) replace every connection it holds
    at its next use: after the server has cut them (a restart, an operator), each would
    otherwise fail once before the pool notices. SQLite opens its file again anyway."""
    from tortoise import Tortoise

    pool = getattr(Tortoise.get_connection("default"), "_pool", None)
    if pool is not None:
        await pool.expire_connections()
