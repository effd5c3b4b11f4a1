"""Database configuration shared by the server, the workers and the `tortoise` CLI
(main.TORTOISE_ORM builds it from the settings), and the connection and migration of
the commands that are not the server."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

from models.postgres_connection import NoResetConnection

# How long a SQLite connection waits for another's lock before "database is locked": a
# bound on waiting, not a tuning knob (under WAL only writers wait, for one short commit).
SQLITE_BUSY_TIMEOUT_MS = 10_000

MODELS_MODULES = [
    "models.accounts",
    "models.training_runs",
    "models.datasets",
    "models.model_aliases",
    "models.webhooks",
    "models.training_schedules",
    "models.trust_jobs",
    "models.audit_log",
    "models.run_tags",
    "models.sweeps",
]


def tortoise_config(database_url: str) -> dict[str, Any]:
    """Tortoise config for one database; the app label `models` owns the migrations."""
    _refuse_missing_sqlite_folder(database_url)
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


def _refuse_missing_sqlite_folder(url: str) -> None:
    """SQLite creates the file but not its folder; without this check a command would wait
    forever on the driver's thread (aiosqlite) rather than fail. Raised as the driver's own
    error, so the command line prints it as it prints any unusable database."""
    scheme, _, rest = url.partition("://")
    if scheme != "sqlite" or rest.startswith(":memory:"):
        return
    folder = Path(rest.split("?", 1)[0]).parent
    if not folder.is_dir():
        raise sqlite3.OperationalError(
            f"unable to open database file: the folder {folder} does not exist"
        )


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

    try:
        await migrate(config=tortoise_config(database_url))
    finally:
        # Also on failure: an open SQLite connection's thread would keep the process
        # alive after the error, so `migrate` would hang instead of exiting.
        await Tortoise.close_connections()


async def renew_connections() -> None:
    """Have the default connection's pool (PostgreSQL) replace every connection it holds
    at its next use: after the server has cut them (a restart, an operator), each would
    otherwise fail once before the pool notices. SQLite opens its file again anyway."""
    from tortoise import Tortoise

    pool = getattr(Tortoise.get_connection("default"), "_pool", None)
    if pool is not None:
        await pool.expire_connections()
