"""Query.trainingRun and Query.node: one run by id, and every field of a real training."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from strawberry import relay

from models.accounts import User
from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import train

TRAINING_RUN_QUERY = """
query TrainingRun($id: ID!) {
  trainingRun(id: $id) {
    id
    databaseId
    modelVersion
  }
}
"""

NODE_QUERY = """
query Node($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on TrainingRun {
      databaseId
      modelVersion
    }
    ... on User {
      databaseId
      username
    }
  }
}
"""

TRAINED_BY_QUERY = """
query TrainedBy($id: ID!) {
  trainingRun(id: $id) {
    trainedBy {
      id
    }
  }
}
"""

TRAINING_RUN_DETAIL_QUERY = """
query TrainingRunDetail($id: ID!) {
  trainingRun(id: $id) {
    id
    databaseId
    runDate
    startedAt
    finishedAt
    modelVersion
    modelPath
    modelSha256
    downloadUrl
    aliases
    schedule { name }
    evaluations { totalCount }
    tags
    sweep { databaseId }
    trialNumber
    objectiveValue
    pruned
    intermediateValues { step value }
    datasetPath
    datasetSha256
    status
    stage
    progress
    errorMessage
    cancelRequested
    accuracy
    precision
    recall
    f1Score
    totalSamples
    trainSamples
    testSamples
    droppedRows
    testSplit
    nEstimators
    randomState
    trainingDurationSeconds
    featuresUsed
    notes
    algorithm
    parameters { name value }
    crossValidation { folds metrics { metric mean std } }
    importanceMethod
    hyperparameters {
      nEstimators
      maxDepth
      minSamplesSplit
      minSamplesLeaf
      classWeight
    }
    perClassMetrics {
      label
      precision
      recall
      f1Score
      support
    }
    confusionMatrix {
      labels
      matrix
    }
    featureImportance {
      feature
      importance
    }
    shapImportance {
      feature
      importance
    }
    shapImportanceUnits
    trainedBy {
      id
      databaseId
      username
      groups
      isSuperuser
      canTrain
    }
    trainedByUsername
  }
}
"""

TYPE_FIELDS_QUERY = """
query TypeFields($name: String!) {
  __type(name: $name) {
    fields(includeDeprecated: true) {
      name
    }
  }
}
"""

# Training 100 trees on 357 rows takes about a second; a run that never ends must fail
# the test rather than hang the suite.
TRAINING_TIMEOUT = 20.0


async def create_run(number: int = 0, **fields: Any) -> TrainingRun:
    values: dict[str, Any] = {
        "model_version": f"single-{number}",
        "dataset_path": "future_skills_dataset.csv",
        "test_split": 0.2,
        "random_state": 42,
        "n_estimators": 50,
        "min_samples_split": 2,
        "min_samples_leaf": 1,
        "run_date": datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=number),
        "status": RunStatus.COMPLETED,
    }
    values.update(fields)
    return await TrainingRun.create(**values)


async def training_run(server: Server, run_id: str) -> dict[str, Any] | None:
    data = await server.data(TRAINING_RUN_QUERY, {"id": run_id})
    run: dict[str, Any] | None = data["trainingRun"]
    return run


async def node(server: Server, node_id: str) -> dict[str, Any] | None:
    data = await server.data(NODE_QUERY, {"id": node_id})
    found: dict[str, Any] | None = data["node"]
    return found


async def missing_run_id() -> int:
    last = await TrainingRun.all().order_by("-id").first()
    return (last.id if last else 0) + 1000


# One read type behind TrainingRun (models/run_records.py)


def test_run_record_declares_every_column_of_the_run_table(server: Server) -> None:
    from models.run_records import RunRecord, all_columns

    assert set(RunRecord.__annotations__) == set(all_columns())


def test_every_training_run_field_says_which_columns_it_reads(server: Server) -> None:
    """A field whose columns are unknown makes every page load every column."""
    from strawberry.types.base import get_object_definition
    from strawberry.utils.str_converters import to_camel_case

    from models.run_records import all_columns
    from schema.types import TrainingRun as TrainingRunType
    from schema.types import run_field_columns

    known = run_field_columns()
    fields = get_object_definition(TrainingRunType, strict=True).fields
    names = {field.graphql_name or to_camel_case(field.python_name) for field in fields}
    assert names | {"__typename"} == set(known)
    for columns in known.values():
        assert set(columns) <= set(all_columns())


async def test_a_run_is_read_while_a_write_transaction_is_open(clean_runs: Server) -> None:
    """Reads do not queue behind a writer (SQLite: reader connections under WAL)."""
    from tortoise.transactions import in_transaction

    from models.run_records import get_run_record

    # given: a write transaction held open by another task
    run = await create_run(0, notes="committed")
    written, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with in_transaction():
            await TrainingRun.filter(id=run.id).update(notes="not yet committed")
            written.set()
            await release.wait()

    task = asyncio.create_task(writer(), context=contextvars.Context())
    try:
        await asyncio.wait_for(written.wait(), 10)

        # when
        record = await asyncio.wait_for(get_run_record(run.id), 5)

        # then: the committed state, at once
        assert record is not None
        assert record.notes == "committed"
    finally:
        release.set()
        await task
    after = await get_run_record(run.id)
    assert after is not None
    assert after.notes == "not yet committed"


async def test_a_read_inside_a_transaction_sees_its_writes(clean_runs: Server) -> None:
    from tortoise.transactions import in_transaction

    from models.run_records import get_run_record

    run = await create_run(0, notes="before")
    async with in_transaction():
        await TrainingRun.filter(id=run.id).update(notes="inside")
        record = await get_run_record(run.id)
        assert record is not None
        assert record.notes == "inside"


# trainingRun(id:)


async def test_training_run_by_database_id(clean_runs: Server) -> None:
    # given
    await create_run(0)
    run = await create_run(1)
    await create_run(2)

    # when
    found = await training_run(clean_runs, str(run.id))

    # then
    assert found is not None
    assert found["databaseId"] == run.id
    assert found["modelVersion"] == run.model_version


async def test_training_run_by_global_id(clean_runs: Server) -> None:
    # given
    await create_run(0)
    run = await create_run(1)
    global_id = (await training_run(clean_runs, str(run.id)) or {})["id"]

    # when
    found = await training_run(clean_runs, global_id)

    # then
    assert global_id != str(run.id)
    assert found == {"id": global_id, "databaseId": run.id, "modelVersion": run.model_version}


async def test_training_run_by_absent_database_id_is_null(clean_runs: Server) -> None:
    # given
    await create_run(0)

    # when
    found = await training_run(clean_runs, str(await missing_run_id()))

    # then
    assert found is None


async def test_training_run_by_absent_global_id_is_null(clean_runs: Server) -> None:
    # given
    await create_run(0)

    # when
    found = await training_run(clean_runs, relay.to_base64("TrainingRun", await missing_run_id()))

    # then
    assert found is None


async def test_training_run_by_the_global_id_of_another_type_is_null(clean_runs: Server) -> None:
    # given: a run, and a User global id carrying the run's number
    run = await create_run(0)

    # when
    found = await training_run(clean_runs, relay.to_base64("User", run.id))

    # then
    assert found is None
    assert await training_run(clean_runs, relay.to_base64("TrainingRun", run.id)) is not None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "-1",
        "1.5",
        " 1",
        "0x1",
        "VHJhaW5pbmdSdW46",  # "TrainingRun:"
        "VHJhaW5pbmdSdW46YWJj",  # "TrainingRun:abc"
        "VHJhaW5pbmdSdW46LTE=",  # "TrainingRun:-1"
        "//79/A==",  # not UTF-8 once decoded
        "99999999999999999999999",
    ],
)
async def test_training_run_by_garbage_id_is_null(clean_runs: Server, garbage: str) -> None:
    # given
    await create_run(0)

    # when
    found = await training_run(clean_runs, garbage)

    # then
    assert found is None


@pytest.mark.parametrize(
    "run_id",
    [
        pytest.param(str(2**31), id="beyond-int4"),
        pytest.param(relay.to_base64("TrainingRun", 2**31), id="global-beyond-int4"),
        pytest.param(str(2**63 - 1), id="max-int8"),
        pytest.param(str(2**63), id="beyond-int8"),
        pytest.param("²", id="superscript-two"),
        pytest.param(relay.to_base64("TrainingRun", "²"), id="global-superscript-two"),
    ],
)
async def test_training_run_by_unusable_number_is_null(clean_runs: Server, run_id: str) -> None:
    # given
    await create_run(0)

    # when
    body = await clean_runs.gql(TRAINING_RUN_QUERY, {"id": run_id})

    # then
    assert "errors" not in body, [error["extensions"] for error in body["errors"]]
    assert body["data"] == {"trainingRun": None}


# node(id:)


async def test_node_returns_the_training_run(clean_runs: Server) -> None:
    # given
    run = await create_run(0)
    global_id = (await training_run(clean_runs, str(run.id)) or {})["id"]

    # when
    found = await node(clean_runs, global_id)

    # then
    assert found == {
        "__typename": "TrainingRun",
        "id": global_id,
        "databaseId": run.id,
        "modelVersion": run.model_version,
    }


async def test_node_returns_the_user_who_trained_a_run(clean_runs: Server) -> None:
    # given
    user = await User.get(username="rrh-user")
    run = await create_run(0, trained_by_id=user.id, trained_by_username=user.username)
    trained_by = await clean_runs.data(TRAINED_BY_QUERY, {"id": str(run.id)})
    user_id = trained_by["trainingRun"]["trainedBy"]["id"]

    # when
    found = await node(clean_runs, user_id)

    # then
    assert found == {
        "__typename": "User",
        "id": user_id,
        "databaseId": user.id,
        "username": "rrh-user",
    }


@pytest.mark.parametrize("type_name", ["TrainingRun", "User", "Group"])
async def test_node_of_an_unknown_id_is_null(clean_runs: Server, type_name: str) -> None:
    # given
    await create_run(0)
    last_user = await User.all().order_by("-id").first()
    assert last_user is not None
    absent = max(await missing_run_id(), last_user.id + 1000)

    # when
    found = await node(clean_runs, relay.to_base64(type_name, absent))

    # then
    assert found is None


@pytest.mark.parametrize(
    ("type_name", "node_id"),
    [
        pytest.param("TrainingRun", str(2**31), id="run-beyond-int4"),
        pytest.param("User", str(2**31), id="user-beyond-int4"),
        pytest.param("TrainingRun", str(2**64), id="run-beyond-int8"),
        pytest.param("User", str(2**64), id="user-beyond-int8"),
        pytest.param("TrainingRun", "²", id="run-superscript-two"),
        pytest.param("User", "²", id="user-superscript-two"),
    ],
)
async def test_node_of_an_unusable_number_is_null(
    clean_runs: Server, type_name: str, node_id: str
) -> None:
    # given
    await create_run(0)

    # when
    body = await clean_runs.gql(NODE_QUERY, {"id": relay.to_base64(type_name, node_id)})

    # then
    assert "errors" not in body, [error["extensions"] for error in body["errors"]]
    assert body["data"] == {"node": None}


# Every field, after a real training


@dataclass(frozen=True)
class TrainedRun:
    """A run trained through the API on the reference dataset, as trainingRun returns it."""

    run: dict[str, Any]
    model_version: str
    notes: str


@pytest.fixture(scope="module")
async def reference_run(server: Server) -> TrainedRun:
    """Train once on the REST original's dataset with its published settings.

    The fixture keeps the API's answer, not the row, so tests that empty the run table
    in between do not affect it.
    """
    model_version = f"reference-{uuid.uuid4().hex[:8]}"
    notes = "the REST original's 357-row export"
    training = train(
        server.data,
        100,
        datasetPath="reference.csv",
        modelVersion=model_version,
        notes=notes,
        wait=True,
        hyperparameters={"maxDepth": 15, "minSamplesSplit": 5},
    )
    try:
        trained = await asyncio.wait_for(training, TRAINING_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"trainModel(wait: true) did not return within {TRAINING_TIMEOUT} s")
    data = await server.data(TRAINING_RUN_DETAIL_QUERY, {"id": trained["id"]})
    run = data["trainingRun"]
    assert run["id"] == trained["id"]
    return TrainedRun(run=run, model_version=model_version, notes=notes)


async def test_reference_run_detail_shows_every_field_of_the_type(
    server: Server, reference_run: TrainedRun
) -> None:
    # The detail query must keep up with the type: a new field is a field to test.
    data = await server.data(TYPE_FIELDS_QUERY, {"name": "TrainingRun"})

    assert set(reference_run.run) == {field["name"] for field in data["__type"]["fields"]}


async def test_reference_run_completed(reference_run: TrainedRun) -> None:
    run = reference_run.run

    assert run["status"] == "COMPLETED"
    assert run["stage"] == "SAVING"
    assert run["progress"] == 1.0
    assert run["errorMessage"] is None
    assert run["cancelRequested"] is False
    assert run["databaseId"] == (await TrainingRun.get(model_version=run["modelVersion"])).id


async def test_reference_run_echoes_its_request(reference_run: TrainedRun) -> None:
    run = reference_run.run

    assert run["modelVersion"] == reference_run.model_version
    assert run["notes"] == reference_run.notes
    assert run["datasetPath"] == "reference.csv"
    assert run["testSplit"] == 0.2
    assert run["randomState"] == 42
    assert run["nEstimators"] == 100
    assert run["hyperparameters"] == {
        "nEstimators": 100,
        "maxDepth": 15,
        "minSamplesSplit": 5,
        "minSamplesLeaf": 1,
        "classWeight": "BALANCED",
    }
    assert run["algorithm"] == "RANDOM_FOREST"
    assert run["parameters"] == [
        {"name": "nEstimators", "value": "100"},
        {"name": "maxDepth", "value": "15"},
        {"name": "minSamplesSplit", "value": "5"},
        {"name": "minSamplesLeaf", "value": "1"},
        {"name": "classWeight", "value": "balanced"},
    ]
    assert run["crossValidation"] is None
    assert run["importanceMethod"] == "IMPURITY"


async def test_reference_run_names_who_trained_it(reference_run: TrainedRun) -> None:
    run = reference_run.run
    drh = await User.get(username="drh-user")

    assert run["trainedByUsername"] == "drh-user"
    assert run["trainedBy"] == {
        "id": relay.to_base64("User", drh.id),
        "databaseId": drh.id,
        "username": "drh-user",
        "groups": ["DRH"],
        "isSuperuser": False,
        "canTrain": True,
    }


def test_reference_run_timeline(reference_run: TrainedRun) -> None:
    run = reference_run.run
    run_date = datetime.fromisoformat(run["runDate"])
    started_at = datetime.fromisoformat(run["startedAt"])
    finished_at = datetime.fromisoformat(run["finishedAt"])

    assert run_date.tzinfo is not None
    assert run_date <= started_at <= finished_at
    assert 0 < run["trainingDurationSeconds"] <= (finished_at - started_at).total_seconds()


def test_reference_run_dataset(reference_run: TrainedRun, server: Server) -> None:
    run = reference_run.run
    dataset = server.settings.artifacts_dir / "datasets" / "reference.csv"

    assert run["totalSamples"] == 357
    assert run["trainSamples"] == 285
    assert run["testSamples"] == 72
    assert run["droppedRows"] == 0
    assert run["datasetSha256"] == hashlib.sha256(dataset.read_bytes()).hexdigest()
    assert run["featuresUsed"]
    assert len(set(run["featuresUsed"])) == len(run["featuresUsed"])


def test_reference_run_model_file(reference_run: TrainedRun, server: Server) -> None:
    run = reference_run.run
    artifacts = server.settings.artifacts_dir

    assert run["modelPath"]
    assert not run["modelPath"].startswith("/")
    model_file = artifacts / run["modelPath"]
    assert model_file.resolve().is_relative_to((artifacts / "models").resolve())
    assert run["modelSha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert run["downloadUrl"] == f"/runs/{run['databaseId']}/model"
    assert run["aliases"] == []  # never promoted
    assert run["schedule"] is None  # trained by trainModel, not by a schedule


def test_reference_run_metrics(reference_run: TrainedRun) -> None:
    run = reference_run.run

    # The REST original published 0.9861; scikit-learn 1.9 gives 0.9722.
    assert run["accuracy"] >= 0.95
    for metric in ("precision", "recall", "f1Score"):
        assert 0 < run[metric] <= 1
    # Weighted recall is accuracy.
    assert run["recall"] == pytest.approx(run["accuracy"])
    per_class = {metric["label"]: metric for metric in run["perClassMetrics"]}
    assert set(per_class) == {"MEDIUM", "HIGH"}
    assert sum(metric["support"] for metric in per_class.values()) == 72
    for metric in per_class.values():
        for name in ("precision", "recall", "f1Score"):
            assert 0 < metric[name] <= 1


def test_reference_run_confusion_matrix(reference_run: TrainedRun) -> None:
    run = reference_run.run
    labels = run["confusionMatrix"]["labels"]
    matrix = run["confusionMatrix"]["matrix"]
    support = {metric["label"]: metric["support"] for metric in run["perClassMetrics"]}

    assert set(labels) == {"MEDIUM", "HIGH"}
    assert len(matrix) == len(labels)
    assert all(len(row) == len(labels) for row in matrix)
    assert sum(map(sum, matrix)) == 72
    diagonal = sum(matrix[index][index] for index in range(len(labels)))
    assert diagonal / 72 == pytest.approx(run["accuracy"])
    # Rows are the true class: each sums to that class's support.
    assert {label: sum(matrix[index]) for index, label in enumerate(labels)} == support


def test_reference_run_feature_importance_sums_to_one(reference_run: TrainedRun) -> None:
    importance = reference_run.run["featureImportance"]
    values = [item["importance"] for item in importance]

    assert sum(values) == pytest.approx(1.0, abs=1e-6)
    assert all(value >= 0 for value in values)
    assert len({item["feature"] for item in importance}) == len(values)


def test_reference_run_shap_importance_names_every_feature_most_important_first(
    reference_run: TrainedRun,
) -> None:
    run = reference_run.run
    shap = run["shapImportance"]
    values = [item["importance"] for item in shap]

    assert run["shapImportanceUnits"] == "probability"
    assert sorted(item["feature"] for item in shap) == sorted(run["featuresUsed"])
    assert values == sorted(values, reverse=True)
    assert all(value >= 0 for value in values)


def test_reference_run_feature_importance_most_important_first(
    reference_run: TrainedRun,
) -> None:
    values = [item["importance"] for item in reference_run.run["featureImportance"]]

    assert values == sorted(values, reverse=True)
