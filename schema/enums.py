"""GraphQL enums; where a Python enum already exists below, it is exposed, not copied."""

from __future__ import annotations

from enum import Enum
from typing import TypeAlias

import strawberry
from strawberry.types.enum import has_enum_definition

from resolvers.errors import FieldErrorCode
from resolvers.metrics_history import Bucket
from resolvers.training_runs import RunStatus
from trainer.ml.stages import Stage

# strawberry.enum registers an existing enum in place and returns it: the aliases keep
# the Python types (mypy cannot see through the call).
strawberry.enum(RunStatus, name="TrainingRunStatus")
strawberry.enum(Stage, name="TrainingStage")
TrainingRunStatus: TypeAlias = RunStatus
TrainingStage: TypeAlias = Stage


@strawberry.enum
class ClassWeight(Enum):
    BALANCED = "balanced"
    BALANCED_SUBSAMPLE = "balanced_subsample"


@strawberry.enum(description="The metric a promotion gate compares (issue 24).")
class GateMetric(Enum):
    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    F1_SCORE = "f1_score"


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


strawberry.enum(
    FieldErrorCode,
    name="UserErrorCode",
    description="Why a mutation refused its input; stable, unlike messages.",
)
UserErrorCode: TypeAlias = FieldErrorCode
_VALUE_DESCRIPTIONS = {
    FieldErrorCode.TOO_MANY_ACTIVE_RUNS: (
        "The caller already has MAX_ACTIVE_RUNS_PER_USER runs queued or running."
    ),
    FieldErrorCode.TOO_MANY_ACTIVE_JOBS: (
        "The caller already has MAX_ACTIVE_JOBS_PER_USER batch predictions and evaluations "
        "queued or running."
    ),
    FieldErrorCode.DATASET_EXISTS: "uploadDataset: the path is taken and replace was false.",
    FieldErrorCode.DATASET_INVALID: (
        "uploadDataset: the file is not a dataset training could use (see message)."
    ),
    FieldErrorCode.DATASET_QUOTA_EXCEEDED: (
        "uploadDataset: the file would take the uploader past MAX_DATASETS_PER_USER or "
        "MAX_DATASET_BYTES_PER_USER, or the folder past MAX_DATASETS_TOTAL_BYTES."
    ),
    FieldErrorCode.DATASET_PROTECTED: "deleteDataset: the shipped default dataset stays.",
    FieldErrorCode.DATASET_IN_USE: "deleteDataset: a QUEUED or RUNNING run reads this dataset.",
    FieldErrorCode.DATASET_NOT_OWNED: (
        "deleteDataset: only its uploader, a DRH or a superuser may delete this dataset."
    ),
    FieldErrorCode.URL_NOT_ALLOWED: (
        "createWebhook / updateWebhook: not an http(s) URL, or its host resolves to an "
        "address webhooks may not reach (loopback, private, link-local, metadata...)."
    ),
}
assert has_enum_definition(UserErrorCode)  # strawberry.enum above gave it its definition
for _value in UserErrorCode.__strawberry_definition__.values:
    _value.description = _VALUE_DESCRIPTIONS.get(_value.value)


@strawberry.enum(description="A whole-run metric that compareTrainingRuns sets side by side.")
class ComparedMetric(Enum):
    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    F1_SCORE = "f1_score"
    TRAINING_DURATION_SECONDS = strawberry.enum_value(
        "training_duration_seconds", description="Lower is better: the best run is the fastest."
    )


HistoryBucket: TypeAlias = Bucket
strawberry.enum(
    Bucket,
    name="HistoryBucket",
    description=(
        "How trainingMetricsHistory groups runs: local hours, days, ISO weeks (from "
        "Monday) or calendar months of the time zone asked for."
    ),
)
