"""trainModel refuses, with a code and without creating a run, what the job side must not
take: a dataset path with a line break, more active runs than a user may have, a model
version whose file already exists on disk."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from typing import Any

import pytest

from models.training_runs import TrainingRun
from tests.conftest import Server
from tests.helpers import LONG_TREES, ended, state_of, train_payload, wait_for_state

CANCEL = """
mutation Cancel($id: ID!) { cancelTrainingRun(id: $id) { errors { code } } }
"""


async def cancel_all(server: Server, runs: list[dict[str, Any]]) -> None:
    for run in runs:
        await server.data(CANCEL, {"id": run["id"]})
    for run in runs:
        await wait_for_state(server.data, run, ended, timeout=60, what="ended after cancelling")


@pytest.mark.parametrize(
    "path",
    [
        "a\n/2026-01-01 00.00.00 ERROR forged line\n/x.csv",
        "reference.csv\n",
    ],
    ids=["forged-log-line", "trailing-newline"],
)
async def test_dataset_path_with_a_line_break_is_refused(clean_runs: Server, path: str) -> None:
    # given: '$' in a regular expression also matches before a final newline
    server = clean_runs

    # when
    payload = await train_payload(server.data, 5, datasetPath=path)

    # then
    assert payload["trainingRun"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        (["input", "datasetPath"], "PATH_NOT_ALLOWED")
    ]
    assert await TrainingRun.all().count() == 0


async def test_a_user_beyond_the_active_run_bound_is_refused_and_others_are_not(
    clean_runs: Server,
) -> None:
    # given: the user already has as many active runs as allowed
    server = clean_runs
    limit = server.settings.max_active_runs_per_user
    runs = []
    try:
        for _ in range(limit):
            payload = await train_payload(server.data, LONG_TREES)
            assert payload["errors"] == []
            runs.append(payload["trainingRun"])

        # when
        refused = await train_payload(server.data, LONG_TREES)
        other = await train_payload(partial(server.data, as_="rrh"), LONG_TREES, wait=False)
        if other["trainingRun"] is not None:
            runs.append(other["trainingRun"])

        # then: refused with a code, nothing created; another user is not held back
        assert refused["trainingRun"] is None
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [
            (["input"], "TOO_MANY_ACTIVE_RUNS")
        ]
        assert str(limit) in refused["errors"][0]["message"]
        assert other["errors"] == []
        assert await TrainingRun.filter(trained_by_username="drh-user").count() == limit
    finally:
        await cancel_all(server, runs)

    # and: once the runs have ended, the user may train again
    again = await train_payload(server.data, 5, datasetPath="reference.csv")
    assert again["errors"] == []
    await wait_for_state(server.data, again["trainingRun"], ended, timeout=60, what="ended")


async def test_concurrent_requests_of_one_user_do_not_slip_past_the_bound(
    clean_runs: Server,
) -> None:
    # given
    server = clean_runs
    limit = server.settings.max_active_runs_per_user

    # when: twice the allowed number of trainModel calls at the same moment
    payloads = await asyncio.gather(
        *(train_payload(server.data, LONG_TREES) for _ in range(2 * limit))
    )
    runs = [p["trainingRun"] for p in payloads if p["trainingRun"] is not None]
    try:
        # then: exactly `limit` accepted, the others refused with the code
        codes = [e["code"] for p in payloads for e in p["errors"]]
        assert len(runs) == limit
        assert codes == ["TOO_MANY_ACTIVE_RUNS"] * limit
        assert await TrainingRun.all().count() == limit
    finally:
        await cancel_all(server, runs)


async def test_a_model_version_whose_file_exists_on_disk_is_refused_and_the_file_kept(
    clean_runs: Server,
) -> None:
    # given: a model file no run points to (put there by other means)
    server = clean_runs
    version = f"on-disk-{uuid.uuid4().hex[:8]}"
    existing = server.settings.artifacts.model_file(version)
    existing.write_bytes(b"someone else's model")

    try:
        # when
        payload = await train_payload(
            server.data, 5, datasetPath="reference.csv", modelVersion=version, wait=True
        )
        # then
        assert payload["trainingRun"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            (["input", "modelVersion"], "DUPLICATE")
        ]
        assert await TrainingRun.all().count() == 0
        assert existing.read_bytes() == b"someone else's model"
    finally:
        existing.unlink()


async def test_a_model_file_appearing_after_the_run_was_accepted_is_not_overwritten(
    clean_runs: Server,
) -> None:
    # given: a run accepted while its model file did not exist yet
    server = clean_runs
    version = f"late-file-{uuid.uuid4().hex[:8]}"
    payload = await train_payload(
        server.data, 400, datasetPath="reference.csv", modelVersion=version
    )
    assert payload["errors"] == []
    run = payload["trainingRun"]
    existing = server.settings.artifacts.model_file(version)

    try:
        # when: the file appears before the worker saves its model
        existing.write_bytes(b"someone else's model")
        final = await wait_for_state(server.data, run, ended, timeout=120, what="ended")

        # then: the run failed and says why; the file is untouched
        assert final["status"] == "FAILED"
        assert "already exists" in final["errorMessage"]
        assert final["modelPath"] is None
        assert existing.read_bytes() == b"someone else's model"
        models = server.settings.artifacts.models
        assert list(models.glob("*.partial")) == []
    finally:
        existing.unlink()
    assert (await state_of(server.data, run))["status"] == "FAILED"
