"""Query root: the caller, runs by id, the run list, the metrics history, model aliases
and predictions."""

from __future__ import annotations

import strawberry
from strawberry import relay

from resolvers import (
    accounts,
    compare_runs,
    datasets,
    metrics_history,
    predictions,
    sweeps,
    training_runs,
)
from resolvers.accounts import Identity
from resolvers.datasets import DatasetInfo
from resolvers.model_aliases import ModelAlias as ModelAliasRow
from resolvers.model_aliases import list_aliases
from resolvers.rate_limits import charge
from resolvers.sweeps import Sweep as SweepRow
from resolvers.sweeps import SweepConnection as SweepPage
from resolvers.training_runs import RunConnection, RunRecord, get_run_record
from schema.algorithms import TrainingAlgorithm, training_algorithms
from schema.compare_runs import TrainingRunComparison
from schema.context import Info
from schema.datasets import Dataset, listed_datasets
from schema.enums import HistoryBucket
from schema.inputs import TrainingRunFilter, TrainingRunOrder
from schema.metrics_history import MetricsBucket
from schema.model_aliases import ModelAlias
from schema.permissions import IsAuthenticated, IsHRStaff, IsHRStaffOrManager
from schema.predictions import PredictionResult, PredictionRowInput, row_values
from schema.sweeps import Sweep, SweepConnection, SweepFilter
from schema.training_runs import TrainingRunConnection, run_columns
from schema.types import TrainingRun, User


def _order(order: TrainingRunOrder | None) -> training_runs.RunOrder:
    return (order or TrainingRunOrder()).to_run_order()


def _filter(run_filter: TrainingRunFilter | None) -> training_runs.RunFilter | None:
    return None if run_filter is None else run_filter.to_run_filter()


@strawberry.type
class Query:
    @strawberry.field(
        description=(
            "The algorithms trainModel can fit, each with every parameter it takes (range, "
            "default, meaning): what the train form and a sweep's search space are built from."
        ),
        permission_classes=[IsAuthenticated],
    )
    def training_algorithms(self) -> list[TrainingAlgorithm]:
        return training_algorithms()

    @strawberry.field(
        description="The authenticated caller.",
        permission_classes=[IsAuthenticated],
        graphql_type=User | None,
    )
    async def viewer(self, info: Info) -> Identity | None:
        return await info.context.viewer()

    @strawberry.field(
        description=(
            "A training run or user by global id. Users other than the caller are visible "
            "to HR staff only: null for anyone else, as for an id that does not exist."
        ),
        permission_classes=[IsHRStaffOrManager],
        graphql_type=relay.Node | None,
    )
    async def node(self, info: Info, id: relay.GlobalID) -> RunRecord | Identity | SweepRow | None:
        key = training_runs.parse_database_id(id.node_id)
        if key is None:
            return None
        if id.type_name == "TrainingRun":
            return await get_run_record(key)
        if id.type_name == "Sweep":
            return await sweeps.get_sweep(str(key))
        if id.type_name == "User":
            viewer = await info.context.viewer()
            return await accounts.visible_identity(viewer, key, info.context.users)
        return None

    @strawberry.field(
        description="A training run by global id or numeric database id; null if absent.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=TrainingRun | None,
    )
    async def training_run(self, id: strawberry.ID) -> RunRecord | None:
        return await training_runs.get_training_run(str(id))

    @strawberry.field(
        description="Training runs, newest first unless ordered otherwise; keyset-paginated.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=TrainingRunConnection,
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
    ) -> RunConnection:
        return await training_runs.list_training_runs(
            info.context.services.page_sizes,
            order=_order(order_by),
            first=first,
            last=last,
            after=after,
            before=before,
            run_filter=_filter(filter),
            columns=run_columns(info),
        )

    @strawberry.field(
        description=(
            "2 to 10 training runs side by side (global or numeric ids, any status); the "
            "first is the baseline the deltas are measured from."
        ),
        permission_classes=[IsHRStaffOrManager],
        graphql_type=TrainingRunComparison,
    )
    async def compare_training_runs(self, ids: list[strawberry.ID]) -> compare_runs.Comparison:
        return await compare_runs.compare_training_runs([str(i) for i in ids])

    @strawberry.field(
        description=(
            "Runs grouped by local hour, day, ISO week or month of `timeZone` (an IANA "
            "name), oldest first, only buckets holding runs; at most 1000 buckets."
        ),
        permission_classes=[IsHRStaffOrManager],
        graphql_type=list[MetricsBucket],
    )
    async def training_metrics_history(
        self,
        bucket: HistoryBucket = HistoryBucket.DAY,
        filter: TrainingRunFilter | None = None,
        time_zone: str = "UTC",
    ) -> list[metrics_history.HistoryBucket]:
        return await metrics_history.metrics_history(bucket, _filter(filter), time_zone)

    @strawberry.field(
        description=(
            "Every CSV file of the datasets folder (HR staff), by path. Rows and hash are "
            "read once per file version (size and modification time), then remembered."
        ),
        permission_classes=[IsHRStaff],
        graphql_type=list[Dataset],
    )
    async def datasets(self, info: Info) -> list[DatasetInfo]:
        services = info.context.services
        return await listed_datasets(
            lambda: datasets.list_datasets(services.artifacts, services.dataset_limits)
        )

    # --- model aliases and predictions (issue 10) ---
    @strawberry.field(
        description="Every model alias, by name, with the run it points at.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=list[ModelAlias],
    )
    async def model_aliases(self) -> list[ModelAliasRow]:
        return await list_aliases()

    @strawberry.field(
        description=(
            "The need level of each row, with every level's probability, in input order, "
            "from the model `model` names: an alias (first) or a modelVersion. 1 to 1000 "
            "rows, counted against the caller's budget of rows per second (RATE_LIMITED "
            "with retryAfter beyond it). The model file's sha256 is checked before it is "
            "loaded."
        ),
        permission_classes=[IsHRStaffOrManager],
        graphql_type=PredictionResult,
    )
    async def predict_future_need(
        self,
        info: Info,
        *,
        model: str | None = predictions.DEFAULT_MODEL,
        rows: list[PredictionRowInput],
    ) -> predictions.PredictionOutcome:
        services = info.context.services
        viewer = await info.context.viewer()
        assert viewer is not None  # IsHRStaffOrManager let the request through

        def spend(count: int) -> None:
            charge(
                services.prediction_budget,
                viewer.id,
                count,
                "over your budget of predicted rows per second (PREDICTION_ROWS_PER_SECOND)",
            )

        return await predictions.predict_future_need(
            services.artifacts,
            services.models,
            predictions.DEFAULT_MODEL if model is None else model,
            [row_values(row) for row in rows],
            spend=spend,
        )

    # --- sweeps (issue 23) ---
    @strawberry.field(
        description="A sweep by global id or numeric database id; null if absent.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=Sweep | None,
    )
    async def sweep(self, id: strawberry.ID) -> SweepRow | None:
        return await sweeps.get_sweep(str(id))

    @strawberry.field(
        description="Sweeps, newest first; keyset-paginated.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=SweepConnection,
    )
    async def sweeps(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: SweepFilter | None = None,
    ) -> SweepPage:
        sizes = info.context.services.page_sizes
        return await sweeps.list_sweeps(
            first=first,
            after=after,
            statuses=filter.status if filter else None,
            default_size=sizes.default,
            max_size=sizes.maximum,
        )
