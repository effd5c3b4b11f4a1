"""The whole loop through the API, as an HR tool drives it: upload a dataset, train on it,
promote the run as "production", ask for predictions, move the alias to another run, and
see the next prediction answered by the other model (no restart in between)."""

from __future__ import annotations

import uuid
from typing import Any

import joblib
import pandas as pd
import pytest

from models.model_aliases import ModelAlias, ModelAliasAssignment
from tests.conftest import Server
from tests.helpers import (
    dataset_rows,
    set_alias,
    small_csv,
    train,
    upload_payload,
    wait_until_final,
)

RUN = """
query Run($id: ID!) {
  trainingRun(id: $id) {
    status databaseId modelVersion modelPath datasetSha256 aliases errorMessage
  }
}
"""
PREDICT_PRODUCTION = """
query Predict($rows: [PredictionRowInput!]!) {
  predictFutureNeed(rows: $rows) {
    modelVersion
    run { databaseId }
    predictions { level probabilities { label probability } }
  }
}
"""
ALIASES = "{ modelAliases { alias run { modelVersion } history { run { modelVersion } } } }"


async def train_on(server: Server, dataset: str, trees: int) -> dict[str, Any]:
    version = f"loop-{uuid.uuid4().hex[:8]}"
    run = await train(server.data, trees, datasetPath=dataset, modelVersion=version)

    final = await wait_until_final(lambda: read_run(server, run["id"]), timeout=120)
    assert final["status"] == "COMPLETED", final["errorMessage"]
    return final


async def read_run(server: Server, run_id: object) -> dict[str, Any]:
    return (await server.data(RUN, {"id": str(run_id)}))["trainingRun"]  # type: ignore[no-any-return]


def expected_levels(server: Server, run: dict[str, Any], raw: list[dict[str, str]]) -> list[str]:
    """What the run's own file predicts for the rows, loaded directly."""
    pipeline = joblib.load(server.settings.artifacts_dir / run["modelPath"])
    frame = pd.DataFrame(raw).drop(columns=["future_need_level"])
    for column in frame.columns[4:]:
        frame[column] = frame[column].astype(float)
    return [str(level) for level in pipeline.predict(frame)]


@pytest.mark.usefixtures("clean_runs")
async def test_upload_train_promote_predict_then_move_the_alias(server: Server) -> None:
    # given: no alias yet (other tests of the session promote runs too)
    await ModelAliasAssignment.all().delete()
    await ModelAlias.all().delete()
    # and a dataset uploaded through the API
    dataset = f"loop/{uuid.uuid4().hex[:8]}.csv"
    uploaded = await upload_payload(server, dataset, small_csv(400))
    assert uploaded["errors"] == [], uploaded

    # when: two runs trained on it, the first promoted to production
    first = await train_on(server, dataset, trees=5)
    second = await train_on(server, dataset, trees=15)
    assert first["datasetSha256"] == uploaded["dataset"]["sha256"]
    promoted = await set_alias(server, "production", first["databaseId"])
    assert promoted["errors"] == [], promoted

    raw, rows = dataset_rows(25, start=1000)
    answer = (await server.data(PREDICT_PRODUCTION, {"rows": rows}))["predictFutureNeed"]

    # then: the first model answered, exactly as its file predicts
    assert answer["modelVersion"] == first["modelVersion"]
    assert answer["run"]["databaseId"] == first["databaseId"]
    levels = [prediction["level"] for prediction in answer["predictions"]]
    assert levels == expected_levels(server, first, raw)
    for prediction in answer["predictions"]:
        assert sum(p["probability"] for p in prediction["probabilities"]) == pytest.approx(1)

    # when: production moves to the second run
    moved = await set_alias(server, "production", second["databaseId"])
    assert moved["errors"] == [], moved
    answer = (await server.data(PREDICT_PRODUCTION, {"rows": rows}))["predictFutureNeed"]

    # then: the next prediction names the other version and is its model's answer
    assert answer["modelVersion"] == second["modelVersion"]
    levels = [prediction["level"] for prediction in answer["predictions"]]
    assert levels == expected_levels(server, second, raw)
    runs = [await read_run(server, run["databaseId"]) for run in (first, second)]
    assert [run["aliases"] for run in runs] == [[], ["production"]]
    aliases = {entry["alias"]: entry for entry in (await server.data(ALIASES))["modelAliases"]}
    assert aliases["production"]["run"]["modelVersion"] == second["modelVersion"]
    assert [entry["run"]["modelVersion"] for entry in aliases["production"]["history"]] == [
        first["modelVersion"]
    ]
