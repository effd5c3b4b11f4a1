"""startBatchPrediction (issue 24, section 1): a whole file scored on the job runners, its
rejects listed and counted, the model resolved once, the output served as model files are
(ETag, 304, Range, 409), cancel, the subscription, who may do what, and a worker killed
mid-file leaving a FAILED job and no file presented as complete; `explain` (section 2):
the reasons of predictFutureNeed per row of the output, bounded with a field error."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import uuid
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from models.accounts import User
from models.job_quota import TooManyActiveJobs, create_job_within_quota
from models.trust_jobs import BatchPrediction, ModelEvaluation
from tests.conftest import Server
from tests.helpers import (
    auth,
    camel,
    follow_subscription,
    json_of,
    set_alias,
    train,
    train_completed,
    wait_for,
    wait_until_final,
)
from trainer.ml.dataset import CATEGORICAL_COLUMNS, FEATURE_COLUMNS
from trainer.ml.generator import generate_dataset

JOB_FIELDS = """
  id databaseId status progress rowsTotal rowsDone rowsScored rowsRejected modelRequested
  modelVersion datasetPath outputSha256 downloadUrl rejectsSha256 rejectsDownloadUrl
  errorMessage cancelRequested explain reasonUnits
  createdByUsername createdAt startedAt finishedAt run { databaseId }
"""
START = f"""
mutation Start($input: StartBatchPredictionInput!) {{
  startBatchPrediction(input: $input) {{
    batchPrediction {{ {JOB_FIELDS} }}
    errors {{ field code message }}
  }}
}}
"""
JOB = f"query Job($id: ID!) {{ batchPrediction(id: $id) {{ {JOB_FIELDS} }} }}"
JOBS = """
query Jobs($first: Int, $after: String) {
  batchPredictions(first: $first, after: $after) {
    totalCount edges { cursor node { databaseId } } pageInfo { hasNextPage endCursor }
  }
}
"""
CANCEL = """
mutation Cancel($id: ID!) {
  cancelBatchPrediction(id: $id) {
    batchPrediction { databaseId status cancelRequested } errors { field code }
  }
}
"""
FOLLOW = """
subscription Follow($id: ID!) { batchPredictionUpdated(id: $id) { status progress rowsDone } }
"""


@pytest.fixture(scope="module")
async def model(server: Server) -> dict[str, Any]:
    return await train_completed(server.data, trees=5, randomState=3)


def dataset(server: Server, rows: int, seed: int = 7, edit: Any = None) -> str:
    """A generated file in the server's datasets folder (edited by `edit(lines)`)."""
    name = f"batch-{uuid.uuid4().hex[:8]}.csv"
    path = server.settings.artifacts.datasets / name
    generate_dataset(rows, seed, path)
    if edit is not None:
        lines = path.read_text().splitlines()
        edit(lines)
        path.write_text("\n".join(lines) + "\n")
    return name


def set_cell(lines: list[str], row: int, column: int, value: str) -> None:
    """Data row `row` (1-based), column `column`."""
    cells = lines[row].split(",")
    cells[column] = value
    lines[row] = ",".join(cells)


async def start(server: Server, as_: str = "drh", **fields: Any) -> dict[str, Any]:
    body = await server.data(START, {"input": fields}, as_=as_)
    payload: dict[str, Any] = body["startBatchPrediction"]
    return payload


async def finished(server: Server, job: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        state: dict[str, Any] = (await server.data(JOB, {"id": job["id"]}))["batchPrediction"]
        return state

    return await wait_until_final(read, timeout=timeout, what="the batch prediction")


async def download(server: Server, url: str, role: str = "drh", **headers: str) -> Any:
    return await server.client.get(url, headers=auth(server, role, **headers))


async def test_a_file_is_scored_whole_and_its_bad_rows_listed(
    server: Server, model: dict[str, Any]
) -> None:
    # given: 3,000 rows, one with text in a number, one beyond float range, one blank cell
    def spoil(lines: list[str]) -> None:
        set_cell(lines, 10, 4, "beaucoup")
        set_cell(lines, 20, 5, "")
        set_cell(lines, 2500, 9, "1e39")

    name = dataset(server, 3000, edit=spoil)

    # when
    payload = await start(server, model=model["modelVersion"], datasetPath=name)
    assert payload["errors"] == []
    job = await finished(server, payload["batchPrediction"])

    # then: every good row scored, the two bad ones rejected
    assert job["status"] == "COMPLETED", job
    assert (job["rowsTotal"], job["rowsScored"], job["rowsRejected"]) == (3000, 2998, 2)
    assert job["progress"] == 1.0
    assert job["modelVersion"] == model["modelVersion"]
    assert job["run"]["databaseId"] == model["databaseId"]
    assert (job["explain"], job["reasonUnits"]) == (0, None)
    assert job["createdByUsername"] == "drh-user"
    assert job["downloadUrl"] == f"/predictions/{job['databaseId']}/file"
    response = await download(server, job["downloadUrl"])
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{job["outputSha256"]}"'
    output = pd.read_csv(io.BytesIO(response.content))
    source = pd.read_csv(server.settings.artifacts.datasets / name, dtype=str)
    assert list(output.columns) == [
        *source.columns,
        "predicted_level",
        "probability_LOW",
        "probability_MEDIUM",
        "probability_HIGH",
        "imputed",
    ]
    assert len(output) == 2998
    # and: the blank cell is named as filled in by the model, and no other
    imputed = output["imputed"].fillna("")
    assert imputed[18] == "internal_usage"  # row 20; row 10 before it was rejected
    assert (imputed.drop(index=18) == "").all()
    # and: the probabilities are the model's own predict_proba of those rows
    pipeline = joblib.load(server.settings.artifacts_dir / model["modelPath"])
    kept = source.drop(index=[9, 2499]).reset_index(drop=True)
    features = kept[model["featuresUsed"]].copy()
    for column in features.columns[4:]:
        features[column] = features[column].astype(float)
    expected = pipeline.predict_proba(features)
    order = [list(pipeline.classes_).index(level) for level in ("LOW", "MEDIUM", "HIGH")]
    np.testing.assert_allclose(
        output[["probability_LOW", "probability_MEDIUM", "probability_HIGH"]].to_numpy(),
        expected[:, order],
    )
    # and: the rejects file (served as the output is) lists each bad row with its reason
    assert job["rejectsDownloadUrl"] == f"/predictions/{job['databaseId']}/rejects"
    served = await download(server, job["rejectsDownloadUrl"])
    assert served.status_code == 200
    assert served.headers["etag"] == f'"{job["rejectsSha256"]}"'
    rows = list(csv.reader(served.text.splitlines()))
    assert rows[0] == ["row", "column", "reason"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("10", "trend_score"), ("2500", "avg_salary_k")]
    assert "not a number" in rows[1][2]
    assert "range" in rows[2][2]


async def test_the_output_is_served_as_model_files_are(
    server: Server, model: dict[str, Any]
) -> None:
    # given
    payload = await start(server, model=model["modelVersion"], datasetPath=dataset(server, 300))
    job = await finished(server, payload["batchPrediction"])
    url, etag = job["downloadUrl"], f'"{job["outputSha256"]}"'

    # then: 304 on the ETag, 206 on a Range, 403 for a manager, 401 without a token
    assert (await download(server, url, **{"If-None-Match": etag})).status_code == 304
    partial = await download(server, url, Range="bytes=0-9")
    assert partial.status_code == 206
    assert len(partial.content) == 10
    assert (await download(server, url, "manager")).status_code == 403
    assert (await server.client.get(url)).status_code == 401
    assert (await download(server, "/predictions/999999/file")).status_code == 404
    # and: once its bytes change, the file is refused (409), never served
    output = server.settings.artifacts_dir / "predictions" / f"batch-{job['databaseId']}.csv"
    with output.open("ab") as handle:
        handle.write(b"tampered\n")
    refused = await download(server, url)
    assert refused.status_code == 409
    assert json_of(refused)["errors"][0]["extensions"]["code"] == "OUTPUT_FILE_CHANGED"


async def test_the_model_is_resolved_once_at_the_start(
    server: Server, model: dict[str, Any]
) -> None:
    # given: an alias on the module's model
    alias = f"batch-{uuid.uuid4().hex[:6]}"
    await set_alias(server, alias, model["databaseId"])

    # when: a job names the alias, which moves afterwards
    payload = await start(server, model=alias, datasetPath=dataset(server, 200))
    other = await train_completed(server.data, trees=3, randomState=9)
    await set_alias(server, alias, other["databaseId"])
    job = await finished(server, payload["batchPrediction"])

    # then: the job says what was asked and what answered
    assert job["modelRequested"] == alias
    assert job["modelVersion"] == model["modelVersion"]
    assert job["run"]["databaseId"] == model["databaseId"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"model": "no-such-model", "datasetPath": "reference.csv"},
            (["input", "model"], "NOT_FOUND"),
        ),
        ({"datasetPath": "../secret.csv"}, (["input", "datasetPath"], "PATH_NOT_ALLOWED")),
        ({"datasetPath": "absent.csv"}, (["input", "datasetPath"], "NOT_FOUND")),
        ({"datasetPath": "reference.csv", "explain": 11}, (["input", "explain"], "OUT_OF_RANGE")),
        ({"datasetPath": "reference.csv", "explain": -1}, (["input", "explain"], "OUT_OF_RANGE")),
    ],
)
async def test_refused_input_creates_no_job(
    server: Server, model: dict[str, Any], fields: dict[str, Any], error: tuple[list[str], str]
) -> None:
    # given
    fields.setdefault("model", model["modelVersion"])
    before = await BatchPrediction.all().count()

    # when
    payload = await start(server, **fields)

    # then
    assert payload["batchPrediction"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [error]
    assert await BatchPrediction.all().count() == before


async def test_a_run_that_is_not_completed_cannot_score(server: Server) -> None:
    # given: a run still queued, named by its modelVersion
    run = (
        await server.data(
            "mutation { trainModel(input: { hyperparameters: { nEstimators: 1000 } }) "
            "{ trainingRun { id modelVersion } } }"
        )
    )["trainModel"]["trainingRun"]
    try:
        # when
        payload = await start(server, model=run["modelVersion"], datasetPath="reference.csv")

        # then
        assert [(e["field"], e["code"]) for e in payload["errors"]] in (
            [(["input", "model"], "INVALID_STATE")],
        )
    finally:
        await server.data(
            "mutation C($id: ID!) { cancelTrainingRun(id: $id) { errors { code } } }",
            {"id": run["id"]},
        )


async def test_managers_read_jobs_but_neither_start_nor_cancel(
    server: Server, model: dict[str, Any]
) -> None:
    # given
    payload = await start(server, model=model["modelVersion"], datasetPath=dataset(server, 100))
    job = await finished(server, payload["batchPrediction"])

    # then: managers read it and list it
    read = await server.data(JOB, {"id": job["id"]}, as_="manager")
    assert read["batchPrediction"]["databaseId"] == job["databaseId"]
    listed = await server.data(JOBS, {"first": 100}, as_="manager")
    assert job["databaseId"] in [
        e["node"]["databaseId"] for e in listed["batchPredictions"]["edges"]
    ]
    # and: they may not start or cancel one
    for document, variables in (
        (START, {"input": {"datasetPath": "reference.csv"}}),
        (CANCEL, {"id": job["id"]}),
    ):
        body = await server.gql(document, variables, as_="manager")
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


async def test_the_list_is_newest_first_and_paginated(
    server: Server, model: dict[str, Any]
) -> None:
    # given
    name = dataset(server, 50)
    ids = []
    for _ in range(3):
        payload = await start(server, model=model["modelVersion"], datasetPath=name)
        ids.append(payload["batchPrediction"]["databaseId"])

    # when
    first = (await server.data(JOBS, {"first": 2}))["batchPredictions"]
    second = (await server.data(JOBS, {"first": 1, "after": first["pageInfo"]["endCursor"]}))[
        "batchPredictions"
    ]

    # then
    assert [e["node"]["databaseId"] for e in first["edges"]] == [ids[2], ids[1]]
    assert first["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["databaseId"] for e in second["edges"]] == [ids[0]]
    assert first["totalCount"] >= 3


async def test_a_running_job_is_cancelled_between_chunks_and_keeps_no_file(
    server: Server, model: dict[str, Any]
) -> None:
    # given: a file long enough to be caught running
    payload = await start(server, model=model["modelVersion"], datasetPath=dataset(server, 600_000))
    job = payload["batchPrediction"]

    async def running() -> dict[str, Any] | None:
        state: dict[str, Any] = (await server.data(JOB, {"id": job["id"]}))["batchPrediction"]
        return state if state["status"] == "RUNNING" and state["rowsDone"] > 0 else None

    await wait_for(running, timeout=120, what="the job to score rows", interval=0.05)

    # when
    cancelled = (await server.data(CANCEL, {"id": job["id"]}))["cancelBatchPrediction"]
    assert cancelled["errors"] == []
    final = await finished(server, job)

    # then
    assert final["status"] == "CANCELLED", final
    assert final["downloadUrl"] is None
    leftovers = [
        p.name
        for p in server.settings.artifacts.predictions.iterdir()
        if p.name.startswith((f"batch-{job['databaseId']}", f".batch-{job['databaseId']}"))
    ]
    assert leftovers == []
    # and: an ended job cannot be cancelled again
    again = (await server.data(CANCEL, {"id": job["id"]}))["cancelBatchPrediction"]
    assert [e["code"] for e in again["errors"]] == ["INVALID_STATE"]


async def test_a_worker_killed_mid_file_leaves_a_failed_job_and_no_file(
    server: Server, model: dict[str, Any]
) -> None:
    # given: a job caught scoring
    payload = await start(
        server, model=model["modelVersion"], datasetPath=dataset(server, 600_000, seed=11)
    )
    job = payload["batchPrediction"]

    async def worker() -> str | None:
        row = await BatchPrediction.get(id=job["databaseId"])
        return row.worker if row.status == "RUNNING" and row.rows_done > 0 else None

    host_pid = await wait_for(worker, timeout=120, what="the job to score rows", interval=0.05)

    # when: its worker process is killed outright
    os.kill(int(host_pid.rpartition(":")[2]), signal.SIGKILL)
    final = await finished(server, job, timeout=60)

    # then: FAILED, saying why, with no output named nor served
    assert final["status"] == "FAILED", final
    assert "worker lost" in final["errorMessage"]
    assert final["downloadUrl"] is None
    assert final["outputSha256"] is None
    url = f"/predictions/{job['databaseId']}/file"
    assert (await download(server, url)).status_code == 404
    # and: neither the final file nor the temporary ones it was writing remain
    assert not [
        path.name
        for path in server.settings.artifacts.predictions.iterdir()
        if f"batch-{job['databaseId']}" in path.name
    ]


async def test_the_subscription_follows_a_job_to_its_end(
    server: Server, model: dict[str, Any]
) -> None:
    # given
    payload = await start(server, model=model["modelVersion"], datasetPath=dataset(server, 20_000))
    job = payload["batchPrediction"]

    # when
    messages = await follow_subscription(server, FOLLOW, {"id": job["id"]}, "manager", timeout=120)

    # then: the states it went through, ending COMPLETED
    states = [
        m["payload"]["data"]["batchPredictionUpdated"] for m in messages if m["type"] == "next"
    ]
    assert states[-1]["status"] == "COMPLETED"
    assert states[-1]["rowsDone"] == 20_000
    assert messages[-1]["type"] == "complete"


async def test_global_ids_name_jobs_through_node(server: Server, model: dict[str, Any]) -> None:
    # given
    payload = await start(server, model=model["modelVersion"], datasetPath=dataset(server, 10))
    job = payload["batchPrediction"]

    # when
    found = await server.data(
        "query N($id: ID!) { node(id: $id) { ... on BatchPrediction { databaseId } } }",
        {"id": job["id"]},
    )
    by_number = await server.data(JOB, {"id": str(job["databaseId"])})

    # then
    assert found["node"] == {"databaseId": job["databaseId"]}
    assert by_number["batchPrediction"]["id"] == job["id"]
    await finished(server, job)


PREDICT = """
query Explain($model: String, $rows: [PredictionRowInput!]!) {
  predictFutureNeed(model: $model, rows: $rows, explain: 2) {
    reasonUnits predictions { level reasons { feature value contribution } }
  }
}
"""


def prediction_row(row: pd.Series) -> dict[str, Any]:
    """A row of the file as predictFutureNeed takes it (blank cells left out)."""
    sent: dict[str, Any] = {}
    for column in FEATURE_COLUMNS:
        value = row[column]
        if isinstance(value, str) and value.strip():
            sent[camel(column)] = value if column in CATEGORICAL_COLUMNS else float(value)
    return sent


async def test_explain_gives_each_row_predict_future_needs_reasons(
    server: Server, model: dict[str, Any]
) -> None:
    # given: a file with a blank cell (an imputed reason value) and a row that is rejected
    def spoil(lines: list[str]) -> None:
        set_cell(lines, 3, 4, "")
        set_cell(lines, 5, 6, "lots")

    name = dataset(server, 400, seed=23, edit=spoil)

    # when
    payload = await start(server, model=model["modelVersion"], datasetPath=name, explain=2)
    assert payload["errors"] == []
    assert payload["batchPrediction"]["explain"] == 2
    job = await finished(server, payload["batchPrediction"])

    # then: every good row scored with two reasons, in the forest's probability units
    assert job["status"] == "COMPLETED", job
    assert (job["rowsScored"], job["rowsRejected"]) == (399, 1)
    assert job["reasonUnits"] == "probability"
    response = await download(server, job["downloadUrl"])
    output = pd.read_csv(io.BytesIO(response.content), dtype=str, keep_default_na=False)
    source = pd.read_csv(
        server.settings.artifacts.datasets / name, dtype=str, keep_default_na=False
    )
    reasons = [
        f"reason_{i}_{part}" for i in (1, 2) for part in ("feature", "value", "contribution")
    ]
    assert list(output.columns) == [
        *source.columns,
        "predicted_level",
        "probability_LOW",
        "probability_MEDIUM",
        "probability_HIGH",
        "imputed",
        *reasons,
    ]
    # and: reasons name the dataset's own columns, largest |contribution| first
    named = set(output["reason_1_feature"]) | set(output["reason_2_feature"])
    assert named <= set(model["featuresUsed"])
    first = output["reason_1_contribution"].astype(float).abs()
    assert (first >= output["reason_2_contribution"].astype(float).abs()).all()
    # and: rows 1 to 6 (row 5 rejected) have predictFutureNeed(explain: 2)'s very reasons
    kept = source.drop(index=[4]).reset_index(drop=True)
    await assert_predict_future_needs_reasons(server, model, job, output, kept, 5)
    # and: the blank cell is a reason's blank value where it weighed among the top two
    blank = output.iloc[2]
    assert blank["imputed"] == "trend_score"
    for i in (1, 2):
        if blank[f"reason_{i}_feature"] == "trend_score":
            assert blank[f"reason_{i}_value"] == ""
    # and: the rejected row is in the rejects file, not the output
    rejects = await download(server, job["rejectsDownloadUrl"])
    assert [r[:2] for r in csv.reader(rejects.text.splitlines())][1:] == [
        ["5", "training_requests"]
    ]


async def assert_predict_future_needs_reasons(
    server: Server,
    model: dict[str, Any],
    job: dict[str, Any],
    output: pd.DataFrame,
    source: pd.DataFrame,
    rows: int,
) -> None:
    """The first `rows` rows of `output` (scored from those of `source`) carry the level,
    reasons and units predictFutureNeed(explain: 2) answers for them."""
    sent = [prediction_row(source.iloc[r]) for r in range(rows)]
    answer = (await server.data(PREDICT, {"model": model["modelVersion"], "rows": sent}))[
        "predictFutureNeed"
    ]
    assert answer["reasonUnits"] == job["reasonUnits"]
    assert len(answer["predictions"]) == rows
    for r, prediction in enumerate(answer["predictions"]):
        row = output.iloc[r]
        assert row["predicted_level"] == prediction["level"]
        assert len(prediction["reasons"]) == 2
        for i, reason in enumerate(prediction["reasons"], start=1):
            assert row[f"reason_{i}_feature"] == reason["feature"]
            assert float(row[f"reason_{i}_contribution"]) == pytest.approx(
                reason["contribution"], abs=1e-9
            )
            value = row[f"reason_{i}_value"]
            if reason["value"] is None:
                assert value == ""
            elif reason["feature"] in CATEGORICAL_COLUMNS:
                assert value == reason["value"]
            else:
                assert float(value) == float(reason["value"])


async def test_a_linear_models_reasons_are_in_log_odds(server: Server) -> None:
    # given: a logistic regression, whose reasons are its own terms
    linear = await train(
        server.data,
        model={"logisticRegression": {"C": 0.5}},
        modelVersion=f"linear-{uuid.uuid4().hex[:8]}",
        wait=True,
    )
    assert linear["status"] == "COMPLETED", linear
    name = dataset(server, 50, seed=29)

    # when
    payload = await start(server, model=linear["modelVersion"], datasetPath=name, explain=2)
    job = await finished(server, payload["batchPrediction"])

    # then
    assert job["status"] == "COMPLETED", job
    assert job["reasonUnits"] == "log-odds"
    response = await download(server, job["downloadUrl"])
    output = pd.read_csv(io.BytesIO(response.content), dtype=str, keep_default_na=False)
    source = pd.read_csv(
        server.settings.artifacts.datasets / name, dtype=str, keep_default_na=False
    )
    await assert_predict_future_needs_reasons(server, linear, job, output, source, 4)


EVALUATE = """
mutation E($input: StartEvaluationInput!) {
  startEvaluation(input: $input) { evaluation { databaseId } errors { field code message } }
}
"""


async def active_jobs(username: str) -> int:
    active = ["QUEUED", "RUNNING"]
    return sum(
        [
            await table.filter(created_by_username=username, status__in=active).count()
            for table in (BatchPrediction, ModelEvaluation)
        ]
    )


async def no_active_jobs(username: str) -> None:
    """Jobs of earlier tests still running would take slots."""

    async def idle() -> bool | None:
        return True if await active_jobs(username) == 0 else None

    await wait_for(idle, timeout=120, what=f"{username}'s jobs to end", interval=0.1)


async def cancel_all(server: Server, jobs: list[dict[str, Any]]) -> None:
    for job in jobs:
        await server.data(CANCEL, {"id": job["id"]})
    for job in jobs:
        await finished(server, job)


@pytest.fixture(scope="module")
def long_file(server: Server) -> str:
    """Rows enough to keep a job busy while a test asks for more."""
    return dataset(server, 300_000, seed=13)


async def test_a_user_beyond_the_active_job_bound_is_refused_and_others_are_not(
    server: Server, model: dict[str, Any], long_file: str
) -> None:
    # given: the user already has as many active jobs as allowed
    limit = server.settings.max_active_jobs_per_user
    await no_active_jobs("drh-user")
    jobs = []
    try:
        for _ in range(limit):
            payload = await start(server, model=model["modelVersion"], datasetPath=long_file)
            assert payload["errors"] == []
            jobs.append(payload["batchPrediction"])
        before = (await BatchPrediction.all().count(), await ModelEvaluation.all().count())

        # when: one more batch prediction, an evaluation, and another user's job
        refused = await start(server, model=model["modelVersion"], datasetPath=long_file)
        evaluation = (
            await server.data(
                EVALUATE, {"input": {"model": model["modelVersion"], "datasetPath": long_file}}
            )
        )["startEvaluation"]
        after = (await BatchPrediction.all().count(), await ModelEvaluation.all().count())
        other = await start(
            server, as_="rrh", model=model["modelVersion"], datasetPath=dataset(server, 20)
        )
        if other["batchPrediction"] is not None:
            jobs.append(other["batchPrediction"])

        # then: both refused with the code, nothing created; another user is not held back
        for payload, job in ((refused, "batchPrediction"), (evaluation, "evaluation")):
            assert payload[job] is None
            assert [(e["field"], e["code"]) for e in payload["errors"]] == [
                (["input"], "TOO_MANY_ACTIVE_JOBS")
            ]
            assert str(limit) in payload["errors"][0]["message"]
        assert after == before
        assert other["errors"] == []
        assert await active_jobs("drh-user") <= limit
    finally:
        await cancel_all(server, jobs)

    # and: once they have ended, the user may start again
    again = await start(server, model=model["modelVersion"], datasetPath=dataset(server, 20))
    assert again["errors"] == []
    assert (await finished(server, again["batchPrediction"]))["status"] == "COMPLETED"


async def test_concurrent_starts_of_one_user_do_not_slip_past_the_bound(
    server: Server, model: dict[str, Any], long_file: str
) -> None:
    # given
    limit = server.settings.max_active_jobs_per_user
    await no_active_jobs("drh-user")
    before = await BatchPrediction.filter(created_by_username="drh-user").count()

    # when: twice the allowed number of starts at the same moment
    payloads = await asyncio.gather(
        *(
            start(server, model=model["modelVersion"], datasetPath=long_file)
            for _ in range(2 * limit)
        )
    )
    jobs = [p["batchPrediction"] for p in payloads if p["batchPrediction"] is not None]
    try:
        # then: exactly `limit` accepted, the others refused with the code
        assert len(jobs) == limit
        assert [e["code"] for p in payloads for e in p["errors"]] == [
            "TOO_MANY_ACTIVE_JOBS"
        ] * limit
        after = await BatchPrediction.filter(created_by_username="drh-user").count()
        assert after == before + limit
    finally:
        await cancel_all(server, jobs)


async def test_admissions_racing_in_the_database_do_not_slip_past_the_bound(
    server: Server, model: dict[str, Any]
) -> None:
    # given: no active job, and twice the allowed admissions racing on the pool's
    # connections (closer together than HTTP requests come)
    limit = server.settings.max_active_jobs_per_user
    await no_active_jobs("drh-user")
    user = await User.get(username="drh-user")

    async def admit() -> BatchPrediction | None:
        try:
            return await create_job_within_quota(
                BatchPrediction,
                user.id,
                limit,
                run_id=model["databaseId"],
                model_requested=model["modelVersion"],
                model_version=model["modelVersion"],
                dataset_path="reference.csv",
            )
        except TooManyActiveJobs:
            return None

    for _ in range(3):
        # when
        rows = [row for row in await asyncio.gather(*(admit() for _ in range(2 * limit))) if row]
        try:
            # then
            assert len(rows) == limit
        finally:  # never handed to a worker: removed, not left QUEUED
            await BatchPrediction.filter(id__in=[row.id for row in rows]).delete()
