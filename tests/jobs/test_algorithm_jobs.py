"""The job turns a run row's algorithm, parameters and evaluation request into the
trainer's configuration, and records what came of them (issue 23)."""

from __future__ import annotations

import uuid

from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import RUN_ROW
from trainer.jobs.job import JobSettings, execute_run


async def test_the_job_trains_the_rows_algorithm_and_records_cross_validation(
    clean_runs: Server,
) -> None:
    # given: a boosting run asking 2-fold cross-validation, queued as a row
    run = await TrainingRun.create(
        **RUN_ROW,
        model_version=f"hgb-{uuid.uuid4().hex[:8]}",
        n_estimators=0,
        algorithm="HIST_GRADIENT_BOOSTING",
        parameters={"max_iter": 8, "learning_rate": 0.2},
        cross_validation={"folds": 2},
    )
    settings = JobSettings(artifacts=clean_runs.settings.artifacts, report_interval=0.1)

    # when
    status = await execute_run(run.id, settings)

    # then: the model trained is the row's, and its evaluation is stored beside the metrics
    assert status is RunStatus.COMPLETED
    row = await TrainingRun.get(id=run.id)
    assert row.parameters["max_iter"] == 8
    assert row.parameters["learning_rate"] == 0.2
    assert row.parameters["max_leaf_nodes"] == 31  # completed with the table's defaults
    assert row.cross_validation["folds"] == 2
    assert set(row.cross_validation["metrics"]) >= {"accuracy", "f1_score"}
    assert row.objective_value == row.cross_validation["metrics"]["f1_score"]["mean"]
    assert row.accuracy is not None


async def test_a_trial_row_is_judged_on_validation_rows_by_its_objective(
    clean_runs: Server,
) -> None:
    # given: a run with validation rows and an objective, as a sweep trial has
    run = await TrainingRun.create(
        **RUN_ROW,
        model_version=f"trial-{uuid.uuid4().hex[:8]}",
        n_estimators=10,
        algorithm="EXTRA_TREES",
        parameters={"n_estimators": 10, "max_depth": 5},
        validation_fraction=0.2,
        objective="accuracy",
    )
    settings = JobSettings(artifacts=clean_runs.settings.artifacts, report_interval=0.1)

    # when
    status = await execute_run(run.id, settings)

    # then
    assert status is RunStatus.COMPLETED
    row = await TrainingRun.get(id=run.id)
    assert row.objective_value is not None
    assert 0.0 <= row.objective_value <= 1.0
    assert row.cross_validation is None
