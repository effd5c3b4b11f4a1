"""Documents and waits shared by the tests that train through the API.

`TRAIN` selects what any of them reads back from trainModel; `wait_until_final` follows a
run until it ends, whichever way the test reads it (in-process app, a live server, Celery).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

TRAIN = """
mutation Train($input: TrainModelInput!) {
  trainModel(input: $input) {
    trainingRun { id databaseId status modelVersion errorMessage modelPath }
    errors { code field message }
  }
}
"""
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
ACTIVE_STATUSES = frozenset({"QUEUED", "RUNNING"})
# The columns a run row needs that a test inserting one directly rarely cares about:
# `TrainingRun.create(**RUN_ROW, model_version=..., status=...)`.
RUN_ROW: dict[str, Any] = {
    "dataset_path": "future_skills_dataset.csv",
    "test_split": 0.2,
    "random_state": 42,
    "min_samples_split": 2,
    "min_samples_leaf": 1,
}
# Short enough that a test sees a run's end within a tenth of a second of it.
POLL_INTERVAL = 0.1


def train_variables(trees: int | None = None, **fields: Any) -> dict[str, Any]:
    """Variables of TRAIN: `trees` as hyperparameters.nEstimators, `fields` as the rest of
    the input (wait, datasetPath, modelVersion, notes, ...)."""
    data = dict(fields)
    if trees is not None:
        data["hyperparameters"] = {**data.get("hyperparameters", {}), "nEstimators": trees}
    return {"input": data}


async def wait_for(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    what: str,
    interval: float = POLL_INTERVAL,
) -> T:
    """Poll `check` until it returns something other than None; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_until_final(
    read: Callable[[], Awaitable[dict[str, Any]]],
    *,
    timeout: float,
    what: str = "the run",
    interval: float = POLL_INTERVAL,
) -> dict[str, Any]:
    """Poll `read` (a run's current state, with its `status`) until the run has ended;
    return that last state, or fail after `timeout` s."""

    async def check() -> dict[str, Any] | None:
        state = await read()
        return state if state["status"] in FINAL_STATUSES else None

    return await wait_for(check, timeout=timeout, what=f"{what} to end", interval=interval)
