"""The algorithms a run may train, each with its parameters written once.

Everything else is derived from this table: the GraphQL input types and
`Query.trainingAlgorithms`, the validation of what a client sends (field errors named after
the parameter), what a run stores (`TrainingRun.algorithm` and `parameters`), the estimator
the trainer fits, the dashboard's train form and the sweep's search-space check. A
parameter added here appears in all of them; nothing else lists them.

Names are scikit-learn's own (snake_case; GraphQL shows them camelCased), so the stored
parameters are exactly the keyword arguments of the estimator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "ALGORITHMS",
    "OBJECTIVES",
    "Algorithm",
    "AlgorithmSpec",
    "Parameter",
    "ParameterKind",
    "ParameterValue",
    "build_classifier",
    "graphql_name",
]

ParameterValue = int | float | str | bool | None

# What a run may be judged on while it grows (a sweep's objective): the test metrics' names,
# measured on validation rows; the duration is minimised, the others maximised.
OBJECTIVES = ("accuracy", "precision", "recall", "f1_score", "training_duration_seconds")


class Algorithm(StrEnum):
    RANDOM_FOREST = "RANDOM_FOREST"
    HIST_GRADIENT_BOOSTING = "HIST_GRADIENT_BOOSTING"
    EXTRA_TREES = "EXTRA_TREES"
    LOGISTIC_REGRESSION = "LOGISTIC_REGRESSION"


class ParameterKind(StrEnum):
    INT = "INT"
    FLOAT = "FLOAT"
    CHOICE = "CHOICE"
    BOOLEAN = "BOOLEAN"


@dataclass(frozen=True)
class Parameter:
    """One setting of one algorithm: its type, default, bounds and meaning.

    `nullable` numbers accept None with the meaning given in the description (a tree
    without a depth limit); a CHOICE may list None as one of its choices (no class
    weights). `log_scale` tells a sweep to sample the range on a log scale, where a
    step from 10 to 20 matters as much as one from 100 to 200.
    """

    name: str
    kind: ParameterKind
    default: ParameterValue
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str | None, ...] = ()
    log_scale: bool = False
    nullable: bool = False
    # A form's short label ("Trees"); the description says the rest.
    label: str = ""

    def problem(self, value: object) -> str | None:
        """Why `value` is not acceptable for this parameter, or None when it is."""
        if value is None:
            if self.nullable or (self.kind is ParameterKind.CHOICE and None in self.choices):
                return None
            return "must not be null"
        if self.kind is ParameterKind.BOOLEAN:
            return None if isinstance(value, bool) else "must be true or false"
        if self.kind is ParameterKind.CHOICE:
            if value in self.choices:
                return None
            return f"must be one of {', '.join(_show(c) for c in self.choices)}, got {_show(value)}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if self.kind is ParameterKind.INT and not float(value).is_integer():
            return f"must be a whole number, got {value}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value}"
        return self.range_problem(value)

    def range_problem(self, value: float) -> str | None:
        low, high = self.min, self.max
        if (low is None or value >= low) and (high is None or value <= high):
            return None
        if high is None:
            return f"must be at least {_number(low)}, got {_number(value)}"
        if low is None:
            return f"must be at most {_number(high)}, got {_number(value)}"
        return f"must be between {_number(low)} and {_number(high)}, got {_number(value)}"


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm: what it is for, its parameters, and how the trainer treats it.

    `grows_by` names the parameter whose count grows as the model fits (trees, raised
    chunk by chunk, or boosting iterations, hooked one by one): what live progress,
    cancel and a sweep's pruning hang on. `native_categorical` models take category codes
    (no one-hot); `tree_based` ones need no scaling and are explained exactly by shap's
    TreeExplainer.
    """

    algorithm: Algorithm
    description: str
    parameters: tuple[Parameter, ...]
    grows_by: str | None
    native_categorical: bool = False
    tree_based: bool = True
    # "impurity": the model's own feature_importances_ (forests); "permutation": models
    # without them, measured by shuffling each column of the test split.
    importance_method: str = "impurity"
    by_name: dict[str, Parameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.parameters})

    def defaults(self) -> dict[str, ParameterValue]:
        return {p.name: p.default for p in self.parameters}

    def problems(self, values: Mapping[str, object]) -> list[tuple[str, str]]:
        """(parameter name, message) for every value that is unknown or unacceptable."""
        found: list[tuple[str, str]] = []
        for name, value in values.items():
            parameter = self.by_name.get(name)
            if parameter is None:
                found.append((name, f"is not a parameter of {self.algorithm.value}"))
            elif (message := parameter.problem(value)) is not None:
                found.append((name, message))
        return found

    def complete(self, values: Mapping[str, ParameterValue]) -> dict[str, ParameterValue]:
        """Every parameter, those not given at their default, in the table's order; whole
        numbers as int (JSON and GraphQL may hand 3.0 for 3)."""
        merged = self.defaults() | dict(values)
        return {
            p.name: (
                int(merged[p.name])  # type: ignore[arg-type]  # INT values were checked numeric
                if p.kind is ParameterKind.INT and merged[p.name] is not None
                else merged[p.name]
            )
            for p in self.parameters
        }


_CLASS_WEIGHT_HELP = (
    "balanced weighs each need level by the inverse of its frequency, so a rare level "
    "counts as much as a common one; null weighs every row the same."
)


def _forest_parameters() -> tuple[Parameter, ...]:
    """RandomForest and ExtraTrees take the same settings; defaults are the REST original's."""
    return (
        Parameter(
            "n_estimators",
            ParameterKind.INT,
            200,
            "Trees in the forest: more are steadier and slower, with diminishing returns.",
            min=1,
            max=1000,
            log_scale=True,
            label="Trees",
        ),
        Parameter(
            "max_depth",
            ParameterKind.INT,
            None,
            "Deepest a tree may grow; null grows each tree until its leaves are pure.",
            min=1,
            max=100,
            nullable=True,
            label="Max depth",
        ),
        Parameter(
            "min_samples_split",
            ParameterKind.INT,
            2,
            "Fewest rows a node needs before it may be split; higher smooths the trees.",
            min=2,
            label="Min samples to split",
        ),
        Parameter(
            "min_samples_leaf",
            ParameterKind.INT,
            1,
            "Fewest rows each leaf must keep; higher smooths the trees.",
            min=1,
            label="Min samples per leaf",
        ),
        Parameter(
            "class_weight",
            ParameterKind.CHOICE,
            "balanced",
            _CLASS_WEIGHT_HELP
            + " balanced_subsample recomputes the weights on each tree's bootstrap sample.",
            choices=("balanced", "balanced_subsample", None),
            label="Class weight",
        ),
    )


ALGORITHMS: dict[Algorithm, AlgorithmSpec] = {
    spec.algorithm: spec
    for spec in (
        AlgorithmSpec(
            Algorithm.RANDOM_FOREST,
            "Many decision trees, each grown on a bootstrap sample of the rows, voting "
            "together. Robust with little tuning; the REST original's model and the default.",
            _forest_parameters(),
            grows_by="n_estimators",
        ),
        AlgorithmSpec(
            Algorithm.HIST_GRADIENT_BOOSTING,
            "Gradient-boosted trees on binned features, each correcting the ones before; "
            "categories used as they are (no one-hot). Usually the most accurate here, and "
            "much faster than a forest on large files.",
            (
                Parameter(
                    "learning_rate",
                    ParameterKind.FLOAT,
                    0.1,
                    "How much each new tree corrects the ones before: lower is steadier but "
                    "needs more iterations.",
                    min=0.001,
                    max=1.0,
                    log_scale=True,
                    label="Learning rate",
                ),
                Parameter(
                    "max_iter",
                    ParameterKind.INT,
                    100,
                    "Boosting iterations (one tree per need level each).",
                    min=1,
                    max=1000,
                    log_scale=True,
                    label="Boosting iterations",
                ),
                Parameter(
                    "max_leaf_nodes",
                    ParameterKind.INT,
                    31,
                    "Most leaves a tree may have; null for no limit.",
                    min=2,
                    max=1024,
                    log_scale=True,
                    nullable=True,
                    label="Max leaves per tree",
                ),
                Parameter(
                    "max_depth",
                    ParameterKind.INT,
                    None,
                    "Deepest a tree may grow; null for no limit besides the leaves.",
                    min=1,
                    max=100,
                    nullable=True,
                    label="Max depth",
                ),
                Parameter(
                    "min_samples_leaf",
                    ParameterKind.INT,
                    20,
                    "Fewest rows each leaf must keep.",
                    min=1,
                    max=10000,
                    log_scale=True,
                    label="Min samples per leaf",
                ),
                Parameter(
                    "l2_regularization",
                    ParameterKind.FLOAT,
                    0.0,
                    "Penalty on large leaf values; higher guards against overfitting.",
                    min=0.0,
                    max=100.0,
                    label="L2 regularization",
                ),
                Parameter(
                    "early_stopping",
                    ParameterKind.BOOLEAN,
                    False,
                    "Stop adding iterations once n_iter_no_change in a row fail to improve the "
                    "score on 10% of the training rows set aside for it. Off: every "
                    "iteration is fitted on every training row.",
                    label="Early stopping",
                ),
                Parameter(
                    "n_iter_no_change",
                    ParameterKind.INT,
                    10,
                    "With early stopping: iterations without improvement before it stops.",
                    min=1,
                    max=100,
                    label="Iterations without improvement",
                ),
                Parameter(
                    "class_weight",
                    ParameterKind.CHOICE,
                    "balanced",
                    _CLASS_WEIGHT_HELP,
                    choices=("balanced", None),
                    label="Class weight",
                ),
            ),
            grows_by="max_iter",
            native_categorical=True,
            importance_method="permutation",
        ),
        AlgorithmSpec(
            Algorithm.EXTRA_TREES,
            "Like a random forest, but each split is drawn at random among a few "
            "thresholds: faster to grow, often as accurate, smoother on noisy data.",
            _forest_parameters(),
            grows_by="n_estimators",
        ),
        AlgorithmSpec(
            Algorithm.LOGISTIC_REGRESSION,
            "A linear model of each need level's log-odds: fast, and each feature's effect "
            "reads directly from its coefficient. Misses interactions trees would find.",
            (
                Parameter(
                    "C",
                    ParameterKind.FLOAT,
                    1.0,
                    "Inverse strength of the L2 penalty: lower keeps coefficients small.",
                    min=0.0001,
                    max=10000.0,
                    log_scale=True,
                    label="Inverse penalty C",
                ),
                Parameter(
                    "max_iter",
                    ParameterKind.INT,
                    1000,
                    "Most solver iterations before it stops (a warning is logged if it had "
                    "not converged).",
                    min=10,
                    max=10000,
                    log_scale=True,
                    label="Solver iterations",
                ),
                Parameter(
                    "class_weight",
                    ParameterKind.CHOICE,
                    "balanced",
                    _CLASS_WEIGHT_HELP,
                    choices=("balanced", None),
                    label="Class weight",
                ),
            ),
            grows_by=None,
            tree_based=False,
            importance_method="permutation",
        ),
    )
}


def build_classifier(
    algorithm: Algorithm,
    parameters: Mapping[str, ParameterValue],
    *,
    random_state: int,
    n_jobs: int,
) -> Any:
    """The unfitted scikit-learn estimator for these (already checked) parameters."""
    # Imported here: the GraphQL layer reads this table without paying scikit-learn's import.
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression

    values = ALGORITHMS[algorithm].complete(parameters)
    match algorithm:
        case Algorithm.RANDOM_FOREST:
            return RandomForestClassifier(**values, random_state=random_state, n_jobs=n_jobs)
        case Algorithm.EXTRA_TREES:
            return ExtraTreesClassifier(**values, random_state=random_state, n_jobs=n_jobs)
        case Algorithm.HIST_GRADIENT_BOOSTING:
            return HistGradientBoostingClassifier(**values, random_state=random_state)
        case Algorithm.LOGISTIC_REGRESSION:
            return LogisticRegression(**values, random_state=random_state)


def graphql_name(name: str) -> str:
    """A parameter's name in the API (input fields, TrainingRun.parameters, the export):
    scikit-learn's snake_case camelCased as strawberry does (n_estimators: nEstimators)."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def _number(value: float | None) -> str:
    if value is None:
        return "none"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _show(value: object) -> str:
    return "null" if value is None else str(value)
