"""The types of Query.compareTrainingRuns. They read the plain objects that
resolvers/compare_runs.py computes; every list holds one entry per compared run, in the
order the runs were asked for (the first is the baseline)."""

from __future__ import annotations

import strawberry
from strawberry.utils.str_converters import to_camel_case

from resolvers import compare_runs
from schema.enums import ClassWeight, ComparedMetric
from schema.types import TrainingRun

_PER_RUN = "One entry per run, in the asked order; null where the run has no value."
_DELTAS = (
    "Each run's value minus the baseline's (the first run: 0 for itself); null where "
    "either has no value."
)


@strawberry.type(description="A number per compared run, and its difference from the baseline.")
class MetricValues:
    values: list[float | None] = strawberry.field(description=_PER_RUN)
    deltas: list[float | None] = strawberry.field(description=_DELTAS)


def _metric(root: strawberry.Parent[compare_runs.MetricComparison]) -> ComparedMetric:
    return ComparedMetric(root.metric)


@strawberry.type(description="One whole-run metric across the compared runs.")
class MetricComparison:
    metric: ComparedMetric = strawberry.field(resolver=_metric)
    values: list[float | None] = strawberry.field(description=_PER_RUN)
    deltas: list[float | None] = strawberry.field(description=_DELTAS)
    best: TrainingRun | None = strawberry.field(
        description=(
            "The run with the highest value (the lowest for TRAINING_DURATION_SECONDS); "
            "the earlier in the asked order on a tie; null when no run has the metric."
        )
    )


@strawberry.type(
    description="One target class across the compared runs; null for a run without it."
)
class PerClassComparison:
    label: str
    precision: MetricValues
    recall: MetricValues
    f1_score: MetricValues


def _setting_text(setting: str, value: object) -> str | None:
    """A setting as the TrainingRun type shows it (class weights by their enum name, as
    `hyperparameters` does; flags as true/false, as `parameters` does)."""
    if value is None:
        return None
    if setting == "class_weight" and value in {w.value for w in ClassWeight}:
        return ClassWeight(value).name
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@strawberry.type(description="A training setting that is not the same in every compared run.")
class HyperparameterDifference:
    @strawberry.field(
        description=(
            "algorithm, then a parameter of any compared run's algorithm as named in "
            "TrainingRun.parameters (nEstimators, learningRate, C, ...; null for a run whose "
            "algorithm lacks it), then testSplit, randomState, datasetPath or datasetSha256."
        )
    )
    def name(self, root: strawberry.Parent[compare_runs.SettingDifference]) -> str:
        return to_camel_case(root.setting)

    @strawberry.field(description="One entry per run, in the asked order; null where unset.")
    def values(self, root: strawberry.Parent[compare_runs.SettingDifference]) -> list[str | None]:
        return [_setting_text(root.setting, value) for value in root.values]


@strawberry.type(description="One input column's importance across the compared runs.")
class FeatureImportanceComparison:
    feature: str
    importances: list[float | None] = strawberry.field(
        description="One entry per run, in the asked order; null where the run did not use it."
    )
    deltas: list[float | None] = strawberry.field(description=_DELTAS)


@strawberry.type(description="Training runs side by side; the first asked for is the baseline.")
class TrainingRunComparison:
    runs: list[TrainingRun] = strawberry.field(description="The runs, in the asked order.")
    metrics: list[MetricComparison] = strawberry.field(
        description="Accuracy, precision, recall, F1 (weighted) and training duration."
    )
    per_class: list[PerClassComparison] = strawberry.field(
        description=(
            "Every class any run reports, in the order of the runs' perClassMetrics "
            "(LOW, MEDIUM, HIGH)."
        )
    )
    hyperparameter_differences: list[HyperparameterDifference] = strawberry.field(
        description="Only the settings that differ between runs; none when all agree."
    )
    feature_importance: list[FeatureImportanceComparison] = strawberry.field(
        description=(
            "Every input column any run used: the baseline's most important first, then "
            "those the baseline did not use; by name where equal."
        )
    )
