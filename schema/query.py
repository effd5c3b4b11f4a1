"""Query root: the caller, runs by id, the run list, the metrics history, model aliases,
predictions and the audit log."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from resolvers import (
    accounts,
    batch_predictions,
    compare_runs,
    datasets,
    metrics_history,
    model_evaluations,
    predictions,
    sweeps,
    training_runs,
    training_schedules,
    webhooks,
)
from resolvers.accounts import Identity
from resolvers.audit_log import (
    AuditPage,
    AuditRecord,
    audit_entry,
    audit_page,
    checked_audit_filter,
)
from resolvers.batch_predictions import BatchPrediction as BatchPredictionRow
from resolvers.datasets import DatasetInfo
from resolvers.ids import parse_database_id
from resolvers.model_aliases import ModelAlias as ModelAliasRow
from resolvers.model_aliases import list_aliases
from resolvers.model_evaluations import ModelEvaluation as ModelEvaluationRow
from resolvers.rate_limits import charge
from resolvers.sweeps import Sweep as SweepRow
from resolvers.sweeps import SweepConnection as SweepPage
from resolvers.training_runs import RunConnection, RunRecord, get_run_record
from resolvers.training_schedules import ScheduleConnection
from resolvers.training_schedules import TrainingSchedule as ScheduleRow
from resolvers.trust_jobs import JobPage
from resolvers.webhooks import Webhook as WebhookRow
from resolvers.webhooks import WebhookDelivery as DeliveryRow
from schema.algorithms import TrainingAlgorithm, training_algorithms
from schema.audit_log import AuditEntry, AuditLogConnection, AuditLogFilter
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
from schema.training_schedules import TrainingSchedule, TrainingScheduleConnection
from schema.trust_jobs import (
    BatchPrediction,
    BatchPredictionConnection,
    ModelEvaluation,
    ModelEvaluationConnection,
)
from schema.types import TrainingRun, User
from schema.webhooks import DeliveryStatus, Webhook, WebhookDelivery


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
            "Any object with an id (a run, sweep, user, job, schedule, webhook, audit entry) "
            "by global id. Users other than the caller and webhooks are visible to HR staff "
            "only, audit entries to HR staff and superusers: null for anyone else, as for "
            "an id that does not exist."
        ),
        permission_classes=[IsHRStaffOrManager],
        graphql_type=relay.Node | None,
    )
    async def node(
        self, info: Info, id: relay.GlobalID
    ) -> (
        RunRecord
        | Identity
        | BatchPredictionRow
        | ModelEvaluationRow
        | SweepRow
        | AuditRecord
        | ScheduleRow
        | WebhookRow
        | None
    ):
        key = parse_database_id(id.node_id)
        if key is None:
            return None
        if id.type_name == "TrainingRun":
            return await get_run_record(key)
        if id.type_name == "Sweep":
            return await sweeps.get_sweep(str(key))
        if id.type_name == "User":
            viewer = await info.context.viewer()
            return await accounts.visible_identity(viewer, key, info.context.users)
        if id.type_name == "BatchPrediction":
            return await batch_predictions.get_batch_prediction(str(key))
        if id.type_name == "ModelEvaluation":
            return await model_evaluations.get_model_evaluation(str(key))
        if id.type_name == "AuditEntry":  # HR staff and superusers; null for managers
            return await audit_entry(await info.context.viewer(), str(key))
        if id.type_name == "TrainingSchedule":
            return await training_schedules.get_schedule(key)
        if id.type_name == "Webhook":  # HR staff only, as Query.webhook; null for managers
            viewer = await info.context.viewer()
            return await webhooks.webhook_by_id(str(key)) if viewer and viewer.can_train else None
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

    # --- trusting a model (issue 24) ---
    @strawberry.field(
        description="A batch prediction by global id or numeric database id; null if absent.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=BatchPrediction | None,
    )
    async def batch_prediction(self, id: strawberry.ID) -> BatchPredictionRow | None:
        return await batch_predictions.get_batch_prediction(str(id))

    @strawberry.field(
        description="Batch predictions, newest first.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=BatchPredictionConnection,
    )
    async def batch_predictions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> JobPage:
        maximum = info.context.services.page_sizes.maximum
        return await batch_predictions.list_batch_predictions(first, after, maximum)

    @strawberry.field(
        description="A model evaluation by global id or numeric database id; null if absent.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=ModelEvaluation | None,
    )
    async def model_evaluation(self, id: strawberry.ID) -> ModelEvaluationRow | None:
        return await model_evaluations.get_model_evaluation(str(id))

    @strawberry.field(
        description="Model evaluations, newest first.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=ModelEvaluationConnection,
    )
    async def model_evaluations(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> JobPage:
        maximum = info.context.services.page_sizes.maximum
        return await model_evaluations.list_model_evaluations(first, after, maximum)

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
        explain: Annotated[
            int | None,
            strawberry.argument(
                description=(
                    "Reasons per row (0 to 10, default 0): the columns that weighed most "
                    "on its level, with their signed contributions. At most 100 rows per "
                    "request when asking for reasons."
                )
            ),
        ] = 0,
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
            explain=explain or 0,
            spend=spend,
        )

    # --- webhooks (issue 25, section 2) ---
    @strawberry.field(
        description="Every webhook, oldest first (their secrets are never shown again).",
        permission_classes=[IsHRStaff],
        graphql_type=list[Webhook],
    )
    async def webhooks(self) -> list[WebhookRow]:
        return await webhooks.list_webhooks()

    @strawberry.field(
        description="A webhook by global id or numeric database id; null if absent.",
        permission_classes=[IsHRStaff],
        graphql_type=Webhook | None,
    )
    async def webhook(self, id: strawberry.ID) -> WebhookRow | None:
        return await webhooks.webhook_by_id(str(id))

    @strawberry.field(
        description=(
            "Deliveries, newest first: of one webhook (`webhookId`) or of all, in one "
            "`status` or any; `first` 1 to 100. Each has its attempts (status code, "
            "duration, error)."
        ),
        permission_classes=[IsHRStaff],
        graphql_type=list[WebhookDelivery],
    )
    async def webhook_deliveries(
        self,
        webhook_id: strawberry.ID | None = None,
        status: DeliveryStatus | None = None,
        first: int = 20,
    ) -> list[DeliveryRow]:
        return await webhooks.webhook_deliveries(
            None if webhook_id is None else str(webhook_id), status, first
        )

    # --- training schedules (issue 25) ---
    @strawberry.field(
        description="Training schedules, oldest first; keyset-paginated (first 20, at most 100).",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=TrainingScheduleConnection,
    )
    async def training_schedules(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> ScheduleConnection:
        return await training_schedules.list_schedules(
            info.context.services.page_sizes, first, after
        )

    @strawberry.field(
        description="A training schedule by global id or numeric database id; null if absent.",
        permission_classes=[IsHRStaffOrManager],
        graphql_type=TrainingSchedule | None,
    )
    async def training_schedule(self, id: strawberry.ID) -> ScheduleRow | None:
        return await training_schedules.get_schedule(training_schedules.parse_schedule_id(str(id)))

    # --- audit log (issue 25) ---
    @strawberry.field(
        description=(
            "Every recorded mutation, login, token change and file download, newest first "
            "(HR staff and superusers); keyset-paginated, `first` at most the page maximum."
        ),
        permission_classes=[IsHRStaff],
        graphql_type=AuditLogConnection,
    )
    async def audit_log(
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: AuditLogFilter | None = None,
    ) -> AuditPage:
        audit_filter = (
            None
            if filter is None
            else checked_audit_filter(
                username=filter.username,
                operations=filter.operation,
                outcomes=filter.outcome,
                since=filter.since,
                until=filter.until,
            )
        )
        return await audit_page(
            audit_filter,
            first=first,
            after=after,
            sizes=info.context.services.page_sizes,
        )

    @strawberry.field(
        description=(
            "An audit log entry by global id or numeric database id (HR staff and "
            "superusers); null if absent or pruned."
        ),
        permission_classes=[IsHRStaff],
        graphql_type=AuditEntry | None,
    )
    async def audit_entry(self, info: Info, id: strawberry.ID) -> AuditRecord | None:
        return await audit_entry(await info.context.viewer(), str(id))

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
