"""Issue 23, section 1 over HTTP: the algorithms described once (trainingAlgorithms, the
generated @oneOf model input, its field errors), what a run stores and shows (algorithm,
parameters, crossValidation, importanceMethod), filtering, compare, export, and an SDL
with no breaking change against the one before."""

from __future__ import annotations

import csv
import io
import time
import uuid
from pathlib import Path
from typing import Any

from graphql import build_schema, find_breaking_changes

from models.training_runs import TrainingRun
from tests.conftest import Server
from tests.helpers import (
    ACTIVE_STATUSES,
    RUN_ROW,
    TRAIN,
    auth,
    ended,
    state_of,
    wait_for,
    wait_for_state,
)
from trainer.ml.algorithms import ALGORITHMS, Algorithm

ROOT = Path(__file__).parents[2]

ALGORITHMS_QUERY = """
{ trainingAlgorithms { name description inputField
    parameters { name kind default min max choices nullable logScale description } } }
"""

RUN_FIELDS = """
  id databaseId status algorithm importanceMethod
  parameters { name value }
  crossValidation { folds metrics { metric mean std } }
  hyperparameters { nEstimators maxDepth minSamplesSplit minSamplesLeaf classWeight }
  featureImportance { feature importance }
  accuracy featuresUsed
"""

TRAIN_ALGORITHM = f"""
mutation Train($input: TrainModelInput!) {{
  trainModel(input: $input) {{
    trainingRun {{ {RUN_FIELDS} }}
    errors {{ code field message }}
  }}
}}
"""


CANCEL = """
mutation Cancel($id: ID!) { cancelTrainingRun(id: $id) { trainingRun { status } errors { code } } }
"""


def version(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def train_with(server: Server, **fields: Any) -> dict[str, Any]:
    fields.setdefault("modelVersion", version("alg"))
    sent = await server.data(TRAIN_ALGORITHM, {"input": fields})
    payload: dict[str, Any] = sent["trainModel"]
    return payload


def as_dict(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {p["name"]: p["value"] for p in parameters}


async def test_training_algorithms_come_from_the_table_for_anyone_signed_in(
    clean_runs: Server,
) -> None:
    # when: a manager (any signed-in user) asks
    listed = (await clean_runs.data(ALGORITHMS_QUERY, as_="manager"))["trainingAlgorithms"]

    # then: every algorithm and every parameter of the table, with its range and help
    assert [a["name"] for a in listed] == [a.value for a in ALGORITHMS]
    by_name = {a["name"]: a for a in listed}
    for algorithm, spec in ALGORITHMS.items():
        shown = by_name[algorithm.value]
        assert shown["description"] == spec.description
        assert len(shown["parameters"]) == len(spec.parameters)
        for parameter, field in zip(spec.parameters, shown["parameters"], strict=True):
            assert field["kind"] == parameter.kind.value
            assert field["default"] == parameter.default
            assert field["min"] == parameter.min
            assert field["max"] == parameter.max
            assert field["logScale"] == parameter.log_scale
            assert field["description"].startswith(parameter.description)
    hgb = {p["name"]: p for p in by_name["HIST_GRADIENT_BOOSTING"]["parameters"]}
    assert by_name["HIST_GRADIENT_BOOSTING"]["inputField"] == "histGradientBoosting"
    assert hgb["learningRate"]["logScale"] is True
    assert hgb["earlyStopping"]["kind"] == "BOOLEAN"
    forest = {p["name"]: p for p in by_name["RANDOM_FOREST"]["parameters"]}
    assert forest["classWeight"]["choices"] == ["balanced", "balanced_subsample", None]


async def test_training_algorithms_need_a_signed_in_caller(clean_runs: Server) -> None:
    body = await clean_runs.gql(ALGORITHMS_QUERY, as_=None)

    assert body.get("data") is None
    assert body["errors"]


async def test_hist_gradient_boosting_trains_through_the_model_input(clean_runs: Server) -> None:
    # when
    payload = await train_with(
        clean_runs, model={"histGradientBoosting": {"maxIter": 12, "learningRate": 0.2}}, wait=True
    )

    # then: the boosting run, its parameters completed, importance by permutation
    assert payload["errors"] == []
    run = payload["trainingRun"]
    assert run["status"] == "COMPLETED"
    assert run["algorithm"] == "HIST_GRADIENT_BOOSTING"
    parameters = as_dict(run["parameters"])
    assert [p["name"] for p in run["parameters"]] == [
        "learningRate",
        "maxIter",
        "maxLeafNodes",
        "maxDepth",
        "minSamplesLeaf",
        "l2Regularization",
        "earlyStopping",
        "nIterNoChange",
        "classWeight",
    ]
    assert parameters["maxIter"] == "12"
    assert parameters["learningRate"] == "0.2"
    assert parameters["maxDepth"] is None
    assert parameters["earlyStopping"] == "false"
    assert run["importanceMethod"] == "PERMUTATION"
    assert {f["feature"] for f in run["featureImportance"]} == set(run["featuresUsed"])
    # the deprecated forest view shows no forest default it was not trained with
    assert run["hyperparameters"] == {
        "nEstimators": 0,
        "maxDepth": None,
        "minSamplesSplit": 0,
        "minSamplesLeaf": 20,
        "classWeight": "BALANCED",
    }
    row = await TrainingRun.get(id=run["databaseId"])
    assert row.algorithm == "HIST_GRADIENT_BOOSTING"
    assert row.parameters["max_iter"] == 12


async def test_logistic_regression_and_extra_trees_train(clean_runs: Server) -> None:
    regression = await train_with(clean_runs, model={"logisticRegression": {"C": 0.5}}, wait=True)
    trees = await train_with(clean_runs, model={"extraTrees": {"nEstimators": 8}}, wait=True)

    assert regression["trainingRun"]["status"] == "COMPLETED"
    assert as_dict(regression["trainingRun"]["parameters"])["C"] == "0.5"
    assert regression["trainingRun"]["importanceMethod"] == "PERMUTATION"
    assert trees["trainingRun"]["status"] == "COMPLETED"
    assert trees["trainingRun"]["algorithm"] == "EXTRA_TREES"
    assert trees["trainingRun"]["importanceMethod"] == "IMPURITY"
    assert trees["trainingRun"]["hyperparameters"]["nEstimators"] == 8


async def test_the_deprecated_hyperparameters_still_mean_random_forest(clean_runs: Server) -> None:
    payload = await train_with(clean_runs, hyperparameters={"nEstimators": 6, "maxDepth": 3})

    assert payload["errors"] == []
    run = payload["trainingRun"]
    assert run["algorithm"] == "RANDOM_FOREST"
    assert as_dict(run["parameters"]) == {
        "nEstimators": "6",
        "maxDepth": "3",
        "minSamplesSplit": "2",
        "minSamplesLeaf": "1",
        "classWeight": "balanced",
    }


async def test_model_and_hyperparameters_together_are_refused(clean_runs: Server) -> None:
    payload = await train_with(
        clean_runs,
        model={"randomForest": {"nEstimators": 5}},
        hyperparameters={"nEstimators": 5},
    )

    assert payload["trainingRun"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["input", "model"], "INVALID")]
    assert await TrainingRun.all().count() == 0


async def test_parameters_are_checked_against_the_table_with_field_errors(
    clean_runs: Server,
) -> None:
    payload = await train_with(
        clean_runs,
        model={
            "histGradientBoosting": {
                "learningRate": 5.0,
                "maxIter": 0,
                "classWeight": "BALANCED_SUBSAMPLE",
            }
        },
    )

    assert payload["trainingRun"] is None
    found = {tuple(e["field"]): e["code"] for e in payload["errors"]}
    path = ("input", "model", "histGradientBoosting")
    assert found == {
        (*path, "learningRate"): "OUT_OF_RANGE",
        (*path, "maxIter"): "OUT_OF_RANGE",
        (*path, "classWeight"): "INVALID",
    }
    messages = {e["field"][-1]: e["message"] for e in payload["errors"]}
    assert messages["learningRate"] == "must be between 0.001 and 1, got 5"
    assert await TrainingRun.all().count() == 0


async def test_model_names_exactly_one_algorithm(clean_runs: Server) -> None:
    body = await clean_runs.gql(
        TRAIN,
        {"input": {"model": {"randomForest": {}, "extraTrees": {}}}},
    )

    assert body["errors"]
    assert "exactly one" in body["errors"][0]["message"].lower()
    assert await TrainingRun.all().count() == 0


async def test_cross_validation_gives_mean_and_std_beside_the_test_split(
    clean_runs: Server,
) -> None:
    payload = await train_with(
        clean_runs,
        model={"randomForest": {"nEstimators": 6, "maxDepth": 5}},
        evaluation={"folds": 3},
        wait=True,
    )

    assert payload["errors"] == []
    run = payload["trainingRun"]
    assert run["status"] == "COMPLETED"
    assert run["accuracy"] is not None  # the test split is still reported
    cv = run["crossValidation"]
    assert cv["folds"] == 3
    metrics = {m["metric"]: m for m in cv["metrics"]}
    assert set(metrics) >= {"accuracy", "precision", "recall", "f1Score"}
    assert 0.0 < metrics["accuracy"]["mean"] <= 1.0
    assert metrics["accuracy"]["std"] >= 0.0


async def test_folds_out_of_range_are_refused(clean_runs: Server) -> None:
    for folds in (1, 11):
        payload = await train_with(clean_runs, evaluation={"folds": folds})
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            (["input", "evaluation", "folds"], "OUT_OF_RANGE")
        ]


async def test_runs_filter_by_algorithm(clean_runs: Server) -> None:
    await TrainingRun.create(**RUN_ROW, model_version=version("f"), n_estimators=5)
    boosted = await TrainingRun.create(
        **RUN_ROW,
        model_version=version("b"),
        n_estimators=0,
        algorithm="HIST_GRADIENT_BOOSTING",
        parameters=ALGORITHMS[Algorithm.HIST_GRADIENT_BOOSTING].defaults(),
    )

    listed = await clean_runs.data(
        "query($f: TrainingRunFilter) { trainingRuns(first: 10, filter: $f) "
        "{ nodes { databaseId algorithm } } }",
        {"f": {"algorithm": "HIST_GRADIENT_BOOSTING"}},
    )

    assert listed["trainingRuns"]["nodes"] == [
        {"databaseId": boosted.id, "algorithm": "HIST_GRADIENT_BOOSTING"}
    ]


async def test_compare_shows_the_algorithm_and_differing_parameters(clean_runs: Server) -> None:
    forest = await TrainingRun.create(
        **RUN_ROW,
        model_version=version("cf"),
        n_estimators=200,
        parameters=ALGORITHMS[Algorithm.RANDOM_FOREST].defaults(),
    )
    boosted = await TrainingRun.create(
        **RUN_ROW,
        model_version=version("cb"),
        n_estimators=0,
        algorithm="HIST_GRADIENT_BOOSTING",
        parameters=ALGORITHMS[Algorithm.HIST_GRADIENT_BOOSTING].defaults() | {"max_depth": 4},
    )

    compared = await clean_runs.data(
        "query($ids: [ID!]!) { compareTrainingRuns(ids: $ids) "
        "{ hyperparameterDifferences { name values } } }",
        {"ids": [str(forest.id), str(boosted.id)]},
    )

    differences = {
        d["name"]: d["values"] for d in compared["compareTrainingRuns"]["hyperparameterDifferences"]
    }
    assert differences["algorithm"] == ["RANDOM_FOREST", "HIST_GRADIENT_BOOSTING"]
    assert differences["maxDepth"] == [None, "4"]
    assert differences["learningRate"] == [None, "0.1"]
    assert differences["nEstimators"] == ["200", None]
    assert "minSamplesLeaf" in differences  # 1 for the forest, 20 for boosting


async def test_the_export_has_algorithm_and_parameters_columns(clean_runs: Server) -> None:
    await TrainingRun.create(
        **RUN_ROW,
        model_version=version("ex"),
        n_estimators=0,
        algorithm="LOGISTIC_REGRESSION",
        parameters=ALGORITHMS[Algorithm.LOGISTIC_REGRESSION].defaults(),
    )

    response = await clean_runs.client.get("/runs/export.csv", headers=auth(clean_runs))

    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0]["algorithm"] == "LOGISTIC_REGRESSION"
    assert rows[0]["parameters"] == "C=1.0; maxIter=1000; classWeight=balanced"


def test_the_sdl_has_no_breaking_change_against_the_one_before_issue_23() -> None:
    before = build_schema((ROOT / "tests/api/schema_before_issue23.graphql").read_text())
    after = build_schema((ROOT / "schema/schema.graphql").read_text())

    assert find_breaking_changes(before, after) == []


async def test_boosting_shows_live_progress_and_cancels_within_seconds(clean_runs: Server) -> None:
    # given: a long boosting run (1000 iterations, shallow trees, no early stopping)
    payload = await train_with(
        clean_runs,
        model={"histGradientBoosting": {"maxIter": 1000, "learningRate": 0.01}},
    )
    run = payload["trainingRun"]
    seen: list[float] = []

    async def fitting_moved() -> bool | None:
        state = await state_of(clean_runs.data, run)
        if state["stage"] == "FITTING" and state["progress"] not in seen:
            seen.append(state["progress"])
        return True if len(seen) >= 3 else None

    try:
        await wait_for(fitting_moved, timeout=120, what="boosting progress to move")

        # when
        asked = time.monotonic()
        await clean_runs.data(CANCEL, {"id": run["id"]})
        final = await wait_for_state(clean_runs.data, run, ended, timeout=30, what="ended")
        latency = time.monotonic() - asked
    finally:
        if (await state_of(clean_runs.data, run))["status"] in ACTIVE_STATUSES:
            await clean_runs.data(CANCEL, {"id": run["id"]})

    # then: progress moved iteration chunk by chunk, and the cancel held the forests' bound
    assert seen == sorted(seen)
    assert final["status"] == "CANCELLED"
    assert final["modelPath"] is None
    assert latency < 5  # as tests/jobs/test_cancel.py holds the forest to
