"""Batch predictions and model evaluations through Celery (issue 24): the same `main.py
worker` processes that train take the new kinds of job from the same queue, one task per
kind, and write their results where any server reads them.

Needs TEST_POSTGRES_URL and TEST_REDIS_URL, as tests/jobs/test_celery.py, whose cluster
fixture this module uses.
"""

from __future__ import annotations

import socket
from typing import Any

import asyncpg
import pytest

from tests.helpers import http_client, train, wait_until_final
from tests.jobs.test_celery import Cluster, cluster
from tests.processes import parent_pid
from trainer.ml.generator import generate_dataset

__all__ = ["cluster"]  # the fixture, imported to be used here

pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("redis")]

START = """
mutation Start($input: StartBatchPredictionInput!) {
  startBatchPrediction(input: $input) {
    batchPrediction { id databaseId status } errors { field code }
  }
}
"""
JOB = """
query Job($id: ID!) {
  batchPrediction(id: $id) {
    status rowsTotal rowsScored rowsRejected downloadUrl outputSha256 errorMessage
    explain reasonUnits
  }
}
"""
EVALUATE = """
mutation Evaluate($input: StartEvaluationInput!) {
  startEvaluation(input: $input) { evaluation { id status } errors { field code } }
}
"""
EVALUATION = """
query E($id: ID!) {
  modelEvaluation(id: $id) { status errorMessage metrics { accuracy } drift { driftedFeatures } }
}
"""


async def worker_of(cluster: Cluster, job_id: int) -> str:
    """The batch prediction's `worker` column, which the API does not show."""
    connection = await asyncpg.connect(cluster.database_url.replace("postgres://", "postgresql://"))
    try:
        worker = await connection.fetchval(
            "SELECT worker FROM batch_prediction WHERE id = $1", job_id
        )
    finally:
        await connection.close()
    return str(worker)


async def test_a_file_is_scored_and_a_model_evaluated_on_celery_workers(
    cluster: Cluster,
) -> None:
    # given: a trained model and a file in the shared datasets folder
    run = await train(cluster.api.data, 10, wait=True)
    assert run["status"] == "COMPLETED"
    generate_dataset(5000, 4, cluster.deployment.artifacts / "datasets" / "celery-batch.csv")

    # when
    started = (
        await cluster.api.data(
            START, {"input": {"model": run["modelVersion"], "datasetPath": "celery-batch.csv"}}
        )
    )["startBatchPrediction"]
    assert started["errors"] == []
    job = started["batchPrediction"]

    async def read() -> dict[str, Any]:
        state: dict[str, Any] = (await cluster.api.data(JOB, {"id": job["id"]}))["batchPrediction"]
        return state

    final = await wait_until_final(read, timeout=120, what="the batch prediction")

    # then: scored by a pool child of a `main.py worker`, its output where the API serves it
    assert final["status"] == "COMPLETED", final
    assert (final["rowsTotal"], final["rowsScored"], final["rowsRejected"]) == (5000, 5000, 0)
    output = cluster.deployment.artifacts / "predictions" / f"batch-{job['databaseId']}.csv"
    assert output.exists()
    host, _, pid = (await worker_of(cluster, job["databaseId"])).rpartition(":")
    assert host == socket.gethostname()
    assert parent_pid(int(pid)) in {w.pid for w in cluster.workers}
    async with http_client() as client:
        response = await client.get(
            cluster.api.service.url + final["downloadUrl"],
            headers={"Authorization": f"Token {cluster.api.token}"},
        )
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{final["outputSha256"]}"'

    # and: with reasons asked for, the same job code explains each row there
    generate_dataset(300, 5, cluster.deployment.artifacts / "datasets" / "celery-explain.csv")
    explained = (
        await cluster.api.data(
            START,
            {
                "input": {
                    "model": run["modelVersion"],
                    "datasetPath": "celery-explain.csv",
                    "explain": 2,
                }
            },
        )
    )["startBatchPrediction"]["batchPrediction"]

    async def read_explained() -> dict[str, Any]:
        state: dict[str, Any] = (await cluster.api.data(JOB, {"id": explained["id"]}))[
            "batchPrediction"
        ]
        return state

    reasoned = await wait_until_final(read_explained, timeout=120, what="the explained job")
    assert reasoned["status"] == "COMPLETED", reasoned
    assert (reasoned["rowsScored"], reasoned["explain"]) == (300, 2)
    assert reasoned["reasonUnits"] == "probability"
    path = cluster.deployment.artifacts / "predictions" / f"batch-{explained['databaseId']}.csv"
    header = path.read_text().splitlines()[0].split(",")
    assert header[-6:] == [
        f"reason_{i}_{part}" for i in (1, 2) for part in ("feature", "value", "contribution")
    ]

    # and: an evaluation goes the same way
    evaluation = (
        await cluster.api.data(
            EVALUATE, {"input": {"model": run["modelVersion"], "datasetPath": "celery-batch.csv"}}
        )
    )["startEvaluation"]["evaluation"]

    async def read_evaluation() -> dict[str, Any]:
        state: dict[str, Any] = (await cluster.api.data(EVALUATION, {"id": evaluation["id"]}))[
            "modelEvaluation"
        ]
        return state

    judged = await wait_until_final(read_evaluation, timeout=120, what="the evaluation")
    assert judged["status"] == "COMPLETED", judged
    assert judged["metrics"]["accuracy"] > 0
    assert judged["drift"]["driftedFeatures"] >= 0
