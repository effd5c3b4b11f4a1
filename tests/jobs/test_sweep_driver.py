"""The sweep driver's decisions on the sweep's rows (issue 23), step by step: it prunes a
running trial whose intermediate score falls below the median of the finished ones (the
trial is asked to stop and marked pruned), tells Optuna every outcome, keeps the running
best, and a driver taking the sweep over rebuilds the study from the rows and adopts the
running trials. Trials are rows its launcher creates (no training: what is tested is what
the driver does with the scores a worker writes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from models.sweeps import Sweep, SweepStatus
from models.training_runs import RunStatus, TrainingRun
from resolvers.sweep_driver import SweepDriver
from tests.conftest import Server
from tests.jobs.driven_sweeps import driven_sweep, new_driver


async def took_over(sweep: Sweep) -> SweepDriver:
    """A new driver holding the sweep's lease, as one that won it once the old one's ran
    out (set directly: the test server's own driver must not win it meanwhile)."""
    successor = new_driver("s")
    await Sweep.filter(id=sweep.id).update(
        driver=successor.name, lease_expires_at=datetime.now(UTC) + timedelta(seconds=600)
    )
    return successor


async def trials_of(sweep: Sweep) -> dict[int, TrainingRun]:
    return {run.trial_number: run for run in await TrainingRun.filter(sweep_id=sweep.id)}  # type: ignore[misc]


async def finish(run: TrainingRun, value: float, steps: dict[int, float]) -> None:
    await TrainingRun.filter(id=run.id).update(
        status=RunStatus.COMPLETED,
        objective_value=value,
        intermediate_values={str(step): score for step, score in steps.items()},
        finished_at=datetime.now(UTC),
    )


async def test_the_driver_prunes_tells_and_keeps_the_best(server: Server) -> None:
    # given: a MEDIAN-pruned sweep, driven by this test's driver alone (it holds the lease)
    driver = new_driver()
    sweep = await driven_sweep(driver.name)
    try:
        await driver.tick()
        trials = await trials_of(sweep)
        assert sorted(trials) == [0, 1, 2, 3]
        assert (await Sweep.get(id=sweep.id)).status is SweepStatus.RUNNING

        # when: two trials finish, a third reports a poor score at its first step
        await finish(trials[0], 0.90, {10: 0.88, 20: 0.90})
        await finish(trials[1], 0.80, {10: 0.79, 20: 0.80})
        await TrainingRun.filter(id=trials[2].id).update(intermediate_values={"10": 0.10})
        await driver.tick()

        # then: it is asked to stop, marked pruned; the best so far is recorded
        pruned = await TrainingRun.get(id=trials[2].id)
        assert (pruned.cancel_requested, pruned.pruned) == (True, True)
        assert not (await TrainingRun.get(id=trials[3].id)).pruned
        row = await Sweep.get(id=sweep.id)
        assert (row.best_value, row.best_run_id) == (0.90, trials[0].id)

        # when: the pruned trial stops (as the job records a cancel) and the last completes,
        # and another driver takes the sweep over for the last step (the lease ran out)
        await TrainingRun.filter(id=trials[2].id).update(
            status=RunStatus.CANCELLED, finished_at=datetime.now(UTC)
        )
        await finish(trials[3], 0.95, {10: 0.94, 20: 0.95})
        successor = await took_over(sweep)
        await successor.tick()

        # then: the sweep ends with exactly its four trials, one pruned, the best recorded
        row = await Sweep.get(id=sweep.id)
        assert row.status is SweepStatus.COMPLETED
        assert (row.best_value, row.best_run_id) == (0.95, trials[3].id)
        assert [entry["trial"] for entry in row.best_value_history] == [0, 1, 2, 3]
        assert [entry["value"] for entry in row.best_value_history] == [0.9, 0.9, 0.9, 0.95]
        assert await TrainingRun.filter(sweep_id=sweep.id).count() == 4
        assert row.parameter_importance is not None
        assert set(row.parameter_importance) == {"n_estimators"}
    finally:
        await driver.stop()
        await Sweep.filter(id=sweep.id).update(status=SweepStatus.CANCELLED)


async def test_a_new_driver_adopts_running_trials_and_prunes_them(server: Server) -> None:
    # given: two trials finished, two running, and the driver that started them gone
    first = new_driver()
    sweep = await driven_sweep(first.name)
    try:
        await first.tick()
        trials = await trials_of(sweep)
        await finish(trials[0], 0.90, {10: 0.90})
        await finish(trials[1], 0.85, {10: 0.85})
        await first.tick()

        # when: a trial it no longer watches reports a poor score; a new driver takes over
        await TrainingRun.filter(id=trials[3].id).update(intermediate_values={"10": 0.2})
        successor = await took_over(sweep)
        await successor.tick()

        # then: the adopted trial is pruned, the other one left running, nothing re-created
        states: dict[int, Any] = {
            n: (run.pruned, run.cancel_requested) for n, run in (await trials_of(sweep)).items()
        }
        assert states == {0: (False, False), 1: (False, False), 2: (False, False), 3: (True, True)}
        assert (await Sweep.get(id=sweep.id)).driver == successor.name
    finally:
        await Sweep.filter(id=sweep.id).update(status=SweepStatus.CANCELLED)
