"""predictFutureNeed's input and answer types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, Protocol

import strawberry
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case as strawberry_name

from resolvers.predictions import PredictionOutcome
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


class _ReasonRow(Protocol):
    @property
    def value(self) -> str | float | None: ...


@strawberry.type(
    description=(
        "One input column's share in a row's predicted level: for tree models its exact "
        "Shapley value (shap's TreeExplainer), for linear ones its coefficient times its "
        "standardized value; see PredictionResult.reasonUnits."
    )
)
class Reason:
    feature: str = strawberry.field(
        description="The dataset's own column (one-hot parts summed back), e.g. trend_score."
    )
    contribution: float = strawberry.field(
        description=(
            "Signed: positive pushed the row towards its predicted level, negative away "
            "from it. In probability (forests: the contributions of all columns plus the "
            "model's average make the level's probability) or log-odds (boosting, linear "
            "models), as reasonUnits says."
        )
    )

    @strawberry.field(
        description="The row's value as sent (a number in its shortest form); null if missing."
    )
    def value(self, root: strawberry.Parent[_ReasonRow]) -> str | None:
        value = root.value
        if value is None or isinstance(value, str):
            return value
        return repr(value)


@strawberry.type(description="The answer for one input row.")
class Prediction:
    level: NeedLevel = strawberry.field(description="The most probable level.")
    probabilities: list[ClassProbability] = strawberry.field(
        description="Per level the model knows (LOW, MEDIUM, HIGH order), summing to 1."
    )
    imputed: list[str] = strawberry.field(
        description=(
            "The model's input columns this row left missing (absent, null, blank), in "
            "dataset order: the model's imputers filled them in (a median, or a '(missing)' "
            "category), so the answer rests on a guess there."
        )
    )
    reasons: list[Reason] = strawberry.field(
        description=(
            "With `explain: k`, the k columns that weighed most on `level`, largest "
            "|contribution| first; empty otherwise."
        )
    )


@strawberry.type(
    description=(
        "All rows at once, column by column: the same answers as `predictions` in a shape "
        "that costs the server (and a client's parser) a fraction of one object per row."
    )
)
class PredictionColumns:
    labels: list[NeedLevel] = strawberry.field(
        description="The levels the model knows, in LOW, MEDIUM, HIGH order."
    )
    levels: list[NeedLevel] = strawberry.field(description="Per row, the most probable level.")
    probabilities: list[list[float]] = strawberry.field(
        description="Per row, the probability of each of `labels`, in that order."
    )
    imputed: list[list[str]] = strawberry.field(
        description="Per row, the inputs the model's imputers filled in (as Prediction.imputed)."
    )


@strawberry.type(description="Predictions in input order, and the model that made them.")
class PredictionResult:
    model_version: str = strawberry.field(description="The modelVersion that answered.")
    run: RunRecord = strawberry.field(
        description="The run that trained it.", graphql_type=TrainingRun
    )
    predictions: list[Prediction]
    reason_units: str | None = strawberry.field(
        description=(
            "What the reasons' contributions are in: 'probability' (forests) or 'log-odds' "
            "(gradient boosting, logistic regression); null when no reasons were asked for."
        )
    )

    @strawberry.field(description="The same predictions column by column (compact).")
    def columns(self, root: strawberry.Parent[PredictionOutcome]) -> PredictionColumns:
        return prediction_columns(root.predictions)


def prediction_columns(rows: Sequence[Any]) -> PredictionColumns:
    labels = [p.label for p in rows[0].probabilities] if rows else []
    return PredictionColumns(
        labels=[NeedLevel(label) for label in labels],
        levels=[NeedLevel(row.level) for row in rows],
        probabilities=[[p.probability for p in row.probabilities] for row in rows],
        imputed=[row.imputed for row in rows],
    )
