"""The suite's shared documents, helpers and waits: the one place they are written.

- Training: `TRAIN` is the one trainModel document, selecting whatever any test reads back
  (`TRAINED_RUN_FIELDS`); `train_payload` / `train` / `train_completed` send it through any
  `Query` (`server.data`, a live server's or a Celery cluster's `data`, `data_of(client)`
  for a bare httpx client, `partial(server.data, as_=ROLE)` for another role).
- Following a run: `RUN_STATE`, `state_of`, `wait_for_state`, `wait_until_final`,
  `wait_for`, `follow` (the trainingRunUpdated subscription).
- Runs as rows: `RUN_ROW`, `FINISHED_RUN`, `run_row`, `mixed_rows`, `insert`, and the
  trainingRuns pages that list them (`training_runs`, `walk_forwards`, `ordered`, ...).
- Datasets: `UPLOAD`, `multipart`, `upload`, `upload_payload`, `small_csv`, `listing`.
- Aliases and predictions: `set_alias`, `dataset_rows`.
- Errors and SQL: `codes`, `http_error_code`, `measure` (with the `sql_log` fixture of
  tests/conftest.py), `CostWalks`.
- HTTP: `http_client` (one shared TLS context), `auth`, `json_of` (a response's JSON body),
  `graphql_ws` (a WebSocket to /graphql).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import orjson
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

import schema.cost
from models.accounts import User
from models.training_runs import RunStatus, TrainingRun
from trainer.ml.dataset import FEATURE_COLUMNS, NUMERIC_COLUMNS

if TYPE_CHECKING:
    from tests.conftest import Server

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
SHIPPED_DATASET = REPO / "artifacts" / "datasets" / "future_skills_dataset.csv"
SHIPPED_LINES = SHIPPED_DATASET.read_bytes().splitlines(keepends=True)

# Every field of a run a test reads back from trainModel (or from trainingRun, as
# `TRAINED_RUN_FIELDS` in a query of its own).
TRAINED_RUN_FIELDS = """
  id databaseId status stage progress errorMessage modelVersion modelPath modelSha256
  datasetPath datasetSha256 runDate startedAt finishedAt
  accuracy precision recall f1Score totalSamples trainSamples testSamples droppedRows
  testSplit nEstimators randomState trainingDurationSeconds featuresUsed notes
  trainedByUsername
  hyperparameters { nEstimators maxDepth minSamplesSplit minSamplesLeaf classWeight }
  perClassMetrics { label precision recall f1Score support }
  confusionMatrix { labels matrix }
  featureImportance { feature importance }
"""
TRAIN = f"""
mutation Train($input: TrainModelInput!) {{
  trainModel(input: $input) {{
    trainingRun {{ {TRAINED_RUN_FIELDS} }}
    errors {{ code field message }}
  }}
}}
"""
# A run's state as the job tests follow it (`state_of`, `wait_for_state`).
RUN_STATE = """
query Run($id: ID!) {
  trainingRun(id: $id) {
    id databaseId modelVersion status stage progress startedAt finishedAt cancelRequested
    errorMessage modelPath modelSha256
  }
}
"""
SET_ALIAS = """
mutation Set($alias: String!, $runId: ID!) {
  setModelAlias(alias: $alias, runId: $runId) {
    modelAlias { alias setAt setByUsername run { databaseId modelVersion } }
    errors { field code message }
  }
}
"""
FOLLOW = """
subscription Follow($id: ID!) {
  trainingRunUpdated(id: $id) { databaseId status stage progress }
}
"""
VIEWER = "query Viewer { viewer { username } }"
SQL_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE")
DATASETS = "{ datasets { path sizeBytes rows columns sha256 modifiedAt } }"
UPLOAD = """
mutation Upload($file: Upload!, $path: String!, $replace: Boolean) {
  uploadDataset(file: $file, path: $path, replace: $replace) {
    dataset { path sizeBytes rows columns sha256 modifiedAt }
    errors { field code message }
  }
}
"""
HISTORY = """
query History($bucket: HistoryBucket, $filter: TrainingRunFilter, $timeZone: String) {
  trainingMetricsHistory(bucket: $bucket, filter: $filter, timeZone: $timeZone) {
    start
    end
    runs
    completed
    failed
    cancelled
    accuracy { min avg max }
    f1Score { min avg max }
    trainingDurationSeconds { min avg max }
  }
}
"""
# About seven seconds of fitting on the shipped dataset: long enough to act on it mid-run.
LONG_TREES = 1000
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
ACTIVE_STATUSES = frozenset({"QUEUED", "RUNNING"})
# The columns a run row needs that a test inserting one directly rarely cares about:
# `TrainingRun.create(**RUN_ROW, model_version=..., status=...)`.
RUN_ROW: dict[str, Any] = {
    "dataset_path": "future_skills_dataset.csv",
    "test_split": 0.2,
    "random_state": 42,
    "min_samples_split": 2,
    "min_samples_leaf": 1,
}
# The columns a sweep row needs, for the tests that insert one directly rather than start
# a search: `Sweep.create(**SWEEP_ROW, name=...)` (a driver takes it only while QUEUED or
# RUNNING and its lease is free).
SWEEP_ROW: dict[str, Any] = {
    "input": {},
    "objective": "f1_score",
    "method": "TPE",
    "pruning": "NONE",
    "max_trials": 1,
    "parallelism": 1,
    "seed": 42,
    "dataset_path": "future_skills_dataset.csv",
}
# What a finished run stores, as a training of 5 trees on the shipped dataset wrote it: for
# the tests that need a COMPLETED run with its metrics to read, not a training to watch
# (`TrainingRun.create(**RUN_ROW, **FINISHED_RUN, model_version=...)`, or a live server's
# `insert_run(**FINISHED_RUN)`).
FINISHED_RUN: dict[str, Any] = {
    "status": "COMPLETED",
    "stage": "SAVING",
    "progress": 1.0,
    "n_estimators": 5,
    "class_weight": "balanced",
    "accuracy": 0.755,
    "precision": 0.7553234915587856,
    "recall": 0.755,
    "f1_score": 0.7551426554310539,
    "training_duration_seconds": 0.2887628,
    "total_samples": 2000,
    "train_samples": 1600,
    "test_samples": 400,
    "dropped_rows": 0,
    "per_class_metrics": [
        {"label": label, "precision": p, "recall": r, "f1_score": f, "support": n}
        for label, p, r, f, n in (
            ("LOW", 0.7899159663865546, 0.7833333333333333, 0.7866108786610879, 120),
            ("MEDIUM", 0.7176470588235294, 0.7261904761904762, 0.7218934911242604, 168),
            ("HIGH", 0.7747747747747747, 0.7678571428571429, 0.7713004484304933, 112),
        )
    ],
    "confusion_matrix": {
        "labels": ["LOW", "MEDIUM", "HIGH"],
        "matrix": [[94, 23, 3], [24, 122, 22], [1, 25, 86]],
    },
    "feature_importance": {
        "trend_score": 0.21922774496571756,
        "scarcity_index": 0.21419347673389932,
        "skill_name": 0.12259844632621658,
        "hiring_difficulty": 0.11442374074129531,
        "internal_usage": 0.07420225064215344,
        "job_role_name": 0.06818113942481399,
        "training_requests": 0.053657773358807025,
        "avg_salary_k": 0.04230121323012821,
        "economic_indicator": 0.033364323374576746,
        "skill_category": 0.03098112392819923,
        "job_department": 0.026868767274192608,
    },
    "features_used": list(FEATURE_COLUMNS),
}
# httpx loads the system's CA bundle into a new TLS context for every client it makes,
# tens of milliseconds of CPU each; the tests make thousands of clients (one per poll of a
# server starting up, per request of the live-server helpers), so they share one context.
TLS_CONTEXT = httpx.create_ssl_context()


def http_client(**options: Any) -> httpx.AsyncClient:
    """An httpx.AsyncClient (`options` as its own) with the suite's shared TLS context."""
    return httpx.AsyncClient(verify=TLS_CONTEXT, **options)


def json_of(response: httpx.Response) -> dict[str, Any]:
    """The response's body, a JSON object (a GraphQL response, an error body...)."""
    body = response.json()
    assert isinstance(body, dict), response.text
    return body


def graphql_ws(
    client: httpx.AsyncClient, protocol: str = "graphql-transport-ws", **options: Any
) -> AbstractAsyncContextManager[AsyncWebSocketSession]:
    """A WebSocket to `client`'s /graphql speaking `protocol` (`options` as aconnect_ws's).
    aconnect_ws's session type is a TypeVar only its default (`session_class=`) sets, which
    mypy cannot infer from: this names it."""
    return aconnect_ws("/graphql", client, subprotocols=[protocol], **options)


# Short enough that a test sees a run's end within a tenth of a second of it.
POLL_INTERVAL = 0.1

# Sends a document with its variables and returns its `data` (failing on errors):
# `server.data`, `LiveServer.data`, `Api.data`, `data_of(client)`; a role other than the
# DRH user's through `functools.partial(server.data, as_=ROLE)`.
Query = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def data_of(client: httpx.AsyncClient) -> Query:
    """A `Query` posting to `client`'s /graphql: HTTP 200 and no errors, or the test fails."""

    async def data(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}
        )
        assert response.status_code == 200, response.text
        body = json_of(response)
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]
        return result

    return data


def train_variables(trees: int | None = None, **fields: Any) -> dict[str, Any]:
    """Variables of TRAIN: `trees` as hyperparameters.nEstimators, `fields` as the rest of
    the input (wait, datasetPath, modelVersion, notes, hyperparameters, ...)."""
    data = dict(fields)
    if trees is not None:
        data["hyperparameters"] = {**data.get("hyperparameters", {}), "nEstimators": trees}
    return {"input": data}


async def train_payload(data: Query, trees: int | None = None, **fields: Any) -> dict[str, Any]:
    """trainModel's payload (`trainingRun` and `errors`) for TRAIN sent through `data`."""
    sent = await data(TRAIN, train_variables(trees, **fields))
    payload: dict[str, Any] = sent["trainModel"]
    return payload


async def train(data: Query, trees: int | None = None, **fields: Any) -> dict[str, Any]:
    """The run trainModel accepted (no errors), as TRAIN selects it."""
    payload = await train_payload(data, trees, **fields)
    assert payload["errors"] == [], payload
    run: dict[str, Any] = payload["trainingRun"]
    return run


async def train_completed(data: Query, trees: int = 5, **fields: Any) -> dict[str, Any]:
    """A COMPLETED run (trained and waited for), under a fresh modelVersion unless given."""
    fields.setdefault("modelVersion", f"pred-{uuid.uuid4().hex[:10]}")
    run = await train(data, trees, wait=True, **fields)
    assert run["status"] == "COMPLETED", run
    return run


def running_and_fitting(state: dict[str, Any]) -> bool:
    return bool(state["status"] == "RUNNING" and state["stage"] == "FITTING")


def ended(state: dict[str, Any]) -> bool:
    return state["status"] not in ACTIVE_STATUSES


async def state_of(data: Query, run: dict[str, Any], query: str = RUN_STATE) -> dict[str, Any]:
    """The run's current state, as `query` (RUN_STATE unless given) selects it."""
    sent = await data(query, {"id": run["id"]})
    state: dict[str, Any] | None = sent["trainingRun"]
    assert state is not None
    return state


async def wait_for_state(
    data: Query,
    run: dict[str, Any],
    condition: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    what: str,
) -> dict[str, Any]:
    """Poll the run's RUN_STATE until `condition` holds; fail after `timeout` s."""

    async def check() -> dict[str, Any] | None:
        state = await state_of(data, run)
        return state if condition(state) else None

    return await wait_for(check, timeout=timeout, what=f"run {run['databaseId']} {what}")


CANCEL = """
mutation Cancel($id: ID!) {
  cancelTrainingRun(id: $id) {
    trainingRun { id status cancelRequested startedAt finishedAt }
    errors { code field }
  }
}
"""


async def cancel(server: Server, run_id: str, *, as_: str | None = "drh") -> dict[str, Any]:
    data = await server.data(CANCEL, {"id": run_id}, as_=as_)
    payload: dict[str, Any] = data["cancelTrainingRun"]
    return payload


async def cancel_and_wait(server: Server, runs: list[dict[str, Any]]) -> None:
    """Free the pool for the next test: cancel whatever is still active, wait until it ends."""
    for run in runs:
        if (await state_of(server.data, run))["status"] in ACTIVE_STATUSES:
            await cancel(server, run["id"])
    for run in runs:
        await wait_for_state(server.data, run, ended, timeout=30, what="ended after cancelling")


async def set_alias(server: Server, alias: str, run_id: object, as_: str = "drh") -> Any:
    body = await server.data(SET_ALIAS, {"alias": alias, "runId": str(run_id)}, as_=as_)
    return body["setModelAlias"]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() if part != "k" else "K" for part in rest)


def dataset_rows(count: int, start: int = 0) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """`count` rows of the shipped dataset: as the CSV holds them (snake_case strings), and
    as PredictionRowInput values (camelCase, numbers as numbers)."""
    with SHIPPED_DATASET.open(newline="") as handle:
        raw = list(csv.DictReader(handle))[start : start + count]
    inputs = []
    for row in raw:
        inputs.append(
            {
                camel(column): float(value) if column in NUMERIC_COLUMNS else value
                for column, value in row.items()
                if column != "future_need_level"
            }
        )
    return raw, inputs


async def wait_for(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    what: str,
    interval: float = POLL_INTERVAL,
) -> T:
    """Poll `check` until it returns something other than None; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_until_final(
    read: Callable[[], Awaitable[dict[str, Any]]],
    *,
    timeout: float,
    what: str = "the run",
    interval: float = POLL_INTERVAL,
) -> dict[str, Any]:
    """Poll `read` (a run's current state, with its `status`) until the run has ended;
    return that last state, or fail after `timeout` s."""

    async def check() -> dict[str, Any] | None:
        state = await read()
        return state if state["status"] in FINAL_STATUSES else None

    return await wait_for(check, timeout=timeout, what=f"{what} to end", interval=interval)


class CostWalks:
    """Counts the walks that compute a query's cost (`schema.cost.operation_cost`): a
    document the cost cache remembers is not walked again."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = schema.cost.operation_cost

        def counted(*args: Any, **kwargs: Any) -> int:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(schema.cost, "operation_cost", counted)


async def open_session(ws: AsyncWebSocketSession, server: Server, role: str | None = "drh") -> None:
    """connection_init as `role` (None: no token), answered by connection_ack."""
    payload = {"Authorization": f"Token {server.tokens[role]}"} if role else {}
    await ws.send_json({"type": "connection_init", "payload": payload})
    assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"


async def subscribe(
    ws: AsyncWebSocketSession,
    server: Server,
    query: str,
    variables: dict[str, Any],
    role: str | None = "drh",
) -> None:
    """Open a graphql-transport-ws session on `ws` as `role` (None: no token) and start
    `query` as operation "1"."""
    await open_session(ws, server, role)
    await ws.send_json(
        {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
    )


async def follow_subscription(
    server: Server,
    query: str,
    variables: dict[str, Any],
    role: str | None = "drh",
    *,
    into: list[dict[str, Any]] | None = None,
    timeout: float = 60,
) -> list[dict[str, Any]]:
    """Subscribe to `query` over a WebSocket and collect every message until the server
    completes the operation (each within `timeout` seconds of the one before); `into` lets
    a test read them as they come."""
    async with graphql_ws(server.client) as ws:
        await subscribe(ws, server, query, variables, role)
        messages = into if into is not None else []
        while True:
            message = await ws.receive_json(timeout=timeout)
            messages.append(message)
            if message["type"] in {"complete", "error"}:
                return messages


async def follow(
    server: Server,
    run_id: str,
    role: str | None = "drh",
    *,
    into: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every message of the run's trainingRunUpdated, as follow_subscription collects them."""
    return await follow_subscription(server, FOLLOW, {"id": run_id}, role, into=into)


# --- the SQL one request makes (with the `sql_log` fixture of tests/conftest.py) ----------
_measuring: ContextVar[bool] = ContextVar("measuring", default=False)


class TagMeasured(logging.Filter):
    """Mark each SQL log record with whether the measured request issued it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.measured = _measuring.get()
        return True


async def measure(
    server: Server, sql_log: pytest.LogCaptureFixture, query: str, variables: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """The SQL statements one request made, and its data."""
    # A request records the token's use at most once a minute; this one does it now,
    # so the measured request below does not.
    await server.data(VIEWER)
    sql_log.clear()
    token = _measuring.set(True)
    try:
        data = await server.data(query, variables)
    finally:
        _measuring.reset(token)
    statements = [
        record.getMessage().lstrip()
        for record in sql_log.records
        if record.name == "tortoise.db_client" and getattr(record, "measured", False)
    ]
    return [sql for sql in statements if sql.upper().startswith(SQL_VERBS)], data


# --- errors and datasets ---------------------------------------------------------------------
def codes(body: dict[str, Any]) -> list[str]:
    """The codes of a GraphQL response's errors, in order."""
    return [error["extensions"]["code"] for error in body.get("errors") or []]


def small_csv(rows: int = 300, start: int = 1) -> bytes:
    """The shipped dataset's header and `rows` of its rows from `start`."""
    return b"".join([SHIPPED_LINES[0], *SHIPPED_LINES[start : start + rows]])


def unique_name(prefix: str = "upload") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}.csv"


def datasets_folder(server: Server) -> Path:
    return server.settings.artifacts.datasets


def temporary_files(server: Server) -> list[Path]:
    return sorted(datasets_folder(server).glob(".upload-*"))


def multipart(
    path: str, content: bytes, *, replace: bool | None = None, filename: str = "data.csv"
) -> dict[str, Any]:
    """httpx arguments of an uploadDataset request, as the multipart request spec has it."""
    variables: dict[str, Any] = {"file": None, "path": path}
    if replace is not None:
        variables["replace"] = replace
    return {
        "data": {
            "operations": orjson.dumps({"query": UPLOAD, "variables": variables}).decode(),
            "map": orjson.dumps({"0": ["variables.file"]}).decode(),
        },
        "files": {"0": (filename, content, "text/csv")},
    }


async def upload(
    server: Server,
    path: str,
    content: bytes,
    *,
    replace: bool | None = None,
    as_: str = "drh",
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    return await (client or server.client).post(
        "/graphql",
        headers={"Authorization": f"Token {server.tokens[as_]}"},
        **multipart(path, content, replace=replace),
    )


async def upload_payload(server: Server, path: str, content: bytes, **options: Any) -> Any:
    response = await upload(server, path, content, **options)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["uploadDataset"]


async def listing(server: Server) -> dict[str, dict[str, Any]]:
    data = await server.data(DATASETS)
    return {dataset["path"]: dataset for dataset in data["datasets"]}


def refused_paths(link: str) -> list[Any]:
    """Dataset paths datasetPath's rules refuse; `link` is a symbolic link of the
    datasets folder to a folder outside it, made by the test."""
    return [
        pytest.param("/etc/passwd.csv", id="absolute"),
        pytest.param("../outside.csv", id="dot-dot"),
        pytest.param("a/../../outside.csv", id="dot-dot-inside"),
        pytest.param(f"{link}/inside.csv", id="symlink-out"),
        pytest.param("notes.txt", id="not-csv"),
        pytest.param("", id="empty"),
        pytest.param(".hidden.csv", id="hidden"),
        pytest.param("x" * 300 + ".csv", id="too-long"),
    ]


# --- runs inserted as rows, and the trainingRuns pages that list them ------------------
TRAINING_RUNS_QUERY = """
query TrainingRuns(
  $first: Int
  $after: String
  $last: Int
  $before: String
  $filter: TrainingRunFilter
  $orderBy: TrainingRunOrder
) {
  trainingRuns(
    first: $first
    after: $after
    last: $last
    before: $before
    filter: $filter
    orderBy: $orderBy
  ) {
    edges {
      cursor
      node {
        databaseId
        modelVersion
      }
    }
    nodes {
      databaseId
    }
    pageInfo {
      hasNextPage
      hasPreviousPage
      startCursor
      endCursor
    }
    totalCount
  }
}
"""


BASE_DATE = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

# (GraphQL order field, model column) for every order the contract names.
ORDER_FIELDS = {
    "RUN_DATE": "run_date",
    "ACCURACY": "accuracy",
    "F1_SCORE": "f1_score",
    "TRAINING_DURATION": "training_duration_seconds",
}
ORDERS = [
    pytest.param(field, direction, id=f"{field}-{direction}")
    for field in ORDER_FIELDS
    for direction in ("DESC", "ASC")
]


def run_row(number: int, **fields: Any) -> TrainingRun:
    """An unsaved run with the required columns filled in; `fields` override them."""
    values: dict[str, Any] = {
        "model_version": f"list-{number:04d}",
        "dataset_path": "future_skills_dataset.csv",
        "test_split": 0.2,
        "random_state": 42,
        "n_estimators": 50,
        "min_samples_split": 2,
        "min_samples_leaf": 1,
        "run_date": BASE_DATE + timedelta(hours=number),
        "status": RunStatus.COMPLETED,
    }
    values.update(fields)
    return TrainingRun(**values)


def mixed_rows(count: int, users: Sequence[User | None]) -> list[TrainingRun]:
    """Runs with ties in every order column, NULL metrics and several statuses and users."""
    rng = random.Random(count)
    statuses = list(RunStatus)
    rows = []
    for number in range(count):
        rows.append(
            run_row(
                number,
                # Few distinct instants, some with microseconds: ties on run_date.
                run_date=BASE_DATE
                + timedelta(
                    minutes=rng.randrange(max(count // 3, 1)),
                    microseconds=rng.choice([0, 0, 250_000, 999_999]),
                ),
                status=statuses[number % len(statuses)],
                accuracy=rng.choice([None, None, 0.5, 0.75, 0.75, 0.9, 0.123456789, 1.0]),
                f1_score=rng.choice([None, 0.25, 0.6, 0.6, 0.875, 0.3333333333333333]),
                training_duration_seconds=rng.choice([None, 0.5, 2.5, 2.5, 60.125, 1e-3]),
                **trained_by(rng.choice(users)),
            )
        )
    return rows


def trained_by(user: User | None) -> dict[str, Any]:
    """The columns trainModel fills in for the user who asked for a run."""
    if user is None:
        return {"trained_by_id": None, "trained_by_username": None}
    return {"trained_by_id": user.id, "trained_by_username": user.username}


async def insert(rows: list[TrainingRun]) -> list[TrainingRun]:
    """Insert `rows` and return the whole table as the database holds it."""
    await TrainingRun.bulk_create(rows)
    return await TrainingRun.all()


async def role_users() -> list[User | None]:
    return [
        await User.get(username="drh-user"),
        await User.get(username="manager-user"),
        None,
    ]


def ordered(rows: Sequence[TrainingRun], column: str, direction: str) -> list[int]:
    """Ids in the contract's order: scored rows by (value, id), then NULL rows by id."""
    descending = direction == "DESC"
    scored = [row for row in rows if getattr(row, column) is not None]
    unscored = [row for row in rows if getattr(row, column) is None]
    scored.sort(key=lambda row: (getattr(row, column), row.id), reverse=descending)
    unscored.sort(key=lambda row: row.id, reverse=descending)
    return [row.id for row in scored + unscored]


def order_by(field: str, direction: str) -> dict[str, str]:
    return {"field": field, "direction": direction}


def ids_of(connection: dict[str, Any]) -> list[int]:
    return [edge["node"]["databaseId"] for edge in connection["edges"]]


async def training_runs(server: Server, **variables: Any) -> dict[str, Any]:
    data = await server.data(TRAINING_RUNS_QUERY, variables)
    runs: dict[str, Any] = data["trainingRuns"]
    return runs


async def error_of(server: Server, **variables: Any) -> dict[str, Any]:
    """The single error of a refused trainingRuns request, which returns no data."""
    body = await server.gql(TRAINING_RUNS_QUERY, variables)
    assert body["data"] is None
    error: dict[str, Any]
    [error] = body["errors"]
    assert error["path"] == ["trainingRuns"]
    return error


def assert_cursors_match_edges(connection: dict[str, Any]) -> None:
    edges = connection["edges"]
    page_info = connection["pageInfo"]
    assert page_info["startCursor"] == (edges[0]["cursor"] if edges else None)
    assert page_info["endCursor"] == (edges[-1]["cursor"] if edges else None)


async def walk_forwards(
    server: Server, size: int, *, order: dict[str, str] | None = None, **variables: Any
) -> list[dict[str, Any]]:
    """Every page from the start, following endCursor while hasNextPage."""
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        page = await training_runs(server, first=size, after=after, orderBy=order, **variables)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]
        assert len(pages) <= 100, "pagination does not end"


async def walk_backwards(
    server: Server, size: int, *, order: dict[str, str] | None = None, **variables: Any
) -> list[dict[str, Any]]:
    """Every page from the end, following startCursor while hasPreviousPage; in list order."""
    pages: list[dict[str, Any]] = []
    before = None
    while True:
        page = await training_runs(server, last=size, before=before, orderBy=order, **variables)
        pages.insert(0, page)
        if not page["pageInfo"]["hasPreviousPage"]:
            return pages
        before = page["pageInfo"]["startCursor"]
        assert len(pages) <= 100, "pagination does not end"


def auth(server: Server, role: str | None = "drh", **headers: str) -> dict[str, str]:
    if role is not None:
        headers["Authorization"] = f"Token {server.tokens[role]}"
    return {name.replace("_", "-"): value for name, value in headers.items()}


def http_error_code(response: Any) -> str:
    """The one error code of a JSON error body (downloads, exports, HTTP refusals)."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"errors"}
    return str(body["errors"][0]["extensions"]["code"])
