"""A sweep on Celery (issue 23): six trials across two `main.py worker` processes, driven
by the API process, sharing PostgreSQL and a Redis broker (as tests/jobs/test_celery.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import wait_for
from tests.jobs.test_celery import Cluster, cluster

pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("redis")]

__all__ = ["cluster"]  # the fixture, imported for this module

START = """
mutation Start($input: StartSweepInput!) {
  startSweep(input: $input) { sweep { id } errors { field code } }
}
"""

SWEEP = """
query Sweep($id: ID!) {
  sweep(id: $id) {
    status bestValue
    trialCounts { completed finished total }
    trials(first: 100) { nodes { databaseId trialNumber status objectiveValue } }
  }
}
"""


async def test_a_sweep_of_six_trials_runs_across_two_celery_workers(cluster: Cluster) -> None:
    # when
    payload = (
        await cluster.api.data(
            START,
            {
                "input": {
                    "maxTrials": 6,
                    "parallelism": 2,
                    "method": "RANDOM",
                    "seed": 5,
                    "space": [
                        {
                            "algorithm": "RANDOM_FOREST",
                            "parameters": [{"name": "nEstimators", "min": 20, "max": 60}],
                        }
                    ],
                }
            },
        )
    )["startSweep"]
    assert payload["errors"] == []

    async def ended() -> dict[str, Any] | None:
        sweep: dict[str, Any] = (await cluster.api.data(SWEEP, {"id": payload["sweep"]["id"]}))[
            "sweep"
        ]
        return sweep if sweep["status"] in {"COMPLETED", "FAILED", "CANCELLED"} else None

    sweep = await wait_for(ended, timeout=400, what="the sweep to end", interval=0.5)

    # then: six trials, each once, completed, trained by both workers
    assert sweep["status"] == "COMPLETED"
    trials = sweep["trials"]["nodes"]
    assert sorted(t["trialNumber"] for t in trials) == [0, 1, 2, 3, 4, 5]
    assert sweep["trialCounts"] == {"completed": 6, "finished": 6, "total": 6}
    assert sweep["bestValue"] == max(t["objectiveValue"] for t in trials)
    workers = {(await cluster.worker_of(t["databaseId"])).rpartition(":")[0] for t in trials}
    pids = {await cluster.worker_of(t["databaseId"]) for t in trials}
    assert len(workers) == 1  # one machine
    assert len(pids) == 2, pids  # both worker processes took trials
