"""The local pool is fair between users: a run of one user does not wait behind another
user's whole backlog (it used to: the pool took runs strictly in submission order)."""

from __future__ import annotations

from functools import partial
from typing import Any

from tests.conftest import Server
from tests.helpers import cancel_and_wait, state_of, train, wait_for_state

TREES = 150  # about a second each on the shipped dataset: the backlog is still queued


async def submit(server: Server, as_: str) -> dict[str, Any]:
    return await train(partial(server.data, as_=as_), TREES)


async def test_another_users_run_starts_before_the_first_users_backlog_is_drained(
    clean_runs: Server,
) -> None:
    # given: one user fills the pool and queues as many runs as they may
    backlog = [
        await submit(clean_runs, "drh") for _ in range(clean_runs.settings.max_active_runs_per_user)
    ]
    other: dict[str, Any] | None = None
    try:
        # when: another user asks for one run
        other = await submit(clean_runs, "rrh")
        await wait_for_state(
            clean_runs.data, other, lambda s: s["startedAt"] is not None, timeout=180, what="start"
        )

        # then: it started while at least two of the backlog were still waiting (the rest
        # of the backlog is cancelled rather than waited for: the answer is known)
        waiting = [
            s for s in [await state_of(clean_runs.data, r) for r in backlog] if not s["startedAt"]
        ]
        assert len(waiting) >= 2, [s["status"] for s in waiting]
        assert (await state_of(clean_runs.data, other))["status"] in {"RUNNING", "COMPLETED"}
    finally:
        await cancel_and_wait(clean_runs, backlog + ([other] if other else []))
