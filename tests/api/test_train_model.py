"""trainModel end to end: real training in the local pool, waited for or followed, and
every way a dataset can make a run FAILED while leaving its story in the run row."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from models.training_runs import TrainingRun
from tests.conftest import Server
from tests.helpers import FINAL_STATUSES, TRAINED_RUN_FIELDS, train

TRAIN_MODEL_WITH_DEFAULTS = f"""
mutation {{
  trainModel(input: {{}}) {{
    trainingRun {{ {TRAINED_RUN_FIELDS} }}
    errors {{ field message code }}
  }}
}}
"""

TRAINING_RUN = f"""
query TrainingRun($id: ID!) {{
  trainingRun(id: $id) {{ {TRAINED_RUN_FIELDS} }}
}}
"""

HEADER = (
    "job_role_name,skill_name,skill_category,job_department,trend_score,internal_usage,"
    "training_requests,scarcity_index,hiring_difficulty,avg_salary_k,economic_indicator,"
    "future_need_level"
)
GENERATED_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


async def follow_until_final(
    server: Server, run_id: str, seconds: float = 60
) -> list[dict[str, Any]]:
    """Every state seen while polling the run every 0.2 s, the final one last."""
    deadline = time.monotonic() + seconds
    seen = []
    while True:
        run = (await server.data(TRAINING_RUN, {"id": run_id}))["trainingRun"]
        seen.append(run)
        if run["status"] in FINAL_STATUSES:
            return seen
        assert time.monotonic() < deadline, f"run still {run['status']} after {seconds} s"
        await asyncio.sleep(0.2)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_dataset(server: Server, content: bytes) -> str:
    name = f"case-{uuid.uuid4().hex[:10]}.csv"
    (server.settings.artifacts_dir / "datasets" / name).write_bytes(content)
    return name


def csv_rows(*levels: str) -> bytes:
    """A well-formed dataset with one row per target value given, in that order."""
    lines = [HEADER]
    for i, level in enumerate(levels):
        numbers = f"0.{i % 9 + 1},0.5,{i},0.4,0.5,50.0,0.6"
        lines.append(f"Role {i % 5},Skill {i % 7},Technique,IT,{numbers},{level}")
    return ("\n".join(lines) + "\n").encode()


async def test_wait_returns_a_completed_run_with_metrics_and_a_model_file(
    clean_runs: Server,
) -> None:
    # given
    server = clean_runs
    dataset = server.settings.artifacts_dir / "datasets" / "future_skills_dataset.csv"

    # when
    run = await train(
        server.data, wait=True, notes="e2e", hyperparameters={"nEstimators": 10, "maxDepth": 8}
    )

    # then
    assert run["status"] == "COMPLETED"
    assert run["progress"] == 1.0
    assert run["errorMessage"] is None
    assert run["datasetPath"] == "future_skills_dataset.csv"
    assert run["datasetSha256"] == sha256_of(dataset)
    assert run["totalSamples"] == run["trainSamples"] + run["testSamples"]
    assert run["totalSamples"] + run["droppedRows"] == 2000
    assert run["testSamples"] == pytest.approx(0.2 * run["totalSamples"], abs=1)
    for metric in ("accuracy", "precision", "recall", "f1Score"):
        assert 0.5 < run[metric] <= 1.0, metric
    assert {m["label"] for m in run["perClassMetrics"]} == {"LOW", "MEDIUM", "HIGH"}
    assert sum(m["support"] for m in run["perClassMetrics"]) == run["testSamples"]
    matrix = run["confusionMatrix"]
    assert sorted(matrix["labels"]) == ["HIGH", "LOW", "MEDIUM"]
    assert sum(map(sum, matrix["matrix"])) == run["testSamples"]
    importances = {f["feature"]: f["importance"] for f in run["featureImportance"]}
    assert set(importances) == set(run["featuresUsed"])
    assert sum(importances.values()) == pytest.approx(1.0)
    assert set(run["featuresUsed"]) == set(HEADER.split(",")[:-1])
    assert run["trainingDurationSeconds"] > 0
    assert run["startedAt"] is not None
    run_date, started_at, finished_at = (
        datetime.fromisoformat(run[key]) for key in ("runDate", "startedAt", "finishedAt")
    )
    assert run_date <= started_at <= finished_at
    assert run["trainedByUsername"] == "drh-user"
    assert run["notes"] == "e2e"
    model_file = server.settings.artifacts_dir / run["modelPath"]
    assert model_file.is_file()
    assert model_file.parent == server.settings.artifacts_dir / "models"
    assert sha256_of(model_file) == run["modelSha256"]


async def test_feature_importance_is_most_important_first(clean_runs: Server) -> None:
    # given: PostgreSQL keeps JSON objects as jsonb, whose keys it re-orders
    server = clean_runs

    # when
    run = await train(server.data, 10, wait=True)

    # then
    importances = [f["importance"] for f in run["featureImportance"]]
    assert len(importances) == 11
    assert importances == sorted(importances, reverse=True)


async def test_without_wait_returns_at_once_then_completes(clean_runs: Server) -> None:
    # given
    server = clean_runs

    # when
    run = await train(server.data, hyperparameters={"nEstimators": 20, "maxDepth": 8})

    # then
    assert run["status"] in {"QUEUED", "RUNNING"}
    assert run["finishedAt"] is None
    assert run["accuracy"] is None
    seen = await follow_until_final(server, run["id"])
    final = seen[-1]
    assert final["status"] == "COMPLETED"
    assert final["progress"] == 1.0
    assert final["accuracy"] is not None
    assert (server.settings.artifacts_dir / final["modelPath"]).is_file()
    progress = [state["progress"] for state in seen]
    assert progress == sorted(progress), "progress went backwards"


async def test_input_defaults_are_echoed(clean_runs: Server) -> None:
    # given
    server = clean_runs

    # when: every input field left out (wait defaults to false, so this returns at once)
    payload = (await server.data(TRAIN_MODEL_WITH_DEFAULTS))["trainModel"]

    # then
    assert payload["errors"] == []
    run = payload["trainingRun"]
    assert run["status"] in {"QUEUED", "RUNNING"}
    assert run["datasetPath"] == "future_skills_dataset.csv"
    assert run["testSplit"] == 0.2
    assert run["randomState"] == 42
    assert run["nEstimators"] == 200
    assert run["notes"] == ""
    assert run["hyperparameters"] == {
        "nEstimators": 200,
        "maxDepth": None,
        "minSamplesSplit": 2,
        "minSamplesLeaf": 1,
        "classWeight": "BALANCED",
    }
    assert GENERATED_VERSION.fullmatch(run["modelVersion"])


async def test_generated_model_versions_are_unique(clean_runs: Server) -> None:
    # given
    server = clean_runs

    # when: two requests within the same second, of 2 trees each
    first = await train(server.data, trees=2, datasetPath="reference.csv")
    second = await train(server.data, trees=2, datasetPath="reference.csv")

    # then
    assert first["modelVersion"] != second["modelVersion"]
    assert (
        await TrainingRun.filter(
            model_version__in=[first["modelVersion"], second["modelVersion"]]
        ).count()
        == 2
    )


async def test_rest_original_dataset_reaches_the_published_accuracy(clean_runs: Server) -> None:
    # given
    server = clean_runs

    # when: the REST original's export, trained with its published settings (100 trees)
    run = await train(
        server.data,
        trees=100,
        datasetPath="reference.csv",
        testSplit=0.2,
        randomState=42,
        hyperparameters={"maxDepth": 15, "minSamplesSplit": 5, "classWeight": "BALANCED"},
        wait=True,
    )

    # then
    assert run["status"] == "COMPLETED"
    assert (run["totalSamples"], run["trainSamples"], run["testSamples"]) == (357, 285, 72)
    assert run["droppedRows"] == 0
    assert run["accuracy"] >= 0.95
    assert run["confusionMatrix"]["labels"] == ["MEDIUM", "HIGH"]


@pytest.mark.parametrize(
    ("content", "keyword"),
    [
        pytest.param(None, "does not exist", id="missing-file"),
        pytest.param(b"", "empty", id="empty-file"),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x10" * 20, "UTF-8", id="binary"
        ),
        pytest.param(
            (HEADER + '\nRole,"Skill,Technique,IT,0.5,0.5,1,0.4,0.5,50,0.6,LOW\n').encode(),
            "not a valid CSV",
            id="unbalanced-quote",
        ),
        pytest.param(
            (
                HEADER.rsplit(",", 1)[0] + "\nRole,Skill,Technique,IT,0.5,0.5,1,0.4,0.5,50,0.6\n"
            ).encode(),
            "future_need_level",
            id="no-target-column",
        ),
        pytest.param((HEADER + "\n").encode(), "no data rows", id="header-only"),
        pytest.param(
            csv_rows(*["MEDIUM"] * 20, *["HIGH"] * 20, "LOW"), "too few", id="single-row-class"
        ),
        pytest.param(
            csv_rows(*["MEDIUM"] * 5, "unknown"), "same need level", id="single-class-after-drop"
        ),
        pytest.param(csv_rows("SOON", "NEVER", "", "MAYBE"), "none of the", id="no-valid-target"),
    ],
)
async def test_unusable_dataset_makes_a_failed_run_saying_why(
    clean_runs: Server, content: bytes | None, keyword: str
) -> None:
    # given
    server = clean_runs
    if content is None:
        dataset = f"missing-{uuid.uuid4().hex[:10]}.csv"
    else:
        dataset = write_dataset(server, content)
    version = f"fail-{uuid.uuid4().hex[:10]}"

    # when
    run = await train(server.data, 5, datasetPath=dataset, modelVersion=version, wait=True)

    # then
    assert run["status"] == "FAILED"
    assert keyword in run["errorMessage"]
    assert str(server.settings.artifacts_dir) not in run["errorMessage"]
    assert run["finishedAt"] is not None
    assert run["modelPath"] is None
    assert run["accuracy"] is None
    models = server.settings.artifacts_dir / "models"
    assert [p.name for p in models.iterdir() if version in p.name] == []
    row = await TrainingRun.get(model_version=version)
    assert row.status == "FAILED"
    assert row.dataset_path == dataset


async def test_dataset_that_is_a_folder_makes_a_failed_run(clean_runs: Server) -> None:
    # given
    server = clean_runs
    folder = f"folder-{uuid.uuid4().hex[:10]}.csv"
    (server.settings.artifacts_dir / "datasets" / folder).mkdir()

    # when
    run = await train(server.data, 5, datasetPath=folder, wait=True)

    # then
    assert run["status"] == "FAILED"
    assert "folder" in run["errorMessage"]
    assert await TrainingRun.filter(status="FAILED").count() == 1


async def test_trailing_comma_on_every_row_is_read_under_the_header_names(
    clean_runs: Server,
) -> None:
    # given: the REST original's export with a delimiter at the end of each data row, which
    # pandas would otherwise take as a sign that the first column is an index
    server = clean_runs
    lines = (server.settings.artifacts_dir / "datasets" / "reference.csv").read_text().splitlines()
    dataset = write_dataset(server, ("\n".join([lines[0]] + [f"{x}," for x in lines[1:]])).encode())

    # when
    run = await train(server.data, 5, datasetPath=dataset, wait=True)

    # then
    assert run["status"] == "COMPLETED"
    assert (run["totalSamples"], run["droppedRows"]) == (357, 0)
    assert set(run["featuresUsed"]) == set(HEADER.split(",")[:-1])


@pytest.mark.parametrize(
    "shifted_line",
    [
        pytest.param(3, id="second-data-row"),
        pytest.param(2, id="first-data-row"),
    ],
)
async def test_row_shifted_by_an_unquoted_comma_is_refused_wherever_it_is(
    clean_runs: Server, shifted_line: int
) -> None:
    # given: one job role name with an unquoted comma, so its row has a field too many
    server = clean_runs
    lines = (server.settings.artifacts_dir / "datasets" / "reference.csv").read_text().splitlines()
    lines[shifted_line - 1] = "Engineer, Senior," + lines[shifted_line - 1].split(",", 1)[1]
    dataset = write_dataset(server, ("\n".join(lines) + "\n").encode())

    # when
    run = await train(server.data, 5, datasetPath=dataset, wait=True)

    # then: not trained with that row's values moved to the wrong columns
    assert run["status"] == "FAILED"
    assert "field" in run["errorMessage"]
