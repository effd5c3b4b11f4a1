"""trainModel input rules: each broken rule is a UserError with its path and code, and
creates no run; values on the boundaries are accepted."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from models.training_runs import TrainingRun
from tests.conftest import Server
from tests.helpers import TRAIN, train_payload

# Small and fast: the reference dataset has 357 rows.
VALID_INPUT: dict[str, Any] = {
    "datasetPath": "reference.csv",
    "hyperparameters": {"nEstimators": 5, "maxDepth": 4},
}


def train_input(**changes: Any) -> dict[str, Any]:
    """VALID_INPUT with some top-level fields or hyperparameters replaced."""
    data: dict[str, Any] = {**VALID_INPUT, "hyperparameters": dict(VALID_INPUT["hyperparameters"])}
    for key, value in changes.items():
        if key in {"nEstimators", "maxDepth", "minSamplesSplit", "minSamplesLeaf", "classWeight"}:
            data["hyperparameters"][key] = value
        else:
            data[key] = value
    return data


def codes_by_field(payload: dict[str, Any]) -> dict[tuple[str, ...], str]:
    return {tuple(error["field"]): error["code"] for error in payload["errors"]}


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        pytest.param({"testSplit": 0.09}, ["testSplit"], "OUT_OF_RANGE", id="testSplit-low"),
        pytest.param({"testSplit": 0.51}, ["testSplit"], "OUT_OF_RANGE", id="testSplit-high"),
        pytest.param(
            {"nEstimators": 0},
            ["hyperparameters", "nEstimators"],
            "OUT_OF_RANGE",
            id="nEstimators-0",
        ),
        pytest.param(
            {"nEstimators": 1001},
            ["hyperparameters", "nEstimators"],
            "OUT_OF_RANGE",
            id="nEstimators-1001",
        ),
        pytest.param(
            {"maxDepth": 0}, ["hyperparameters", "maxDepth"], "OUT_OF_RANGE", id="maxDepth-0"
        ),
        pytest.param(
            {"maxDepth": 101}, ["hyperparameters", "maxDepth"], "OUT_OF_RANGE", id="maxDepth-101"
        ),
        pytest.param(
            {"minSamplesSplit": 1},
            ["hyperparameters", "minSamplesSplit"],
            "OUT_OF_RANGE",
            id="minSamplesSplit-1",
        ),
        pytest.param(
            {"minSamplesLeaf": 0},
            ["hyperparameters", "minSamplesLeaf"],
            "OUT_OF_RANGE",
            id="minSamplesLeaf-0",
        ),
        pytest.param({"randomState": -1}, ["randomState"], "OUT_OF_RANGE", id="randomState--1"),
        pytest.param({"modelVersion": "a/b"}, ["modelVersion"], "INVALID", id="version-slash"),
        pytest.param({"modelVersion": "../x"}, ["modelVersion"], "INVALID", id="version-dotdot"),
        pytest.param({"modelVersion": ""}, ["modelVersion"], "INVALID", id="version-empty"),
        pytest.param({"modelVersion": "v" * 65}, ["modelVersion"], "INVALID", id="version-65"),
        pytest.param(
            {"modelVersion": ".v1"}, ["modelVersion"], "INVALID", id="version-leading-dot"
        ),
        pytest.param({"modelVersion": "v 1"}, ["modelVersion"], "INVALID", id="version-space"),
        pytest.param({"notes": "n" * 5001}, ["notes"], "INVALID", id="notes-too-long"),
        pytest.param({"datasetPath": ""}, ["datasetPath"], "PATH_NOT_ALLOWED", id="path-empty"),
        pytest.param(
            {"datasetPath": "/etc/passwd"}, ["datasetPath"], "PATH_NOT_ALLOWED", id="path-absolute"
        ),
        pytest.param(
            {"datasetPath": "../test.sqlite3"},
            ["datasetPath"],
            "PATH_NOT_ALLOWED",
            id="path-dotdot",
        ),
        pytest.param(
            {"datasetPath": "sub/../../x.csv"},
            ["datasetPath"],
            "PATH_NOT_ALLOWED",
            id="path-inner-dotdot",
        ),
        pytest.param(
            {"datasetPath": "..\\x.csv"}, ["datasetPath"], "PATH_NOT_ALLOWED", id="path-backslash"
        ),
        pytest.param(
            {"datasetPath": "~/x.csv"}, ["datasetPath"], "PATH_NOT_ALLOWED", id="path-home"
        ),
    ],
)
async def test_broken_rule_is_reported_with_its_path_and_creates_no_run(
    clean_runs: Server, changes: dict[str, Any], field: list[str], code: str
) -> None:
    # given
    server = clean_runs

    # when
    payload = await train_payload(server.data, **train_input(**changes))

    # then
    assert payload["trainingRun"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["input", *field], code)]
    assert await TrainingRun.all().count() == 0


async def test_model_version_with_trailing_newline_is_refused(clean_runs: Server) -> None:
    # given: '$' in a regular expression also matches before a final newline
    server = clean_runs

    # when
    payload = await train_payload(server.data, **train_input(modelVersion="v1\n"))

    # then
    assert payload["trainingRun"] is None
    assert codes_by_field(payload) == {("input", "modelVersion"): "INVALID"}
    assert await TrainingRun.all().count() == 0


async def test_model_version_already_used_is_duplicate(clean_runs: Server) -> None:
    # given
    server = clean_runs
    version = f"dup-{uuid.uuid4().hex[:8]}"
    first = await train_payload(server.data, **train_input(modelVersion=version, wait=True))
    assert first["errors"] == []

    # when
    payload = await train_payload(server.data, **train_input(modelVersion=version))

    # then
    assert payload["trainingRun"] is None
    assert codes_by_field(payload) == {("input", "modelVersion"): "DUPLICATE"}
    assert await TrainingRun.all().count() == 1


async def test_duplicate_model_version_is_reported_with_the_other_broken_rules(
    clean_runs: Server,
) -> None:
    # given
    server = clean_runs
    version = f"dup-{uuid.uuid4().hex[:8]}"
    assert (await train_payload(server.data, **train_input(modelVersion=version, wait=True)))[
        "errors"
    ] == []

    # when
    payload = await train_payload(server.data, **train_input(modelVersion=version, nEstimators=0))

    # then
    assert codes_by_field(payload) == {
        ("input", "modelVersion"): "DUPLICATE",
        ("input", "hyperparameters", "nEstimators"): "OUT_OF_RANGE",
    }
    assert await TrainingRun.all().count() == 1


async def test_dataset_path_through_a_file_is_not_an_internal_error(clean_runs: Server) -> None:
    # given: 'reference.csv' is a file, so nothing can exist below it
    server = clean_runs

    # when
    body = await server.gql(
        TRAIN, {"input": train_input(datasetPath="reference.csv/data.csv", wait=True)}
    )

    # then: like any other missing dataset, a FAILED run that names it
    assert "errors" not in body, body["errors"]
    run = body["data"]["trainModel"]["trainingRun"]
    assert run["status"] == "FAILED"
    assert "reference.csv/data.csv" in run["errorMessage"]
    assert await TrainingRun.filter(status="FAILED").count() == 1


@pytest.mark.parametrize(
    "link_target",
    [
        pytest.param(lambda outside: outside / "secret.csv", id="absolute-target"),
        pytest.param(lambda outside: Path("..") / ".." / "secret.csv", id="relative-target"),
    ],
)
async def test_symbolic_link_to_outside_the_datasets_folder_is_refused(
    clean_runs: Server, tmp_path: Path, link_target: Any
) -> None:
    # given: a link inside the datasets folder to a file outside it that does not exist,
    # so a server following the link would accept the path and queue a run
    server = clean_runs
    link = server.settings.artifacts_dir / "datasets" / f"link-{uuid.uuid4().hex[:8]}.csv"
    os.symlink(link_target(tmp_path), link)

    try:
        # when
        payload = await train_payload(server.data, **train_input(datasetPath=link.name))
    finally:
        link.unlink()

    # then
    assert payload["trainingRun"] is None
    assert codes_by_field(payload) == {("input", "datasetPath"): "PATH_NOT_ALLOWED"}
    assert await TrainingRun.all().count() == 0


async def test_linked_folder_outside_the_datasets_folder_is_refused(
    clean_runs: Server, tmp_path: Path
) -> None:
    # given: a folder link inside the datasets folder to a folder outside it
    server = clean_runs
    (tmp_path / "data.csv").write_text("not read\n")
    link = server.settings.artifacts_dir / "datasets" / f"dir-{uuid.uuid4().hex[:8]}"
    os.symlink(tmp_path, link, target_is_directory=True)

    try:
        # when
        payload = await train_payload(
            server.data, **train_input(datasetPath=f"{link.name}/data.csv")
        )
    finally:
        link.unlink()

    # then
    assert payload["trainingRun"] is None
    assert codes_by_field(payload) == {("input", "datasetPath"): "PATH_NOT_ALLOWED"}
    assert await TrainingRun.all().count() == 0


async def test_symbolic_link_inside_the_datasets_folder_is_followed(clean_runs: Server) -> None:
    # given: a link that stays inside the folder
    server = clean_runs
    link = server.settings.artifacts_dir / "datasets" / f"alias-{uuid.uuid4().hex[:8]}.csv"
    os.symlink("reference.csv", link)

    try:
        # when
        payload = await train_payload(server.data, **train_input(datasetPath=link.name, wait=True))
    finally:
        link.unlink()

    # then
    assert payload["errors"] == []
    assert payload["trainingRun"]["status"] == "COMPLETED"
    assert payload["trainingRun"]["datasetPath"] == link.name


async def test_every_broken_rule_is_reported_at_once(clean_runs: Server) -> None:
    # given
    server = clean_runs
    data = train_input(
        testSplit=0.9,
        nEstimators=0,
        maxDepth=101,
        minSamplesSplit=1,
        minSamplesLeaf=0,
        randomState=-5,
        modelVersion="../x",
        notes="n" * 5001,
        datasetPath="/etc/passwd",
    )

    # when
    payload = await train_payload(server.data, **data)

    # then
    assert payload["trainingRun"] is None
    assert codes_by_field(payload) == {
        ("input", "testSplit"): "OUT_OF_RANGE",
        ("input", "hyperparameters", "nEstimators"): "OUT_OF_RANGE",
        ("input", "hyperparameters", "maxDepth"): "OUT_OF_RANGE",
        ("input", "hyperparameters", "minSamplesSplit"): "OUT_OF_RANGE",
        ("input", "hyperparameters", "minSamplesLeaf"): "OUT_OF_RANGE",
        ("input", "randomState"): "OUT_OF_RANGE",
        ("input", "modelVersion"): "INVALID",
        ("input", "notes"): "INVALID",
        ("input", "datasetPath"): "PATH_NOT_ALLOWED",
    }
    assert len(payload["errors"]) == 9
    assert all(error["message"] for error in payload["errors"])
    assert await TrainingRun.all().count() == 0


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"testSplit": 0.1}, id="testSplit-0.1"),
        pytest.param({"testSplit": 0.5}, id="testSplit-0.5"),
        pytest.param({"nEstimators": 1}, id="nEstimators-1"),
        pytest.param({"nEstimators": 1000, "maxDepth": 1}, id="nEstimators-1000"),
        pytest.param({"maxDepth": 1}, id="maxDepth-1"),
        pytest.param({"maxDepth": 100}, id="maxDepth-100"),
        pytest.param({"maxDepth": None}, id="maxDepth-null"),
        pytest.param({"minSamplesSplit": 2, "minSamplesLeaf": 1}, id="minSamples-lowest"),
        pytest.param({"randomState": 0}, id="randomState-0"),
        pytest.param({"modelVersion": "V" * 64}, id="version-64"),
        pytest.param({"modelVersion": "v1.0_rc-2"}, id="version-punctuation"),
        pytest.param({"notes": "n" * 5000}, id="notes-5000"),
        pytest.param({"datasetPath": "./reference.csv"}, id="path-dot-slash"),
    ],
)
async def test_boundary_value_is_accepted_and_trained(
    clean_runs: Server, changes: dict[str, Any]
) -> None:
    # given
    server = clean_runs
    data = train_input(**changes, wait=True)

    # when
    payload = await train_payload(server.data, **data)

    # then
    assert payload["errors"] == []
    run = payload["trainingRun"]
    assert run["status"] == "COMPLETED"
    hp = run["hyperparameters"]
    echoed = {**run, **hp}
    for key, value in changes.items():
        if key != "datasetPath":
            assert echoed[key] == value, key
    assert await TrainingRun.all().count() == 1
