"""The local pool is fair between users: a run of one user does not wait behind another
user's whole backlog (it used to: the pool took runs strictly in submission order)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from tests.conftest import Server
from tests.helpers import ended, state_of, train, wait_for_state

TREES = 150  # about a second each on the shipped dataset: the backlog is still queued


async def submit(server: Server, as_: str) -> dict[str, Any]:
    return await train(partial(server.data, as_=as_), TREES)


def started(state: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(state["startedAt"])


async def test_another_users_run_starts_before_the_first_users_backlog_is_drained(
    clean_runs: Server,
) -> None:
    # given: one user fills the pool and queues as many runs as they may
    backlog = [
        await submit(clean_runs, "drh") for _ in range(clean_runs.settings.max_active_runs_per_user)
    ]

    # when: another user asks for one run
    other = await submit(clean_runs, "rrh")
    runs = [*backlog, other]
    for run in runs:
        await wait_for_state(clean_runs.data, run, ended, timeout=180, what="ended")

    # then: it was not left behind the whole backlog
    states = [await state_of(clean_runs.data, run) for run in runs]
    assert {s["status"] for s in states} == {"COMPLETED"}
    other_started = started(states[-1])
    started_after = [s for s in states[:-1] if started(s) > other_started]
    assert len(started_after) >= 2, [s["startedAt"] for s in states]
