"""Nothing stays RUNNING forever and no half-written model counts: kill -9 of a pool worker,
kill -9 of the whole server, and an ordinary stop, each in the middle of a training."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.training_runs import TrainingRun
from tests.conftest import Server
from tests.helpers import (
    LONG_TREES,
    ended,
    follow,
    running_and_fitting,
    state_of,
    train,
    wait_for_state,
)
from tests.prestart import prestartable
from tests.processes import (
    Api,
    Deployment,
    Services,
    first_server,
    group_gone,
    process_state,
)
from trainer.jobs.job import worker_is_dead

# Reporting and staleness of the server processes started here (see DESIGN, Running training).
FAST_REAPING = {"PROGRESS_INTERVAL": "0.2", "STALE_RUN_AFTER": "3"}


def assert_no_model_file(models: Path, model_version: str) -> None:
    assert not (models / f"{model_version}.joblib").exists()
    assert list(models.glob("*.partial")) == []


# --- kill -9 of one local pool worker (in-process server) ----------------------------


async def test_a_killed_pool_worker_fails_its_run_and_the_pool_recovers(
    clean_runs: Server,
) -> None:
    # given: a long run on a pool worker of this test process's server, followed live
    run = await train(clean_runs.data, LONG_TREES)
    following = asyncio.create_task(follow(clean_runs, run["id"]))
    try:
        await wait_for_state(
            clean_runs.data, run, running_and_fitting, timeout=60, what="reached FITTING"
        )
        row = await TrainingRun.get(id=run["databaseId"])
        host, _, pid = (row.worker or "").rpartition(":")
        assert host == socket.gethostname()
        # Never kill anything but our own pool's worker.
        assert int(pid) in {child.pid for child in multiprocessing.active_children()}

        # when
        killed = time.monotonic()
        os.kill(int(pid), signal.SIGKILL)
        final = await wait_for_state(clean_runs.data, run, ended, timeout=60, what="ended")
        elapsed = time.monotonic() - killed
        messages = await asyncio.wait_for(following, 30)
    finally:
        following.cancel()

    # then
    print(f"\nkill -9 of a pool worker → run FAILED in {elapsed:.2f} s")
    assert final["status"] == "FAILED"
    assert "worker lost" in final["errorMessage"]
    assert elapsed < 15
    assert final["modelPath"] is None
    assert final["modelSha256"] is None
    assert_no_model_file(clean_runs.settings.artifacts.models, run["modelVersion"])
    # and: its subscribers are told, not left waiting
    updates = [m["payload"]["data"]["trainingRunUpdated"] for m in messages if m["type"] == "next"]
    assert messages[-1]["type"] == "complete"
    assert updates[-1]["status"] == "FAILED"

    # and: the pool took new workers, so training goes on
    after = await asyncio.wait_for(train(clean_runs.data, 20, wait=True), 120)
    assert after["status"] == "COMPLETED"


# --- kill -9 of the whole server (a real `main.py serve` process group) --------------


@dataclass
class ServerKill:
    """A server killed with a run RUNNING and two QUEUED, restarted on the same database."""

    deployment: Deployment
    running: dict[str, Any]
    queued: list[dict[str, Any]]
    killed_at: datetime
    # Seconds from launching the restarted server until it answered /healthz.
    restart_ready_after: float
    # Per databaseId: the run's state once it ended after the restart, and the seconds
    # from launching the restarted server until the run was seen ended.
    outcome: dict[int, tuple[dict[str, Any], float]]


@pytest.fixture(scope="module")
async def server_kill(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerKill]:
    directory = tmp_path_factory.mktemp("server-kill")
    services = Services(directory)
    try:
        deployment = Deployment.create(
            directory, f"sqlite://{directory}/db.sqlite3", TRAINING_WORKERS="1", **FAST_REAPING
        )
        api = await first_server(services, deployment)
        running = await train(api.data, LONG_TREES)
        queued = [await train(api.data, 50) for _ in range(2)]
        await wait_for_state(
            api.data, running, running_and_fitting, timeout=120, what="reached FITTING"
        )
        assert [(await state_of(api.data, run))["status"] for run in queued] == ["QUEUED"] * 2

        # The server and its pool worker die together, as on a power cut or an OOM kill.
        killed_at = datetime.now(UTC)
        await api.service.kill()
        assert await group_gone(api.service.pid) == []

        launched = time.monotonic()
        restarted = Api(await services.serve("restarted-server", deployment), api.token)
        ready_after = time.monotonic() - launched
        outcome = await _follow_until_ended(restarted, [running, *queued], launched)
        yield ServerKill(deployment, running, queued, killed_at, ready_after, outcome)
    finally:
        await services.kill_all()


async def _follow_until_ended(
    api: Api, runs: list[dict[str, Any]], since: float
) -> dict[int, tuple[dict[str, Any], float]]:
    outcome: dict[int, tuple[dict[str, Any], float]] = {}
    deadline = time.monotonic() + 120
    while len(outcome) < len(runs):
        for run in runs:
            if run["databaseId"] not in outcome:
                state = await state_of(api.data, run)
                if ended(state):
                    outcome[run["databaseId"]] = (state, time.monotonic() - since)
        assert time.monotonic() < deadline, f"runs still active after restart: {outcome}"
        await asyncio.sleep(0.1)
    return outcome


async def test_the_run_that_was_running_when_the_server_died_fails_as_worker_lost(
    server_kill: ServerKill,
) -> None:
    state, seconds = server_kill.outcome[server_kill.running["databaseId"]]

    print(
        f"\nkill -9 of the server → run FAILED {seconds:.2f} s after the restart's launch "
        f"(the restarted server answered after {server_kill.restart_ready_after:.2f} s)"
    )
    assert state["status"] == "FAILED"
    assert "worker lost" in state["errorMessage"]
    assert seconds < 60
    assert state["modelPath"] is None
    assert state["modelSha256"] is None
    assert not server_kill.deployment.model_file(state["modelVersion"]).exists()


async def test_the_runs_still_queued_when_the_server_died_are_trained_after_restart(
    server_kill: ServerKill,
) -> None:
    for run in server_kill.queued:
        state, _ = server_kill.outcome[run["databaseId"]]

        assert state["status"] == "COMPLETED"
        assert datetime.fromisoformat(state["startedAt"]) > server_kill.killed_at
        assert server_kill.deployment.model_file(state["modelVersion"]).exists()
        assert state["modelSha256"] is not None
    assert server_kill.deployment.partial_files() == []


# --- an ordinary stop (SIGTERM) in the middle of a training ----------------------------


@dataclass
class StoppableServer:
    """A server of its own, on a deployment of its own, that a test will stop."""

    database: Path
    deployment: Deployment
    api: Api


@pytest.fixture(scope="module")
@prestartable
async def server_to_stop(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[StoppableServer]:
    directory = tmp_path_factory.mktemp("server-stop")
    services = Services(directory)
    try:
        database = directory / "db.sqlite3"
        deployment = Deployment.create(directory, f"sqlite://{database}", **FAST_REAPING)
        yield StoppableServer(database, deployment, await first_server(services, deployment))
    finally:
        await services.kill_all()


def _stored_run(database: Path, run_id: int) -> tuple[str, str | None]:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT status, error_message FROM training_run WHERE id = ?", (run_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


async def test_stopping_the_server_mid_run_fails_the_run_and_leaves_no_process_behind(
    server_to_stop: StoppableServer,
) -> None:
    # given: a server training a long run
    database, deployment, api = (
        server_to_stop.database,
        server_to_stop.deployment,
        server_to_stop.api,
    )
    run = await train(api.data, LONG_TREES)
    await wait_for_state(api.data, run, running_and_fitting, timeout=120, what="reached FITTING")

    # when: asked to stop, as `kill`, docker stop or a service manager would
    api.service.process.send_signal(signal.SIGTERM)
    returncode = await asyncio.wait_for(api.service.process.wait(), 60)

    # then: it exits cleanly (uvicorn re-raises the signal once shut down), its pool
    # workers with it, and the run's row says what happened
    assert returncode in {0, -signal.SIGTERM}, api.service.tail()
    assert await group_gone(api.service.pid) == []
    status, error = await asyncio.to_thread(_stored_run, database, run["databaseId"])
    assert status == "FAILED"
    assert error is not None
    assert "worker lost" in error
    assert not deployment.model_file(run["modelVersion"]).exists()


# --- how the reaper tells a dead worker ----------------------------------------------


def test_a_worker_process_that_ended_counts_as_dead_before_it_is_collected() -> None:
    # given: a process of this host that has ended, not yet collected by its parent (us),
    # as a killed pool worker is until ProcessPoolExecutor's thread joins it
    process = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while process_state(process.pid) != "Z":
            if time.monotonic() > deadline:
                pytest.fail("the child process never ended")
            time.sleep(0.01)

        # when / then
        assert worker_is_dead(f"{socket.gethostname()}:{process.pid}")
    finally:
        process.wait()
