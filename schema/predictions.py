"""predictFutureNeed's input and answer types."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from schema.types import TrainingRun


@strawberry.enum(description="How much a job role will need a skill: the model's target.")
class NeedLevel(Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


@strawberry.input(
    description=(
        "One row to predict: the dataset's feature columns, each optional. A missing value "
        "(or an empty category) is treated as a blank cell was in training."
    )
)
class PredictionRowInput:
    job_role_name: str | None = None
    skill_name: str | None = None
    skill_category: str | None = None
    job_department: str | None = None
    trend_score: float | None = None
    internal_usage: float | None = None
    training_requests: float | None = None
    scarcity_index: float | None = None
    hiring_difficulty: float | None = None
    avg_salary_k: float | None = None
    economic_indicator: float | None = None


# The dataset's feature columns (trainer.dataset.FEATURE_COLUMNS): the fields are named
# after them; tests/api/test_predictions.py checks they are the same.
ROW_COLUMNS = tuple(PredictionRowInput.__annotations__)


def row_values(row: PredictionRowInput) -> dict[str, Any]:
    """The row keyed by the dataset's column names."""
    return {column: getattr(row, column) for column in ROW_COLUMNS}


@strawberry.type(description="The probability the model gives one level.")
class ClassProbability:
    label: NeedLevel
    probability: float


@strawberry.type(description="The answer for one input row.")
class Prediction:
    level: NeedLevel = strawberry.field(description="The most probable level.")
    probabilities: list[ClassProbability] = strawberry.field(
        description="Per level the model knows (LOW, MEDIUM, HIGH order), summing to 1."
    )


@strawberry.type(description="Predictions in input order, and the model that made them.")
class PredictionResult:
    model_version: str = strawberry.field(description="The modelVersion that answered.")
    run: TrainingRun = strawberry.field(description="The run that trained it.")
    predictions: list[Prediction]
