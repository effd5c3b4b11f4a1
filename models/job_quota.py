"""The per-user bound on active (QUEUED or RUNNING) batch predictions and evaluations,
checked where startBatchPrediction and startEvaluation create them (issue 24).

The same admission as a training run's (models/run_quota.py): without it one account can
queue thousands of jobs and hold every worker. Both kinds share one bound, since both
take the same workers; insert and count happen in one transaction holding a lock on the
user's row (FOR UPDATE on PostgreSQL), so two starts of one user are counted one after
the other and cannot both take the last slot. On SQLite the insert comes first, and the
single writer serialises them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.transactions import in_transaction

from models.accounts import User
from models.training_runs import ACTIVE_STATUSES
from models.trust_jobs import BatchPrediction, ModelEvaluation

__all__ = ["TooManyActiveJobs", "create_job_within_quota"]

J = TypeVar("J", BatchPrediction, ModelEvaluation)


class TooManyActiveJobs(Exception):
    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"{active} jobs active, at most {limit}")
        self.active = active
        self.limit = limit


async def create_job_within_quota(
    table: type[J], user_id: int | None, limit: int, **values: Any
) -> J:
    """Create the job unless its user already has `limit` active batch predictions and
    evaluations between them (TooManyActiveJobs, and nothing is kept).

    Inserted first, then counted with the others and rolled back if it is one too many
    (on SQLite a transaction that reads first can be refused while a worker writes).
    A job with no user is not bounded.
    """
    async with in_transaction() as connection:
        if user_id is not None and connection.capabilities.dialect != "sqlite":
            await User.select_for_update().using_db(connection).filter(id=user_id).first()
        row = await table.create(using_db=connection, created_by_id=user_id, **values)
        if user_id is not None:
            active = 0
            for model in (BatchPrediction, ModelEvaluation):
                active += (
                    await model.filter(created_by_id=user_id, status__in=list(ACTIVE_STATUSES))
                    .using_db(connection)
                    .count()
                )
            if active > limit:
                raise TooManyActiveJobs(active - 1, limit)
        return row
