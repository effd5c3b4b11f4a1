"""Datasets through the API: Query.datasets and Mutation.uploadDataset (GraphQL multipart
request spec), over HTTP against the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from models.dataset_files import DatasetFile
from tests.api.configured_app import ConfiguredApp
from tests.conftest import SHIPPED_DATASET, Server
from tests.helpers import TRAIN, train_variables, wait_until_final

DATASETS = "{ datasets { path sizeBytes rows columns sha256 modifiedAt } }"
UPLOAD = """
mutation Upload($file: Upload!, $path: String!, $replace: Boolean) {
  uploadDataset(file: $file, path: $path, replace: $replace) {
    dataset { path sizeBytes rows columns sha256 modifiedAt }
    errors { field code message }
  }
}
"""
RUN = "query Run($id: ID!) { trainingRun(id: $id) { status datasetSha256 errorMessage } }"
SHIPPED_LINES = SHIPPED_DATASET.read_bytes().splitlines(keepends=True)


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


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


async def listing(server: Server) -> dict[str, dict[str, Any]]:
    data = await server.data(DATASETS)
    return {dataset["path"]: dataset for dataset in data["datasets"]}


# --- Query.datasets -------------------------------------------------------------------------
async def test_datasets_lists_every_csv_with_its_rows_columns_and_hash(server: Server) -> None:
    # given: a CSV in a subfolder, and files that are not datasets
    folder = datasets_folder(server) / f"listed-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "team.csv").write_bytes(small_csv(10))
    (folder / "notes.txt").write_text("not a dataset")
    (folder / ".hidden.csv").write_bytes(small_csv(3))

    # when
    found = await listing(server)

    # then
    shipped = found["future_skills_dataset.csv"]
    assert shipped["rows"] == 2000
    assert shipped["sizeBytes"] == SHIPPED_DATASET.stat().st_size
    assert shipped["sha256"] == hashlib.sha256(SHIPPED_DATASET.read_bytes()).hexdigest()
    assert shipped["columns"] == SHIPPED_LINES[0].decode().strip().split(",")
    team = found[f"{folder.name}/team.csv"]
    assert team["rows"] == 10
    assert f"{folder.name}/notes.txt" not in found
    assert f"{folder.name}/.hidden.csv" not in found
    assert list(found) == sorted(found)


@pytest.mark.parametrize(
    ("role", "code"),
    [("manager", "FORBIDDEN"), ("nogroup", "FORBIDDEN"), (None, "UNAUTHENTICATED")],
)
async def test_datasets_is_for_hr_staff_only(server: Server, role: str | None, code: str) -> None:
    # when
    body = await server.gql(DATASETS, as_=role)

    # then
    assert body["data"] is None
    assert codes(body) == [code]


async def test_a_second_listing_reads_no_file_again(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a new file, listed once (read and described)
    name = unique_name("cached")
    target = datasets_folder(server) / name
    target.write_bytes(small_csv(20))
    caplog.set_level(logging.INFO, logger="resolvers.datasets")
    first = (await listing(server))[name]
    described = [r for r in caplog.records if r.getMessage().startswith("dataset ")]
    assert [r.getMessage() for r in described if name in r.getMessage()], "first listing read it"
    caplog.clear()

    # when: listed again
    second = (await listing(server))[name]

    # then: the same answer, and no file was read (the description is in the database)
    assert second == first
    assert not [r for r in caplog.records if "described" in r.getMessage()]
    row = await DatasetFile.get(path=name)
    assert (row.rows, row.sha256) == (20, first["sha256"])

    # when: another server process (or this one restarted) lists it
    async with ConfiguredApp(server).client() as other:
        response = await other.post(
            "/graphql",
            json={"query": DATASETS},
            headers={"Authorization": f"Token {server.tokens['drh']}"},
        )
    elsewhere = {d["path"]: d for d in response.json()["data"]["datasets"]}[name]

    # then: it reads nothing either
    assert elsewhere == first
    assert not [r for r in caplog.records if "described" in r.getMessage()]

    # when: the file changes (a new version)
    target.write_bytes(small_csv(25))
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    third = (await listing(server))[name]

    # then: that version is read, once
    assert third["rows"] == 25
    assert third["sha256"] == hashlib.sha256(small_csv(25)).hexdigest()
    assert [r for r in caplog.records if "described" in r.getMessage() and name in r.getMessage()]


async def test_a_removed_file_leaves_the_listing_and_the_database(server: Server) -> None:
    name = unique_name("removed")
    target = datasets_folder(server) / name
    target.write_bytes(small_csv(5))
    assert name in await listing(server)

    target.unlink()

    assert name not in await listing(server)
    assert not await DatasetFile.filter(path=name).exists()


# --- uploadDataset: the loop ----------------------------------------------------------------
async def test_upload_then_train_on_it_completes(server: Server) -> None:
    # given
    path = f"uploads/{unique_name()}"
    content = small_csv(300)

    # when
    payload = await upload_payload(server, path, content)

    # then: stored under its name, described, listed
    assert payload["errors"] == []
    dataset = payload["dataset"]
    assert dataset["path"] == path
    assert dataset["rows"] == 300
    assert dataset["sizeBytes"] == len(content)
    assert dataset["sha256"] == hashlib.sha256(content).hexdigest()
    assert (datasets_folder(server) / path).read_bytes() == content
    assert (await listing(server))[path] == dataset
    assert temporary_files(server) == []

    # when: trained on
    data = await server.data(TRAIN, train_variables(trees=10, datasetPath=path))
    run = data["trainModel"]["trainingRun"]
    final = await wait_until_final(lambda: _run(server, run["id"]), timeout=120)

    # then
    assert final["status"] == "COMPLETED", final["errorMessage"]
    assert final["datasetSha256"] == dataset["sha256"]


async def _run(server: Server, run_id: str) -> dict[str, Any]:
    return (await server.data(RUN, {"id": run_id}))["trainingRun"]


async def test_an_existing_path_is_refused_unless_replace(server: Server) -> None:
    # given
    path = unique_name("exists")
    first = small_csv(100)
    await upload_payload(server, path, first)

    # when
    refused = await upload_payload(server, path, small_csv(50, start=200))

    # then
    assert refused["dataset"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["path"], "DATASET_EXISTS")]
    assert (datasets_folder(server) / path).read_bytes() == first

    # when: replace: false said aloud, then replace: true
    again = await upload_payload(server, path, small_csv(50, start=200), replace=False)
    replaced = await upload_payload(server, path, small_csv(50, start=200), replace=True)

    # then
    assert [e["code"] for e in again["errors"]] == ["DATASET_EXISTS"]
    assert replaced["errors"] == []
    assert replaced["dataset"]["rows"] == 50
    assert (datasets_folder(server) / path).read_bytes() == small_csv(50, start=200)
    assert temporary_files(server) == []


async def test_a_replaced_file_leaves_earlier_runs_as_they_were(server: Server) -> None:
    # given: a run trained on the first version of a dataset
    path = unique_name("replaced")
    before = await upload_payload(server, path, small_csv(200))
    data = await server.data(TRAIN, train_variables(trees=5, datasetPath=path))
    run_id = data["trainModel"]["trainingRun"]["id"]
    trained = await wait_until_final(lambda: _run(server, run_id), timeout=120)
    assert trained["status"] == "COMPLETED", trained["errorMessage"]

    # when: the dataset is replaced
    after = await upload_payload(server, path, small_csv(200, start=500), replace=True)

    # then: the run still names what it learnt from; the listing shows the new file
    assert after["dataset"]["sha256"] != before["dataset"]["sha256"]
    assert (await _run(server, run_id))["datasetSha256"] == before["dataset"]["sha256"]
    assert (await listing(server))[path]["sha256"] == after["dataset"]["sha256"]


# --- uploadDataset: refusals ----------------------------------------------------------------
HEADER = SHIPPED_LINES[0].decode().strip()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(
            small_csv(5) + b"a,b,c,d,1,2,3,4,5,6,7,HIGH,extra\n" + small_csv(5)[len(HEADER) + 1 :],
            "line 7",
            id="bad-row",
        ),
        pytest.param(
            HEADER.replace(",future_need_level", "").encode()
            + b"\nIT,Python,Tech,IT,1,1,1,1,1,1,1\n",
            "'future_need_level' column",
            id="missing-target",
        ),
        pytest.param(
            b"future_need_level,comment\nHIGH,x\nLOW,y\n", "no usable feature", id="no-feature"
        ),
        pytest.param(b"", "is empty", id="empty"),
        pytest.param(b"\xff\xfe\x00garbage", "UTF-8", id="not-text"),
    ],
)
async def test_an_unusable_file_is_refused_with_the_reason(
    server: Server, content: bytes, words: str
) -> None:
    # given
    path = unique_name("invalid")

    # when
    payload = await upload_payload(server, path, content)

    # then: the reason, and nothing written
    assert payload["dataset"] is None
    [error] = payload["errors"]
    assert (error["field"], error["code"]) == (["file"], "DATASET_INVALID")
    assert words in error["message"]
    assert not (datasets_folder(server) / path).exists()
    assert temporary_files(server) == []


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/etc/passwd.csv", id="absolute"),
        pytest.param("../outside.csv", id="dot-dot"),
        pytest.param("a/../../outside.csv", id="dot-dot-inside"),
        pytest.param("escape/inside.csv", id="symlink-out"),
        pytest.param("notes.txt", id="not-csv"),
        pytest.param("", id="empty"),
        pytest.param(".hidden.csv", id="hidden"),
        pytest.param("x" * 300 + ".csv", id="too-long"),
    ],
)
async def test_a_path_training_would_refuse_is_refused(
    server: Server, path: str, tmp_path: Path
) -> None:
    # given: a link from the datasets folder to a folder outside it
    outside = tmp_path / "outside"
    outside.mkdir()
    link = datasets_folder(server) / "escape"
    if not link.is_symlink():
        link.symlink_to(outside)

    # when
    payload = await upload_payload(server, path, small_csv(20))

    # then
    assert payload["dataset"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["path"], "PATH_NOT_ALLOWED")]
    assert list(outside.iterdir()) == []
    assert temporary_files(server) == []


async def test_a_folder_is_not_replaced(server: Server) -> None:
    folder = datasets_folder(server) / "a-folder.csv"
    folder.mkdir(exist_ok=True)

    payload = await upload_payload(server, "a-folder.csv", small_csv(20), replace=True)

    assert [e["code"] for e in payload["errors"]] == ["PATH_NOT_ALLOWED"]
    assert folder.is_dir()


async def test_a_file_variable_sent_as_json_is_refused(server: Server) -> None:
    body = await server.gql(UPLOAD, {"file": "not a file", "path": unique_name()})

    payload = body["data"]["uploadDataset"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["file"], "INVALID")]


# --- who may send a multipart request, and when it is read ----------------------------------
class TrackedBody:
    """A multipart body whose chunks record whether the server asked for any."""

    def __init__(self, path: str) -> None:
        request = httpx.Request(
            "POST", "http://testserver/graphql", **multipart(path, small_csv(20))
        )
        self.content = request.read()
        self.content_type = request.headers["content-type"]
        self.read = False

    async def chunks(self) -> AsyncIterator[bytes]:
        self.read = True
        yield self.content


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        pytest.param(None, 401, "UNAUTHENTICATED", id="no-header"),
        pytest.param("Token not-a-token", 401, "UNAUTHENTICATED", id="bad-token"),
        pytest.param("manager", 403, "FORBIDDEN", id="manager"),
    ],
)
async def test_a_multipart_request_without_hr_credentials_is_refused_unread(
    server: Server, authorization: str | None, status: int, code: str
) -> None:
    # given: a cross-site form post carries no Authorization header
    body = TrackedBody(unique_name("csrf"))
    headers = {"Content-Type": body.content_type}
    if authorization == "manager":
        headers["Authorization"] = f"Token {server.tokens['manager']}"
    elif authorization is not None:
        headers["Authorization"] = authorization

    # when
    response = await server.client.post("/graphql", content=body.chunks(), headers=headers)

    # then
    assert response.status_code == status, response.text
    assert codes(response.json()) == [code]
    assert body.read is False
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Token")
    assert temporary_files(server) == []


def _form(operations: object, files_map: object, files: int = 1) -> dict[str, Any]:
    data = {}
    if operations is not None:
        data["operations"] = (
            operations if isinstance(operations, str) else orjson.dumps(operations).decode()
        )
    if files_map is not None:
        data["map"] = files_map if isinstance(files_map, str) else orjson.dumps(files_map).decode()
    return {
        "data": data,
        "files": {str(i): (f"{i}.csv", small_csv(5), "text/csv") for i in range(files)},
    }


GOOD_OPERATIONS = {"query": UPLOAD, "variables": {"file": None, "path": "never.csv"}}
GOOD_MAP = {"0": ["variables.file"]}


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(_form(None, GOOD_MAP), id="no-operations"),
        pytest.param(_form(GOOD_OPERATIONS, None), id="no-map"),
        pytest.param(_form("{not json", GOOD_MAP), id="operations-not-json"),
        pytest.param(_form(GOOD_OPERATIONS, "[1"), id="map-not-json"),
        pytest.param(_form([GOOD_OPERATIONS], GOOD_MAP), id="batch"),
        pytest.param(_form(42, GOOD_MAP), id="operations-a-number"),
        pytest.param(_form(GOOD_OPERATIONS, ["variables.file"]), id="map-a-list"),
        pytest.param(_form(GOOD_OPERATIONS, {}), id="map-empty"),
        pytest.param(_form(GOOD_OPERATIONS, {"0": "variables.file"}), id="map-entry-a-string"),
        pytest.param(_form(GOOD_OPERATIONS, {"0": [3]}), id="map-entry-a-number"),
        pytest.param(_form(GOOD_OPERATIONS, {"1": ["variables.file"]}), id="map-names-no-file"),
        pytest.param(_form(GOOD_OPERATIONS, {"0": ["query"]}), id="map-outside-variables"),
        pytest.param(_form(GOOD_OPERATIONS, {"0": ["variables.a.b.c"]}), id="map-missing-path"),
        pytest.param(_form(GOOD_OPERATIONS, {"0": ["variables.path.0"]}), id="map-into-string"),
        pytest.param(_form(GOOD_OPERATIONS, GOOD_MAP, files=2), id="two-files"),
        pytest.param(_form({"query": UPLOAD, "variables": "x"}, GOOD_MAP), id="variables-a-string"),
        pytest.param(
            _form({**GOOD_OPERATIONS, "extensions": {"a": "\x00"}}, GOOD_MAP), id="nul-character"
        ),
        pytest.param(_form({"variables": {"file": None}}, GOOD_MAP), id="no-query"),
        pytest.param(
            _form(
                {"query": "query ($file: Upload) { datasets { path } }", "variables": {}}, GOOD_MAP
            ),
            id="another-operation",
        ),
        pytest.param(
            _form(
                {
                    "query": UPLOAD.replace(
                        "uploadDataset(",
                        "cancelTrainingRun(id: 1) { errors { code } } uploadDataset(",
                    ),
                    "variables": {"file": None, "path": "never.csv"},
                },
                GOOD_MAP,
            ),
            id="another-root-field",
        ),
    ],
)
async def test_a_malformed_multipart_request_is_a_400(server: Server, form: dict[str, Any]) -> None:
    # when
    response = await server.client.post(
        "/graphql", headers={"Authorization": f"Token {server.tokens['drh']}"}, **form
    )

    # then
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert codes(response.json()) == ["BAD_REQUEST"]
    assert not (datasets_folder(server) / "never.csv").exists()
    assert temporary_files(server) == []


async def test_a_long_document_is_checked_for_other_operations_up_to_the_token_limit(
    server: Server,
) -> None:
    # given: a server that takes documents of up to 5,000 tokens, and a multipart document
    # of about 3,000 tokens that selects another root field beside uploadDataset
    app = ConfiguredApp(server, max_query_tokens=5000)
    padding = " __typename" * 3000
    query = UPLOAD.replace(
        "uploadDataset(",
        f"cancelTrainingRun(id: 1) {{ errors {{ code }} {padding} }} uploadDataset(",
    )
    form = _form({"query": query, "variables": {"file": None, "path": "never.csv"}}, GOOD_MAP)

    # when
    async with app.client() as client:
        response = await client.post(
            "/graphql", headers={"Authorization": f"Token {server.tokens['drh']}"}, **form
        )

    # then: refused as a short one is, and nothing ran
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]
    assert not (datasets_folder(server) / "never.csv").exists()


async def test_a_body_that_is_not_multipart_is_a_400(server: Server) -> None:
    response = await server.client.post(
        "/graphql",
        content=b"--x\r\nnot a part",
        headers={
            "Authorization": f"Token {server.tokens['drh']}",
            "Content-Type": "multipart/form-data; boundary=x",
        },
    )

    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]
    assert temporary_files(server) == []


# --- size: MAX_UPLOAD_BYTES for uploads, MAX_BODY_BYTES for everything else -----------------
async def test_an_upload_over_max_upload_bytes_is_a_json_413(server: Server) -> None:
    # given: a server taking uploads up to 150 kB
    configured = ConfiguredApp(server, max_upload_bytes=150_000)
    path = unique_name("too-large")
    content = small_csv(1999)
    assert len(content) > 150_000

    async with configured.client() as client:
        # when: declared up front, and streamed without a length
        declared = await upload(server, path, content, client=client)
        request = httpx.Request("POST", "http://testserver/graphql", **multipart(path, content))
        whole = request.read()

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(whole), 16_384):
                yield whole[start : start + 16_384]

        streamed = await client.post(
            "/graphql",
            content=chunks(),
            headers={
                "Authorization": f"Token {server.tokens['drh']}",
                "Content-Type": request.headers["content-type"],
            },
        )
        # and: one over MAX_BODY_BYTES but under the upload limit goes through
        fitting = small_csv(1400)
        assert server.settings.max_body_bytes < len(fitting) < 150_000
        fits = await upload(server, path, fitting, client=client)

    # then
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert codes(response.json()) == ["REQUEST_TOO_LARGE"]
    assert streamed.request.headers.get("transfer-encoding") == "chunked"
    assert fits.status_code == 200, fits.text
    assert fits.json()["data"]["uploadDataset"]["errors"] == []
    assert temporary_files(server) == []


async def test_other_requests_keep_max_body_bytes(server: Server) -> None:
    # given: a JSON body over MAX_BODY_BYTES (100 kB), well under MAX_UPLOAD_BYTES
    body = orjson.dumps({"query": DATASETS, "variables": {"padding": "x" * 150_000}})

    # when
    response = await server.client.post(
        "/graphql",
        content=body,
        headers={
            "Authorization": f"Token {server.tokens['drh']}",
            "Content-Type": "application/json",
        },
    )

    # then
    assert response.status_code == 413
    assert codes(response.json()) == ["REQUEST_TOO_LARGE"]


async def test_a_multipart_request_without_credentials_keeps_max_body_bytes(
    server: Server,
) -> None:
    # given: 150 kB of multipart, no Authorization header
    form = multipart(unique_name(), small_csv(1500))

    # when
    response = await server.client.post("/graphql", **form)

    # then: refused as too large, before anything else looks at it
    assert response.status_code == 413, response.text
    assert codes(response.json()) == ["REQUEST_TOO_LARGE"]
    assert temporary_files(server) == []
