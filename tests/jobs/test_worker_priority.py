"""Training processes run at a lower CPU priority than the server, so a fit that takes
whole cores does not starve the API beside it."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from trainer.artifacts import ArtifactPaths
from trainer.jobs.job import JobSettings
from trainer.jobs.worker_process import init_worker_process


def worker_niceness(tmp_path: Path, nice: int) -> int:
    settings = JobSettings(artifacts=ArtifactPaths.at(tmp_path), nice=nice)
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker_process,
        initargs=(f"sqlite://{tmp_path}/db.sqlite3", settings),
    ) as pool:
        return pool.submit(os.nice, 0).result(timeout=120)


def test_a_worker_process_is_as_much_nicer_as_configured(tmp_path: Path) -> None:
    # when
    niceness = worker_niceness(tmp_path, 7)

    # then
    assert niceness == min(os.nice(0) + 7, 19)
