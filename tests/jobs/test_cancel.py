"""cancelTrainingRun on the real server and local pool: a queued run is cancelled at once
and never starts, a running one stops within seconds and leaves no model file, an ended or
unknown run is refused with a code, and only HR staff may cancel."""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import pytest

from models.training_runs import TrainingRun
from tests.conftest import Server
from tests.helpers import (
    ACTIVE_STATUSES,
    CANCEL,
    LONG_TREES,
    cancel,
    cancel_and_wait,
    ended,
    follow,
    running_and_fitting,
    state_of,
    train,
    wait_for,
    wait_for_state,
)
from trainer.jobs.job import worker_is_dead
from trainer.ml.generator import generate_dataset


async def test_cancelling_a_queued_run_cancels_it_at_once_and_it_never_starts(
    clean_runs: Server,
) -> None:
    # given: both pool workers busy with long runs, and a run queued behind them
    long_runs = [await train(clean_runs.data, LONG_TREES) for _ in range(2)]
    runs = list(long_runs)
    try:
        for run in long_runs:
            await wait_for_state(
                clean_runs.data, run, lambda s: s["status"] == "RUNNING", timeout=60, what="started"
            )
        queued = await train(clean_runs.data, 10)
        runs.append(queued)
        assert (await state_of(clean_runs.data, queued))["status"] == "QUEUED"

        # when
        payload = await cancel(clean_runs, queued["id"])

        # then: cancelled in the mutation's own answer, not later
        assert payload["errors"] == []
        assert payload["trainingRun"]["status"] == "CANCELLED"
        assert payload["trainingRun"]["cancelRequested"] is True
        assert payload["trainingRun"]["finishedAt"] is not None
    finally:
        await cancel_and_wait(clean_runs, runs)

    # and: once the workers are free the pool takes the cancelled run's job first (FIFO);
    # a run queued after it can only have finished after that job was dealt with
    later = await train(clean_runs.data, 10, wait=True)
    assert later["status"] == "COMPLETED"
    state = await state_of(clean_runs.data, queued)
    assert state["status"] == "CANCELLED"
    assert state["startedAt"] is None
    assert state["stage"] is None
    assert state["progress"] == 0
    assert state["modelPath"] is None


async def test_cancelling_a_running_run_stops_it_within_seconds_without_a_model_file(
    clean_runs: Server,
) -> None:
    # given: a long run growing its trees
    run = await train(clean_runs.data, LONG_TREES)
    try:
        await wait_for_state(
            clean_runs.data, run, running_and_fitting, timeout=60, what="reached FITTING"
        )

        # when
        asked = time.monotonic()
        payload = await cancel(clean_runs, run["id"])
        final = await wait_for_state(clean_runs.data, run, ended, timeout=30, what="ended")
        latency = time.monotonic() - asked
    finally:
        await cancel_and_wait(clean_runs, [run])

    # then
    print(f"\ncancelTrainingRun on a RUNNING run → CANCELLED in {latency:.2f} s")
    assert payload["errors"] == []
    assert payload["trainingRun"]["cancelRequested"] is True
    assert final["status"] == "CANCELLED"
    assert latency < 5
    assert final["progress"] < 1
    assert final["finishedAt"] is not None
    assert final["modelPath"] is None
    assert final["modelSha256"] is None
    models = clean_runs.settings.artifacts.models
    assert not (models / f"{run['modelVersion']}.joblib").exists()
    assert list(models.glob("*.partial")) == []


async def test_a_subscriber_to_a_cancelled_run_sees_it_end_and_the_subscription_completes(
    clean_runs: Server,
) -> None:
    # given: a long run followed over WebSocket
    run = await train(clean_runs.data, LONG_TREES)
    messages: list[dict[str, Any]] = []

    async def subscriber_saw_it_run() -> bool | None:
        updates = [
            m["payload"]["data"]["trainingRunUpdated"]
            for m in list(messages)
            if m["type"] == "next"
        ]
        return True if "RUNNING" in {u["status"] for u in updates} else None

    try:
        following = asyncio.create_task(follow(clean_runs, run["id"], into=messages))
        await wait_for_state(
            clean_runs.data, run, running_and_fitting, timeout=60, what="reached FITTING"
        )
        # The subscription's watcher polls on its own beat: cancelling before it has told
        # the subscriber about RUNNING would leave it only QUEUED and CANCELLED to report.
        await wait_for(subscriber_saw_it_run, timeout=30, what="the subscriber to see RUNNING")

        # when
        await cancel(clean_runs, run["id"])
        assert await asyncio.wait_for(following, 30) is messages
    finally:
        following.cancel()
        await cancel_and_wait(clean_runs, [run])

    # then
    updates = [m["payload"]["data"]["trainingRunUpdated"] for m in messages if m["type"] == "next"]
    assert messages[-1]["type"] == "complete"
    assert updates[-1]["status"] == "CANCELLED"
    assert updates[-1]["progress"] < 1
    assert "RUNNING" in {u["status"] for u in updates}


async def _completed(server: Server) -> dict[str, Any]:
    return await train(server.data, 10, wait=True)


async def _cancelled(server: Server) -> dict[str, Any]:
    run = await train(server.data, LONG_TREES)
    await cancel_and_wait(server, [run])
    return run


async def _failed(server: Server) -> dict[str, Any]:
    return await train(server.data, 10, wait=True, datasetPath="no-such-dataset.csv")


@pytest.mark.parametrize(
    ("make_run", "status"),
    [(_completed, "COMPLETED"), (_cancelled, "CANCELLED"), (_failed, "FAILED")],
    ids=["completed", "cancelled", "failed"],
)
async def test_cancelling_an_ended_run_is_refused_and_changes_nothing(
    clean_runs: Server, make_run: Callable[[Server], Any], status: str
) -> None:
    # given
    run = await make_run(clean_runs)
    before = await state_of(clean_runs.data, run)
    assert before["status"] == status

    # when
    payload = await cancel(clean_runs, run["id"])

    # then
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_STATE", ["id"])]
    assert payload["trainingRun"]["status"] == status
    assert await state_of(clean_runs.data, run) == before


@pytest.mark.parametrize(
    "run_id",
    [
        "999999",
        base64.b64encode(b"TrainingRun:999999").decode(),
        base64.b64encode(b"User:1").decode(),
        "99999999999999999999",
        "not-an-id",
    ],
    ids=["database-id", "global-id", "global-id-of-a-user", "beyond-bigint", "garbage"],
)
async def test_cancelling_an_unknown_run_says_not_found(clean_runs: Server, run_id: str) -> None:
    payload = await cancel(clean_runs, run_id)

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["id"])]
    assert payload["trainingRun"] is None


@pytest.mark.parametrize(
    ("role", "code"),
    [("manager", "FORBIDDEN"), ("nogroup", "FORBIDDEN"), (None, "UNAUTHENTICATED")],
    ids=["manager", "no-group", "anonymous"],
)
async def test_only_hr_staff_may_cancel(clean_runs: Server, role: str | None, code: str) -> None:
    # given: an active run
    run = await train(clean_runs.data, LONG_TREES)
    try:
        # when
        body = await clean_runs.gql(CANCEL, {"id": run["id"]}, as_=role)

        # then: refused with a code, and the run goes on untouched
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == [code]
        state = await state_of(clean_runs.data, run)
        assert state["cancelRequested"] is False
        assert state["status"] in ACTIVE_STATUSES
    finally:
        await cancel_and_wait(clean_runs, [run])


# Rows of the dataset made for the next test: enough that one chunk of trees takes several
# seconds (its size keeps each fit call's own overhead under 2 % of the call).
CHUNKY_ROWS = 150_000


async def test_cancelling_inside_a_long_chunk_of_trees_stops_the_worker_and_the_pool_goes_on(
    clean_runs: Server,
) -> None:
    # given: a run on a dataset large enough that a chunk of trees takes seconds, just
    # after its second chunk ended: the third, as long, has begun (the first is tiny and
    # followed by a measurement, so it is not a chunk boundary worth waiting for)
    dataset = clean_runs.settings.artifacts.datasets / "chunky.csv"
    if not dataset.exists():
        await asyncio.to_thread(generate_dataset, CHUNKY_ROWS, 3, dataset)
    run = await train(clean_runs.data, LONG_TREES, datasetPath=dataset.name)
    try:
        first = await wait_for_state(
            clean_runs.data,
            run,
            lambda s: running_and_fitting(s) and s["progress"] > 0.05,
            timeout=180,
            what="grew its first trees",
        )
        fitting = await wait_for_state(
            clean_runs.data,
            run,
            lambda s: running_and_fitting(s) and s["progress"] > first["progress"],
            timeout=120,
            what="grew its second chunk of trees",
        )
        worker = (await TrainingRun.get(id=run["databaseId"])).worker

        # when
        asked = time.monotonic()
        payload = await cancel(clean_runs, run["id"])
        final = await wait_for_state(clean_runs.data, run, ended, timeout=60, what="ended")
        latency = time.monotonic() - asked
    finally:
        await cancel_and_wait(clean_runs, [run])

    # then: cancelled within about two seconds, with no model file
    print(f"\ncancel inside a chunk ({CHUNKY_ROWS} rows) → CANCELLED in {latency:.2f} s")
    assert payload["errors"] == []
    assert final["status"] == "CANCELLED"
    assert latency < 3.5
    assert fitting["progress"] <= final["progress"] < 0.9
    assert final["modelPath"] is None
    models = clean_runs.settings.artifacts.models
    assert not (models / f"{run['modelVersion']}.joblib").exists()
    assert list(models.glob("*.partial")) == []
    # and: that worker process is gone, a fresh one took its place, and training goes on
    assert worker_is_dead(worker)

    async def pool_full() -> bool | None:
        workers = [p for p in multiprocessing.active_children() if p.name == "training-worker"]
        return True if len(workers) == clean_runs.settings.training_workers else None

    await wait_for(pool_full, timeout=30, what="a fresh worker process")
    after = await asyncio.wait_for(train(clean_runs.data, 10, wait=True), 180)
    assert after["status"] == "COMPLETED"
