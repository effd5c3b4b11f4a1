"""predictFutureNeed (issue 10, section 2): answers equal to predict_proba, which model
answers, the model file's check before loading, the per-process cache, the event loop
kept free, and the body-size allowance for JSON predictions."""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import time
import uuid
from pathlib import Path
from typing import Any

import joblib
import orjson
import pytest

from models.training_runs import RunStatus, TrainingRun
from schema.predictions import ROW_COLUMNS
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import RUN_ROW, camel, dataset_rows, set_alias, train_completed
from trainer.ml.dataset import FEATURE_COLUMNS, load_dataset

PREDICT = """
query Predict($model: String, $rows: [PredictionRowInput!]!) {
  predictFutureNeed(model: $model, rows: $rows) {
    modelVersion
    run { databaseId modelVersion }
    predictions { level probabilities { label probability } }
  }
}
"""
PREDICT_DEFAULT = """
query Predict($rows: [PredictionRowInput!]!) {
  predictFutureNeed(rows: $rows) { modelVersion predictions { level } }
}
"""
VIEWER = "{ viewer { username } }"
NUMERIC_ONLY = frozenset(FEATURE_COLUMNS[4:])


@pytest.fixture(scope="module")
async def models(server: Server) -> list[dict[str, Any]]:
    """Two small COMPLETED runs with different forests."""
    return [
        await train_completed(server.data, trees=5, randomState=1),
        await train_completed(server.data, trees=8, randomState=2),
    ]


def model_file(server: Server, run: dict[str, Any]) -> Path:
    model_path: str = run["modelPath"]
    return Path(server.settings.artifacts_dir) / model_path


async def predict(
    server: Server, rows: list[dict[str, Any]], model: str | None, as_: str | None = "drh"
) -> dict[str, Any]:
    return await server.gql(PREDICT, {"model": model, "rows": rows}, as_=as_)


def error_code(body: dict[str, Any]) -> str:
    assert body["data"] is None, body
    return str(body["errors"][0]["extensions"]["code"])


def as_probabilities(model: Any, proba_row: Any) -> dict[str, float]:
    return {str(label): float(p) for label, p in zip(model.classes_, proba_row, strict=True)}


# --- the answer ----------------------------------------------------------------------------


async def test_predictions_equal_predict_proba_on_the_same_rows(
    server: Server, models: list[dict[str, Any]], tmp_path: Path
) -> None:
    raw, rows = dataset_rows(50, start=100)
    run = models[0]
    body = await predict(server, rows, run["modelVersion"])
    assert "errors" not in body, body
    answer = body["data"]["predictFutureNeed"]
    assert answer["modelVersion"] == run["modelVersion"]
    assert answer["run"]["databaseId"] == run["databaseId"]

    # The same rows through the training loader, and the model loaded directly.
    csv_path = tmp_path / "rows.csv"
    header = [*FEATURE_COLUMNS, "future_need_level"]
    csv_path.write_text(
        "\n".join([",".join(header), *(",".join(row[c] for c in header) for row in raw)])
    )
    frame = load_dataset(csv_path).frame
    model = joblib.load(model_file(server, run))
    expected = model.predict_proba(frame[list(FEATURE_COLUMNS)])
    levels = model.predict(frame[list(FEATURE_COLUMNS)])

    assert len(answer["predictions"]) == len(rows)
    for prediction, proba_row, level in zip(answer["predictions"], expected, levels, strict=True):
        got = {p["label"]: p["probability"] for p in prediction["probabilities"]}
        assert got == as_probabilities(model, proba_row)
        assert prediction["level"] == level
        assert sum(got.values()) == pytest.approx(1.0)
        labels = [p["label"] for p in prediction["probabilities"]]
        assert labels == [label for label in ("LOW", "MEDIUM", "HIGH") if label in labels]


async def test_missing_values_are_treated_as_training_treated_blank_cells(
    server: Server, models: list[dict[str, Any]], tmp_path: Path
) -> None:
    run = models[0]
    # Row by row: every feature missing in turn (left out, null, or a blank category),
    # then all of them at once.
    raw, full = dataset_rows(len(FEATURE_COLUMNS) + 1, start=300)
    rows: list[dict[str, Any]] = []
    csv_rows: list[dict[str, str]] = []
    for index, (cells, row) in enumerate(zip(raw, full, strict=True)):
        row = dict(row)
        cells = dict(cells)
        missing = (
            FEATURE_COLUMNS[index : index + 1] if index < len(FEATURE_COLUMNS) else FEATURE_COLUMNS
        )
        for column in missing:
            cells[column] = ""
            if index % 3 == 0:
                row.pop(camel(column))
            elif index % 3 == 1 or column in NUMERIC_ONLY:
                row[camel(column)] = None
            else:
                row[camel(column)] = "  "  # a blank category, as a CSV cell of spaces
        rows.append(row)
        csv_rows.append(cells)
    body = await predict(server, rows, run["modelVersion"])
    assert "errors" not in body, body

    csv_path = tmp_path / "blanks.csv"
    header = [*FEATURE_COLUMNS, "future_need_level"]
    csv_path.write_text(
        "\n".join([",".join(header), *(",".join(row[c] for c in header) for row in csv_rows)])
    )
    frame = load_dataset(csv_path).frame
    assert frame[list(FEATURE_COLUMNS)].isna().any(axis=1).all()
    model = joblib.load(model_file(server, run))
    expected = model.predict_proba(frame[list(FEATURE_COLUMNS)])
    for prediction, proba_row in zip(
        body["data"]["predictFutureNeed"]["predictions"], expected, strict=True
    ):
        got = {p["label"]: p["probability"] for p in prediction["probabilities"]}
        assert got == as_probabilities(model, proba_row)


def test_the_input_fields_are_the_dataset_feature_columns() -> None:
    assert ROW_COLUMNS == FEATURE_COLUMNS


# --- which model answers ------------------------------------------------------------------


async def test_a_model_is_named_by_alias_or_by_model_version(
    server: Server, models: list[dict[str, Any]]
) -> None:
    _, rows = dataset_rows(3)
    alias = f"champion-{uuid.uuid4().hex[:8]}"
    await set_alias(server, alias, models[1]["id"])
    by_alias = (await predict(server, rows, alias))["data"]["predictFutureNeed"]
    by_version = (await predict(server, rows, models[1]["modelVersion"]))["data"][
        "predictFutureNeed"
    ]
    assert by_alias["modelVersion"] == by_version["modelVersion"] == models[1]["modelVersion"]
    assert by_alias["predictions"] == by_version["predictions"]


async def test_the_default_model_is_the_production_alias_and_a_moved_alias_is_followed(
    server: Server, models: list[dict[str, Any]]
) -> None:
    _, rows = dataset_rows(2)
    await set_alias(server, "production", models[0]["id"])
    first = await server.data(PREDICT_DEFAULT, {"rows": rows})
    assert first["predictFutureNeed"]["modelVersion"] == models[0]["modelVersion"]

    await set_alias(server, "production", models[1]["id"])  # no restart in between
    second = await server.data(PREDICT_DEFAULT, {"rows": rows})
    assert second["predictFutureNeed"]["modelVersion"] == models[1]["modelVersion"]
    # `model: null` means the default too
    third = (await predict(server, rows, None))["data"]["predictFutureNeed"]
    assert third["modelVersion"] == models[1]["modelVersion"]


async def test_unknown_models_and_runs_without_a_model_are_refused(
    server: Server, models: list[dict[str, Any]]
) -> None:
    _, rows = dataset_rows(1)
    failed = await TrainingRun.create(
        **RUN_ROW,
        model_version=f"failed-{uuid.uuid4().hex[:8]}",
        n_estimators=3,
        status=RunStatus.FAILED,
    )
    for model in ("no-such-model", "", "x" * 500, failed.model_version):
        body = await predict(server, rows, model)
        assert error_code(body) == "MODEL_NOT_FOUND", model
        assert body["errors"][0]["extensions"]["argument"] == "model"


# --- who may predict ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("manager", None),
        ("rrh", None),
        ("root", None),
        (None, "UNAUTHENTICATED"),
        ("nogroup", "FORBIDDEN"),
    ],
)
async def test_readers_of_runs_may_predict(
    server: Server, models: list[dict[str, Any]], role: str | None, code: str | None
) -> None:
    _, rows = dataset_rows(1)
    body = await predict(server, rows, models[0]["modelVersion"], as_=role)
    if code is None:
        assert body["data"]["predictFutureNeed"]["modelVersion"] == models[0]["modelVersion"]
    else:
        assert error_code(body) == code


# --- rows ---------------------------------------------------------------------------------


async def test_zero_rows_or_more_than_a_thousand_are_refused(
    server: Server, models: list[dict[str, Any]]
) -> None:
    _, rows = dataset_rows(1001)
    for count in (0, 1001):
        body = await predict(server, rows[:count], models[0]["modelVersion"])
        assert error_code(body) == "BAD_USER_INPUT", count
        assert body["errors"][0]["extensions"]["argument"] == "rows"
    exactly = await predict(server, rows[:1000], models[0]["modelVersion"])
    assert len(exactly["data"]["predictFutureNeed"]["predictions"]) == 1000


async def test_rows_of_the_wrong_type_are_refused_by_the_schema(
    server: Server, models: list[dict[str, Any]]
) -> None:
    for rows in ([{"trendScore": "high"}], [{"jobRoleName": 3}], [{"unknownColumn": 1}]):
        body = await predict(server, rows, models[0]["modelVersion"])
        assert body["errors"][0]["extensions"]["code"] in {
            "BAD_USER_INPUT",
            "GRAPHQL_VALIDATION_FAILED",
        }


# --- the model file ---------------------------------------------------------------------


async def stored_run(server: Server, content: bytes, sha256: str) -> TrainingRun:
    version = f"file-{uuid.uuid4().hex[:10]}"
    server.settings.artifacts.model_file(version).write_bytes(content)
    return await TrainingRun.create(
        **RUN_ROW,
        model_version=version,
        n_estimators=5,
        status=RunStatus.COMPLETED,
        model_path=f"models/{version}.joblib",
        model_sha256=sha256,
        features_used=list(FEATURE_COLUMNS),
    )


class _Marker:
    """Unpickling this creates the file `path` (what a planted pickle could do)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


async def test_a_changed_model_file_is_refused_and_never_loaded(
    server: Server, models: list[dict[str, Any]], tmp_path: Path
) -> None:
    _, rows = dataset_rows(1)
    good = model_file(server, models[0]).read_bytes()
    marker = tmp_path / "unpickled"
    planted = pickle.dumps(_Marker(marker))
    run = await stored_run(server, planted, hashlib.sha256(good).hexdigest())
    alias = f"tampered-{uuid.uuid4().hex[:8]}"
    await set_alias(server, alias, run.id)

    for model in (run.model_version, alias):
        body = await predict(server, rows, model)
        assert error_code(body) == "MODEL_FILE_CHANGED"
        assert "not loaded" in body["errors"][0]["message"]
    assert not marker.exists()

    # A good file with one byte more: refused as well.
    longer = await stored_run(server, good + b"\0", hashlib.sha256(good).hexdigest())
    assert error_code(await predict(server, rows, longer.model_version)) == "MODEL_FILE_CHANGED"


async def test_a_missing_model_file_is_reported(server: Server) -> None:
    _, rows = dataset_rows(1)
    run = await stored_run(server, b"x", hashlib.sha256(b"x").hexdigest())
    server.settings.artifacts.model_file(run.model_version).unlink()
    assert error_code(await predict(server, rows, run.model_version)) == "MODEL_FILE_MISSING"


async def test_loaded_models_are_cached_within_the_bound(
    server: Server, models: list[dict[str, Any]]
) -> None:
    third = await train_completed(server.data, trees=3)
    app = ConfiguredApp(server, model_cache_size=2)
    cache = app.services.models
    _, rows = dataset_rows(2)
    headers = {"Authorization": f"Token {server.tokens['drh']}"}

    async with app.client() as client:

        async def ask(run: dict[str, Any]) -> None:
            response = await client.post(
                "/graphql",
                json={"query": PREDICT, "variables": {"model": run["modelVersion"], "rows": rows}},
                headers=headers,
            )
            assert (
                response.json()["data"]["predictFutureNeed"]["modelVersion"] == run["modelVersion"]
            )

        await asyncio.gather(ask(models[0]), ask(models[0]), ask(models[0]))
        assert cache.loads == 1  # concurrent first requests share one load
        await ask(models[1])
        await ask(models[0])
        assert (cache.loads, len(cache)) == (2, 2)
        await ask(third)  # evicts models[1], the least recently used
        assert (cache.loads, len(cache)) == (3, 2)
        await ask(models[0])
        assert cache.loads == 3
        await ask(models[1])
        assert (cache.loads, len(cache)) == (4, 2)


async def ask_app(app: ConfiguredApp, server: Server, model: str, rows: list[Any]) -> Any:
    async with app.client() as client:
        response = await client.post(
            "/graphql",
            json={"query": PREDICT, "variables": {"model": model, "rows": rows}},
            headers={"Authorization": f"Token {server.tokens['drh']}"},
        )
    return response.json()


async def test_a_file_that_is_not_the_trained_model_is_refused_and_never_kept(
    server: Server, models: list[dict[str, Any]]
) -> None:
    """A file rewritten after training (other bytes) or a run row recording the hash of
    something that is no fitted model: refused, nothing kept, so the next prediction with
    a good model is answered (the bad object used to stay cached, failing every later one)."""
    _, rows = dataset_rows(1)
    app = ConfiguredApp(server)
    cache = app.services.models

    # A good model's file, then rewritten with other valid pickle bytes.
    good = model_file(server, models[0]).read_bytes()
    rewritten = await stored_run(server, good, hashlib.sha256(good).hexdigest())
    server.settings.artifacts.model_file(rewritten.model_version).write_bytes(
        pickle.dumps({"classes_": ["LOW"]})
    )
    body = await ask_app(app, server, rewritten.model_version, rows)
    assert error_code(body) == "MODEL_FILE_CHANGED"
    assert (cache.loads, len(cache)) == (1, 0)

    # The recorded bytes, but a pickled dict: unpickled once, refused, not kept.
    not_a_model = pickle.dumps({"classes_": ["LOW"], "predict_proba": None})
    planted = await stored_run(server, not_a_model, hashlib.sha256(not_a_model).hexdigest())
    for _ in range(2):
        body = await ask_app(app, server, planted.model_version, rows)
        assert error_code(body) == "MODEL_FILE_INVALID"
        assert body["errors"][0]["extensions"]["argument"] == "model"
    assert (cache.loads, len(cache)) == (3, 0)

    answer = await ask_app(app, server, models[0]["modelVersion"], rows)
    assert answer["data"]["predictFutureNeed"]["modelVersion"] == models[0]["modelVersion"]
    assert len(cache) == 1


async def test_models_are_kept_within_the_cache_bytes_and_larger_files_refused(
    server: Server, models: list[dict[str, Any]]
) -> None:
    _, rows = dataset_rows(2)
    sizes = [model_file(server, run).stat().st_size for run in models]
    # Room for either model, not both; the larger is the largest file loaded.
    app = ConfiguredApp(
        server,
        model_cache_size=4,
        model_cache_bytes=sum(sizes) - 1,
        max_model_bytes=max(sizes),
    )
    cache = app.services.models
    for run in (models[0], models[1], models[1]):
        answer = await ask_app(app, server, run["modelVersion"], rows)
        assert answer["data"]["predictFutureNeed"]["modelVersion"] == run["modelVersion"]
    assert (cache.loads, len(cache), cache.bytes) == (2, 1, sizes[1])

    # A file over MAX_MODEL_BYTES is not read: MODEL_TOO_LARGE, with its size and the limit.
    smaller = ConfiguredApp(server, max_model_bytes=min(sizes) - 1)
    body = await ask_app(smaller, server, models[0]["modelVersion"], rows)
    assert error_code(body) == "MODEL_TOO_LARGE"
    extensions = body["errors"][0]["extensions"]
    assert (extensions["argument"], extensions["size"], extensions["limit"]) == (
        "model",
        sizes[0],
        min(sizes) - 1,
    )
    assert len(smaller.services.models) == 0


@pytest.mark.parametrize(
    ("row", "value", "field"),
    [
        (0, 1e308, "trendScore"),  # beyond float32 as sent
        (2, -3.5e38, "avgSalaryK"),
        (1, 3e38, "scarcityIndex"),  # a float32, but not once scaled as in training
    ],
)
async def test_numbers_a_model_cannot_take_are_refused_naming_the_row_and_field(
    server: Server, models: list[dict[str, Any]], row: int, value: float, field: str
) -> None:
    _, rows = dataset_rows(3)
    rows[row][field] = value
    body = await predict(server, rows, models[0]["modelVersion"])
    assert error_code(body) == "BAD_USER_INPUT"
    extensions = body["errors"][0]["extensions"]
    assert (extensions["argument"], extensions["field"]) == ("rows", ["rows", str(row), field])
    # a large value that stays within float32 once scaled is answered
    rows[row][field] = 1e30
    assert "errors" not in await predict(server, rows, models[0]["modelVersion"])


async def test_other_requests_are_answered_during_a_thousand_row_prediction(
    server: Server,
) -> None:
    big = await train_completed(server.data, trees=400)
    raw, rows = dataset_rows(1000)
    await predict(server, rows[:1], big["modelVersion"])  # loaded: only predicting remains
    # How long predict_proba alone takes on these rows (the part that must leave the loop;
    # coercing 11,000 input values and writing 8,000 output fields is graphql-core's, on it).
    import pandas as pd

    model = joblib.load(model_file(server, big))
    frame = pd.DataFrame(raw)[list(FEATURE_COLUMNS)]
    frame[list(FEATURE_COLUMNS[4:])] = frame[list(FEATURE_COLUMNS[4:])].astype(float)
    bare = []
    for _ in range(3):
        started = time.perf_counter()
        model.predict_proba(frame)
        bare.append(time.perf_counter() - started)
    predicting = sorted(bare)[1]

    done = asyncio.Event()
    answered: list[float] = []

    async def prediction() -> float:
        started = time.perf_counter()
        body = await predict(server, rows, big["modelVersion"])
        assert len(body["data"]["predictFutureNeed"]["predictions"]) == 1000
        done.set()
        return time.perf_counter() - started

    async def others() -> None:
        while not done.is_set():
            await server.data(VIEWER)
            answered.append(time.perf_counter())

    started = time.perf_counter()
    duration, _ = await asyncio.gather(prediction(), others())
    gaps = [b - a for a, b in zip([started, *answered], answered, strict=False)]
    # Requests kept being answered all along: none waited for most of the prediction.
    assert len(answered) >= 5, (duration, answered)
    # Had predict_proba run on the loop, one gap would hold it and the work around it.
    assert max(gaps) < duration - predicting / 2, (duration, predicting, gaps)


# --- request size and cost ---------------------------------------------------------------


def body_of(query: str, variables: dict[str, Any]) -> bytes:
    return orjson.dumps({"query": query, "variables": variables})


async def post_raw(server: Server, body: bytes, role: str | None = "drh") -> Any:
    headers = {"content-type": "application/json"}
    if role is not None:
        headers["Authorization"] = f"Token {server.tokens[role]}"
    return await server.client.post("/graphql", content=body, headers=headers)


async def test_a_thousand_row_prediction_passes_the_body_limit_other_large_bodies_do_not(
    server: Server, models: list[dict[str, Any]]
) -> None:
    _, rows = dataset_rows(1000)
    limit = server.settings.max_body_bytes
    version = models[0]["modelVersion"]
    prediction = body_of(PREDICT, {"model": version, "rows": rows})
    assert len(prediction) > 2 * limit  # ~280-330 kB

    response = await post_raw(server, prediction)
    assert response.status_code == 200
    assert len(response.json()["data"]["predictFutureNeed"]["predictions"]) == 1000

    padding = "x" * 150_000
    refused = {
        "a query asking for something else": body_of(VIEWER, {"pad": padding}),
        "a prediction beside another root field": body_of(
            PREDICT.replace("predictFutureNeed(", "viewer { username } predictFutureNeed("),
            {"model": version, "rows": rows},
        ),
        "a mutation": body_of(
            "mutation M($rows: [PredictionRowInput!]!) "
            '{ cancelTrainingRun(id: "1") { errors { code } } }',
            {"rows": rows},
        ),
        "a root fragment": body_of(
            "query Q($rows: [PredictionRowInput!]!) { ...F } "
            "fragment F on Query { predictFutureNeed(rows: $rows) { modelVersion } "
            "viewer { username } }",
            {"rows": rows},
        ),
        "a batch holding another query": orjson.dumps(
            [
                {"query": PREDICT, "variables": {"model": version, "rows": rows[:10]}},
                {"query": VIEWER, "variables": {"pad": padding}},
            ]
        ),
        "a persisted query hash alone": orjson.dumps(
            {
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}},
                "variables": {"rows": rows},
            }
        ),
        "not JSON": b"{" + b" " * 150_000,
    }
    for what, body in refused.items():
        assert len(body) > limit, what
        response = await post_raw(server, body)
        assert response.status_code == 413, what
        assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE", what

    # Without credentials, the allowance does not apply.
    assert (await post_raw(server, prediction, role=None)).status_code == 413
    # Above MAX_PREDICTION_BODY_BYTES, a prediction is refused too.
    huge = body_of(
        PREDICT,
        {"model": version, "rows": rows, "pad": "x" * server.settings.max_prediction_body_bytes},
    )
    assert (await post_raw(server, huge)).status_code == 413


async def test_a_prediction_costs_by_its_rows(server: Server, models: list[dict[str, Any]]) -> None:
    _, rows = dataset_rows(1000)
    costs = []
    for count in (1, 1000):
        response = await server.client.post(
            "/graphql",
            json={
                "query": PREDICT,
                "variables": {"model": models[0]["modelVersion"], "rows": rows[:count]},
                "extensions": {"cost": True},
            },
            headers={"Authorization": f"Token {server.tokens['drh']}"},
        )
        costs.append(response.json()["extensions"]["cost"]["requested"])
    # each row: a prediction (1), its level (1), three probabilities of two fields (9)
    assert costs[1] - costs[0] == 999 * 11
    assert costs[1] <= server.settings.max_query_cost
