"""Object types. They read straight from the objects resolvers return (run records,
Tortoise rows, identities), so a page of runs is serialised without copying each row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from models.credentials import Identity
from models.run_records import RunRecord
from models.training_runs import TrainingRun as TrainingRunRow
from resolvers import accounts
from schema.context import Info
from schema.download_urls import model_download_url
from schema.enums import ClassWeight, TrainingRunStatus, TrainingStage


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


@strawberry.type(description="The forest's settings, as trained.")
class Hyperparameters:
    n_estimators: int
    max_depth: int | None
    min_samples_split: int
    min_samples_leaf: int
    class_weight: ClassWeight | None


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


# Reads return RunRecords (models/run_records.py); mutations and subscriptions, models.
RunRow = TrainingRunRow | RunRecord


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
    status: TrainingRunStatus
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
    n_estimators: int
    random_state: int
    training_duration_seconds: float | None
    features_used: list[str] | None
    notes: str
    # Plain attributes of the row (no resolver), so a page of runs costs strawberry no
    # resolver call per run for them.
    database_id: int
    trained_by_username: str | None = strawberry.field(
        description="Username of who asked for this training; kept if the account is deleted."
    )

    @strawberry.field(description="What the worker is doing now (null while queued).")
    def stage(self, root: strawberry.Parent[RunRow]) -> TrainingStage | None:
        return TrainingStage(root.stage) if root.stage else None

    @strawberry.field
    def hyperparameters(self, root: strawberry.Parent[RunRow]) -> Hyperparameters:
        return Hyperparameters(
            n_estimators=root.n_estimators,
            max_depth=root.max_depth,
            min_samples_split=root.min_samples_split,
            min_samples_leaf=root.min_samples_leaf,
            class_weight=ClassWeight(root.class_weight) if root.class_weight else None,
        )

    @strawberry.field
    def per_class_metrics(self, root: strawberry.Parent[RunRow]) -> list[PerClassMetric] | None:
        if root.per_class_metrics is None:
            return None
        return [PerClassMetric(**metric) for metric in root.per_class_metrics]

    @strawberry.field
    def confusion_matrix(self, root: strawberry.Parent[RunRow]) -> ConfusionMatrix | None:
        matrix = root.confusion_matrix
        return ConfusionMatrix(**matrix) if matrix else None

    @strawberry.field(description="Per input column, most important first.")
    def feature_importance(self, root: strawberry.Parent[RunRow]) -> list[FeatureImportance] | None:
        if root.feature_importance is None:
            return None
        # Sorted here: PostgreSQL's JSONB does not keep the stored key order.
        ranked = sorted(root.feature_importance.items(), key=lambda item: -item[1])
        return [FeatureImportance(feature=name, importance=value) for name, value in ranked]

    @strawberry.field(
        description=(
            "Who asked for this training. Visible to HR staff and to that user; null for "
            "others (managers): trainedByUsername still names them."
        )
    )
    async def trained_by(self, root: strawberry.Parent[RunRow], info: Info) -> User | None:
        if root.trained_by_id is None:
            return None
        return await accounts.visible_user(info.context, root.trained_by_id)  # type: ignore[return-value]

    @strawberry.field(
        description=(
            "Path of the model file's download (GET, HR staff; ETag = modelSha256): set for "
            "COMPLETED runs with a model file, else null. Read from the row only, so it may "
            "still answer 404 if the file was removed since."
        )
    )
    def download_url(self, root: strawberry.Parent[RunRow]) -> str | None:
        return model_download_url(root.id, root.status, root.model_path)

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, RunRow | cls)


# The columns each TrainingRun field reads, so a page loads only what was selected (the
# JSON metric columns are most of a row's width). A field missing here loads every column.
RUN_FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "__typename": (),
    "id": ("id",),
    "databaseId": ("id",),
    "hyperparameters": (
        "n_estimators",
        "max_depth",
        "min_samples_split",
        "min_samples_leaf",
        "class_weight",
    ),
    "trainedBy": ("trained_by_id",),
    "trainedByUsername": ("trained_by_username",),
    "downloadUrl": ("id", "status", "model_path"),
    **{
        name: (column,)
        for name, column in {
            "runDate": "run_date",
            "startedAt": "started_at",
            "finishedAt": "finished_at",
            "modelVersion": "model_version",
            "modelPath": "model_path",
            "modelSha256": "model_sha256",
            "datasetPath": "dataset_path",
            "datasetSha256": "dataset_sha256",
            "status": "status",
            "stage": "stage",
            "progress": "progress",
            "errorMessage": "error_message",
            "cancelRequested": "cancel_requested",
            "accuracy": "accuracy",
            "precision": "precision",
            "recall": "recall",
            "f1Score": "f1_score",
            "totalSamples": "total_samples",
            "trainSamples": "train_samples",
            "testSamples": "test_samples",
            "droppedRows": "dropped_rows",
            "testSplit": "test_split",
            "nEstimators": "n_estimators",
            "randomState": "random_state",
            "trainingDurationSeconds": "training_duration_seconds",
            "featuresUsed": "features_used",
            "notes": "notes",
            "perClassMetrics": "per_class_metrics",
            "confusionMatrix": "confusion_matrix",
            "featureImportance": "feature_importance",
        }.items()
    },
}
