"""models/run_lifecycle.py: every (from, to) pair of statuses, against the real database
(here, under tests/api, so that it runs on PostgreSQL too): the table's moves are made
once, and every other move is refused before anything is written."""

from __future__ import annotations

import itertools
import uuid

import pytest

from models.run_lifecycle import ALLOWED_MOVES, IllegalRunMove, move_run
from models.training_runs import FINAL_STATUSES, RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import RUN_ROW

EXPECTED_MOVES = {
    (RunStatus.QUEUED, RunStatus.RUNNING),
    (RunStatus.QUEUED, RunStatus.CANCELLED),
    (RunStatus.QUEUED, RunStatus.FAILED),
    (RunStatus.RUNNING, RunStatus.COMPLETED),
    (RunStatus.RUNNING, RunStatus.FAILED),
    (RunStatus.RUNNING, RunStatus.CANCELLED),
}
PAIRS = list(itertools.product(RunStatus, RunStatus))


async def run_in(status: RunStatus) -> TrainingRun:
    return await TrainingRun.create(
        **RUN_ROW, n_estimators=5, model_version=f"move-{uuid.uuid4().hex[:12]}", status=status
    )


def test_the_table_allows_exactly_the_moves_of_a_runs_story() -> None:
    allowed = {(source, target) for source, targets in ALLOWED_MOVES.items() for target in targets}
    assert allowed == EXPECTED_MOVES
    assert set(ALLOWED_MOVES) == set(RunStatus)


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=lambda status: status.value)
async def test_each_move_is_made_once_or_refused_unwritten(
    server: Server, source: RunStatus, target: RunStatus
) -> None:
    # given
    run = await run_in(source)

    # when / then
    if (source, target) in EXPECTED_MOVES:
        assert await move_run(run.id, source, target, error_message="moved") is True
        assert await move_run(run.id, source, target) is False  # the loser of a race
        await run.refresh_from_db()
        assert (run.status, run.error_message) == (target, "moved")
        assert (run.finished_at is not None) == (target in FINAL_STATUSES)
    else:
        with pytest.raises(IllegalRunMove):
            await move_run(run.id, source, target, error_message="moved")
        await run.refresh_from_db()
        assert (run.status, run.error_message, run.finished_at) == (source, None, None)


async def test_a_move_from_a_status_the_run_has_left_writes_nothing(server: Server) -> None:
    # given: a run a worker has already claimed
    run = await run_in(RunStatus.RUNNING)

    # when: a cancel meant for the queued run arrives late
    moved = await move_run(run.id, RunStatus.QUEUED, RunStatus.CANCELLED)

    # then
    await run.refresh_from_db()
    assert (moved, run.status, run.finished_at) == (False, RunStatus.RUNNING, None)


async def test_only_if_guards_the_move(server: Server) -> None:
    # given: a run held by one worker
    run = await run_in(RunStatus.RUNNING)
    await TrainingRun.filter(id=run.id).update(worker="host:1")

    # when: another worker tries to finish it, then the holder does
    stranger = await move_run(
        run.id, RunStatus.RUNNING, RunStatus.COMPLETED, only_if={"worker": "host:2"}
    )
    holder = await move_run(
        run.id, RunStatus.RUNNING, RunStatus.COMPLETED, only_if={"worker": "host:1"}
    )

    # then
    await run.refresh_from_db()
    assert (stranger, holder, run.status) == (False, True, RunStatus.COMPLETED)
