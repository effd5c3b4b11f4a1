"""predictFutureNeed's reasons and imputed inputs (issue 24, section 2), and the compact
column-wise answer: reasons are the model's own Shapley values per dataset column, for
the predicted level, with the row's values; every row names the inputs the imputers
filled in; `explain` is bounded with a field error; a run's SHAP importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import pytest

from tests.conftest import Server
from tests.helpers import camel, dataset_rows, train_completed
from trainer.ml.dataset import FEATURE_COLUMNS
from trainer.ml.explanations import contributions
from trainer.ml.predictor import features_frame

EXPLAIN = """
query Explain($model: String, $rows: [PredictionRowInput!]!, $explain: Int) {
  predictFutureNeed(model: $model, rows: $rows, explain: $explain) {
    reasonUnits
    predictions {
      level
      imputed
      reasons { feature value contribution }
    }
    columns { labels levels probabilities imputed }
  }
}
"""
PLAIN = """
query Plain($model: String, $rows: [PredictionRowInput!]!) {
  predictFutureNeed(model: $model, rows: $rows) {
    predictions { level probabilities { label probability } }
  }
}
"""
SHAP_IMPORTANCE = """
query Run($id: ID!) {
  trainingRun(id: $id) {
    featureImportance { feature importance }
    shapImportance { feature importance }
    shapImportanceUnits
  }
}
"""


@pytest.fixture(scope="module")
async def run(server: Server) -> dict[str, Any]:
    return await train_completed(server.data, trees=6, randomState=3)


def snake(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    columns = {camel(column): column for column in FEATURE_COLUMNS}
    return [{columns[key]: value for key, value in row.items()} for row in rows]


async def explain(
    server: Server, run: dict[str, Any], rows: list[dict[str, Any]], k: int | None
) -> dict[str, Any]:
    variables = {"model": run["modelVersion"], "rows": rows, "explain": k}
    return await server.gql(EXPLAIN, variables)


async def test_reasons_are_the_models_largest_contributions_for_the_predicted_level(
    server: Server, run: dict[str, Any]
) -> None:
    _, rows = dataset_rows(12, start=40)
    body = await explain(server, run, rows, 3)
    assert "errors" not in body, body
    answer = body["data"]["predictFutureNeed"]
    assert answer["reasonUnits"] == "probability"  # a forest's raw output

    model = joblib.load(Path(server.settings.artifacts_dir) / run["modelPath"])
    frame = features_frame(snake(rows), run["featuresUsed"])
    expected = contributions(model, frame)
    for r, prediction in enumerate(answer["predictions"]):
        assert prediction["level"] == model.classes_[expected.predicted[r]]
        reasons = prediction["reasons"]
        assert len(reasons) == 3
        top = sorted(
            zip(expected.columns, expected.values[r], strict=True), key=lambda item: -abs(item[1])
        )[:3]
        assert [reason["feature"] for reason in reasons] == [name for name, _ in top]
        assert [reason["contribution"] for reason in reasons] == pytest.approx(
            [value for _, value in top]
        )
        for reason in reasons:
            # the dataset's own column names, never one-hot parts
            assert reason["feature"] in FEATURE_COLUMNS
            sent = rows[r][camel(reason["feature"])]
            assert reason["value"] == (sent if isinstance(sent, str) else repr(sent))


async def test_without_explain_there_are_no_reasons(server: Server, run: dict[str, Any]) -> None:
    _, rows = dataset_rows(3)
    for k in (None, 0):
        answer = (await explain(server, run, rows, k))["data"]["predictFutureNeed"]
        assert answer["reasonUnits"] is None
        assert [p["reasons"] for p in answer["predictions"]] == [[], [], []]


async def test_every_prediction_names_the_inputs_its_imputers_filled_in(
    server: Server, run: dict[str, Any]
) -> None:
    _, full = dataset_rows(3, start=7)
    one_field = {"trendScore": 0.9}
    blanks = dict(full[1], skillName="  ", avgSalaryK=None)
    rows = [full[0], one_field, blanks]
    body = await explain(server, run, rows, 10)
    answer = body["data"]["predictFutureNeed"]
    imputed = [p["imputed"] for p in answer["predictions"]]
    assert imputed[0] == []
    assert imputed[1] == [c for c in FEATURE_COLUMNS if c != "trend_score"]
    assert imputed[2] == ["skill_name", "avg_salary_k"]
    assert answer["columns"]["imputed"] == imputed
    # a missing input's reason shows no value, not the median put in its place
    values = {r["feature"]: r["value"] for r in answer["predictions"][2]["reasons"]}
    shown = [column for column in imputed[2] if column in values]  # 10 of the 11 columns
    assert shown
    assert all(values[column] is None for column in shown)
    assert all(values[column] is not None for column in values if column not in imputed[2])
    # without reasons too: every prediction says it
    plain = await explain(server, run, [one_field], None)
    assert plain["data"]["predictFutureNeed"]["predictions"][0]["imputed"] == imputed[1]


async def test_the_column_wise_answer_is_the_same_predictions(
    server: Server, run: dict[str, Any]
) -> None:
    _, rows = dataset_rows(30, start=200)
    answer = (await explain(server, run, rows, 0))["data"]["predictFutureNeed"]
    plain = await server.data(PLAIN, {"model": run["modelVersion"], "rows": rows})
    predictions = plain["predictFutureNeed"]["predictions"]
    columns = answer["columns"]
    assert columns["labels"] == [p["label"] for p in predictions[0]["probabilities"]]
    assert columns["levels"] == [p["level"] for p in predictions]
    assert columns["probabilities"] == [
        [p["probability"] for p in prediction["probabilities"]] for prediction in predictions
    ]


@pytest.mark.parametrize(("k", "count"), [(-1, 1), (11, 1), (1, 101)])
async def test_explain_out_of_bounds_is_a_field_error(
    server: Server, run: dict[str, Any], k: int, count: int
) -> None:
    _, rows = dataset_rows(count)
    body = await explain(server, run, rows, k)
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == ["explain"]
    assert error["extensions"]["argument"] == "explain"


async def test_a_hundred_rows_may_be_explained(server: Server, run: dict[str, Any]) -> None:
    _, rows = dataset_rows(100, start=500)
    body = await explain(server, run, rows, 10)
    assert "errors" not in body, body
    assert all(len(p["reasons"]) == 10 for p in body["data"]["predictFutureNeed"]["predictions"])


async def test_a_run_has_its_shap_importance_measured_on_its_test_split(
    server: Server, run: dict[str, Any]
) -> None:
    from sklearn.model_selection import train_test_split

    from trainer.ml.dataset import TARGET_COLUMN, load_dataset
    from trainer.ml.explanations import global_importance
    from trainer.ml.model_trainer import shap_importance_rows

    data = await server.data(SHAP_IMPORTANCE, {"id": run["id"]})
    shap_importance = data["trainingRun"]["shapImportance"]
    units = data["trainingRun"]["shapImportanceUnits"]
    assert units == "probability"
    features = [entry["feature"] for entry in shap_importance]
    assert sorted(features) == sorted(FEATURE_COLUMNS)
    values = [entry["importance"] for entry in shap_importance]
    assert values == sorted(values, reverse=True)
    assert all(value > 0 for value in values)

    # the same measure, recomputed from the model file on the run's own test split
    dataset = load_dataset(Path(server.settings.artifacts_dir) / "datasets" / run["datasetPath"])
    _, x_test = train_test_split(
        dataset.frame[list(dataset.features)],
        test_size=run["testSplit"],
        random_state=run["randomState"],
        stratify=dataset.frame[TARGET_COLUMN],
    )
    model = joblib.load(Path(server.settings.artifacts_dir) / run["modelPath"])
    expected, _ = global_importance(
        model, x_test, max_rows=shap_importance_rows(model), random_state=run["randomState"]
    )
    assert {entry["feature"]: entry["importance"] for entry in shap_importance} == pytest.approx(
        expected
    )
