"""Documents and waits shared by the tests that train through the API.

`TRAIN` selects what any of them reads back from trainModel; `wait_until_final` follows a
run until it ends, whichever way the test reads it (in-process app, a live server, Celery).
`RUN_ROW` and `FINISHED_RUN` are the columns of a run written directly as a row, for the
tests that need runs to read but do not test training.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

import schema.cost
from trainer.ml.dataset import FEATURE_COLUMNS

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
# What a finished run stores, as a training of 5 trees on the shipped dataset wrote it: for
# the tests that need a COMPLETED run with its metrics to read, not a training to watch
# (`TrainingRun.create(**RUN_ROW, **FINISHED_RUN, model_version=...)`, or a live server's
# `insert_run(**FINISHED_RUN)`).
FINISHED_RUN: dict[str, Any] = {
    "status": "COMPLETED",
    "stage": "SAVING",
    "progress": 1.0,
    "n_estimators": 5,
    "class_weight": "balanced",
    "accuracy": 0.755,
    "precision": 0.7553234915587856,
    "recall": 0.755,
    "f1_score": 0.7551426554310539,
    "training_duration_seconds": 0.2887628,
    "total_samples": 2000,
    "train_samples": 1600,
    "test_samples": 400,
    "dropped_rows": 0,
    "per_class_metrics": [
        {"label": label, "precision": p, "recall": r, "f1_score": f, "support": n}
        for label, p, r, f, n in (
            ("LOW", 0.7899159663865546, 0.7833333333333333, 0.7866108786610879, 120),
            ("MEDIUM", 0.7176470588235294, 0.7261904761904762, 0.7218934911242604, 168),
            ("HIGH", 0.7747747747747747, 0.7678571428571429, 0.7713004484304933, 112),
        )
    ],
    "confusion_matrix": {
        "labels": ["LOW", "MEDIUM", "HIGH"],
        "matrix": [[94, 23, 3], [24, 122, 22], [1, 25, 86]],
    },
    "feature_importance": {
        "trend_score": 0.21922774496571756,
        "scarcity_index": 0.21419347673389932,
        "skill_name": 0.12259844632621658,
        "hiring_difficulty": 0.11442374074129531,
        "internal_usage": 0.07420225064215344,
        "job_role_name": 0.06818113942481399,
        "training_requests": 0.053657773358807025,
        "avg_salary_k": 0.04230121323012821,
        "economic_indicator": 0.033364323374576746,
        "skill_category": 0.03098112392819923,
        "job_department": 0.026868767274192608,
    },
    "features_used": list(FEATURE_COLUMNS),
}
# httpx loads the system's CA bundle into a new TLS context for every client it makes,
# tens of milliseconds of CPU each; the tests make thousands of clients (one per poll of a
# server starting up, per request of the live-server helpers), so they share one context.
TLS_CONTEXT = httpx.create_ssl_context()


def http_client(**options: Any) -> httpx.AsyncClient:
    """An httpx.AsyncClient (`options` as its own) with the suite's shared TLS context."""
    return httpx.AsyncClient(verify=TLS_CONTEXT, **options)


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


class CostWalks:
    """Counts the walks that compute a query's cost (`schema.cost.operation_cost`): a
    document the cost cache remembers is not walked again."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = schema.cost.operation_cost

        def counted(*args: Any, **kwargs: Any) -> int:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(schema.cost, "operation_cost", counted)
