"""What the bench/sweeps.py runs caught the sweep driver doing (issue 23).

A trial is pruned only while its model still grows: a score reported at its full size (its
last tree or boosting iteration) is its final objective, and the worker is only evaluating
and saving by then. Pruning it threw that finished result away (it could be the sweep's
best) to save almost nothing: 9 of a TPE sweep's 17 pruned trials were pruned so.

A GRID sweep ends in the tick that tells its last trials: Optuna's GridSampler stopped the
study as its grid ran out, which raises outside study.optimize(), so that tick failed.

Rows stand in for the workers (tests/jobs/driven_sweeps.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from models.sweeps import Sweep, SweepStatus
from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.jobs.driven_sweeps import driven_sweep, new_driver


async def test_a_trial_is_not_pruned_at_its_full_size(server: Server) -> None:
    # given: a MEDIAN-pruned sweep of four forests, driven by this test's driver alone
    driver = new_driver()
    sweep = await driven_sweep(driver.name, seed=5, name="final step")
    try:
        await driver.tick()
        trials: dict[int, TrainingRun] = {
            run.trial_number: run  # type: ignore[misc]
            for run in await TrainingRun.filter(sweep_id=sweep.id)
        }
        assert sorted(trials) == [0, 1, 2, 3]
        full = int(trials[2].parameters["n_estimators"])
        assert full >= 10

        # when: two trials finish well; trial 2 reports a poor score at its full size (its
        # fit is done), trial 3 an equally poor one after its first tree
        for number, score in ((0, 0.90), (1, 0.85)):
            await TrainingRun.filter(id=trials[number].id).update(
                status=RunStatus.COMPLETED,
                objective_value=score,
                intermediate_values={"1": score, str(full): score},
                finished_at=datetime.now(UTC),
            )
        await TrainingRun.filter(id=trials[2].id).update(intermediate_values={str(full): 0.1})
        await TrainingRun.filter(id=trials[3].id).update(intermediate_values={"1": 0.1})
        await driver.tick()

        # then: only the trial still growing is asked to stop; the other keeps its result
        states = {}
        for number in (2, 3):
            run = await TrainingRun.get(id=trials[number].id)
            states[number] = (run.pruned, run.cancel_requested)
        assert states == {2: (False, False), 3: (True, True)}

        # when: trial 2 completes with that score: it counts as a finished trial
        await TrainingRun.filter(id=trials[2].id).update(
            status=RunStatus.COMPLETED, objective_value=0.1, finished_at=datetime.now(UTC)
        )
        await driver.tick()
        history = (await Sweep.get(id=sweep.id)).best_value_history
        assert {entry["trial"] for entry in history} == {0, 1, 2}
    finally:
        await driver.stop()
        await Sweep.filter(id=sweep.id).update(status=SweepStatus.CANCELLED)


async def test_a_grid_sweep_ends_in_the_tick_its_last_trial_is_told(server: Server) -> None:
    # given: a 2-point GRID sweep whose two trials run, driven by this test's driver alone
    driver = new_driver()
    choices = {"low": None, "high": None, "log": False, "choices": [10, 20], "steps": None}
    sweep = await driven_sweep(
        driver.name,
        trees=choices,
        method="GRID",
        pruning="NONE",
        max_trials=2,
        seed=5,
        name="grid end",
    )
    try:
        await driver.tick()
        runs = await TrainingRun.filter(sweep_id=sweep.id).order_by("trial_number")
        assert sorted(int(run.parameters["n_estimators"]) for run in runs) == [10, 20]

        # when: both finish and the driver ticks once (Optuna's GridSampler would stop the
        # study as its grid ran out, which raises outside study.optimize())
        for run, score in zip(runs, (0.8, 0.9), strict=True):
            await TrainingRun.filter(id=run.id).update(
                status=RunStatus.COMPLETED, objective_value=score, finished_at=datetime.now(UTC)
            )
        await driver.tick()

        # then: that very tick told both trials and completed the sweep with the best
        row = await Sweep.get(id=sweep.id)
        assert row.status is SweepStatus.COMPLETED
        assert (row.best_value, row.best_run_id) == (0.9, runs[1].id)
    finally:
        await driver.stop()
        await Sweep.filter(id=sweep.id).update(status=SweepStatus.CANCELLED)
