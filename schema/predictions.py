"""predictFutureNeed's input and answer types."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from math import isfinite
from typing import Any, Protocol

import graphql.execution.values as graphql_values
import strawberry
import strawberry.types.arguments as strawberry_arguments
from graphql import (
    GraphQLFloat,
    GraphQLInputObjectType,
    GraphQLString,
    Undefined,
    is_list_type,
    is_non_null_type,
)
from graphql.utilities import coerce_input_value as graphql_coerce_input_value
from graphql.utilities.coerce_input_value import coerce_default_value
from strawberry.types.base import StrawberryList, get_object_definition
from strawberry.utils.str_converters import to_camel_case as strawberry_name

from resolvers.predictions import PredictionOutcome
from resolvers.training_runs import RunRecord
from schema.types import TrainingRun
from trainer.ml.predictor import Predictions


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


def _convert_argument(value: object, type_: Any, *args: Any, **kwargs: Any) -> object:
    """strawberry's convert_argument, with [PredictionRowInput!] converted in one pass.

    For every item of a list of input objects strawberry walks its generic dispatch
    (optional? a list? a leaf? lazy? an enum?) and builds an InputContext before it
    reaches from_input: three quarters of turning 1,000 rows into objects. A list of
    rows goes straight to _row_from_input, which that dispatch would reach for each.
    """
    if (
        type(value) is list
        and type(type_) is StrawberryList
        and type_.of_type is PredictionRowInput
    ):
        return [_row_from_input(PredictionRowInput, row, None) for row in value]
    return _strawberry_convert_argument(value, type_, *args, **kwargs)


# convert_arguments (strawberry's, for every resolver) looks the function up in its module
# at each call, as the list branch of convert_argument does for its items.
_strawberry_convert_argument = strawberry_arguments.convert_argument
vars(strawberry_arguments)["convert_argument"] = _convert_argument


def _coerce_rows(rows: Any, row_type: GraphQLInputObjectType) -> list[Any] | None:
    """`rows` (a variable's JSON value) coerced as graphql-core's coerce_input_value
    would to [PredictionRowInput!]!, or None for anything but the plain case (a list of
    objects naming only the type's fields, each field nullable), which graphql-core then
    coerces itself, with its own errors.

    graphql-core dispatches every value through its generic walk (is it non-null? a list?
    an input object?): 13,000 such calls for 1,000 rows, a fifth of the request. Here
    the walk is known; each leaf is still coerced by the scalar's own coerce_input_value.
    """
    if type(rows) is not list:
        return None
    plan = []
    for name, field in row_type.fields.items():
        if is_non_null_type(field.type):
            return None
        default = coerce_default_value(field)
        # The Python type a value of this leaf already has when its coercion returns it
        # unchanged (a str for String, a finite float for Float), tested first.
        plain = (
            str if field.type is GraphQLString else float if field.type is GraphQLFloat else None
        )
        plan.append((name, field.out_name or name, field.type, default, plain))
    names = row_type.fields.keys()
    out_type = row_type.out_type
    identity = GraphQLInputObjectType.out_type  # graphql-core's default: the dict itself
    coerced_rows = []
    try:
        for row in rows:
            if type(row) is not dict or not row.keys() <= names:
                return None
            coerced: dict[str, Any] = {}
            for name, out_name, leaf, default, plain in plan:
                value = row.get(name, Undefined)
                kind: type = type(value)
                if kind is plain and (kind is str or isfinite(value)):
                    coerced[out_name] = value  # what the scalar's coercion returns
                elif value is None:
                    coerced[out_name] = None
                elif value is Undefined:
                    if default is not Undefined:
                        coerced[out_name] = default
                else:
                    coerced[out_name] = leaf.coerce_input_value(value)
            coerced_rows.append(coerced if out_type is identity else out_type(coerced))
    except Exception:  # a leaf refused its value: graphql-core will say how
        return None
    return coerced_rows


def _is_row_list(type_: Any) -> GraphQLInputObjectType | None:
    """PredictionRowInput when `type_` is [PredictionRowInput!]!, else None."""
    if not is_non_null_type(type_) or not is_list_type(type_.of_type):
        return None
    item = type_.of_type.of_type
    if not is_non_null_type(item) or not isinstance(item.of_type, GraphQLInputObjectType):
        return None
    named: GraphQLInputObjectType = item.of_type
    return named if named.name == "PredictionRowInput" and not named.is_one_of else None


# graphql-core's own (get_variable_values calls the one its module holds: replaced below).
_graphql_coerce_input_value = graphql_coerce_input_value


def _coerce_variable(value: Any, type_: Any) -> Any:
    row_type = _is_row_list(type_)
    if row_type is not None:
        coerced = _coerce_rows(value, row_type)
        if coerced is not None:
            return coerced
    return _graphql_coerce_input_value(value, type_)


# get_variable_values looks the function up in its module at each call.
vars(graphql_values)["coerce_input_value"] = _coerce_variable


def row_values(row: PredictionRowInput) -> dict[str, Any]:
    """The row keyed by the dataset's column names: the input's own attributes, which
    are exactly its fields, named after the columns (read only from here on)."""
    return vars(row)


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
        return prediction_columns(root.result)


def prediction_columns(result: Predictions) -> PredictionColumns:
    """The predictor's own lists: NeedLevel's values are its names, which is all the
    executor reads of an enum's value (GraphQLEnumType serializes by value)."""
    return PredictionColumns(
        labels=[NeedLevel(label) for label in result.labels],
        levels=[_LEVELS[level] for level in result.levels],
        probabilities=result.probabilities,
        imputed=result.imputed,
    )


_LEVELS = {level.value: level for level in NeedLevel}
