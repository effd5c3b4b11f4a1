"""predictFutureNeed's input and answer types."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

import strawberry
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case as strawberry_name

from resolvers.training_runs import RunRecord
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


# The dataset's feature columns (trainer.ml.dataset.FEATURE_COLUMNS): the fields are named
# after them; tests/api/test_predictions.py checks they are the same.
ROW_COLUMNS = tuple(PredictionRowInput.__annotations__)
_ROW_DEFINITION = get_object_definition(PredictionRowInput, strict=True)
_GRAPHQL_NAMES = tuple(
    (field.python_name, field.graphql_name or strawberry_name(field.python_name))
    for field in _ROW_DEFINITION.fields
)


def _row_from_input(cls: type, value: Mapping[str, Any], _context: object) -> Any:
    """Build a row straight from graphql-core's coerced value (its fields are all leaf
    scalars, already checked): strawberry's generic conversion costs ~10x more, most
    of a 1,000-row request's time. StrawberryObjectDefinition.from_input is its hook."""
    return cls(**{python: value.get(graphql) for python, graphql in _GRAPHQL_NAMES})


_ROW_DEFINITION.from_input = _row_from_input


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
    run: RunRecord = strawberry.field(
        description="The run that trained it.", graphql_type=TrainingRun
    )
    predictions: list[Prediction]
