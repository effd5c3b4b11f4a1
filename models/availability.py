"""Is the database there? Telling an outage from a bug, and the checks behind /readyz.

An outage (server down, connections refused or cut, database dropped or closed to
connections, SQLite file unreachable or locked) is the operator's to fix and the client's
to retry; it must not be reported as an internal error with a traceback per request.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.exceptions import DBConnectionError
from tortoise.migrations.graph import MigrationKey
from tortoise.migrations.loader import MigrationLoader
from tortoise.migrations.recorder import MigrationRecorder

from models.db import tortoise_config

_CONNECTION_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}
_OUTAGE_POSTGRES_ERRORS = (
    asyncpg.PostgresConnectionError,  # class 08: connection failures
    asyncpg.exceptions.OperatorInterventionError,  # 57: shutdown, terminated, cannot connect
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, disk full
    asyncpg.exceptions.InvalidCatalogNameError,  # the database does not exist (any more)
)
# Credentials the server refuses: not an outage (no retry helps), but an operator's fix.
_REFUSED_LOGINS = (
    asyncpg.exceptions.InvalidPasswordError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
)
_OUTAGE_SQLITE_MESSAGES = (
    "unable to open database",
    "disk i/o error",
    "database is locked",
)


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it wraps (Tortoise wraps driver errors, explicitly or not)."""
    chain: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending and len(chain) < 10:
        current = pending.pop()
        if current in chain:
            continue
        chain.append(current)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return chain


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, (DBConnectionError, *_OUTAGE_POSTGRES_ERRORS)):
        return True
    if isinstance(error, asyncpg.exceptions.ObjectNotInPrerequisiteStateError):
        return "not currently accepting connections" in str(error)
    if isinstance(error, sqlite3.OperationalError):
        return any(message in str(error).lower() for message in _OUTAGE_SQLITE_MESSAGES)
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
        return True
    return isinstance(error, OSError) and error.errno in _CONNECTION_ERRNOS


def is_database_outage(error: BaseException) -> bool:
    """True when `error` says the database cannot be reached now (worth a retry later)."""
    return any(_is_outage(cause) for cause in _causes(error))


def unusable_database(error: BaseException) -> str | None:
    """What an operator must fix when `error` says the database cannot be used (down,
    refusing the credentials, missing), in one line; None for any other error. The command
    line prints this instead of a driver's traceback."""
    for cause in _causes(error):
        if _is_outage(cause) or isinstance(cause, _REFUSED_LOGINS):
            return f"{type(cause).__name__}: {str(cause)[:300]}"
    return None


@dataclass
class Check:
    ok: bool
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.details}


async def timed(name: str, seconds: float, check: Any) -> Check:
    """Run one readiness check within `seconds`; any failure is a failed check,
    described by its exception type only (no SQL, no paths)."""
    started = time.perf_counter()
    try:
        result: Check = await asyncio.wait_for(check, seconds)
    except TimeoutError:
        result = Check(False, {"error": f"{name} check timed out after {seconds:g} s"})
    except Exception as exc:
        kind = "unreachable" if is_database_outage(exc) else "failed"
        result = Check(False, {"error": f"{name} {kind}: {type(exc).__name__}"})
    result.details["seconds"] = round(time.perf_counter() - started, 4)
    return result


async def database_check() -> Check:
    connection = Tortoise.get_connection("default")
    await connection.execute_query("SELECT 1")
    return Check(True)


class MigrationsCheck:
    """Compares the migrations the project ships with those the database recorded.

    The shipped ones are read from disk once (they cannot change under a running
    process); each check is then one small SELECT on Tortoise's own record table.
    """

    def __init__(self, database_url: str) -> None:
        apps = tortoise_config(database_url)["apps"]
        loader = MigrationLoader(apps, MigrationRecorder(None))
        loader.load_disk()
        self.shipped: set[MigrationKey] = set(loader.disk_migrations)

    async def __call__(self) -> Check:
        connection = Tortoise.get_connection("default")
        # The recorder answers [] when its table cannot be read; tell that apart from an
        # outage by reaching the database first.
        await connection.execute_query("SELECT 1")
        applied = set(await MigrationRecorder(connection).applied_migrations())
        pending = sorted(f"{key.app_label}.{key.name}" for key in self.shipped - applied)
        return Check(not pending, {"applied": len(applied & self.shipped), "pending": pending})
