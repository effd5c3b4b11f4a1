"""Training workers are forked from a fork server that imported scikit-learn once, so a
new worker (at start-up, or replacing one after a cancel or a crash) is ready at once
instead of importing it again (trainer/jobs/runners.worker_context)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.process import BaseProcess
from pathlib import Path

from tests.conftest import Server
from tests.helpers import wait_for


def command_and_mappings(pid: int) -> tuple[bytes, str]:
    """A process's command line and the files mapped into its memory."""
    proc = Path(f"/proc/{pid}")
    return (proc / "cmdline").read_bytes().replace(b"\0", b" "), (proc / "maps").read_text()


async def test_pool_workers_are_forked_from_a_fork_server_holding_scikit_learn(
    server: Server,
) -> None:
    # given: the session server's pool, brought up in the background
    async def pool() -> list[BaseProcess] | None:
        workers = [p for p in multiprocessing.active_children() if p.name == "training-worker"]
        return workers if len(workers) >= server.settings.training_workers else None

    workers = await wait_for(pool, timeout=120, what="the pool's worker processes")

    for worker in workers:
        # when: looking at what each process is
        assert worker.pid is not None
        command, mapped = command_and_mappings(worker.pid)

        # then: a fork of the fork server (a spawned worker's command line names
        # multiprocessing.spawn), with scikit-learn's compiled modules already in memory
        assert b"multiprocessing.forkserver" in command, command
        assert "sklearn/tree/_tree" in mapped
