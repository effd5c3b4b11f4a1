"""Read-only SQLite connections beside Tortoise's single writer connection.

Tortoise's SQLite client has one connection guarded by an asyncio lock, so every
statement of every request (the token look-up, the page, totalCount) waits for the one
before it. Under WAL, readers never block the writer nor each other and see every
committed write, so the hot read statements (models/run_records.py) run on a small pool
of threads, each with its own connection in `query_only` mode; sqlite3 releases the GIL
while it steps through rows, so two reads can proceed at once on two cores.

Short reads (a run by id, an unfiltered page: an index range scan with a LIMIT, tens of
microseconds) run on the event loop's own thread instead, on a connection of their own:
the hop to a reader thread and back costs far more than the read (about 1 ms a request
under load, in GIL hand-offs; bench/results/read-path-experiments.md). That connection
never waits for a lock (busy_timeout 0): in the rare case SQLite reports one, the read
goes to a reader thread, which may wait, so the loop itself never blocks on the database.

Used only for the default connection of a file database: inside a transaction a read
must see the transaction's own writes (it then goes through Tortoise), and an in-memory
database cannot be opened twice.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.sqlite.client import SqliteClient

from models.db import SQLITE_BUSY_TIMEOUT_MS

# Not a setting: SQLite is the single-machine database (PostgreSQL serves production),
# and two threads are what lets two long reads proceed at once on the 2 cores it targets;
# more threads would only contend for the GIL with the event loop.
READER_THREADS = 2


class SqliteReaders:
    """A few threads, each holding one read-only connection to `filename`."""

    def __init__(self, filename: str, threads: int = READER_THREADS) -> None:
        self.filename = filename
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="sqlite-reader")

    def _connection(self, kind: str = "waiting") -> sqlite3.Connection:
        """This thread's connection of `kind`: "waiting" (reader threads: waits up to
        SQLITE_BUSY_TIMEOUT_MS for a lock, as Tortoise's does) or "inline" (the loop's
        thread: never waits)."""
        connection: sqlite3.Connection | None = getattr(self._local, kind, None)
        if connection is None:
            # Autocommit: each SELECT is its own read transaction, so it sees every write
            # committed before it started.
            connection = sqlite3.connect(self.filename, isolation_level=None)
            busy_timeout = SQLITE_BUSY_TIMEOUT_MS if kind == "waiting" else 0
            connection.execute(f"PRAGMA busy_timeout={busy_timeout}")
            connection.execute("PRAGMA query_only=1")
            setattr(self._local, kind, connection)
        return connection

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self._connection().execute(sql, params).fetchall()

    async def fetch(self, sql: str, params: Sequence[Any], *, short: bool = False) -> list[Any]:
        """The rows of `sql`. `short`: the caller knows it for a bounded index read,
        run on the loop's thread unless SQLite reports a lock (then on a reader)."""
        if short:
            # Give the loop its turn first: a read that never suspends would let one
            # busy client's requests (each one's awaits all completing at once) hold
            # the loop, and with it every other task, for as long as it keeps sending.
            await asyncio.sleep(0)
            try:
                # The loop's thread has its own connection that never waits.
                return self._connection("inline").execute(sql, params).fetchall()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._fetch, sql, tuple(params))

    def close(self) -> None:
        # The threads end once idle; their connections are closed with them.
        self._executor.shutdown(wait=False)


_readers: weakref.WeakKeyDictionary[BaseDBAsyncClient, SqliteReaders] = weakref.WeakKeyDictionary()


def readers_for(db: BaseDBAsyncClient) -> SqliteReaders | None:
    """The readers of Tortoise's SQLite client `db`; None inside a transaction (whose
    client is a wrapper) or for an in-memory database."""
    if type(db) is not SqliteClient or db.filename in ("", ":memory:"):
        return None
    readers = _readers.get(db)
    if readers is None:
        readers = _readers[db] = SqliteReaders(db.filename)
        weakref.finalize(db, readers.close)
    return readers
