"""startEvaluation (issue 24, section 3): a model judged on new labelled data as a job,
with that data's drift against the run's own training data; found by id, by node, in
the list and on its run; refusals; who may do what."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.trust_jobs import ModelEvaluation
from tests.conftest import Server
from tests.helpers import graphql_ws, subscribe, train_completed, wait_for, wait_until_final
from trainer.ml.generator import generate_dataset

EVALUATION_FIELDS = """
  id databaseId status progress errorMessage modelRequested modelVersion datasetPath
  datasetSha256 createdByUsername run { databaseId }
  metrics {
    accuracy precision recall f1Score samples droppedRows
    perClassMetrics { label support } confusionMatrix { labels matrix }
  }
  drift {
    referenceRows currentRows driftedFeatures shareDrifted datasetDrifted
    features {
      feature kind test value threshold drifted ksPValue psi wasserstein chi2PValue
      jensenShannon unseenCategories unseenRows histogram { labels reference current }
    }
  }
"""
START = f"""
mutation Start($input: StartEvaluationInput!) {{
  startEvaluation(input: $input) {{
    evaluation {{ {EVALUATION_FIELDS} }}
    errors {{ field code message }}
  }}
}}
"""
EVALUATION = f"query E($id: ID!) {{ modelEvaluation(id: $id) {{ {EVALUATION_FIELDS} }} }}"


def write(server: Server, rows: int, seed: int, shift: bool = False) -> str:
    """A generated file in the datasets folder; `shift`: trend_score moved by 0.1 and a
    quarter of the rows' skill_category set to Management, nothing else changed."""
    name = f"eval-{uuid.uuid4().hex[:8]}.csv"
    path = server.settings.artifacts.datasets / name
    generate_dataset(rows, seed, path)
    if shift:
        import pandas as pd

        frame = pd.read_csv(path, dtype=str)
        frame["trend_score"] = (frame["trend_score"].astype(float) + 0.1).round(3).astype(str)
        picked = np.random.default_rng(0).random(len(frame)) < 0.25
        frame.loc[picked, "skill_category"] = "Management"
        frame.to_csv(path, index=False)
    return name


def append_a_row(path: Path) -> None:
    text = path.read_text()
    path.write_text(text + text.splitlines()[1] + "\n")


def drop_the_target(path: Path) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line.rpartition(",")[0] for line in lines))


@pytest.fixture(scope="module")
async def reference(server: Server) -> dict[str, Any]:
    """A run trained on 5,000 generated rows (a reference over 1,000 rows)."""
    return await train_completed(server.data, trees=5, datasetPath=write(server, 5000, 1))


async def evaluate(server: Server, as_: str = "drh", **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await server.data(START, {"input": fields}, as_=as_))[
        "startEvaluation"
    ]
    return payload


async def finished(server: Server, evaluation: dict[str, Any]) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        state: dict[str, Any] = (await server.data(EVALUATION, {"id": evaluation["id"]}))[
            "modelEvaluation"
        ]
        return state

    return await wait_until_final(read, timeout=120, what="the evaluation")


async def test_data_from_the_same_distribution_shows_no_drift(
    server: Server, reference: dict[str, Any]
) -> None:
    # when
    payload = await evaluate(
        server, model=reference["modelVersion"], datasetPath=write(server, 5000, 2)
    )
    assert payload["errors"] == []
    evaluation = await finished(server, payload["evaluation"])

    # then: metrics on the new data, and no feature drifted
    assert evaluation["status"] == "COMPLETED", evaluation
    metrics = evaluation["metrics"]
    assert metrics["samples"] == 5000
    assert 0.5 < metrics["accuracy"] <= 1.0
    assert sum(c["support"] for c in metrics["perClassMetrics"]) == 5000
    assert sum(map(sum, metrics["confusionMatrix"]["matrix"])) == 5000
    drift = evaluation["drift"]
    assert (drift["referenceRows"], drift["currentRows"]) == (5000, 5000)
    assert [f["feature"] for f in drift["features"] if f["drifted"]] == []
    assert drift["datasetDrifted"] is False
    assert len(drift["features"]) == 11
    assert evaluation["datasetSha256"] is not None
    assert evaluation["run"]["databaseId"] == reference["databaseId"]


async def test_one_shifted_column_and_one_changed_share_are_exactly_what_drifted(
    server: Server, reference: dict[str, Any]
) -> None:
    # when: the run named by its id
    payload = await evaluate(
        server, model=str(reference["databaseId"]), datasetPath=write(server, 5000, 2, shift=True)
    )
    evaluation = await finished(server, payload["evaluation"])

    # then
    drift = evaluation["drift"]
    flagged = [f for f in drift["features"] if f["drifted"]]
    assert sorted(f["feature"] for f in flagged) == ["skill_category", "trend_score"]
    assert {f["feature"]: f["test"] for f in flagged} == {
        "trend_score": "wasserstein",
        "skill_category": "jensen_shannon",
    }
    assert drift["driftedFeatures"] == 2
    assert [f["feature"] for f in drift["features"][:2]] == ["skill_category", "trend_score"]
    trend = next(f for f in flagged if f["feature"] == "trend_score")
    assert trend["psi"] > 0.1
    assert len(trend["histogram"]["reference"]) == len(trend["histogram"]["labels"]) == 10


async def test_evaluations_are_listed_on_their_run_and_found_by_node(
    server: Server, reference: dict[str, Any]
) -> None:
    # given
    payload = await evaluate(
        server, model=reference["modelVersion"], datasetPath=write(server, 300, 5)
    )
    evaluation = await finished(server, payload["evaluation"])

    # when
    on_run = await server.data(
        "query R($id: ID!) { trainingRun(id: $id) { evaluations(first: 100) { totalCount "
        "nodes { databaseId } } } }",
        {"id": reference["id"]},
        as_="manager",
    )
    listed = await server.data(
        "{ modelEvaluations(first: 100) { nodes { databaseId } } }", as_="manager"
    )
    node = await server.data(
        "query N($id: ID!) { node(id: $id) { ... on ModelEvaluation { databaseId } } }",
        {"id": evaluation["id"]},
    )

    # then
    ids = [n["databaseId"] for n in on_run["trainingRun"]["evaluations"]["nodes"]]
    assert evaluation["databaseId"] in ids
    assert evaluation["databaseId"] in [
        n["databaseId"] for n in listed["modelEvaluations"]["nodes"]
    ]
    assert node["node"] == {"databaseId": evaluation["databaseId"]}


async def test_a_changed_training_file_leaves_no_reference_and_fails_the_evaluation(
    server: Server,
) -> None:
    # given: a run whose training file is rewritten afterwards
    name = write(server, 400, 8)
    run = await train_completed(server.data, trees=3, datasetPath=name)
    append_a_row(server.settings.artifacts.datasets / name)

    # when
    payload = await evaluate(server, model=run["modelVersion"], datasetPath=write(server, 200, 9))
    evaluation = await finished(server, payload["evaluation"])

    # then
    assert evaluation["status"] == "FAILED"
    assert "changed since the model was trained" in evaluation["errorMessage"]


async def test_unlabelled_data_cannot_be_evaluated(
    server: Server, reference: dict[str, Any]
) -> None:
    # given: a file without future_need_level
    name = f"unlabelled-{uuid.uuid4().hex[:8]}.csv"
    generate_dataset(50, 3, server.settings.artifacts.datasets / name)
    drop_the_target(server.settings.artifacts.datasets / name)

    # when
    payload = await evaluate(server, model=reference["modelVersion"], datasetPath=name)
    evaluation = await finished(server, payload["evaluation"])

    # then
    assert evaluation["status"] == "FAILED"
    assert "future_need_level" in evaluation["errorMessage"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"model": "no-such-model"}, (["input", "model"], "NOT_FOUND")),
        ({"datasetPath": "/etc/passwd"}, (["input", "datasetPath"], "PATH_NOT_ALLOWED")),
        ({"datasetPath": "absent.csv"}, (["input", "datasetPath"], "NOT_FOUND")),
    ],
)
async def test_refused_input_creates_no_evaluation(
    server: Server, reference: dict[str, Any], fields: dict[str, str], error: Any
) -> None:
    fields = {"model": reference["modelVersion"], "datasetPath": "reference.csv", **fields}
    before = await ModelEvaluation.all().count()

    payload = await evaluate(server, **fields)

    assert payload["evaluation"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [error]
    assert await ModelEvaluation.all().count() == before


async def test_managers_may_read_but_not_start_evaluations(server: Server) -> None:
    body = await server.gql(START, {"input": {"datasetPath": "reference.csv"}}, as_="manager")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


CANCEL = """
mutation Cancel($id: ID!) {
  cancelEvaluation(id: $id) {
    evaluation { databaseId status cancelRequested errorMessage metrics { samples } }
    errors { field code }
  }
}
"""
FOLLOW = """
subscription Follow($id: ID!) { evaluationUpdated(id: $id) { status progress cancelRequested } }
"""


@pytest.fixture(scope="module")
def long_file(server: Server) -> str:
    """Labelled rows enough for an evaluation to be caught between two chunks."""
    return write(server, 400_000, 21)


async def test_a_running_evaluation_is_cancelled_between_chunks(
    server: Server, reference: dict[str, Any], long_file: str
) -> None:
    # given: an evaluation caught reading its file
    payload = await evaluate(server, model=reference["modelVersion"], datasetPath=long_file)
    evaluation = payload["evaluation"]

    async def running() -> dict[str, Any] | None:
        state: dict[str, Any] = (await server.data(EVALUATION, {"id": evaluation["id"]}))[
            "modelEvaluation"
        ]
        return state if state["status"] == "RUNNING" and state["progress"] > 0.1 else None

    await wait_for(running, timeout=120, what="the evaluation to read rows", interval=0.05)

    # when: cancelled, followed by a manager's subscription
    async with graphql_ws(server.client) as ws:
        await subscribe(ws, server, FOLLOW, {"id": evaluation["id"]}, "manager")
        first = await asyncio.wait_for(ws.receive_json(), 30)
        cancelled = (await server.data(CANCEL, {"id": evaluation["id"]}))["cancelEvaluation"]
        messages = [first]
        while messages[-1]["type"] == "next":
            messages.append(await asyncio.wait_for(ws.receive_json(), 120))

    # then: requested at once, honoured at the next chunk, with no result kept
    assert cancelled["errors"] == []
    assert cancelled["evaluation"]["cancelRequested"] is True
    assert cancelled["evaluation"]["status"] == "RUNNING"
    final = await finished(server, evaluation)
    assert final["status"] == "CANCELLED", final
    assert final["metrics"] is None
    assert final["drift"] is None
    states = [m["payload"]["data"]["evaluationUpdated"] for m in messages if m["type"] == "next"]
    assert states[0]["cancelRequested"] is False
    assert states[-1] == {**states[-1], "status": "CANCELLED", "cancelRequested": True}
    assert messages[-1]["type"] == "complete"
    # and: an ended evaluation cannot be cancelled again
    again = (await server.data(CANCEL, {"id": evaluation["id"]}))["cancelEvaluation"]
    assert [(e["field"], e["code"]) for e in again["errors"]] == [(["id"], "INVALID_STATE")]
    assert again["evaluation"]["status"] == "CANCELLED"


async def test_followers_of_several_evaluations_cost_one_query_a_tick(
    server: Server, reference: dict[str, Any], sql_log: pytest.LogCaptureFixture
) -> None:
    # given: five queued evaluations (rows only: no worker is asked to take them), each
    # followed by a subscriber of its own
    rows = [
        await ModelEvaluation.create(
            run_id=reference["databaseId"],
            model_requested=reference["modelVersion"],
            model_version=reference["modelVersion"],
            dataset_path="reference.csv",
        )
        for _ in range(5)
    ]
    try:
        async with contextlib.AsyncExitStack() as sessions:
            for row in rows:
                ws = await sessions.enter_async_context(graphql_ws(server.client))
                await subscribe(ws, server, FOLLOW, {"id": str(row.id)}, "manager")
                assert (await asyncio.wait_for(ws.receive_json(), 30))["type"] == "next"

            # when: a second goes by
            sql_log.clear()
            await asyncio.sleep(1.0)
            polls = [
                record.getMessage()
                for record in sql_log.records
                if 'FROM "model_evaluation"' in record.getMessage()
            ]
    finally:
        await ModelEvaluation.filter(id__in=[row.id for row in rows]).delete()

    # then: one read of all five a tick (it read one per follower: five a tick)
    ticks = 1.0 / server.settings.subscription_poll_interval
    assert 0 < len(polls) <= ticks + 2, polls


async def test_a_queued_evaluation_is_cancelled_at_once(
    server: Server, reference: dict[str, Any], long_file: str
) -> None:
    # given: both workers busy, so the next evaluation waits in the queue
    busy = [
        (await evaluate(server, model=reference["modelVersion"], datasetPath=long_file))[
            "evaluation"
        ]
        for _ in range(2)
    ]
    try:
        queued = (await evaluate(server, model=reference["modelVersion"], datasetPath=long_file))[
            "evaluation"
        ]
        assert queued["status"] == "QUEUED"

        # when
        cancelled = (await server.data(CANCEL, {"id": queued["id"]}))["cancelEvaluation"]

        # then: CANCELLED at once, never run
        assert cancelled["errors"] == []
        assert cancelled["evaluation"]["status"] == "CANCELLED"
        row = await ModelEvaluation.get(id=queued["databaseId"])
        assert row.started_at is None
        assert row.error_message is not None
        assert "before it started" in row.error_message
    finally:
        for job in busy:
            await server.data(CANCEL, {"id": job["id"]})
        for job in busy:
            assert (await finished(server, job))["status"] == "CANCELLED"


async def test_cancelling_an_unknown_evaluation_and_as_a_manager_is_refused(
    server: Server, reference: dict[str, Any]
) -> None:
    # given
    evaluation = (
        await evaluate(server, model=reference["modelVersion"], datasetPath=write(server, 50, 4))
    )["evaluation"]

    # when
    unknown = (await server.data(CANCEL, {"id": "999999"}))["cancelEvaluation"]
    manager = await server.gql(CANCEL, {"id": evaluation["id"]}, as_="manager")

    # then
    assert unknown["evaluation"] is None
    assert [(e["field"], e["code"]) for e in unknown["errors"]] == [(["id"], "NOT_FOUND")]
    assert [e["extensions"]["code"] for e in manager["errors"]] == ["FORBIDDEN"]
    assert (await finished(server, evaluation))["status"] == "COMPLETED"
