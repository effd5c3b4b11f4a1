"""Query root: the caller, runs by id, the run list and the metrics history."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from strawberry import relay
from strawberry.types.nodes import SelectedField, Selection

from models.run_records import get_run_record
from models.training_runs import RunStatus
from resolvers import accounts, compare_runs, datasets, metrics_history, training_runs
from resolvers.pagination import Order
from schema.auth.permissions import IsAuthenticated, IsHRStaff, IsHRStaffOrManager
from schema.comparison import TrainingRunComparison
from schema.connection import TrainingRunConnection
from schema.context import Info
from schema.datasets import Dataset
from schema.enums import HistoryBucket, OrderDirection
from schema.history import MetricsBucket
from schema.inputs import TrainingRunFilter, TrainingRunOrder
from schema.types import RUN_FIELD_COLUMNS, TrainingRun, User


def _order(order: TrainingRunOrder | None) -> Order:
    order = order or TrainingRunOrder()
    return Order(column=order.field.value, descending=order.direction is OrderDirection.DESC)


def _fields(selections: list[Selection]) -> Iterator[SelectedField]:
    """Fields of a selection set, looking through fragments."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _fields(selection.selections)


def _run_columns(info: Info) -> set[str] | None:
    """Columns the selected TrainingRun fields read; None (all columns) if unsure."""
    columns: set[str] = set()
    for connection_field in _fields(info.selected_fields):
        for part in _fields(connection_field.selections):
            if part.name == "nodes":
                runs = part.selections
            elif part.name == "edges":
                runs = [
                    s for e in _fields(part.selections) if e.name == "node" for s in e.selections
                ]
            else:
                continue
            for field in _fields(runs):
                if field.name not in RUN_FIELD_COLUMNS:
                    return None
                columns.update(RUN_FIELD_COLUMNS[field.name])
    return columns


def _filter(run_filter: TrainingRunFilter | None) -> training_runs.RunFilter | None:
    if run_filter is None:
        return None
    return training_runs.RunFilter(
        status=[RunStatus(s) for s in run_filter.status] if run_filter.status else None,
        trained_by=run_filter.trained_by,
        model_version=run_filter.model_version,
        run_date_from=run_filter.run_date_from,
        run_date_to=run_filter.run_date_to,
    )


@strawberry.type
class Query:
    @strawberry.field(description="The authenticated caller.", permission_classes=[IsAuthenticated])
    async def viewer(self, info: Info) -> User | None:
        return await info.context.viewer()  # type: ignore[return-value]

    @strawberry.field(
        description=(
            "A training run or user by global id. Users other than the caller are visible "
            "to HR staff only: null for anyone else, as for an id that does not exist."
        ),
        permission_classes=[IsHRStaffOrManager],
    )
    async def node(self, info: Info, id: relay.GlobalID) -> relay.Node | None:
        key = training_runs.parse_database_id(id.node_id)
        if key is None:
            return None
        if id.type_name == "TrainingRun":
            return await get_run_record(key)  # type: ignore[return-value]
        if id.type_name == "User":
            viewer = await info.context.viewer()
            return await accounts.visible_identity(viewer, key, info.context.users)  # type: ignore[return-value]
        return None

    @strawberry.field(
        description="A training run by global id or numeric database id; null if absent.",
        permission_classes=[IsHRStaffOrManager],
    )
    async def training_run(self, id: strawberry.ID) -> TrainingRun | None:
        run_id = training_runs.parse_run_id(str(id))
        if run_id is None:
            return None
        return await get_run_record(run_id)  # type: ignore[return-value]

    @strawberry.field(
        description="Training runs, newest first unless ordered otherwise; keyset-paginated.",
        permission_classes=[IsHRStaffOrManager],
    )
    async def training_runs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: TrainingRunFilter | None = None,
        order_by: TrainingRunOrder | None = None,
    ) -> TrainingRunConnection:
        return await training_runs.list_training_runs(  # type: ignore[return-value]
            info.context,
            order=_order(order_by),
            first=first,
            last=last,
            after=after,
            before=before,
            run_filter=_filter(filter),
            columns=_run_columns(info),
        )

    @strawberry.field(
        description=(
            "2 to 10 training runs side by side (global or numeric ids, any status); the "
            "first is the baseline the deltas are measured from."
        ),
        permission_classes=[IsHRStaffOrManager],
    )
    async def compare_training_runs(self, ids: list[strawberry.ID]) -> TrainingRunComparison:
        return await compare_runs.compare_training_runs([str(i) for i in ids])  # type: ignore[return-value]

    @strawberry.field(
        description=(
            "Runs grouped by local hour, day, ISO week or month of `timeZone` (an IANA "
            "name), oldest first, only buckets holding runs; at most 1000 buckets."
        ),
        permission_classes=[IsHRStaffOrManager],
    )
    async def training_metrics_history(
        self,
        bucket: HistoryBucket = HistoryBucket.DAY,
        filter: TrainingRunFilter | None = None,
        time_zone: str = "UTC",
    ) -> list[MetricsBucket]:
        return await metrics_history.metrics_history(  # type: ignore[return-value]
            bucket, _filter(filter), time_zone
        )

    @strawberry.field(
        description=(
            "Every CSV file of the datasets folder (HR staff), by path. Rows and hash are "
            "read once per file version (size and modification time), then remembered."
        ),
        permission_classes=[IsHRStaff],
    )
    async def datasets(self, info: Info) -> list[Dataset]:
        return await datasets.list_datasets(info.context.services.artifacts)  # type: ignore[return-value]
