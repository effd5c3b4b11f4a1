"""Subscription root: follow a training run live over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from models.run_records import get_run_record
from resolvers import training_runs
from resolvers.errors import ApiError
from schema.context import Info
from schema.permissions import IsHRStaffOrManager
from schema.types import TrainingRun


class RunNotFound(ApiError):
    code = "NOT_FOUND"


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "The run now, then at every change of status, stage or progress; "
            "completes after its final state."
        ),
        permission_classes=[IsHRStaffOrManager],
    )
    async def training_run_updated(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[TrainingRun, None]:
        run_id = training_runs.parse_run_id(str(id))
        run = await get_run_record(run_id) if run_id is not None else None
        if run is None:
            raise RunNotFound(f"no training run with id {id!s}", argument="id")
        async for update in info.context.services.watcher.watch(run):
            yield update  # type: ignore[misc]
