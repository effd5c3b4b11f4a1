"""Who may do what: every role against every root field. HR staff train and cancel,
managers read, an account without a group only sees itself, anonymous callers nothing;
a refusal carries a code and neither leaks data nor changes anything."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from strawberry import relay

from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import RUN_ROW

VIEWER = """
query { viewer { username groups canTrain isSuperuser databaseId } }
"""

TRAINING_RUNS = """
query { trainingRuns { totalCount nodes { databaseId modelVersion } } }
"""

TRAINING_RUN = """
query TrainingRun($id: ID!) { trainingRun(id: $id) { databaseId modelVersion } }
"""

NODE = """
query Node($id: ID!) { node(id: $id) { id ... on TrainingRun { databaseId modelVersion } } }
"""

# Invalid on purpose: permission is checked first, so an allowed caller gets a UserError
# and nobody ever trains here.
TRAIN_MODEL = """
mutation {
  trainModel(input: { hyperparameters: { nEstimators: 0 } }) {
    trainingRun { databaseId }
    errors { field code }
  }
}
"""

CANCEL_TRAINING_RUN = """
mutation Cancel($id: ID!) {
  cancelTrainingRun(id: $id) { trainingRun { databaseId status } errors { field code } }
}
"""

ROLES = ["anonymous", "nogroup", "manager", "drh", "rrh", "root"]
READERS = {"manager", "drh", "rrh", "root"}
TRAINERS = {"drh", "rrh", "root"}
ALLOWED = {
    "viewer": {"nogroup", *READERS},
    "trainingRuns": READERS,
    "trainingRun": READERS,
    "node": READERS,
    "trainModel": TRAINERS,
    "cancelTrainingRun": TRAINERS,
}
DOCUMENTS = {
    "viewer": VIEWER,
    "trainingRuns": TRAINING_RUNS,
    "trainingRun": TRAINING_RUN,
    "node": NODE,
    "trainModel": TRAIN_MODEL,
    "cancelTrainingRun": CANCEL_TRAINING_RUN,
}


async def queued_run() -> TrainingRun:
    """A run row nobody will train: it only has to be there to be read or cancelled."""
    return await TrainingRun.create(
        **(RUN_ROW | {"dataset_path": "reference.csv"}),
        model_version=f"perm-{uuid.uuid4().hex[:10]}",
        n_estimators=5,
    )


def variables_for(field: str, run: TrainingRun) -> dict[str, Any]:
    if field in {"trainingRun", "cancelTrainingRun"}:
        return {"id": str(run.id)}
    if field == "node":
        return {"id": relay.to_base64("TrainingRun", run.id)}
    return {}


def assert_allowed(field: str, role: str, data: dict[str, Any], run: TrainingRun) -> None:
    result = data[field]
    if field == "viewer":
        assert result["username"] == f"{role}-user"
    elif field == "trainingRuns":
        assert result["totalCount"] == 1
        assert result["nodes"] == [{"databaseId": run.id, "modelVersion": run.model_version}]
    elif field in {"trainingRun", "node"}:
        assert result["databaseId"] == run.id
        assert result["modelVersion"] == run.model_version
    elif field == "trainModel":
        assert result["trainingRun"] is None
        assert result["errors"] == [
            {"field": ["input", "hyperparameters", "nEstimators"], "code": "OUT_OF_RANGE"}
        ]
    else:
        assert result == {
            "trainingRun": {"databaseId": run.id, "status": "CANCELLED"},
            "errors": [],
        }


@pytest.mark.parametrize("field", list(DOCUMENTS))
@pytest.mark.parametrize("role", ROLES)
async def test_role_against_root_field(clean_runs: Server, role: str, field: str) -> None:
    # given
    server = clean_runs
    run = await queued_run()
    as_ = None if role == "anonymous" else role

    # when
    body = await server.gql(DOCUMENTS[field], variables_for(field, run), as_=as_)

    # then
    if role in ALLOWED[field]:
        assert "errors" not in body, body["errors"]
        assert_allowed(field, role, body["data"], run)
    else:
        expected = "UNAUTHENTICATED" if role == "anonymous" else "FORBIDDEN"
        assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
            ([field], expected)
        ]
        assert body["data"] is None or body["data"][field] is None
        assert run.model_version not in json.dumps(body)
        row = await TrainingRun.get(id=run.id)
        assert (row.status, row.cancel_requested) == (RunStatus.QUEUED, False)
    assert await TrainingRun.all().count() == 1


@pytest.mark.parametrize(
    ("role", "groups", "can_train", "is_superuser"),
    [
        ("nogroup", [], False, False),
        ("manager", ["MANAGER"], False, False),
        ("drh", ["DRH"], True, False),
        ("rrh", ["RESPONSABLE_RH"], True, False),
        ("root", [], True, True),
    ],
)
async def test_viewer_describes_the_caller(
    server: Server, role: str, groups: list[str], can_train: bool, is_superuser: bool
) -> None:
    # when
    viewer = (await server.data(VIEWER, as_=role))["viewer"]

    # then
    assert viewer["username"] == f"{role}-user"
    assert viewer["groups"] == groups
    assert viewer["canTrain"] is can_train
    assert viewer["isSuperuser"] is is_superuser
    assert viewer["databaseId"] > 0
