"""Sweeps across real server processes (issue 23): kill -9 of every process mid-sweep and a
restart lose no trial and start none twice; with two API processes on one database
exactly one drives the sweep."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers import wait_for
from tests.processes import Api, Deployment, Services, first_server, group_gone

FAST = {
    "PROGRESS_INTERVAL": "0.2",
    "STALE_RUN_AFTER": "3",
    "SWEEP_DRIVER_INTERVAL": "0.2",
    "SWEEP_LEASE_SECONDS": "3",
    "TRAINING_WORKERS": "1",
}

START = """
mutation Start($input: StartSweepInput!) {
  startSweep(input: $input) { sweep { id databaseId } errors { field code } }
}
"""

SWEEP = """
query Sweep($id: ID!) {
  sweep(id: $id) {
    status bestValue
    trialCounts { queued running completed pruned failed cancelled finished total }
    trials(first: 100) { nodes { databaseId trialNumber status errorMessage } }
  }
}
"""


def slow_sweep(trials: int, parallelism: int) -> dict[str, Any]:
    """Trials of a few seconds each on the shipped dataset (2000 rows)."""
    return {
        "maxTrials": trials,
        "parallelism": parallelism,
        "method": "RANDOM",
        "seed": 3,
        "space": [
            {
                "algorithm": "RANDOM_FOREST",
                "parameters": [{"name": "nEstimators", "min": 120, "max": 160}],
            }
        ],
    }


async def start(api: Api, sweep_input: dict[str, Any]) -> str:
    payload = (await api.data(START, {"input": sweep_input}))["startSweep"]
    assert payload["errors"] == []
    sweep_id: str = payload["sweep"]["id"]
    return sweep_id


async def read(api: Api, sweep_id: str) -> dict[str, Any]:
    sweep: dict[str, Any] = (await api.data(SWEEP, {"id": sweep_id}))["sweep"]
    return sweep


async def until(
    api: Api, sweep_id: str, done: Any, what: str, timeout: float = 400
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        sweep = await read(api, sweep_id)
        return sweep if done(sweep) else None

    return await wait_for(check, timeout=timeout, what=what, interval=0.3)


def final(sweep: dict[str, Any]) -> bool:
    return sweep["status"] in {"COMPLETED", "FAILED", "CANCELLED"}


async def test_kill_9_of_every_process_mid_sweep_loses_and_repeats_no_trial(
    tmp_path: Any,
) -> None:
    services = Services(tmp_path)
    try:
        deployment = Deployment.create(tmp_path, f"sqlite://{tmp_path}/db.sqlite3", **FAST)
        api = await first_server(services, deployment)
        sweep_id = await start(api, slow_sweep(trials=4, parallelism=1))

        # given: one trial finished and the next one running
        await until(
            api,
            sweep_id,
            lambda s: s["trialCounts"]["finished"] >= 1 and s["trialCounts"]["running"] == 1,
            "a finished trial and a running one",
        )

        # when: the server and its pool die together, then a new server starts
        await api.service.kill()
        assert await group_gone(api.service.pid) == []
        restarted = Api(await services.serve("restarted", deployment), api.token)
        sweep = await until(restarted, sweep_id, final, "the sweep to end after the restart")

        # then: exactly maxTrials trials, numbered once each, all finished
        trials = sweep["trials"]["nodes"]
        assert sorted(t["trialNumber"] for t in trials) == [0, 1, 2, 3]
        assert sweep["trialCounts"]["finished"] == sweep["trialCounts"]["total"] == 4
        assert sweep["status"] == "COMPLETED"
        lost = [t for t in trials if t["status"] == "FAILED"]
        assert len(lost) == 1
        assert "worker lost" in lost[0]["errorMessage"]
        assert "taken over by" in services.started[-1].output()
    finally:
        await services.kill_all()


async def test_two_api_processes_drive_a_sweep_through_one_driver(tmp_path: Any) -> None:
    services = Services(tmp_path)
    try:
        deployment = Deployment.create(tmp_path, f"sqlite://{tmp_path}/db.sqlite3", **FAST)
        first = await first_server(services, deployment, "first")
        second = Api(await services.serve("second", deployment), first.token)

        # when: a sweep is started through the second server
        sweep_id = await start(
            second,
            slow_sweep(trials=4, parallelism=2)
            | {
                "space": [
                    {
                        "algorithm": "RANDOM_FOREST",
                        "parameters": [{"name": "nEstimators", "min": 5, "max": 20}],
                    }
                ]
            },
        )
        sweep = await until(first, sweep_id, final, "the sweep to end")

        # then: four trials, numbered once each, started by one process's driver only
        assert sweep["status"] == "COMPLETED"
        assert sorted(t["trialNumber"] for t in sweep["trials"]["nodes"]) == [0, 1, 2, 3]
        started = re.compile(r"sweep \d+ started on ")
        queued = re.compile(r"sweep \d+ trial \d+ queued as run")
        logs = [service.output() for service in services.started]
        assert sum(bool(started.search(log)) for log in logs) == 1
        assert [len(queued.findall(log)) for log in logs].count(4) == 1
    finally:
        await services.kill_all()
