"""BatchPrediction and ModelEvaluation as GraphQL types (issue 24), their connections,
inputs and payloads. They read straight from the rows resolvers return."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from resolvers import accounts, training_runs
from resolvers.accounts import Identity
from resolvers.batch_predictions import MAX_REASONS
from resolvers.batch_predictions import BatchPrediction as BatchPredictionRow
from resolvers.model_evaluations import ModelEvaluation as ModelEvaluationRow
from resolvers.training_runs import RunRecord, RunStatus
from resolvers.trust_jobs import JobPage
from schema.context import Info
from schema.errors import UserError
from schema.types import ConfusionMatrix, PerClassMetric, TrainingRun, User

PREDICTION_DOWNLOAD_ROUTE = "/predictions/{job_id}/file"
PREDICTION_REJECTS_ROUTE = "/predictions/{job_id}/rejects"


def prediction_download_url(job_id: int, status: str, output_path: str | None) -> str | None:
    """Where a batch prediction's output is downloaded: COMPLETED jobs only (from the row
    alone; the URL may still answer 404 if the file was removed since)."""
    if status != RunStatus.COMPLETED or not output_path:
        return None
    return PREDICTION_DOWNLOAD_ROUTE.format(job_id=job_id)


# Resolvers both job types share (each type names the field and its description).
async def _run(root: strawberry.Parent[BatchPredictionRow | ModelEvaluationRow]) -> RunRecord:
    run = await training_runs.get_training_run(str(root.run_id))
    assert run is not None  # the foreign key cascades: a job's run exists
    return run


async def _created_by(
    root: strawberry.Parent[BatchPredictionRow | ModelEvaluationRow], info: Info
) -> Identity | None:
    if root.created_by_id is None:
        return None
    return await accounts.visible_user(info.context, root.created_by_id)


VISIBLE_USER_DESCRIPTION = "Visible to HR staff and to that user; null for others."


@strawberry.type(description="Scoring of a whole CSV file by a model, as a job.")
class BatchPrediction(relay.Node):
    id: relay.NodeID[int]
    database_id: int
    status: RunStatus
    progress: float = strawberry.field(description="rowsDone / rowsTotal, 0 to 1.")
    rows_total: int | None = strawberry.field(
        description="Data rows in the file (counted when the job starts)."
    )
    rows_done: int = strawberry.field(description="Rows read so far, scored or rejected.")
    rows_scored: int | None = strawberry.field(description="Rows in the output (once ended).")
    rows_rejected: int | None = strawberry.field(
        description="Rows that could not be scored, listed with their reason in the rejects file."
    )
    model_requested: str = strawberry.field(description="The `model` asked for.")
    model_version: str = strawberry.field(description="The model it resolved to at the start.")
    dataset_path: str
    explain: int = strawberry.field(
        description="Reasons per row asked for (0: none): the output's reason_<i>_* columns."
    )
    reason_units: str | None = strawberry.field(
        description=(
            "What the output's reason_<i>_contribution columns are in: 'probability' "
            "(forests) or 'log-odds' (gradient boosting, logistic regression), as "
            "PredictionResult.reasonUnits; set once COMPLETED with explain > 0."
        )
    )
    output_sha256: str | None = strawberry.field(description="Of the output file (its ETag).")
    rejects_sha256: str | None = strawberry.field(description="Of the rejects file (its ETag).")
    error_message: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    created_by_username: str | None

    @strawberry.field(
        description=(
            "GET it (HR staff) for the CSV: input columns, predicted_level, one probability_"
            "<LEVEL> column per level, imputed (the inputs the model filled in, ';'-separated) "
            "and, with explain = k, reason_<i>_feature, reason_<i>_value and "
            "reason_<i>_contribution for i = 1..k (as predictFutureNeed's reasons: largest "
            "|contribution| first, signed, in reasonUnits). Set once COMPLETED; ETag = "
            "outputSha256."
        )
    )
    def download_url(self, root: strawberry.Parent[BatchPredictionRow]) -> str | None:
        return prediction_download_url(root.id, root.status, root.output_path)

    @strawberry.field(
        description=(
            "GET it (HR staff) for the rows that could not be scored: row (1-based data row), "
            "column, reason. Set once COMPLETED; ETag = rejectsSha256."
        )
    )
    def rejects_download_url(self, root: strawberry.Parent[BatchPredictionRow]) -> str | None:
        if root.status != RunStatus.COMPLETED or not root.rejects_path:
            return None
        return PREDICTION_REJECTS_ROUTE.format(job_id=root.id)

    run = strawberry.field(
        resolver=_run, graphql_type=TrainingRun, description="The run whose model scored it."
    )
    created_by = strawberry.field(
        resolver=_created_by, graphql_type=User | None, description=VISIBLE_USER_DESCRIPTION
    )

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, BatchPredictionRow | cls)


@strawberry.type(description="A model's metrics on labelled data it was evaluated on.")
class EvaluationMetrics:
    accuracy: float
    precision: float = strawberry.field(description="Weighted over classes.")
    recall: float = strawberry.field(description="Weighted over classes.")
    f1_score: float = strawberry.field(description="Weighted over classes.")
    samples: int = strawberry.field(description="Rows evaluated (a known need level).")
    dropped_rows: int
    per_class_metrics: list[PerClassMetric]
    confusion_matrix: ConfusionMatrix


@strawberry.type(
    description=(
        "Reference and current shares per bin (or category), for a chart. Numeric bins "
        "span both data's whole range; their current shares come from a uniform sample of "
        "200,000 values when the file has more (exact below)."
    )
)
class DriftHistogram:
    labels: list[str]
    reference: list[float]
    current: list[float]


@strawberry.type(
    description=(
        "One feature's drift. `test` names the statistic that decided `drifted` (Evidently's "
        "defaults): KS (p-value < 0.05) or chi-squared (p < 0.05) for a reference of at most "
        "1,000 rows; normed Wasserstein (>= 0.1) or Jensen-Shannon distance (>= 0.1) above."
    )
)
class FeatureDrift:
    feature: str = strawberry.field(description="The dataset's column name.")
    kind: str = strawberry.field(description="numeric or categorical")
    test: str = strawberry.field(description="ks, wasserstein, chi2 or jensen_shannon")
    value: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    ks_statistic: float | None
    ks_p_value: float | None
    psi: float | None = strawberry.field(
        description="Population stability index over the reference's deciles."
    )
    wasserstein: float | None = strawberry.field(
        description=(
            "Wasserstein distance divided by the reference's standard deviation; over a "
            "uniform sample of 200,000 of the file's values when it has more (exact below)."
        )
    )
    chi2_statistic: float | None
    chi2_p_value: float | None
    jensen_shannon: float | None
    unseen_categories: int = strawberry.field(
        description="Categories of the current data that the reference never had."
    )
    unseen_rows: int = strawberry.field(description="Rows holding such categories.")
    histogram: DriftHistogram


@strawberry.type(description="The evaluated data against the run's own training data.")
class DriftReport:
    reference_rows: int
    current_rows: int
    drifted_features: int
    share_drifted: float
    dataset_drifted: bool = strawberry.field(description="At least half the features drifted.")
    features: list[FeatureDrift] = strawberry.field(description="Drifted features first.")


def _metrics(data: dict[str, Any] | None) -> EvaluationMetrics | None:
    if data is None:
        return None
    return EvaluationMetrics(
        accuracy=data["accuracy"],
        precision=data["precision"],
        recall=data["recall"],
        f1_score=data["f1_score"],
        samples=data["samples"],
        dropped_rows=data["dropped_rows"],
        per_class_metrics=[PerClassMetric(**m) for m in data["per_class_metrics"]],
        confusion_matrix=ConfusionMatrix(**data["confusion_matrix"]),
    )


def _drift(data: dict[str, Any] | None) -> DriftReport | None:
    if data is None:
        return None
    features = [
        FeatureDrift(**{**f, "histogram": DriftHistogram(**f["histogram"])})
        for f in data["features"]
    ]
    return DriftReport(
        reference_rows=data["reference_rows"],
        current_rows=data["current_rows"],
        drifted_features=data["drifted_features"],
        share_drifted=data["share_drifted"],
        dataset_drifted=data["dataset_drifted"],
        features=features,
    )


@strawberry.type(
    description="A model judged on new labelled data, and that data's drift from its training data."
)
class ModelEvaluation(relay.Node):
    id: relay.NodeID[int]
    database_id: int
    status: RunStatus
    progress: float
    model_requested: str
    model_version: str
    dataset_path: str
    dataset_sha256: str | None = strawberry.field(description="Of the evaluated file's bytes.")
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    created_by_username: str | None
    cancel_requested: bool = strawberry.field(
        description=(
            "cancelEvaluation was asked for; a running evaluation stops at its next chunk "
            "of rows (CANCELLED)."
        )
    )

    @strawberry.field
    def metrics(self, root: strawberry.Parent[ModelEvaluationRow]) -> EvaluationMetrics | None:
        return _metrics(root.metrics)

    @strawberry.field
    def drift(self, root: strawberry.Parent[ModelEvaluationRow]) -> DriftReport | None:
        return _drift(root.drift)

    run = strawberry.field(
        resolver=_run, graphql_type=TrainingRun, description="The run whose model was evaluated."
    )
    created_by = strawberry.field(
        resolver=_created_by, graphql_type=User | None, description=VISIBLE_USER_DESCRIPTION
    )

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, ModelEvaluationRow | cls)


# Resolvers both connections share: a JobPage is their root.
def _page_info(page: strawberry.Parent[JobPage]) -> relay.PageInfo:
    return relay.PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=page.cursor(page.rows[0]) if page.rows else None,
        end_cursor=page.cursor(page.rows[-1]) if page.rows else None,
    )


async def _total_count(page: strawberry.Parent[JobPage]) -> int:
    return await page.count()


@strawberry.type
class BatchPredictionEdge:
    cursor: str
    node: BatchPredictionRow = strawberry.field(graphql_type=BatchPrediction)


@strawberry.type(description="Batch predictions, newest first.")
class BatchPredictionConnection:
    @strawberry.field
    def edges(self, root: strawberry.Parent[JobPage]) -> list[BatchPredictionEdge]:
        return [BatchPredictionEdge(cursor=root.cursor(row), node=row) for row in root.rows]

    @strawberry.field(graphql_type=list[BatchPrediction])
    def nodes(self, root: strawberry.Parent[JobPage]) -> list[BatchPredictionRow]:
        return root.rows

    page_info = strawberry.field(resolver=_page_info)
    total_count = strawberry.field(resolver=_total_count, description="Counted only when selected.")


@strawberry.type
class ModelEvaluationEdge:
    cursor: str
    node: ModelEvaluationRow = strawberry.field(graphql_type=ModelEvaluation)


@strawberry.type(description="Model evaluations, newest first.")
class ModelEvaluationConnection:
    @strawberry.field
    def edges(self, root: strawberry.Parent[JobPage]) -> list[ModelEvaluationEdge]:
        return [ModelEvaluationEdge(cursor=root.cursor(row), node=row) for row in root.rows]

    @strawberry.field(graphql_type=list[ModelEvaluation])
    def nodes(self, root: strawberry.Parent[JobPage]) -> list[ModelEvaluationRow]:
        return root.rows

    page_info = strawberry.field(resolver=_page_info)
    total_count = strawberry.field(resolver=_total_count, description="Counted only when selected.")


@strawberry.input
class StartBatchPredictionInput:
    dataset_path: str = strawberry.field(
        description="A CSV under artifacts/datasets/, with or without future_need_level."
    )
    model: str = strawberry.field(
        default="production", description="An alias or a modelVersion, resolved at the start."
    )
    explain: int | None = strawberry.field(
        default=0,
        description=(
            f"Reasons per row (0 to {MAX_REASONS}, default 0): the columns that weighed most "
            "on each row's level, with the row's value and their signed contribution, as "
            "predictFutureNeed's `explain`."
        ),
    )


@strawberry.input
class StartEvaluationInput:
    dataset_path: str = strawberry.field(
        description="A labelled CSV (with future_need_level) under artifacts/datasets/."
    )
    model: str = strawberry.field(
        default="production", description="An alias, a modelVersion or a training run's id."
    )


@strawberry.type
class StartBatchPredictionPayload:
    batch_prediction: BatchPredictionRow | None = strawberry.field(
        graphql_type=BatchPrediction | None
    )
    errors: list[UserError]


@strawberry.type
class CancelBatchPredictionPayload:
    batch_prediction: BatchPredictionRow | None = strawberry.field(
        graphql_type=BatchPrediction | None
    )
    errors: list[UserError]


@strawberry.type
class StartEvaluationPayload:
    evaluation: ModelEvaluationRow | None = strawberry.field(graphql_type=ModelEvaluation | None)
    errors: list[UserError]


@strawberry.type
class CancelEvaluationPayload:
    evaluation: ModelEvaluationRow | None = strawberry.field(graphql_type=ModelEvaluation | None)
    errors: list[UserError]
