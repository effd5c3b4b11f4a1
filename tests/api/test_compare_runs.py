"""Query.compareTrainingRuns: runs side by side, over HTTP against the real app.

Runs with known metrics are inserted straight into the database, so every value, delta
and best run of an answer can be written down by hand here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from strawberry import relay

from models.accounts import User, create_user
from models.training_runs import RunStatus, TrainingRun
from resolvers.compare_runs import best_index, deltas
from tests.conftest import Server
from tests.helpers import measure

COMPARE_QUERY = """
query Compare($ids: [ID!]!) {
  compareTrainingRuns(ids: $ids) {
    runs { databaseId modelVersion status }
    metrics { metric values deltas best { databaseId } }
    perClass {
      label
      precision { values deltas }
      recall { values deltas }
      f1Score { values deltas }
    }
    hyperparameterDifferences { name values }
    featureImportance { feature importances deltas }
  }
}
"""

# Every field of every type the comparison holds, runs and best runs included.
RUN_FIELDS = """
  id databaseId runDate startedAt finishedAt modelVersion modelPath modelSha256
  datasetPath datasetSha256 status stage progress errorMessage cancelRequested
  accuracy precision recall f1Score totalSamples trainSamples testSamples droppedRows
  testSplit nEstimators randomState trainingDurationSeconds featuresUsed notes
  hyperparameters { nEstimators maxDepth minSamplesSplit minSamplesLeaf classWeight }
  perClassMetrics { label precision recall f1Score support }
  confusionMatrix { labels matrix }
  featureImportance { feature importance }
  trainedBy { username groups }
  trainedByUsername
"""
FULL_COMPARE_QUERY = f"""
query FullCompare($ids: [ID!]!) {{
  compareTrainingRuns(ids: $ids) {{
    runs {{ {RUN_FIELDS} }}
    metrics {{ metric values deltas best {{ {RUN_FIELDS} }} }}
    perClass {{
      label
      precision {{ values deltas }}
      recall {{ values deltas }}
      f1Score {{ values deltas }}
    }}
    hyperparameterDifferences {{ name values }}
    featureImportance {{ feature importances deltas }}
  }}
}}
"""
LIST_QUERY = f"query List {{ trainingRuns(first: 10) {{ nodes {{ {RUN_FIELDS} }} }} }}"

METRIC_NAMES = ["ACCURACY", "PRECISION", "RECALL", "F1_SCORE", "TRAINING_DURATION_SECONDS"]


def per_class(label: str, precision: float, recall: float, f1: float) -> dict[str, Any]:
    return {"label": label, "precision": precision, "recall": recall, "f1_score": f1, "support": 9}


def run_row(name: str, **fields: Any) -> TrainingRun:
    """An unsaved COMPLETED run with the same settings as every other; `fields` override."""
    values: dict[str, Any] = {
        "model_version": f"cmp-{name}-{uuid.uuid4().hex[:8]}",
        "dataset_path": "future_skills_dataset.csv",
        "dataset_sha256": "a" * 64,
        "test_split": 0.2,
        "random_state": 42,
        "n_estimators": 100,
        "max_depth": 15,
        "min_samples_split": 5,
        "min_samples_leaf": 1,
        "class_weight": "balanced",
        "status": RunStatus.COMPLETED,
    }
    values.update(fields)
    return TrainingRun(**values)


def failed_row(name: str, **fields: Any) -> TrainingRun:
    failed = {"status": RunStatus.FAILED, "error_message": "unusable", "dataset_sha256": None}
    return run_row(name, **{**failed, **fields})


async def saved(*rows: TrainingRun) -> list[TrainingRun]:
    for row in rows:
        await row.save()
    return list(rows)


def global_id(run: TrainingRun) -> str:
    return relay.to_base64("TrainingRun", run.id)


async def compare(server: Server, ids: list[str], *, as_: str = "drh") -> dict[str, Any]:
    data = await server.data(COMPARE_QUERY, {"ids": ids}, as_=as_)
    comparison: dict[str, Any] = data["compareTrainingRuns"]
    return comparison


async def refusal(server: Server, ids: list[str]) -> dict[str, Any]:
    """The one error of a refused comparison, checked to have left no partial answer."""
    body = await server.gql(COMPARE_QUERY, {"ids": ids})
    assert body["data"] is None
    error: dict[str, Any]
    [error] = body["errors"]
    assert error["path"] == ["compareTrainingRuns"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "ids"
    return error


def metric(comparison: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any]
    [found] = [entry for entry in comparison["metrics"] if entry["metric"] == name]
    return found


# --- permissions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "code"),
    [("anonymous", "UNAUTHENTICATED"), ("nogroup", "FORBIDDEN"), ("manager", None), ("drh", None)],
)
async def test_readers_of_runs_may_compare_them(
    clean_runs: Server, role: str, code: str | None
) -> None:
    # given
    first, second = await saved(run_row("perm-1"), run_row("perm-2"))
    as_ = None if role == "anonymous" else role

    # when
    body = await clean_runs.gql(COMPARE_QUERY, {"ids": [str(first.id), str(second.id)]}, as_=as_)

    # then
    if code is None:
        assert "errors" not in body, body["errors"]
        runs = body["data"]["compareTrainingRuns"]["runs"]
        assert [run["databaseId"] for run in runs] == [first.id, second.id]
    else:
        assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
            (["compareTrainingRuns"], code)
        ]
        assert body["data"] is None
        assert first.model_version not in json.dumps(body)


# --- refused ids ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 11])
async def test_fewer_than_two_or_more_than_ten_ids_are_refused(
    clean_runs: Server, count: int
) -> None:
    # given
    rows = await saved(*(run_row(f"count-{number}") for number in range(count)))

    # when
    error = await refusal(clean_runs, [str(row.id) for row in rows])

    # then
    assert "between 2 and 10" in error["message"]
    assert f"got {count}" in error["message"]
    assert error["extensions"]["ids"] == [str(row.id) for row in rows]


async def test_ten_ids_are_accepted(clean_runs: Server) -> None:
    # given
    rows = await saved(*(run_row(f"ten-{number}") for number in range(10)))

    # when
    comparison = await compare(clean_runs, [str(row.id) for row in rows])

    # then
    assert [run["databaseId"] for run in comparison["runs"]] == [row.id for row in rows]


async def test_a_run_asked_for_twice_is_refused(clean_runs: Server) -> None:
    # given
    first, second = await saved(run_row("dup-1"), run_row("dup-2"))

    # when
    error = await refusal(clean_runs, [str(first.id), str(second.id), str(first.id)])

    # then
    assert f"`{first.id}` = `{first.id}`" in error["message"]
    assert error["extensions"]["ids"] == [str(first.id), str(first.id)]


async def test_a_run_asked_for_by_global_and_numeric_id_is_a_duplicate(
    clean_runs: Server,
) -> None:
    # given
    first, second = await saved(run_row("dup-g-1"), run_row("dup-g-2"))

    # when
    error = await refusal(clean_runs, [global_id(first), str(second.id), str(first.id)])

    # then
    assert f"`{global_id(first)}` = `{first.id}`" in error["message"]
    assert error["extensions"]["ids"] == [global_id(first), str(first.id)]


async def test_unknown_ids_are_refused_and_named(clean_runs: Server) -> None:
    # given
    [known] = await saved(run_row("unknown-1"))
    missing = known.id + 1000
    missing_global = relay.to_base64("TrainingRun", known.id + 2000)

    # when
    error = await refusal(clean_runs, [str(known.id), str(missing), missing_global])

    # then
    assert f"`{missing}`" in error["message"]
    assert f"`{missing_global}`" in error["message"]
    assert f"`{known.id}`" not in error["message"]
    assert error["extensions"]["ids"] == [str(missing), missing_global]


@pytest.mark.parametrize(
    "bad",
    [
        "run-7",
        "-1",
        "1.5",
        " 1",
        "99999999999",  # beyond any database id
        relay.to_base64("User", 1),
        relay.to_base64("TrainingRun", "x"),
        "x" * 5000,
    ],
    ids=["word", "negative", "decimal", "space", "huge", "user-id", "bad-node-id", "long"],
)
async def test_malformed_ids_are_refused_and_named(clean_runs: Server, bad: str) -> None:
    # given
    [known] = await saved(run_row("malformed-1"))

    # when
    error = await refusal(clean_runs, [str(known.id), bad])

    # then
    assert "not the id of a training run" in error["message"]
    assert f"`{bad[:64]}" in error["message"]
    assert len(error["message"]) < 300  # a long id is quoted cut short
    assert error["extensions"]["ids"] == [bad[:64]]


# --- the comparison ------------------------------------------------------------------


async def test_runs_come_in_the_asked_order_whatever_their_status_and_id_form(
    clean_runs: Server,
) -> None:
    # given
    completed, failed, queued = await saved(
        run_row("order-1"), failed_row("order-2"), run_row("order-3", status=RunStatus.QUEUED)
    )

    # when
    comparison = await compare(clean_runs, [str(queued.id), global_id(completed), str(failed.id)])

    # then
    assert [(run["databaseId"], run["status"]) for run in comparison["runs"]] == [
        (queued.id, "QUEUED"),
        (completed.id, "COMPLETED"),
        (failed.id, "FAILED"),
    ]


async def test_metrics_values_deltas_and_best_with_ties_and_nulls(clean_runs: Server) -> None:
    # given: values exact in binary, so every delta is exact too
    baseline, better, failed, slower = await saved(
        run_row(
            "metrics-a",
            accuracy=0.75,
            precision=0.5,
            recall=0.75,
            f1_score=0.625,
            training_duration_seconds=4.0,
        ),
        run_row(
            "metrics-b",
            accuracy=0.875,
            precision=0.5,
            recall=0.5,
            f1_score=0.625,
            training_duration_seconds=2.0,
        ),
        failed_row("metrics-c"),
        run_row(
            "metrics-d",
            accuracy=0.25,
            precision=0.25,
            recall=0.875,
            f1_score=0.5,
            training_duration_seconds=2.0,
        ),
    )
    ids = [str(baseline.id), str(better.id), str(failed.id), str(slower.id)]

    # when
    comparison = await compare(clean_runs, ids)

    # then
    assert [entry["metric"] for entry in comparison["metrics"]] == METRIC_NAMES
    expected = {
        # metric: (values, deltas, best)
        "ACCURACY": ([0.75, 0.875, None, 0.25], [0.0, 0.125, None, -0.5], better),
        # a tie goes to the earlier run in the asked order
        "PRECISION": ([0.5, 0.5, None, 0.25], [0.0, 0.0, None, -0.25], baseline),
        "RECALL": ([0.75, 0.5, None, 0.875], [0.0, -0.25, None, 0.125], slower),
        "F1_SCORE": ([0.625, 0.625, None, 0.5], [0.0, 0.0, None, -0.125], baseline),
        # lowest is best; tie between the second and fourth runs
        "TRAINING_DURATION_SECONDS": ([4.0, 2.0, None, 2.0], [0.0, -2.0, None, -2.0], better),
    }
    for name, (values, metric_deltas, best) in expected.items():
        entry = metric(comparison, name)
        assert entry["values"] == values, name
        assert entry["deltas"] == metric_deltas, name
        assert entry["best"] == {"databaseId": best.id}, name


async def test_a_tie_goes_to_the_earlier_run_in_the_asked_order_not_by_id(
    clean_runs: Server,
) -> None:
    # given
    older, newer = await saved(
        run_row("tie-1", accuracy=0.5, training_duration_seconds=3.0),
        run_row("tie-2", accuracy=0.5, training_duration_seconds=3.0),
    )

    # when
    comparison = await compare(clean_runs, [str(newer.id), str(older.id)])

    # then
    assert metric(comparison, "ACCURACY")["best"] == {"databaseId": newer.id}
    assert metric(comparison, "TRAINING_DURATION_SECONDS")["best"] == {"databaseId": newer.id}


async def test_a_baseline_without_metrics_has_no_deltas(clean_runs: Server) -> None:
    # given
    failed, completed = await saved(
        failed_row("nobase-1"), run_row("nobase-2", accuracy=0.5, training_duration_seconds=1.5)
    )

    # when
    comparison = await compare(clean_runs, [str(failed.id), str(completed.id)])

    # then
    accuracy = metric(comparison, "ACCURACY")
    assert accuracy["values"] == [None, 0.5]
    assert accuracy["deltas"] == [None, None]
    assert accuracy["best"] == {"databaseId": completed.id}
    assert metric(comparison, "TRAINING_DURATION_SECONDS")["best"] == {"databaseId": completed.id}


async def test_no_best_run_when_no_run_has_the_metric(clean_runs: Server) -> None:
    # given
    first, second = await saved(failed_row("none-1"), run_row("none-2", status=RunStatus.QUEUED))

    # when
    comparison = await compare(clean_runs, [str(first.id), str(second.id)])

    # then
    for entry in comparison["metrics"]:
        assert entry == {
            "metric": entry["metric"],
            "values": [None, None],
            "deltas": [None, None],
            "best": None,
        }
    assert comparison["perClass"] == []
    assert comparison["featureImportance"] == []


async def test_per_class_covers_every_label_in_training_order_with_nulls_where_absent(
    clean_runs: Server,
) -> None:
    # given
    baseline, other, failed = await saved(
        run_row(
            "class-1",
            per_class_metrics=[
                per_class("MEDIUM", 0.75, 0.5, 0.625),
                per_class("HIGH", 0.5, 0.25, 0.375),
            ],
        ),
        run_row(
            "class-2",
            per_class_metrics=[
                per_class("LOW", 0.25, 0.125, 0.1875),
                per_class("HIGH", 0.75, 0.5, 0.5),
            ],
        ),
        failed_row("class-3"),
    )

    # when
    comparison = await compare(clean_runs, [str(baseline.id), str(other.id), str(failed.id)])

    # then
    assert comparison["perClass"] == [
        {
            "label": "LOW",
            "precision": {"values": [None, 0.25, None], "deltas": [None, None, None]},
            "recall": {"values": [None, 0.125, None], "deltas": [None, None, None]},
            "f1Score": {"values": [None, 0.1875, None], "deltas": [None, None, None]},
        },
        {
            "label": "MEDIUM",
            "precision": {"values": [0.75, None, None], "deltas": [0.0, None, None]},
            "recall": {"values": [0.5, None, None], "deltas": [0.0, None, None]},
            "f1Score": {"values": [0.625, None, None], "deltas": [0.0, None, None]},
        },
        {
            "label": "HIGH",
            "precision": {"values": [0.5, 0.75, None], "deltas": [0.0, 0.25, None]},
            "recall": {"values": [0.25, 0.5, None], "deltas": [0.0, 0.25, None]},
            "f1Score": {"values": [0.375, 0.5, None], "deltas": [0.0, 0.125, None]},
        },
    ]


async def test_per_class_is_in_the_order_of_the_runs_per_class_metrics(
    clean_runs: Server,
) -> None:
    # given: runs listing their classes as the trainer does (LOW, MEDIUM, HIGH)
    levels = ("LOW", "MEDIUM", "HIGH")
    runs = await saved(
        *(
            run_row(f"order-{n}", per_class_metrics=[per_class(lv, 0.5, 0.5, 0.5) for lv in levels])
            for n in (1, 2)
        )
    )
    query = """
    query Order($ids: [ID!]!) {
      compareTrainingRuns(ids: $ids) { runs { perClassMetrics { label } } perClass { label } }
    }
    """

    # when
    data = await clean_runs.data(query, {"ids": [str(run.id) for run in runs]})

    # then: one order, the runs' own
    comparison = data["compareTrainingRuns"]
    for run in comparison["runs"]:
        assert [row["label"] for row in run["perClassMetrics"]] == list(levels)
    assert [row["label"] for row in comparison["perClass"]] == list(levels)


async def test_only_the_settings_that_differ_are_listed(clean_runs: Server) -> None:
    # given: the same data and seed; trees, depth, class weight, split and hash differ
    baseline, other, failed = await saved(
        run_row("settings-1"),
        run_row(
            "settings-2",
            n_estimators=200,
            max_depth=None,
            class_weight="balanced_subsample",
            test_split=0.25,
        ),
        failed_row("settings-3"),
    )

    # when
    comparison = await compare(clean_runs, [str(baseline.id), str(other.id), str(failed.id)])

    # then
    assert comparison["hyperparameterDifferences"] == [
        {"name": "nEstimators", "values": ["100", "200", "100"]},
        {"name": "maxDepth", "values": ["15", None, "15"]},
        {"name": "classWeight", "values": ["BALANCED", "BALANCED_SUBSAMPLE", "BALANCED"]},
        {"name": "testSplit", "values": ["0.2", "0.25", "0.2"]},
        {"name": "datasetSha256", "values": ["a" * 64, "a" * 64, None]},
    ]


async def test_runs_with_the_same_settings_have_no_differences(clean_runs: Server) -> None:
    # given
    first, second = await saved(
        run_row("same-1", accuracy=0.5), run_row("same-2", accuracy=0.75, notes="other notes")
    )

    # when
    comparison = await compare(clean_runs, [str(first.id), str(second.id)])

    # then
    assert comparison["hyperparameterDifferences"] == []


async def test_every_setting_can_differ(clean_runs: Server) -> None:
    # given
    first, second = await saved(
        run_row("every-1"),
        run_row(
            "every-2",
            n_estimators=10,
            max_depth=3,
            min_samples_split=2,
            min_samples_leaf=4,
            class_weight=None,
            test_split=0.3,
            random_state=7,
            dataset_path="other.csv",
            dataset_sha256="b" * 64,
        ),
    )

    # when
    comparison = await compare(clean_runs, [str(first.id), str(second.id)])

    # then
    assert comparison["hyperparameterDifferences"] == [
        {"name": "nEstimators", "values": ["100", "10"]},
        {"name": "maxDepth", "values": ["15", "3"]},
        {"name": "minSamplesSplit", "values": ["5", "2"]},
        {"name": "minSamplesLeaf", "values": ["1", "4"]},
        {"name": "classWeight", "values": ["BALANCED", None]},
        {"name": "testSplit", "values": ["0.2", "0.3"]},
        {"name": "randomState", "values": ["42", "7"]},
        {"name": "datasetPath", "values": ["future_skills_dataset.csv", "other.csv"]},
        {"name": "datasetSha256", "values": ["a" * 64, "b" * 64]},
    ]


async def test_feature_importance_by_baseline_rank_with_nulls_where_unused(
    clean_runs: Server,
) -> None:
    # given
    baseline, other, failed = await saved(
        run_row(
            "features-1",
            feature_importance={"scarcity_index": 0.25, "trend_score": 0.5, "avg_salary_k": 0.25},
        ),
        run_row(
            "features-2",
            feature_importance={"trend_score": 0.25, "internal_usage": 0.125, "zeta": 0.625},
        ),
        failed_row("features-3"),
    )

    # when
    comparison = await compare(clean_runs, [str(baseline.id), str(other.id), str(failed.id)])

    # then: the baseline's features by importance then name, then the others by name
    assert comparison["featureImportance"] == [
        {"feature": "trend_score", "importances": [0.5, 0.25, None], "deltas": [0.0, -0.25, None]},
        {"feature": "avg_salary_k", "importances": [0.25, None, None], "deltas": [0.0, None, None]},
        {
            "feature": "scarcity_index",
            "importances": [0.25, None, None],
            "deltas": [0.0, None, None],
        },
        {
            "feature": "internal_usage",
            "importances": [None, 0.125, None],
            "deltas": [None, None, None],
        },
        {"feature": "zeta", "importances": [None, 0.625, None], "deltas": [None, None, None]},
    ]


def test_the_arithmetic_on_its_own() -> None:
    assert deltas([None, 1.0, 2.0]) == [None, None, None]
    assert deltas([1.0, None, 3.0]) == [0.0, None, 2.0]
    assert best_index([None, None], lower_is_better=False) is None
    assert best_index([1.0, 3.0, 3.0], lower_is_better=False) == 1
    assert best_index([2.0, 1.0, None, 1.0], lower_is_better=True) == 1


# --- cost and statements -------------------------------------------------------------


@pytest.fixture
async def authors(server: Server) -> AsyncIterator[list[User]]:
    """Ten users in various groups, removed after the test."""
    prefix = f"cmp-author-{uuid.uuid4().hex[:6]}"
    groups = [["MANAGER"], ["DRH"], []]
    users = [await create_user(f"{prefix}-{n}", groups=groups[n % 3]) for n in range(10)]
    yield users
    await TrainingRun.filter(trained_by_id__in=[user.id for user in users]).delete()
    await User.filter(id__in=[user.id for user in users]).delete()


def authored_row(number: int, author: User) -> TrainingRun:
    return run_row(
        f"authored-{number}",
        accuracy=0.5 + number / 100,
        precision=0.5,
        recall=0.5,
        f1_score=0.5,
        training_duration_seconds=1.0 + number,
        per_class_metrics=[per_class("HIGH", 0.5, 0.5, 0.5), per_class("LOW", 0.5, 0.5, 0.5)],
        confusion_matrix={"labels": ["HIGH", "LOW"], "matrix": [[4, 1], [1, 4]]},
        feature_importance={"trend_score": 0.5, f"feature_{number}": 0.5},
        features_used=["trend_score", f"feature_{number}"],
        n_estimators=10 + number,
        trained_by_id=author.id,
        trained_by_username=author.username,
    )


async def test_a_comparison_reads_its_runs_in_one_statement_for_2_or_10_runs(
    clean_runs: Server,
    authors: list[User],
    sql_log: Any,
) -> None:
    # given: ten runs by ten authors
    rows = await saved(*(authored_row(number, authors[number]) for number in range(10)))
    ids = [str(row.id) for row in rows]

    # when
    for_two, two = await measure(clean_runs, sql_log, FULL_COMPARE_QUERY, {"ids": ids[:2]})
    for_ten, ten = await measure(clean_runs, sql_log, FULL_COMPARE_QUERY, {"ids": ids})

    # then: the token (1), the runs (1), their authors with their groups (3)
    assert len(for_two) == len(for_ten) <= 5
    assert sum("training_run" in sql for sql in for_ten) == 1
    runs = ten["compareTrainingRuns"]["runs"]
    assert [run["trainedBy"]["username"] for run in runs] == [user.username for user in authors]
    assert len(two["compareTrainingRuns"]["runs"]) == 2


async def test_a_full_comparison_of_ten_runs_fits_the_default_cost_budget(
    clean_runs: Server, authors: list[User]
) -> None:
    # given
    rows = await saved(*(authored_row(number, authors[number]) for number in range(10)))
    cost_header = {"X-GraphQL-Cost": "1"}

    # when
    response = await clean_runs.post(
        FULL_COMPARE_QUERY, {"ids": [str(row.id) for row in rows]}, headers=cost_header
    )
    listing = await clean_runs.post(LIST_QUERY, headers=cost_header)

    # then
    body = response.json()
    assert "errors" not in body, body["errors"]
    assert len(body["data"]["compareTrainingRuns"]["runs"]) == 10
    cost = body["extensions"]["cost"]
    assert cost["requested"] <= cost["limit"] == clean_runs.settings.max_query_cost
    # priced above the same ten runs read through the list (5,604 against 2,721 when
    # written): the best runs and the per-run lists come on top
    assert cost["requested"] > listing.json()["extensions"]["cost"]["requested"]
