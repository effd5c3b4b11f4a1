"""Comparing training runs side by side: the REST original's promised `compare/?ids=`.

The arithmetic is plain functions over run records (`compare`), so it can be checked
without a server; `compare_training_runs` adds what a request needs around it: checking
the ids the client sent and reading every run in one query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.run_records import RunRecord, get_run_records
from models.training_runs import parameters_of
from resolvers.errors import ApiError
from resolvers.training_runs import parse_run_id
from trainer.ml.algorithms import ALGORITHMS, Algorithm
from trainer.ml.levels import class_order

MIN_COMPARED_RUNS = 2
MAX_COMPARED_RUNS = 10
# A client-sent id quoted back in an error message is cut to this many characters.
MAX_QUOTED_ID = 64

# Whole-run metrics, by column; the boolean says whether lower is better.
METRICS: tuple[tuple[str, bool], ...] = (
    ("accuracy", False),
    ("precision", False),
    ("recall", False),
    ("f1_score", False),
    ("training_duration_seconds", True),
)
# The settings a run was trained with besides its algorithm's parameters (which come
# first, after the algorithm), by column, in the order the answer lists them.
SETTINGS = (
    "test_split",
    "random_state",
    "dataset_path",
    "dataset_sha256",
)


@dataclass(frozen=True)
class ValuesAndDeltas:
    """One number per run, in the asked order, and its difference from the baseline's
    (None where the run or the baseline has no value)."""

    values: list[float | None]
    deltas: list[float | None]


@dataclass(frozen=True)
class MetricComparison:
    metric: str  # a column of METRICS
    values: list[float | None]
    deltas: list[float | None]
    best: RunRecord | None


@dataclass(frozen=True)
class PerClassComparison:
    label: str
    precision: ValuesAndDeltas
    recall: ValuesAndDeltas
    f1_score: ValuesAndDeltas


@dataclass(frozen=True)
class SettingDifference:
    setting: str  # "algorithm", a parameter's scikit-learn name, or a column of SETTINGS
    values: list[Any]


@dataclass(frozen=True)
class FeatureImportanceComparison:
    feature: str
    importances: list[float | None]
    deltas: list[float | None]


@dataclass(frozen=True)
class Comparison:
    runs: list[RunRecord]
    metrics: list[MetricComparison]
    per_class: list[PerClassComparison]
    hyperparameter_differences: list[SettingDifference]
    feature_importance: list[FeatureImportanceComparison]


def deltas(values: Sequence[float | None]) -> list[float | None]:
    """Each value minus the first (the baseline); None where either is missing."""
    baseline = values[0]
    return [None if baseline is None or value is None else value - baseline for value in values]


def best_index(values: Sequence[float | None], *, lower_is_better: bool) -> int | None:
    """Position of the best value; the earliest among equals; None when there is none."""
    present = [(position, value) for position, value in enumerate(values) if value is not None]
    if not present:
        return None
    pick = min if lower_is_better else max
    # min and max return the first of equal items: the earlier run wins a tie.
    return pick(present, key=lambda item: item[1])[0]


def compare_metrics(runs: Sequence[RunRecord]) -> list[MetricComparison]:
    comparisons = []
    for column, lower_is_better in METRICS:
        values = [getattr(run, column) for run in runs]
        best = best_index(values, lower_is_better=lower_is_better)
        comparisons.append(
            MetricComparison(
                metric=column,
                values=values,
                deltas=deltas(values),
                best=None if best is None else runs[best],
            )
        )
    return comparisons


def _values_and_deltas(values: list[float | None]) -> ValuesAndDeltas:
    return ValuesAndDeltas(values=values, deltas=deltas(values))


def compare_per_class(runs: Sequence[RunRecord]) -> list[PerClassComparison]:
    """Every label any run reports, in the order of the runs' perClassMetrics (so a
    client lines the two up without sorting); None for a run without that label."""
    by_label: list[dict[str, Mapping[str, Any]]] = [
        {metric["label"]: metric for metric in run.per_class_metrics or ()} for run in runs
    ]
    # First seen first, then stably into the training order (as the trainer lists them).
    seen = dict.fromkeys(label for metrics in by_label for label in metrics)
    labels = sorted(seen, key=class_order)

    def column(label: str, name: str) -> ValuesAndDeltas:
        return _values_and_deltas(
            [metrics[label][name] if label in metrics else None for metrics in by_label]
        )

    return [
        PerClassComparison(
            label=label,
            precision=column(label, "precision"),
            recall=column(label, "recall"),
            f1_score=column(label, "f1_score"),
        )
        for label in labels
    ]


def setting_differences(runs: Sequence[RunRecord]) -> list[SettingDifference]:
    """Only the settings that are not the same in every run (an unset value counts as
    a value of its own: a run without a dataset hash differs from one with it)."""
    differences = []
    parameters = [parameters_of(run) for run in runs]
    # Each algorithm's parameters in its table order, the first run's algorithm first; a
    # run whose algorithm lacks a parameter has no value for it.
    names: dict[str, None] = {}
    for run in runs:
        spec = ALGORITHMS.get(Algorithm(run.algorithm)) if run.algorithm else None
        names.update(dict.fromkeys(p.name for p in spec.parameters) if spec else {})
    for values_of_run in parameters:
        names.update(dict.fromkeys(values_of_run))
    columns: list[tuple[str, list[Any]]] = [("algorithm", [run.algorithm for run in runs])]
    columns += [(name, [values.get(name) for values in parameters]) for name in names]
    columns += [(column, [getattr(run, column) for run in runs]) for column in SETTINGS]
    for setting, values in columns:
        if any(value != values[0] for value in values[1:]):
            differences.append(SettingDifference(setting=setting, values=values))
    return differences


def compare_feature_importance(runs: Sequence[RunRecord]) -> list[FeatureImportanceComparison]:
    """Every feature any run used: the baseline's most important first, then the
    features it lacks, each group by name where importances are equal."""
    importances: list[Mapping[str, float]] = [run.feature_importance or {} for run in runs]
    baseline = importances[0]
    features = {feature for run in importances for feature in run}

    def rank(feature: str) -> tuple[bool, float, str]:
        return (feature not in baseline, -baseline.get(feature, 0.0), feature)

    comparisons = []
    for feature in sorted(features, key=rank):
        values = [run.get(feature) for run in importances]
        comparisons.append(
            FeatureImportanceComparison(feature=feature, importances=values, deltas=deltas(values))
        )
    return comparisons


def compare(runs: Sequence[RunRecord]) -> Comparison:
    """The comparison of `runs` (at least one, with every column loaded); the first is
    the baseline."""
    return Comparison(
        runs=list(runs),
        metrics=compare_metrics(runs),
        per_class=compare_per_class(runs),
        hyperparameter_differences=setting_differences(runs),
        feature_importance=compare_feature_importance(runs),
    )


def _quoted(raw: str) -> str:
    text = raw if len(raw) <= MAX_QUOTED_ID else f"{raw[:MAX_QUOTED_ID]}..."
    return f"`{text}`"


def _refuse(message: str, offending: Sequence[str]) -> ApiError:
    return ApiError(message, argument="ids", ids=[raw[:MAX_QUOTED_ID] for raw in offending])


def _database_ids(raw_ids: Sequence[str]) -> list[int]:
    """The runs' database ids in the asked order, or a BAD_USER_INPUT naming what is wrong."""
    if not MIN_COMPARED_RUNS <= len(raw_ids) <= MAX_COMPARED_RUNS:
        raise _refuse(
            f"compare between {MIN_COMPARED_RUNS} and {MAX_COMPARED_RUNS} runs, "
            f"got {len(raw_ids)} ids",
            raw_ids[: MAX_COMPARED_RUNS + 1],
        )
    parsed = [parse_run_id(raw) for raw in raw_ids]
    malformed = [raw for raw, run_id in zip(raw_ids, parsed, strict=True) if run_id is None]
    if malformed:
        raise _refuse(
            "not the id of a training run (a TrainingRun global id or a numeric database "
            f"id): {', '.join(_quoted(raw) for raw in malformed)}",
            malformed,
        )
    ids = [run_id for run_id in parsed if run_id is not None]
    spellings: dict[int, list[str]] = {}
    for raw, run_id in zip(raw_ids, ids, strict=True):
        spellings.setdefault(run_id, []).append(raw)
    repeated = [names for names in spellings.values() if len(names) > 1]
    if repeated:
        raise _refuse(
            "each run may be compared once; asked for more than once: "
            + "; ".join(" = ".join(_quoted(raw) for raw in names) for names in repeated),
            [raw for names in repeated for raw in names],
        )
    return ids


async def compare_training_runs(raw_ids: Sequence[str]) -> Comparison:
    """Compare the runs named by `raw_ids` (global or numeric ids), read in one query;
    all of them or an error, never part of the answer."""
    ids = _database_ids(raw_ids)
    # Every column: at most ten rows, and `runs` and `best` may select any field.
    found = await get_run_records(ids)
    unknown = [raw for raw, run_id in zip(raw_ids, ids, strict=True) if run_id not in found]
    if unknown:
        raise _refuse(
            f"no training run has the id {', '.join(_quoted(raw) for raw in unknown)}", unknown
        )
    return compare([found[run_id] for run_id in ids])
