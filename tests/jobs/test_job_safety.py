"""What the job side must survive: a dataset that is not a regular file, and a result that
arrives after the run was already settled by someone else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from datetime import UTC, datetime

import pytest

from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import RUN_ROW, ended, train, wait_for, wait_for_state
from trainer.jobs.job import JobSettings, execute_run


def _unblock_reader(fifo: str) -> None:
    """Give a reader stuck in open() on the FIFO its end of file (it only matters without
    the fix: a worker blocked there would otherwise stay blocked until the pool stops)."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


async def test_a_fifo_as_dataset_fails_the_run_and_does_not_block_the_worker(
    clean_runs: Server,
) -> None:
    # given: a named pipe in the datasets folder, which nobody writes to
    fifo = clean_runs.settings.artifacts.datasets / f"pipe-{uuid.uuid4().hex[:8]}.csv"
    os.mkfifo(fifo)
    try:
        # when
        run = await train(clean_runs.data, 5, datasetPath=fifo.name)
        final = await wait_for_state(clean_runs.data, run, ended, timeout=60, what="ended")
    finally:
        _unblock_reader(str(fifo))
        fifo.unlink()

    # then: a FAILED run that says why
    assert final["status"] == "FAILED"
    assert "not a regular file" in final["errorMessage"]
    assert final["modelPath"] is None
    # and: the workers are free for the next run
    after = await asyncio.wait_for(train(clean_runs.data, 5, wait=True), 120)
    assert after["status"] == "COMPLETED"


async def test_a_result_arriving_after_the_run_was_failed_is_discarded_with_its_file(
    clean_runs: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a run trained by the job code in this process (not handed to the pool)
    artifacts = clean_runs.settings.artifacts
    run = await TrainingRun.create(
        **RUN_ROW,
        model_version=f"late-{uuid.uuid4().hex[:8]}",
        n_estimators=300,
        class_weight="balanced",
    )
    settings = JobSettings(artifacts=artifacts, report_interval=0.1, cancel_grace=None)
    job = asyncio.create_task(execute_run(run.id, settings))
    try:

        async def fitting() -> bool | None:
            row = await TrainingRun.get(id=run.id)
            return True if row.stage == "FITTING" and row.status == RunStatus.RUNNING else None

        await wait_for(fitting, timeout=60, what="the run to reach FITTING")

        # when: the reaper settles the run meanwhile, as it does for a worker it thinks lost
        reason = "worker lost: sent no heartbeat for 30 s"
        await TrainingRun.filter(id=run.id).update(
            status=RunStatus.FAILED, finished_at=datetime.now(UTC), error_message=reason
        )
        with caplog.at_level(logging.INFO, logger="trainer.jobs.job"):
            status = await asyncio.wait_for(job, 120)
    finally:
        job.cancel()

    # then: the job reports the run's real end, keeps its story and leaves no model file
    assert status is RunStatus.FAILED
    row = await TrainingRun.get(id=run.id)
    assert row.status is RunStatus.FAILED
    assert row.error_message == reason
    assert row.model_path is None
    assert not artifacts.model_file(run.model_version).exists()
    assert list(artifacts.models.glob("*.partial")) == []
    messages = [r.getMessage() for r in caplog.records if r.name == "trainer.jobs.job"]
    assert any("result discarded" in m and "model file was removed" in m for m in messages)
    assert not any(f"run {run.id} finished" in m for m in messages)
