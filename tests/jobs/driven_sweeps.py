"""Sweeps driven by a test's own SweepDriver, whose trials are rows its launcher creates
(no training: what the driver tests check is what it does with the scores a worker would
write). Shared by test_sweep_driver.py and test_sweep_driver_findings.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from models.sweeps import Sweep
from models.training_runs import RunStatus, TrainingRun
from resolvers.sweep_driver import SweepDriver, TrialLaunch
from tests.helpers import RUN_ROW

# n_estimators from 10 to 100, three grid steps.
TREE_RANGE: dict[str, Any] = {"low": 10, "high": 100, "log": False, "choices": None, "steps": 3}


async def launch_row(trial: TrialLaunch) -> int:
    """A trial run as a worker would hold it: RUNNING, trained by nobody here."""
    run = await TrainingRun.create(
        **RUN_ROW,
        model_version=f"driver-{uuid.uuid4().hex[:10]}",
        n_estimators=int(trial.parameters.get("n_estimators") or 5),
        algorithm=trial.algorithm.value,
        parameters=dict(trial.parameters),
        sweep_id=trial.sweep.id,
        trial_number=trial.number,
        status=RunStatus.RUNNING,
    )
    return run.id


def new_driver(prefix: str = "t") -> SweepDriver:
    """A driver that ticks only when the test says so."""
    return SweepDriver(
        launch_row, interval=60, lease_seconds=600, name=f"{prefix}-{uuid.uuid4().hex}"
    )


async def driven_sweep(
    driver: str,
    *,
    trees: dict[str, Any] = TREE_RANGE,
    method: str = "RANDOM",
    pruning: str = "MEDIAN",
    max_trials: int = 4,
    seed: int = 11,
    name: str = "driver",
) -> Sweep:
    """A forest sweep over n_estimators (`trees`: a range or choices) whose lease `driver`
    holds from the start (the test server's own driver never takes it); every trial runs at
    once (parallelism = max_trials)."""
    space = [{"algorithm": "RANDOM_FOREST", "parameters": [{"name": "n_estimators", **trees}]}]
    return await Sweep.create(
        name=name,
        input={"space": space, "testSplit": 0.2, "validationFraction": 0.2},
        objective="f1_score",
        method=method,
        pruning=pruning,
        max_trials=max_trials,
        parallelism=max_trials,
        seed=seed,
        dataset_path="future_skills_dataset.csv",
        driver=driver,
        lease_expires_at=datetime.now(UTC) + timedelta(seconds=600),
    )
