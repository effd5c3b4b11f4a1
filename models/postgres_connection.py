"""The asyncpg connection class of Tortoise's PostgreSQL pool: returned to the pool
without a reset query.

asyncpg's pool resets every connection it takes back with one more round trip to the
server (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`), which
undoes session state a caller may have left: advisory locks, cursors held past their
transaction, LISTEN, SET. This project leaves none (its statements are plain queries
and transactions, whose SET LOCAL and locks end with them), so on a read of one short
statement that reset was half the round trips of the request (the profile in
bench/results/read-path-experiments.md). asyncpg documents overriding
`get_reset_query` for this; an open transaction is still rolled back on release, as
asyncpg does whatever this query is.

Code that starts to keep session state (LISTEN, a session advisory lock, a session SET)
must undo it itself before releasing its connection.
"""

from __future__ import annotations

import asyncpg


class NoResetConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped: Connection is Any
    def get_reset_query(self) -> str:
        return ""
