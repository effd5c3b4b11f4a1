"""The GraphQL face of trainer/ml/algorithms.py, generated from its table, never copied.

One input type per algorithm (`RandomForestInput`, ...), the `@oneOf` `ModelInput` that
picks one, the deprecated `HyperparametersInput` (RandomForest's settings under their old
name) and `Query.trainingAlgorithms` are all built here from ALGORITHMS at import time: a
parameter added to the table appears in the SDL, the input, the validation and the
dashboard's train form without another line.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.enums import ClassWeight
from trainer.ml.algorithms import (
    ALGORITHMS,
    Algorithm,
    AlgorithmSpec,
    Parameter,
    ParameterKind,
    ParameterValue,
    graphql_name,
)

strawberry.enum(Algorithm, name="Algorithm", description="What a training run fits.")
strawberry.enum(
    ParameterKind,
    name="ParameterKind",
    description="An algorithm parameter's type: whole number, number, one of a list, or flag.",
)

# CHOICE parameters typed by an existing enum (the same values); others are strings
# checked against the table's choices (a field error names them).
_CHOICE_ENUMS: dict[str, type[Enum]] = {"class_weight": ClassWeight}
_SCALARS: dict[ParameterKind, type] = {
    ParameterKind.INT: int,
    ParameterKind.FLOAT: float,
    ParameterKind.BOOLEAN: bool,
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def input_field_name(algorithm: Algorithm) -> str:
    """The algorithm's field of `ModelInput`, snake_case (randomForest in GraphQL)."""
    return algorithm.value.lower()


def type_name(algorithm: Algorithm) -> str:
    """RANDOM_FOREST: RandomForest."""
    return "".join(part.capitalize() for part in algorithm.value.split("_"))


def parameter_help(parameter: Parameter) -> str:
    """The table's description, with the range or choices the API accepts."""
    text = parameter.description
    if parameter.kind in (ParameterKind.INT, ParameterKind.FLOAT):
        low, high = parameter.min, parameter.max
        if low is not None and high is not None:
            text += f" {_number(low)} to {_number(high)}."
        elif low is not None:
            text += f" At least {_number(low)}."
        if parameter.nullable:
            text += " Null allowed."
    elif parameter.kind is ParameterKind.CHOICE:
        text += " One of: " + ", ".join("null" if c is None else c for c in parameter.choices)
        text += "."
    return text


def _annotation(parameter: Parameter) -> Any:
    if parameter.kind is ParameterKind.CHOICE:
        base: Any = _CHOICE_ENUMS.get(parameter.name, str)
        return base | None if None in parameter.choices else base
    base = _SCALARS[parameter.kind]
    return base | None if parameter.nullable else base


def _default(parameter: Parameter) -> object:
    enum = _CHOICE_ENUMS.get(parameter.name)
    if enum is not None and parameter.default is not None:
        return enum(parameter.default)
    return parameter.default


def _class(name: str, fields: list[tuple[str, Any, Any]]) -> type:
    """A class as if written by hand (annotations and strawberry.field defaults), for
    strawberry.input to turn into an input type."""
    namespace: dict[str, Any] = {"__annotations__": {n: a for n, a, _ in fields}}
    namespace.update({n: f for n, _, f in fields})
    namespace["__module__"] = __name__
    return type(name, (), namespace)


def _input_type(name: str, spec: AlgorithmSpec, description: str) -> type:
    fields = [
        (
            parameter.name,
            _annotation(parameter),
            strawberry.field(default=_default(parameter), description=parameter_help(parameter)),
        )
        for parameter in spec.parameters
    ]
    return strawberry.input(_class(name, fields), name=name, description=description)


def parameter_values(spec: AlgorithmSpec, given: object) -> dict[str, ParameterValue]:
    """The values of a generated input object, under scikit-learn's names."""
    values: dict[str, ParameterValue] = {}
    for parameter in spec.parameters:
        value = getattr(given, parameter.name)
        values[parameter.name] = value.value if isinstance(value, Enum) else value
    return values


ALGORITHM_INPUTS: dict[Algorithm, type] = {
    algorithm: _input_type(
        f"{type_name(algorithm)}Input",
        spec,
        f"{type_name(algorithm)} settings; absent fields take their defaults. " + spec.description,
    )
    for algorithm, spec in ALGORITHMS.items()
}

HyperparametersInput: type = _input_type(
    "HyperparametersInput",
    ALGORITHMS[Algorithm.RANDOM_FOREST],
    "RandomForest settings; defaults are the REST original's. Deprecated with "
    "TrainModelInput.hyperparameters: use model: { randomForest: { ... } }.",
)

ModelInput: type = strawberry.input(
    _class(
        "ModelInput",
        [
            (
                input_field_name(algorithm),
                ALGORITHM_INPUTS[algorithm] | None,
                strawberry.field(default=strawberry.UNSET, description=spec.description),
            )
            for algorithm, spec in ALGORITHMS.items()
        ],
    ),
    name="ModelInput",
    description="The algorithm to train and its settings: exactly one field.",
    one_of=True,
)


def chosen_model(model: object) -> tuple[Algorithm, str, dict[str, ParameterValue]]:
    """The algorithm a ModelInput names, its field name in GraphQL and its parameters."""
    for algorithm, spec in ALGORITHMS.items():
        given = getattr(model, input_field_name(algorithm), None)
        if given is not None and given is not strawberry.UNSET:
            return (
                algorithm,
                graphql_name(input_field_name(algorithm)),
                parameter_values(spec, given),
            )
    raise ValueError("ModelInput names no algorithm")  # @oneOf: GraphQL refused it before


@strawberry.input(description="How a run is evaluated besides its test split.")
class EvaluationInput:
    folds: int = strawberry.field(
        description=(
            "k-fold cross-validation on the training split, 2 to 10 folds: metrics get a mean "
            "and std over the folds (TrainingRun.crossValidation); the final model is still "
            "fitted on the whole training split and measured on the test split."
        )
    )


@strawberry.type(description="One setting of an algorithm, as the train form shows it.")
class AlgorithmParameter:
    name: str = strawberry.field(description="The field name in the algorithm's input type.")
    label: str = strawberry.field(description="A form's short label for it.")
    kind: ParameterKind
    default: JSON | None = strawberry.field(description="Used when the field is absent.")
    min: float | None
    max: float | None
    choices: list[str | None] = strawberry.field(
        description="CHOICE only: the accepted values (null: none of them, e.g. no weights)."
    )
    input_choices: list[str | None] = strawberry.field(
        description=(
            "CHOICE only: the same values as the input field takes them (an enum's names "
            "where it is an enum, e.g. BALANCED for balanced)."
        )
    )
    nullable: bool = strawberry.field(description="Null is accepted (its meaning is described).")
    log_scale: bool = strawberry.field(
        description="Sample the range on a log scale (a hint for sweeps and sliders)."
    )
    description: str


@strawberry.type(description="An algorithm trainModel can fit, with every parameter it takes.")
class TrainingAlgorithm:
    name: Algorithm
    description: str
    input_field: str = strawberry.field(
        description="Its field in TrainModelInput.model, e.g. randomForest."
    )
    parameters: list[AlgorithmParameter]


def _input_choice(parameter: Parameter, choice: str | None) -> str | None:
    enum = _CHOICE_ENUMS.get(parameter.name)
    return enum(choice).name if enum is not None and choice is not None else choice


def training_algorithms() -> list[TrainingAlgorithm]:
    return [
        TrainingAlgorithm(
            name=algorithm,
            description=spec.description,
            input_field=graphql_name(input_field_name(algorithm)),
            parameters=[
                AlgorithmParameter(
                    name=graphql_name(p.name),
                    label=p.label,
                    kind=p.kind,
                    default=p.default,  # type: ignore[arg-type]  # JSON holds any value
                    min=p.min,
                    max=p.max,
                    choices=list(p.choices),
                    input_choices=[_input_choice(p, c) for c in p.choices],
                    nullable=p.nullable or None in p.choices,
                    log_scale=p.log_scale,
                    description=parameter_help(p),
                )
                for p in spec.parameters
            ],
        )
        for algorithm, spec in ALGORITHMS.items()
    ]
