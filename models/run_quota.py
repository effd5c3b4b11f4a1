"""The per-user bound on active (QUEUED or RUNNING) runs, checked where runs are created.

Without it one account can queue thousands of long runs and hold every worker for hours.
Insert and count happen in one transaction holding a lock on the user's row (FOR UPDATE on
PostgreSQL), so concurrent trainModel calls of one user are counted one after the other
and cannot slip past the bound together. SQLite has a single writer, and the insert comes
first, so there the write lock serialises them.
"""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from models.accounts import User
from models.training_runs import ACTIVE_STATUSES, TrainingRun


class TooManyActiveRuns(Exception):
    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"{active} runs active, at most {limit}")
        self.active = active
        self.limit = limit


async def create_run_within_quota(user_id: int | None, limit: int, **values: Any) -> TrainingRun:
    """Create the run unless its user already has `limit` active ones (TooManyActiveRuns).

    The row is inserted first and counted with the others, then rolled back if it is one
    too many: on SQLite a transaction that reads before it writes can be refused outright
    ("database is locked") when a worker is writing, while a first write waits its turn.
    A run with no user (created outside the API) is not bounded.
    """
    async with in_transaction() as connection:
        if user_id is not None and connection.capabilities.dialect != "sqlite":
            await User.select_for_update().using_db(connection).filter(id=user_id).first()
        run = await TrainingRun.create(using_db=connection, trained_by_id=user_id, **values)
        if user_id is not None:
            active = (
                await TrainingRun.filter(trained_by_id=user_id, status__in=list(ACTIVE_STATUSES))
                .using_db(connection)
                .count()
            )
            if active > limit:
                raise TooManyActiveRuns(active - 1, limit)
        return run
