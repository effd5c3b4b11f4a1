"""GET /runs/export.csv (issue 21): the runs trainingRuns lists for a filter and an order,
as CSV streamed in keyset chunks, with formulas defused; refusals in the API's JSON shape.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from typing import Any

import httpx
import orjson
import pytest

import resolvers.run_export
from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import auth, http_error_code, insert, order_by, run_row, walk_forwards

EXPORT = "/runs/export.csv"
HEADER = [
    "databaseId",
    "modelVersion",
    "status",
    "runDate",
    "trainedByUsername",
    "accuracy",
    "precision",
    "recall",
    "f1Score",
    "trainingDurationSeconds",
    "algorithm",
    "parameters",
    "nEstimators",
    "maxDepth",
    "minSamplesSplit",
    "minSamplesLeaf",
    "classWeight",
    "testSplit",
    "randomState",
    "datasetPath",
    "notes",
    "tags",
    "errorMessage",
]
LIST_FIELDS = """
query Runs($first: Int, $after: String, $filter: TrainingRunFilter, $orderBy: TrainingRunOrder) {
  trainingRuns(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { node { databaseId modelVersion status runDate accuracy f1Score notes } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def export(server: Server, role: str | None = "drh", **parameters: Any) -> httpx.Response:
    params = {
        name: value if isinstance(value, str) else orjson.dumps(value).decode()
        for name, value in parameters.items()
    }
    return await server.client.get(EXPORT, params=params, headers=auth(server, role))


def table(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    reader = csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline=""))
    header = next(reader)
    assert header == HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


def mixed(count: int) -> list[TrainingRun]:
    statuses = list(RunStatus)
    return [
        run_row(
            number,
            model_version=f"{'q1rf-beta' if number % 3 else 'q2-alpha'}-{number:04d}",
            status=statuses[number % len(statuses)],
            accuracy=None if number % 4 == 0 else (number % 7) / 7,
            f1_score=(number % 5) / 5,
            notes=f"run {number}",
        )
        for number in range(count)
    ]


@pytest.mark.parametrize(
    ("run_filter", "order"),
    [
        (None, None),
        ({"search": "BETA", "status": ["COMPLETED", "FAILED", "QUEUED"]}, ("ACCURACY", "DESC")),
        ({"search": "alpha"}, ("F1_SCORE", "ASC")),
    ],
)
async def test_rows_and_order_are_those_of_training_runs(
    clean_runs: Server,
    monkeypatch: pytest.MonkeyPatch,
    run_filter: dict[str, Any] | None,
    order: tuple[str, str] | None,
) -> None:
    # given: chunks of 7 rows, so the export crosses many chunk boundaries and NULLs
    monkeypatch.setattr(resolvers.run_export, "CHUNK_ROWS", 7)
    await insert(mixed(60))
    variables: dict[str, Any] = {"filter": run_filter}
    if order is not None:
        variables["orderBy"] = order_by(*order)
    pages = await walk_forwards(clean_runs, 100, order=variables.get("orderBy"), filter=run_filter)
    listed = [edge["node"]["databaseId"] for page in pages for edge in page["edges"]]
    assert listed

    # when
    parameters = {name: value for name, value in variables.items() if value is not None}
    rows = table(await export(clean_runs, **parameters))

    # then
    assert [int(row["databaseId"]) for row in rows] == listed


async def test_cells_hold_the_values_trainingRuns_gives(clean_runs: Server) -> None:
    # given
    await insert(
        [run_row(1, accuracy=0.755, f1_score=None, notes='a, "quoted"\nline', max_depth=None)]
    )

    # when
    [row] = table(await export(clean_runs))
    [node] = (await clean_runs.data(LIST_FIELDS))["trainingRuns"]["edges"]

    # then
    run = node["node"]
    assert row["databaseId"] == str(run["databaseId"])
    assert row["modelVersion"] == run["modelVersion"]
    assert row["status"] == run["status"]
    assert row["runDate"] == "2024-03-01T10:00:00+00:00"
    assert float(row["accuracy"]) == run["accuracy"]
    assert row["f1Score"] == ""
    assert row["maxDepth"] == ""
    assert row["notes"] == run["notes"]
    assert row["nEstimators"] == "50"


async def test_the_response_is_a_csv_attachment(clean_runs: Server) -> None:
    # when
    response = await export(clean_runs)

    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(codecs.BOM_UTF8)  # so Excel reads it as UTF-8
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert disposition.endswith('.csv"')
    assert table(response) == []


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
async def test_text_that_would_start_a_formula_is_quoted(clean_runs: Server, start: str) -> None:
    # given
    text = f'{start}HYPERLINK("http://evil.example","x")'
    await insert(
        [run_row(1, notes=text, error_message=text, trained_by_username=text, status="FAILED")]
    )

    # when
    [row] = table(await export(clean_runs))

    # then
    for column in ("notes", "errorMessage", "trainedByUsername"):
        assert row[column] == f"'{text}"


async def test_harmless_text_is_left_alone(clean_runs: Server) -> None:
    # given
    await insert([run_row(1, notes="plain 'text' = fine, for Inès")])

    # when
    [row] = table(await export(clean_runs))

    # then
    assert row["notes"] == "plain 'text' = fine, for Inès"


@pytest.mark.parametrize("role", ["drh", "rrh", "manager", "root"])
async def test_hr_staff_and_managers_may_export(clean_runs: Server, role: str) -> None:
    # given
    await insert([run_row(1)])

    # when
    rows = table(await export(clean_runs, role))

    # then
    assert len(rows) == 1


@pytest.mark.parametrize("authorization", [None, "Token fst_not-a-real-token", "Basic x"])
async def test_without_a_valid_token_the_answer_is_401(
    clean_runs: Server, authorization: str | None
) -> None:
    # when
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await clean_runs.client.get(EXPORT, headers=headers)

    # then
    assert response.status_code == 401
    assert http_error_code(response) == "UNAUTHENTICATED"
    assert "Token" in response.headers["www-authenticate"]


async def test_an_account_without_a_group_gets_403(clean_runs: Server) -> None:
    # when
    response = await export(clean_runs, "nogroup")

    # then
    assert response.status_code == 403
    assert http_error_code(response) == "FORBIDDEN"


async def test_a_bearer_token_is_accepted(clean_runs: Server) -> None:
    # when
    headers = {"Authorization": f"Bearer {clean_runs.tokens['manager']}"}
    response = await clean_runs.client.get(EXPORT, headers=headers)

    # then
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("filter", "{not json"),
        ("filter", "[1, 2]"),
        ("filter", '{"statuss": ["COMPLETED"]}'),
        ("filter", '{"status": ["DONE"]}'),
        ("filter", '{"runDateFrom": "yesterday"}'),
        ("filter", '{"search": "ab"}'),
        ("filter", '{"search": "ab\\u0000c"}'),
        ("filter", '{"trainedBy": "' + "x" * 200 + '"}'),
        ("orderBy", '{"field": "NAME"}'),
        ("orderBy", "DESC"),
    ],
)
async def test_a_bad_parameter_is_400_naming_it(
    clean_runs: Server, parameter: str, value: str
) -> None:
    # when
    response = await export(clean_runs, **{parameter: value})

    # then
    assert response.status_code == 400
    assert http_error_code(response) == "BAD_USER_INPUT"
    assert response.json()["errors"][0]["extensions"]["argument"] == parameter


async def test_another_method_is_405(clean_runs: Server) -> None:
    # when
    response = await clean_runs.client.post(EXPORT, headers=auth(clean_runs))

    # then
    assert response.status_code == 405
    assert http_error_code(response) == "METHOD_NOT_ALLOWED"


async def test_each_export_logs_one_line_with_who_what_and_how_many(
    clean_runs: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    await insert(mixed(9))
    caplog.set_level(logging.INFO, logger="schema.http.run_export")

    # when
    table(await export(clean_runs, "manager", filter={"search": "alpha"}))

    # then
    [record] = [r for r in caplog.records if r.name == "schema.http.run_export"]
    message = record.getMessage()
    assert "manager-user" in message
    assert "alpha" in message
    assert "3 rows" in message
