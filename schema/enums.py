"""GraphQL enums; where a Python enum already exists below, it is exposed, not copied."""

from __future__ import annotations

from enum import Enum

import strawberry

from models.run_history import Bucket
from models.training_runs import RunStatus
from trainer.stages import Stage

TrainingRunStatus = strawberry.enum(RunStatus, name="TrainingRunStatus")
TrainingStage = strawberry.enum(Stage, name="TrainingStage")


@strawberry.enum
class ClassWeight(Enum):
    BALANCED = "balanced"
    BALANCED_SUBSAMPLE = "balanced_subsample"


@strawberry.enum
class TrainingRunOrderField(Enum):
    RUN_DATE = "run_date"
    ACCURACY = "accuracy"
    F1_SCORE = "f1_score"
    TRAINING_DURATION = "training_duration_seconds"


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum(description="Why a mutation refused its input; stable, unlike messages.")
class UserErrorCode(Enum):
    OUT_OF_RANGE = "OUT_OF_RANGE"
    INVALID = "INVALID"
    DUPLICATE = "DUPLICATE"
    PATH_NOT_ALLOWED = "PATH_NOT_ALLOWED"
    NOT_FOUND = "NOT_FOUND"
    INVALID_STATE = "INVALID_STATE"
    TOO_MANY_ACTIVE_RUNS = strawberry.enum_value(
        "TOO_MANY_ACTIVE_RUNS",
        description="The caller already has MAX_ACTIVE_RUNS_PER_USER runs queued or running.",
    )
    DATASET_EXISTS = strawberry.enum_value(
        "DATASET_EXISTS", description="uploadDataset: the path is taken and replace was false."
    )
    DATASET_INVALID = strawberry.enum_value(
        "DATASET_INVALID",
        description="uploadDataset: the file is not a dataset training could use (see message).",
    )


@strawberry.enum(description="A whole-run metric that compareTrainingRuns sets side by side.")
class ComparedMetric(Enum):
    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    F1_SCORE = "f1_score"
    TRAINING_DURATION_SECONDS = strawberry.enum_value(
        "training_duration_seconds", description="Lower is better: the best run is the fastest."
    )


HistoryBucket = strawberry.enum(
    Bucket,
    name="HistoryBucket",
    description=(
        "How trainingMetricsHistory groups runs: local hours, days, ISO weeks (from "
        "Monday) or calendar months of the time zone asked for."
    ),
)
