"""Who may do what: every role against every root field. HR staff train and cancel,
manage datasets, aliases, webhooks and training schedules; managers read runs, aliases and
schedules, compare and predict; an account without a group only sees itself and signs
out; anonymous callers nothing; a refusal carries a code and neither leaks data nor
changes anything (README, "Who may do what"; docs/DESIGN.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from graphql import build_schema
from strawberry import relay

from models.accounts import User, create_token
from models.model_aliases import ModelAlias
from models.sweeps import Sweep, SweepStatus
from models.training_runs import RunStatus, TrainingRun
from models.training_schedules import TrainingSchedule
from models.webhooks import Webhook
from tests.conftest import Server
from tests.helpers import REPO, RUN_ROW, SWEEP_ROW, multipart, small_csv

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

COMPARE_TRAINING_RUNS = """
query Compare($ids: [ID!]!) {
  compareTrainingRuns(ids: $ids) { runs { databaseId modelVersion } }
}
"""

TRAINING_METRICS_HISTORY = """
query { trainingMetricsHistory(bucket: MONTH) { runs } }
"""

MODEL_ALIASES = """
query { modelAliases { alias run { modelVersion } } }
"""

# A QUEUED run cannot be promoted, nor an unknown alias removed: an allowed caller gets
# a UserError, and no alias is ever set here.
SET_MODEL_ALIAS = """
mutation Promote($id: ID!) {
  setModelAlias(alias: "permissions", runId: $id) { modelAlias { alias } errors { code } }
}
"""

DELETE_MODEL_ALIAS = """
mutation { deleteModelAlias(alias: "permissions") { deletedAlias errors { code } } }
"""

# No model is named so: an allowed caller gets MODEL_NOT_FOUND, nobody a prediction.
PREDICT_FUTURE_NEED = """
query {
  predictFutureNeed(model: "permissions-no-such-model", rows: [{ trendScore: 0.5 }]) {
    modelVersion
  }
}
"""

DATASETS = """
query { datasets { path } }
"""

# No dataset is named so: an allowed caller gets NOT_FOUND, and nothing is ever deleted.
DELETE_DATASET = """
mutation { deleteDataset(path: "permissions-no-such-dataset.csv") { deletedPath errors { code } } }
"""

TRAINING_ALGORITHMS = """
query { trainingAlgorithms { name parameters { name } } }
"""

LOGOUT = """
mutation { logout { revoked } }
"""

# Webhooks (issue 25): no webhook 0 exists and no event is subscribed to by an empty
# list, so an allowed caller gets a UserError (or nothing) and no webhook is ever made.
WEBHOOKS = """
query { webhooks { databaseId url } }
"""
WEBHOOK = """
query { webhook(id: "0") { databaseId url } }
"""
WEBHOOK_DELIVERIES = """
query { webhookDeliveries(webhookId: "0") { databaseId } }
"""
CREATE_WEBHOOK = """
mutation {
  createWebhook(url: "https://93.184.215.14/hook", events: []) {
    webhook { databaseId } secret errors { field code }
  }
}
"""
UPDATE_WEBHOOK = """
mutation { updateWebhook(id: "0", active: false) { webhook { databaseId } errors { code } } }
"""
DELETE_WEBHOOK = """
mutation { deleteWebhook(id: "0") { deletedDatabaseId errors { code } } }
"""
ROTATE_WEBHOOK_SECRET = """
mutation { rotateWebhookSecret(id: "0") { webhook { databaseId } secret errors { code } } }
"""
REDELIVER_WEBHOOK = """
mutation { redeliverWebhook(deliveryId: "0") { delivery { databaseId } errors { code } } }
"""
# --- training schedules (issue 25) ---
TRAINING_SCHEDULE = 'query { trainingSchedule(id: "0") { id } }'
AUDIT_ENTRY = 'query { auditEntry(id: "0") { id } }'
TRAINING_SCHEDULES = """
query { trainingSchedules { totalCount nodes { name } } }
"""
# A cron of three fields is refused: an allowed caller gets a UserError, nothing is created.
CREATE_TRAINING_SCHEDULE = """
mutation {
  createTrainingSchedule(input: { name: "permissions", cron: "* * *", train: {} }) {
    trainingSchedule { name }
    errors { field code }
  }
}
"""
# No schedule has this id: an allowed caller gets NOT_FOUND, and nothing changes.
UPDATE_TRAINING_SCHEDULE = """
mutation {
  updateTrainingSchedule(id: "999999", input: { cron: "0 3 * * *" }) {
    trainingSchedule { name }
    errors { field code }
  }
}
"""
PAUSE_TRAINING_SCHEDULE = """
mutation { pauseTrainingSchedule(id: "999999") { trainingSchedule { name } errors { field code } } }
"""
RESUME_TRAINING_SCHEDULE = """
mutation {
  resumeTrainingSchedule(id: "999999") { trainingSchedule { name } errors { field code } }
}
"""
DELETE_TRAINING_SCHEDULE = """
mutation { deleteTrainingSchedule(id: "999999") { deletedId errors { field code } } }
"""
SCHEDULE_MUTATIONS = {
    "updateTrainingSchedule",
    "pauseTrainingSchedule",
    "resumeTrainingSchedule",
    "deleteTrainingSchedule",
}
# Trusting a model (issue 24). No job exists here and none is ever started: an allowed
# caller reads empty answers or gets a UserError (no such model or job).
BATCH_PREDICTIONS = """
query { batchPredictions(first: 0) { pageInfo { hasPreviousPage } } }
"""
BATCH_PREDICTION = """
query { batchPrediction(id: "2147483647") { databaseId } }
"""
START_BATCH_PREDICTION = """
mutation {
  startBatchPrediction(
    input: { model: "permissions-no-such-model", datasetPath: "reference.csv" }
  ) {
    batchPrediction { databaseId } errors { code }
  }
}
"""
CANCEL_BATCH_PREDICTION = """
mutation {
  cancelBatchPrediction(id: "2147483647") { batchPrediction { databaseId } errors { code } }
}
"""
MODEL_EVALUATIONS = """
query { modelEvaluations(first: 0) { pageInfo { hasPreviousPage } } }
"""
MODEL_EVALUATION = """
query { modelEvaluation(id: "2147483647") { databaseId } }
"""
START_EVALUATION = """
mutation {
  startEvaluation(input: { model: "permissions-no-such-model", datasetPath: "reference.csv" }) {
    evaluation { databaseId } errors { code }
  }
}
"""
CANCEL_EVALUATION = """
mutation {
  cancelEvaluation(id: "2147483647") { evaluation { databaseId } errors { code } }
}
"""
# An empty tag is refused: an allowed caller gets a UserError, and no run is ever edited.
UPDATE_TRAINING_RUN = """
mutation Update($id: ID!) {
  updateTrainingRun(id: $id, notes: "permissions", tags: [""]) {
    trainingRun { databaseId } errors { field code }
  }
}
"""

AUDIT_LOG = """
query { auditLog(first: 1, filter: { operation: ["permissions-no-such-operation"] }) {
  totalCount nodes { operation }
} }
"""

SWEEP = """
query Sweep($id: ID!) { sweep(id: $id) { databaseId name } }
"""

SWEEPS = """
query { sweeps { totalCount nodes { databaseId name } } }
"""

# Invalid on purpose: an allowed caller gets a UserError and no sweep is ever started here.
START_SWEEP = """
mutation {
  startSweep(input: { space: [{ algorithm: RANDOM_FOREST }], maxTrials: 0 }) {
    sweep { databaseId }
    errors { field code }
  }
}
"""

# The sweep of these tests has ended: an allowed caller gets INVALID_STATE, nothing changes.
CANCEL_SWEEP = """
mutation Cancel($id: ID!) { cancelSweep(id: $id) { sweep { databaseId } errors { code } } }
"""

ROLES = ["anonymous", "nogroup", "manager", "drh", "rrh", "root"]
ACCOUNTS = {"nogroup", "manager", "drh", "rrh", "root"}
READERS = {"manager", "drh", "rrh", "root"}
TRAINERS = {"drh", "rrh", "root"}
ALLOWED = {
    "viewer": ACCOUNTS,
    "trainingRuns": READERS,
    "trainingRun": READERS,
    "node": READERS,
    "trainModel": TRAINERS,
    "cancelTrainingRun": TRAINERS,
    "compareTrainingRuns": READERS,
    "trainingMetricsHistory": READERS,
    "modelAliases": READERS,
    "setModelAlias": TRAINERS,
    "deleteModelAlias": TRAINERS,
    "predictFutureNeed": READERS,
    "datasets": TRAINERS,
    "deleteDataset": TRAINERS,
    "logout": ACCOUNTS,
    "sweep": READERS,
    "sweeps": READERS,
    "startSweep": TRAINERS,
    "cancelSweep": TRAINERS,
    "webhooks": TRAINERS,
    "webhook": TRAINERS,
    "webhookDeliveries": TRAINERS,
    "createWebhook": TRAINERS,
    "updateWebhook": TRAINERS,
    "deleteWebhook": TRAINERS,
    "rotateWebhookSecret": TRAINERS,
    "redeliverWebhook": TRAINERS,
    "trainingSchedules": READERS,
    "trainingSchedule": READERS,
    "auditEntry": TRAINERS,
    "createTrainingSchedule": TRAINERS,
    "updateTrainingSchedule": TRAINERS,
    "pauseTrainingSchedule": TRAINERS,
    "resumeTrainingSchedule": TRAINERS,
    "deleteTrainingSchedule": TRAINERS,
    "batchPredictions": READERS,
    "batchPrediction": READERS,
    "startBatchPrediction": TRAINERS,
    "cancelBatchPrediction": TRAINERS,
    "modelEvaluations": READERS,
    "modelEvaluation": READERS,
    "startEvaluation": TRAINERS,
    "cancelEvaluation": TRAINERS,
    "updateTrainingRun": TRAINERS,
    "auditLog": TRAINERS,
    "trainingAlgorithms": ACCOUNTS,
}
DOCUMENTS = {
    "viewer": VIEWER,
    "trainingRuns": TRAINING_RUNS,
    "trainingRun": TRAINING_RUN,
    "node": NODE,
    "trainModel": TRAIN_MODEL,
    "cancelTrainingRun": CANCEL_TRAINING_RUN,
    "compareTrainingRuns": COMPARE_TRAINING_RUNS,
    "trainingMetricsHistory": TRAINING_METRICS_HISTORY,
    "modelAliases": MODEL_ALIASES,
    "setModelAlias": SET_MODEL_ALIAS,
    "deleteModelAlias": DELETE_MODEL_ALIAS,
    "predictFutureNeed": PREDICT_FUTURE_NEED,
    "datasets": DATASETS,
    "deleteDataset": DELETE_DATASET,
    "logout": LOGOUT,
    "webhooks": WEBHOOKS,
    "webhook": WEBHOOK,
    "webhookDeliveries": WEBHOOK_DELIVERIES,
    "createWebhook": CREATE_WEBHOOK,
    "updateWebhook": UPDATE_WEBHOOK,
    "deleteWebhook": DELETE_WEBHOOK,
    "rotateWebhookSecret": ROTATE_WEBHOOK_SECRET,
    "redeliverWebhook": REDELIVER_WEBHOOK,
    "trainingSchedules": TRAINING_SCHEDULES,
    "trainingSchedule": TRAINING_SCHEDULE,
    "auditEntry": AUDIT_ENTRY,
    "createTrainingSchedule": CREATE_TRAINING_SCHEDULE,
    "updateTrainingSchedule": UPDATE_TRAINING_SCHEDULE,
    "pauseTrainingSchedule": PAUSE_TRAINING_SCHEDULE,
    "resumeTrainingSchedule": RESUME_TRAINING_SCHEDULE,
    "deleteTrainingSchedule": DELETE_TRAINING_SCHEDULE,
    "batchPredictions": BATCH_PREDICTIONS,
    "batchPrediction": BATCH_PREDICTION,
    "startBatchPrediction": START_BATCH_PREDICTION,
    "cancelBatchPrediction": CANCEL_BATCH_PREDICTION,
    "modelEvaluations": MODEL_EVALUATIONS,
    "modelEvaluation": MODEL_EVALUATION,
    "startEvaluation": START_EVALUATION,
    "cancelEvaluation": CANCEL_EVALUATION,
    "updateTrainingRun": UPDATE_TRAINING_RUN,
    "auditLog": AUDIT_LOG,
    "trainingAlgorithms": TRAINING_ALGORITHMS,
    "sweep": SWEEP,
    "sweeps": SWEEPS,
    "startSweep": START_SWEEP,
    "cancelSweep": CANCEL_SWEEP,
}
# The error an allowed caller gets, past the permission check, where no success is
# possible without training a model first.
ALLOWED_ERROR = {"predictFutureNeed": "MODEL_NOT_FOUND"}


async def queued_run() -> TrainingRun:
    """A run row nobody will train: it only has to be there to be read or cancelled."""
    return await TrainingRun.create(
        **(RUN_ROW | {"dataset_path": "reference.csv"}),
        model_version=f"perm-{uuid.uuid4().hex[:10]}",
        n_estimators=5,
    )


async def ended_sweep() -> Sweep:
    """The one sweep of the permission tests: ended, so no driver ever takes it."""
    await Sweep.all().delete()
    return await Sweep.create(**SWEEP_ROW, name="permissions-sweep", status=SweepStatus.COMPLETED)


def variables_for(field: str, runs: list[TrainingRun], sweep: Sweep) -> dict[str, Any]:
    run = runs[0]
    if field in {"sweep", "cancelSweep"}:
        return {"id": str(sweep.id)}
    if field in {"trainingRun", "cancelTrainingRun", "setModelAlias", "updateTrainingRun"}:
        return {"id": str(run.id)}
    if field == "node":
        return {"id": relay.to_base64("TrainingRun", run.id)}
    if field == "compareTrainingRuns":
        return {"ids": [str(compared.id) for compared in runs]}
    return {}


async def token_of(field: str, role: str, server: Server) -> str | None:
    """The role's token; for logout a fresh one of the same account, as logout revokes it."""
    if role == "anonymous":
        return None
    if field != "logout":
        return server.tokens[role]
    return await create_token(await User.get(username=f"{role}-user"), "permissions")


def assert_allowed(
    field: str, role: str, data: dict[str, Any], runs: list[TrainingRun], sweep: Sweep
) -> None:
    result, run = data[field], runs[0]
    if field == "sweep":
        assert result == {"databaseId": sweep.id, "name": sweep.name}
    elif field == "sweeps":
        assert result == {"totalCount": 1, "nodes": [{"databaseId": sweep.id, "name": sweep.name}]}
    elif field == "startSweep":
        assert result == {
            "sweep": None,
            "errors": [{"field": ["input", "maxTrials"], "code": "OUT_OF_RANGE"}],
        }
    elif field == "cancelSweep":
        assert result == {"sweep": {"databaseId": sweep.id}, "errors": [{"code": "INVALID_STATE"}]}
    elif field == "viewer":
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
    elif field == "compareTrainingRuns":
        assert result["runs"] == [
            {"databaseId": compared.id, "modelVersion": compared.model_version} for compared in runs
        ]
    elif field == "trainingMetricsHistory":
        assert result == [{"runs": len(runs)}]
    elif field == "modelAliases":
        assert result == []
    elif field == "setModelAlias":
        assert result == {"modelAlias": None, "errors": [{"code": "INVALID_STATE"}]}
    elif field == "deleteModelAlias":
        assert result == {"deletedAlias": None, "errors": [{"code": "NOT_FOUND"}]}
    elif field == "datasets":
        assert "reference.csv" in {dataset["path"] for dataset in result}
    elif field == "deleteDataset":
        assert result == {"deletedPath": None, "errors": [{"code": "NOT_FOUND"}]}
    elif field == "logout":
        assert result == {"revoked": True}
    elif field == "webhooks":
        assert isinstance(result, list)
    elif field in {"webhook", "webhookDeliveries"}:
        assert result in (None, [])
    elif field == "createWebhook":
        assert result == {
            "webhook": None,
            "secret": None,
            "errors": [{"field": ["events"], "code": "INVALID"}],
        }
    elif field in {"updateWebhook", "deleteWebhook", "rotateWebhookSecret", "redeliverWebhook"}:
        assert result["errors"] == [{"code": "NOT_FOUND"}]
    elif field == "trainingSchedules":
        assert result == {"totalCount": 0, "nodes": []}
    elif field == "createTrainingSchedule":
        assert result == {
            "trainingSchedule": None,
            "errors": [{"field": ["input", "cron"], "code": "INVALID"}],
        }
    elif field in SCHEDULE_MUTATIONS:
        assert result["errors"] == [{"field": ["id"], "code": "NOT_FOUND"}]
    elif field in {"batchPredictions", "modelEvaluations"}:
        assert result == {"pageInfo": {"hasPreviousPage": False}}
    elif field in {"batchPrediction", "modelEvaluation", "trainingSchedule", "auditEntry"}:
        assert result is None
    elif field in {"startBatchPrediction", "cancelBatchPrediction"}:
        assert result == {"batchPrediction": None, "errors": [{"code": "NOT_FOUND"}]}
    elif field in {"startEvaluation", "cancelEvaluation"}:
        assert result == {"evaluation": None, "errors": [{"code": "NOT_FOUND"}]}
    elif field == "updateTrainingRun":
        assert result == {
            "trainingRun": None,
            "errors": [{"field": ["tags", "0"], "code": "INVALID"}],
        }
    elif field == "auditLog":
        assert result == {"totalCount": 0, "nodes": []}
    elif field == "trainingAlgorithms":
        assert [a["name"] for a in result] == [
            "RANDOM_FOREST",
            "HIST_GRADIENT_BOOSTING",
            "EXTRA_TREES",
            "LOGISTIC_REGRESSION",
        ]
    else:
        assert result == {
            "trainingRun": {"databaseId": run.id, "status": "CANCELLED"},
            "errors": [],
        }


# Root fields with permission tests of their own: login (anyone may call it) in test_auth,
# uploadDataset (a multipart request) below.
OWN_TESTS = {"login", "uploadDataset"}


def test_every_root_field_is_in_the_matrix() -> None:
    sdl = build_schema((REPO / "schema" / "schema.graphql").read_text())
    assert sdl.query_type is not None
    assert sdl.mutation_type is not None
    roots = set(sdl.query_type.fields) | set(sdl.mutation_type.fields)
    assert roots - OWN_TESTS == set(DOCUMENTS) == set(ALLOWED)


@pytest.mark.parametrize("field", list(DOCUMENTS))
@pytest.mark.parametrize("role", ROLES)
async def test_role_against_root_field(clean_runs: Server, role: str, field: str) -> None:
    # given: one run (two to compare), no schedule
    server = clean_runs
    await TrainingSchedule.all().delete()
    runs = [await queued_run() for _ in range(2 if field == "compareTrainingRuns" else 1)]
    run = runs[0]
    sweep = await ended_sweep()
    token = await token_of(field, role, server)
    headers = {} if token is None else {"Authorization": f"Token {token}"}
    webhooks_before = await Webhook.all().count()

    # when
    response = await server.post(
        DOCUMENTS[field], variables_for(field, runs, sweep), as_=None, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()

    # then
    if role in ALLOWED[field] and field in ALLOWED_ERROR:
        assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
            ([field], ALLOWED_ERROR[field])
        ]
    elif role in ALLOWED[field]:
        assert "errors" not in body, body["errors"]
        assert_allowed(field, role, body["data"], runs, sweep)
    else:
        expected = "UNAUTHENTICATED" if role == "anonymous" else "FORBIDDEN"
        assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
            ([field], expected)
        ]
        if expected == "FORBIDDEN":  # the refusal names what it refuses
            assert f".{field} is reserved to" in body["errors"][0]["message"]
        assert body["data"] is None or body["data"][field] is None
        assert run.model_version not in json.dumps(body)
        row = await TrainingRun.get(id=run.id)
        assert (row.status, row.cancel_requested, row.notes) == (RunStatus.QUEUED, False, "")
        assert sweep.name not in json.dumps(body)
    assert await TrainingRun.all().count() == len(runs)
    assert await ModelAlias.all().count() == 0
    assert [(s.id, s.status) for s in await Sweep.all()] == [(sweep.id, SweepStatus.COMPLETED)]
    assert await Webhook.all().count() == webhooks_before
    assert await TrainingSchedule.all().count() == 0


@pytest.mark.parametrize("role", ROLES)
async def test_role_against_upload_dataset(server: Server, role: str) -> None:
    # given: a GraphQL multipart request, the only way to send uploadDataset its file
    path = f"permissions-{role}-{uuid.uuid4().hex[:8]}.csv"
    token = await token_of("uploadDataset", role, server)
    headers = {} if token is None else {"Authorization": f"Token {token}"}

    # when
    response = await server.client.post(
        "/graphql", headers=headers, **multipart(path, small_csv(20))
    )

    # then: HR staff upload; everyone else is refused before the body is read
    written = (server.settings.artifacts.datasets / path).exists()
    if role in TRAINERS:
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        assert body["data"]["uploadDataset"]["errors"] == []
        assert written
    else:
        status, code = (401, "UNAUTHENTICATED") if role == "anonymous" else (403, "FORBIDDEN")
        assert response.status_code == status, response.text
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == [code]
        assert not written


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
