"""A training run driven and followed through the API, as the job tests do it.

`data` is any coroutine function sending a document and returning its `data`: the
in-process test server's (`server.data`) or a separately started one's (`Api.data`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.helpers import ACTIVE_STATUSES, TRAIN, train_variables, wait_for

RUN = """
query Run($id: ID!) {
  trainingRun(id: $id) {
    databaseId
    modelVersion
    status
    stage
    progress
    startedAt
    finishedAt
    cancelRequested
    errorMessage
    modelPath
    modelSha256
  }
}
"""

ACTIVE = ACTIVE_STATUSES
# About seven seconds of fitting on the shipped dataset: long enough to act on it mid-run.
LONG_TREES = 1000

Query = Callable[[str, dict[str, Any]], Any]


def running_and_fitting(state: dict[str, Any]) -> bool:
    return state["status"] == "RUNNING" and state["stage"] == "FITTING"


def ended(state: dict[str, Any]) -> bool:
    return state["status"] not in ACTIVE


async def train(
    data: Query, trees: int, *, wait: bool = False, dataset: str | None = None
) -> dict[str, Any]:
    variables = train_variables(trees, wait=wait, datasetPath=dataset)
    payload = (await data(TRAIN, variables))["trainModel"]
    assert payload["errors"] == []
    return payload["trainingRun"]


async def state_of(data: Query, run: dict[str, Any]) -> dict[str, Any]:
    state = (await data(RUN, {"id": run["id"]}))["trainingRun"]
    assert state is not None
    return state


async def wait_for_state(
    data: Query,
    run: dict[str, Any],
    condition: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    what: str,
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        state = await state_of(data, run)
        return state if condition(state) else None

    return await wait_for(check, timeout=timeout, what=f"run {run['databaseId']} {what}")
