"""Object types. They read straight from the objects resolvers return (run records,
identities), so a page of runs is serialised without copying each row.

Every path that returns a run (lists, by id, node, comparisons, mutation payloads,
trainingRunUpdated) returns a `models.run_records.RunRecord`, the one read type behind
`TrainingRun`. Which columns each field reads is derived from the type itself
(`run_field_columns`): a field named after a column reads that column, and a field that
reads others says so in its metadata (`columns=`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case

from resolvers import accounts, training_schedules
from resolvers.accounts import Identity
from resolvers.sweeps import Sweep as SweepRow
from resolvers.training_runs import (
    FOREST_COLUMNS,
    RunRecord,
    RunStatus,
    all_columns,
    parameters_of,
)
from schema.context import Info
from schema.download_urls import model_download_url
from schema.enums import ClassWeight
from trainer.ml.algorithms import ALGORITHMS, Algorithm, graphql_name
from trainer.ml.stages import Stage

if TYPE_CHECKING:
    from resolvers.trust_jobs import JobPage
    from schema.sweeps import Sweep  # named lazily: schema.sweeps imports this module
    from schema.training_schedules import TrainingSchedule
    from schema.trust_jobs import ModelEvaluationConnection


@strawberry.type(description="An account: an HR tool, a person in HR, or a manager.")
class User(relay.Node):
    id: relay.NodeID[int]
    username: str
    groups: list[str]
    is_superuser: bool

    @strawberry.field
    def database_id(self, root: strawberry.Parent[Identity]) -> int:
        return root.id

    @strawberry.field(description="Whether this account may call trainModel.")
    def can_train(self, root: strawberry.Parent[Identity]) -> bool:
        return root.can_train

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, Identity | cls)


@strawberry.type(
    description=(
        "A RandomForest's settings, as trained (deprecated with TrainingRun.hyperparameters: "
        "read algorithm and parameters)."
    )
)
class Hyperparameters:
    n_estimators: int
    max_depth: int | None
    min_samples_split: int
    min_samples_leaf: int
    class_weight: ClassWeight | None


@strawberry.type(name="ParameterValue", description="One parameter a run was trained with.")
class ParameterSetting:
    name: str = strawberry.field(
        description="As in the algorithm's input type (TrainingAlgorithm.parameters): maxDepth."
    )
    value: str | None = strawberry.field(
        description="As text: 200, 0.1, true, balanced; null where the parameter is null."
    )


@strawberry.type(description="A metric's mean and standard deviation over the folds.")
class CrossValidationMetric:
    metric: str = strawberry.field(
        description="accuracy, precision, recall, f1Score or trainingDurationSeconds (of a fold)."
    )
    mean: float
    std: float


@strawberry.type(description="k-fold cross-validation on the run's training split.")
class CrossValidation:
    folds: int
    metrics: list[CrossValidationMetric] = strawberry.field(
        description="Empty until the run completes."
    )


@strawberry.enum(description="How a run's feature importance was measured.")
class ImportanceMethod(Enum):
    IMPURITY = "impurity"
    PERMUTATION = "permutation"


def _setting_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@strawberry.type(description="Precision, recall and F1 of one target class on the test split.")
class PerClassMetric:
    label: str
    precision: float
    recall: float
    f1_score: float
    support: int


@strawberry.type(description="Rows: true class; columns: predicted class; in `labels` order.")
class ConfusionMatrix:
    labels: list[str]
    matrix: list[list[int]]


@strawberry.type(description="How much one input column contributed to the forest's splits.")
class FeatureImportance:
    feature: str
    importance: float


@strawberry.type(description="A trial's objective on its validation rows at one step.")
class IntermediateValue:
    step: int
    value: float


def _reads(*columns: str) -> Mapping[str, tuple[str, ...]]:
    """Field metadata: the run columns a field reads (when not the one named like it)."""
    return {"columns": columns}


@strawberry.type(description="One training of the model: its request, progress and results.")
class TrainingRun(relay.Node):
    id: relay.NodeID[int]
    run_date: datetime
    started_at: datetime | None
    finished_at: datetime | None
    model_version: str
    model_path: str | None = strawberry.field(
        description="Model file, relative to the artifacts folder."
    )
    model_sha256: str | None
    dataset_path: str = strawberry.field(description="Dataset, relative to the datasets folder.")
    dataset_sha256: str | None
    status: RunStatus  # exposed as TrainingRunStatus (schema/enums.py)
    progress: float = strawberry.field(description="0 to 1, from work actually done.")
    error_message: str | None
    cancel_requested: bool = strawberry.field(
        description="A cancellation was asked for; a running job stops within seconds."
    )
    accuracy: float | None
    precision: float | None = strawberry.field(description="Weighted over classes.")
    recall: float | None = strawberry.field(description="Weighted over classes.")
    f1_score: float | None = strawberry.field(description="Weighted over classes.")
    total_samples: int | None
    train_samples: int | None
    test_samples: int | None
    dropped_rows: int | None = strawberry.field(
        description="Rows dropped because their target was not LOW, MEDIUM or HIGH."
    )
    test_split: float
    n_estimators: int = strawberry.field(
        description=(
            "A RandomForest's or ExtraTrees' tree count; 0 for other algorithms. Read "
            "parameters instead."
        ),
        deprecation_reason="Use parameters (nEstimators), which every algorithm has.",
    )
    random_state: int
    training_duration_seconds: float | None
    features_used: list[str] | None
    notes: str
    # Plain attributes of the row (no resolver), so a page of runs costs strawberry no
    # resolver call per run for them.
    database_id: int = strawberry.field(metadata=_reads("id"))
    trained_by_username: str | None = strawberry.field(
        description="Username of who asked for this training; kept if the account is deleted."
    )

    @strawberry.field(description="What the worker is doing now (null while queued).")
    def stage(self, root: strawberry.Parent[RunRecord]) -> Stage | None:  # as TrainingStage
        return Stage(root.stage) if root.stage else None

    @strawberry.field(
        metadata=_reads("algorithm"),
        description="What the run trained: RANDOM_FOREST for every run before issue 23.",
    )
    def algorithm(self, root: strawberry.Parent[RunRecord]) -> Algorithm:
        return Algorithm(root.algorithm)

    @strawberry.field(
        # A row written without `parameters` is read as the forest its five columns
        # describe (models/training_runs.parameters_of): those are read too.
        metadata=_reads("algorithm", "parameters", *FOREST_COLUMNS),
        description="Every parameter of the algorithm, as trained (defaults filled in), in "
        "the order of TrainingAlgorithm.parameters.",
    )
    def parameters(self, root: strawberry.Parent[RunRecord]) -> list[ParameterSetting]:
        values = parameters_of(root)
        spec = ALGORITHMS[Algorithm(root.algorithm)]
        names = [p.name for p in spec.parameters if p.name in values]
        names += [name for name in values if name not in spec.by_name]
        return [
            ParameterSetting(name=graphql_name(name), value=_setting_text(values[name]))
            for name in names
        ]

    @strawberry.field(
        metadata=_reads("cross_validation"),
        description="k-fold cross-validation, when asked (evaluation: { folds }); else null.",
    )
    def cross_validation(self, root: strawberry.Parent[RunRecord]) -> CrossValidation | None:
        asked = root.cross_validation
        if not isinstance(asked, dict) or "folds" not in asked:
            return None
        metrics = asked.get("metrics") or {}
        return CrossValidation(
            folds=int(asked["folds"]),
            metrics=[
                CrossValidationMetric(
                    metric=to_camel_case(name), mean=float(m["mean"]), std=float(m["std"])
                )
                for name, m in metrics.items()
            ],
        )

    @strawberry.field(
        metadata=_reads("algorithm", "feature_importance"),
        description=(
            "IMPURITY: the forest's own split importances; PERMUTATION (models without them: "
            "HIST_GRADIENT_BOOSTING, LOGISTIC_REGRESSION): the accuracy lost on the test "
            "split when a column is shuffled, as a share of the total. Null until completed."
        ),
    )
    def importance_method(self, root: strawberry.Parent[RunRecord]) -> ImportanceMethod | None:
        if root.feature_importance is None:
            return None
        return ImportanceMethod(ALGORITHMS[Algorithm(root.algorithm)].importance_method)

    @strawberry.field(
        metadata=_reads(
            "n_estimators", "max_depth", "min_samples_split", "min_samples_leaf", "class_weight"
        ),
        description=(
            "A RandomForest's five settings, as trained. For other algorithms: the settings "
            "they share (maxDepth, minSamplesLeaf, classWeight) with their values, and 0 for "
            "the counts they lack (nEstimators, minSamplesSplit: no forest has 0 trees), "
            "never a forest default the run was not trained with."
        ),
        deprecation_reason="Use algorithm and parameters, which describe every algorithm.",
    )
    def hyperparameters(self, root: strawberry.Parent[RunRecord]) -> Hyperparameters:
        return Hyperparameters(
            n_estimators=root.n_estimators,
            max_depth=root.max_depth,
            min_samples_split=root.min_samples_split,
            min_samples_leaf=root.min_samples_leaf,
            class_weight=ClassWeight(root.class_weight) if root.class_weight else None,
        )

    @strawberry.field
    def per_class_metrics(self, root: strawberry.Parent[RunRecord]) -> list[PerClassMetric] | None:
        if root.per_class_metrics is None:
            return None
        return [PerClassMetric(**metric) for metric in root.per_class_metrics]

    @strawberry.field
    def confusion_matrix(self, root: strawberry.Parent[RunRecord]) -> ConfusionMatrix | None:
        matrix = root.confusion_matrix
        return ConfusionMatrix(**matrix) if matrix else None

    @strawberry.field(description="Per input column, most important first.")
    def feature_importance(
        self, root: strawberry.Parent[RunRecord]
    ) -> list[FeatureImportance] | None:
        if root.feature_importance is None:
            return None
        # Sorted here: PostgreSQL's JSONB does not keep the stored key order.
        ranked = sorted(root.feature_importance.items(), key=lambda item: -item[1])
        return [FeatureImportance(feature=name, importance=value) for name, value in ranked]

    @strawberry.field(
        description=(
            "Per input column, the mean |SHAP value| over a sample of the test split (up "
            "to 100 rows), most important first: the same measure as predictFutureNeed's "
            "reasons, in shapImportanceUnits. Null for runs trained before it was measured "
            "or whose model shap cannot explain."
        )
    )
    def shap_importance(self, root: strawberry.Parent[RunRecord]) -> list[FeatureImportance] | None:
        stored = root.shap_importance
        if not stored:
            return None
        ranked = sorted(stored["importance"].items(), key=lambda item: -item[1])
        return [FeatureImportance(feature=name, importance=value) for name, value in ranked]

    @strawberry.field(
        description="'probability' (forests) or 'log-odds' (boosting, linear models).",
        metadata=_reads("shap_importance"),
    )
    def shap_importance_units(self, root: strawberry.Parent[RunRecord]) -> str | None:
        stored = root.shap_importance
        return str(stored["units"]) if stored else None

    @strawberry.field(
        description=(
            "Who asked for this training. Visible to HR staff and to that user; null for "
            "others (managers): trainedByUsername still names them."
        ),
        metadata=_reads("trained_by_id"),
        graphql_type=User | None,
    )
    async def trained_by(self, root: strawberry.Parent[RunRecord], info: Info) -> Identity | None:
        if root.trained_by_id is None:
            return None
        viewer = await info.context.viewer()
        return await accounts.visible_identity(viewer, root.trained_by_id, info.context.users)

    @strawberry.field(
        description=(
            "Path of the model file's download (GET, HR staff; ETag = modelSha256): set for "
            "COMPLETED runs with a model file, else null. Read from the row only, so it may "
            "still answer 404 if the file was removed since."
        ),
        metadata=_reads("id", "status", "model_path"),
    )
    def download_url(self, root: strawberry.Parent[RunRecord]) -> str | None:
        return model_download_url(root.id, root.status, root.model_path)

    @strawberry.field(
        description="The model aliases pointing at this run, by name.", metadata=_reads("id")
    )
    async def aliases(self, root: strawberry.Parent[RunRecord], info: Info) -> list[str]:
        return await info.context.aliases.load(root.id)

    @strawberry.field(
        description="The training schedule whose slot started this run; null for trainModel's.",
        metadata=_reads("schedule_id"),
        graphql_type=Annotated["TrainingSchedule", strawberry.lazy("schema.training_schedules")]
        | None,
    )
    async def schedule(
        self, root: strawberry.Parent[RunRecord], info: Info
    ) -> training_schedules.TrainingSchedule | None:
        if root.schedule_id is None:
            return None
        return await info.context.schedules.load(root.schedule_id)

    @strawberry.field(
        description=(
            "This run's model evaluations (startEvaluation, promotion gates), newest first."
        ),
        metadata=_reads("id"),
        graphql_type=Annotated["ModelEvaluationConnection", strawberry.lazy("schema.trust_jobs")],
    )
    async def evaluations(
        self,
        root: strawberry.Parent[RunRecord],
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> JobPage:
        from resolvers.model_evaluations import run_evaluations

        maximum = info.context.services.page_sizes.maximum
        return await run_evaluations(root.id, first, after, maximum)

    @strawberry.field(
        description="Labels HR staff put on this run (updateTrainingRun), in name order.",
        metadata=_reads("id"),
    )
    async def tags(self, root: strawberry.Parent[RunRecord], info: Info) -> list[str]:
        return await info.context.tags.load(root.id)

    # --- sweeps (issue 23) ---
    objective_value: float | None = strawberry.field(
        description=(
            "A sweep trial's objective, measured on validation rows carved from the training "
            "split (or the cross-validation mean), never on the test split."
        )
    )
    trial_number: int | None = strawberry.field(
        description="Its number among its sweep's trials (from 0); null outside sweeps."
    )
    pruned: bool = strawberry.field(
        description="Stopped early by its sweep's pruner (its status is then CANCELLED)."
    )

    @strawberry.field(
        description=(
            "A sweep trial's objective on its validation rows as the model grew (step: trees "
            "or boosting iterations so far), as its worker reported it: what the pruner "
            "judged. Empty for a sweep without pruning, whose trials are fitted as any run "
            "(a boosting fit in one call, not chunk by chunk)."
        ),
        metadata=_reads("intermediate_values"),
    )
    def intermediate_values(self, root: strawberry.Parent[RunRecord]) -> list[IntermediateValue]:
        steps = root.intermediate_values or {}
        return sorted(
            (IntermediateValue(step=int(step), value=value) for step, value in steps.items()),
            key=lambda entry: entry.step,
        )

    @strawberry.field(
        description="The sweep this run is a trial of; null for runs started by hand.",
        metadata=_reads("sweep_id"),
        graphql_type=Annotated["Sweep", strawberry.lazy("schema.sweeps")] | None,
    )
    async def sweep(self, root: strawberry.Parent[RunRecord], info: Info) -> SweepRow | None:
        if root.sweep_id is None:
            return None
        return await info.context.sweeps.load(root.sweep_id)

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, RunRecord | cls)


@cache
def run_field_columns() -> dict[str, tuple[str, ...]]:
    """The columns each TrainingRun field reads, by GraphQL name, so a page loads only
    what was selected (the JSON metric columns are most of a row's width). A field that
    neither declares its columns nor is named after one is left out: selecting it loads
    every column."""
    table = set(all_columns())
    columns: dict[str, tuple[str, ...]] = {"__typename": ()}
    for field in get_object_definition(TrainingRun, strict=True).fields:
        declared = field.metadata.get("columns")
        if declared is None and field.python_name in table:
            declared = (field.python_name,)
        if declared is not None:
            columns[field.graphql_name or to_camel_case(field.python_name)] = tuple(declared)
    return columns
