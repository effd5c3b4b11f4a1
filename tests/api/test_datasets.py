"""Datasets through the API: Query.datasets and Mutation.uploadDataset (GraphQL multipart
request spec), over HTTP against the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import resolvers.datasets
from models.datasets import DatasetFile
from tests.api.configured_app import ConfiguredApp
from tests.conftest import SHIPPED_DATASET, Server
from tests.helpers import (
    DATASETS,
    SHIPPED_LINES,
    UPLOAD,
    codes,
    datasets_folder,
    listing,
    multipart,
    refused_paths,
    small_csv,
    temporary_files,
    train,
    unique_name,
    upload,
    upload_payload,
    wait_for,
    wait_until_final,
)

RUN = """query Run($id: ID!) {
  trainingRun(id: $id) { status datasetPath datasetSha256 errorMessage featuresUsed }
}"""


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
    run = await train(server.data, 10, datasetPath=path)
    final = await wait_until_final(lambda: _run(server, run["id"]), timeout=120)

    # then
    assert final["status"] == "COMPLETED", final["errorMessage"]
    assert final["datasetSha256"] == dataset["sha256"]


async def _run(server: Server, run_id: str) -> dict[str, Any]:
    data = await server.data(RUN, {"id": run_id})
    run: dict[str, Any] = data["trainingRun"]
    return run


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
    run_id = (await train(server.data, 5, datasetPath=path))["id"]
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


@pytest.mark.parametrize("path", refused_paths("escape"))
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
ALIASED_UPLOAD = 'uploadDataset(file: $file, path: "never.csv") { errors { code } }'


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
        pytest.param(
            _form(
                {
                    "query": "mutation ($file: Upload!) { "
                    + " ".join(f"u{i}: {ALIASED_UPLOAD}" for i in range(10))
                    + " }",
                    "variables": {"file": None},
                },
                GOOD_MAP,
            ),
            id="aliased-uploads",
        ),
        pytest.param(
            _form({"query": "mutation { __typename }", "variables": {}}, GOOD_MAP),
            id="no-upload",
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


# --- what no file may do: break the listing, cost unbounded memory (hardening, third pass) --
NUL_HEADER = b"job_role_name,future_need_level,tr\x00end\na,LOW,1\n"


def wide_csv(columns: int) -> bytes:
    """A usable dataset (the shipped header and 30 rows) padded with empty columns."""
    padding = "".join(f",extra{i}" for i in range(columns - len(HEADER.split(","))))
    lines = small_csv(30).decode().splitlines()
    padded = [lines[0] + padding] + [line + "," * padding.count(",") for line in lines[1:]]
    return ("\n".join(padded) + "\n").encode()


def long_value_csv(chars: int) -> bytes:
    """A usable dataset whose first row's job_role_name is `chars` characters long."""
    lines = small_csv(30).decode().splitlines()
    first = lines[1].split(",")
    first[0] = "x" * chars
    return ("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n").encode()


async def test_a_nul_in_the_header_is_refused_and_nothing_written(server: Server) -> None:
    # given: a header holding a NUL character (no database JSON column can store it)
    path = unique_name("nul")

    # when
    payload = await upload_payload(server, path, NUL_HEADER)

    # then: a dataset error on the file, nothing written, the listing still answers
    assert payload["dataset"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["file"], "DATASET_INVALID")]
    assert "NUL" in payload["errors"][0]["message"]
    assert not (datasets_folder(server) / path).exists()
    assert temporary_files(server) == []
    assert path not in await listing(server)


async def test_a_file_with_a_nul_put_in_the_folder_is_listed_as_not_readable(
    server: Server,
) -> None:
    # given: the same file dropped into the folder by hand
    name = unique_name("nul-by-hand")
    target = datasets_folder(server) / name
    target.write_bytes(NUL_HEADER)
    try:
        # when: anyone lists the datasets
        found = await listing(server)

        # then: the listing answers, describing that file as not readable
        assert found[name]["rows"] is None
        assert found[name]["columns"] == []
        assert found[name]["sha256"] == hashlib.sha256(NUL_HEADER).hexdigest()
        assert found["future_skills_dataset.csv"]["rows"] == 2000
        # and: again, from what was remembered
        assert (await listing(server))[name] == found[name]
    finally:
        target.unlink()


async def test_an_upload_whose_description_cannot_be_stored_places_no_file(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the database refuses to store the description
    class Refused(Exception):
        pass

    async def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise Refused

    monkeypatch.setattr(resolvers.datasets, "remember_dataset_file", refuse)
    path = unique_name("not-stored")

    # when
    response = await upload(server, path, small_csv(20))

    # then: an error, and no file under a name the listing would have to describe
    assert codes(response.json()) == ["INTERNAL_SERVER_ERROR"]
    assert not (datasets_folder(server) / path).exists()
    assert temporary_files(server) == []


@pytest.mark.parametrize(
    ("content", "setting"),
    [
        pytest.param(wide_csv(501), "MAX_DATASET_COLUMNS", id="501-columns"),
        pytest.param(wide_csv(100_000), "MAX_DATASET_COLUMNS", id="100000-columns"),
        pytest.param(long_value_csv(4097), "MAX_DATASET_CELL_CHARS", id="a-value-too-long"),
        pytest.param(
            small_csv(5) + b'"' + b"x\n" * 3000 + b'",a,b,c,1,1,1,1,1,1,1,LOW\n',
            "MAX_DATASET_CELL_CHARS",
            id="a-quoted-value-over-many-lines",
        ),
    ],
)
async def test_a_file_beyond_the_dataset_limits_is_refused_naming_the_limit(
    server: Server, content: bytes, setting: str
) -> None:
    path = unique_name("too-wide")

    payload = await upload_payload(server, path, content)

    assert payload["dataset"] is None
    [error] = payload["errors"]
    assert (error["field"], error["code"]) == (["file"], "DATASET_INVALID")
    assert setting in error["message"]
    assert not (datasets_folder(server) / path).exists()
    assert temporary_files(server) == []


async def test_files_within_the_limits_are_accepted(server: Server) -> None:
    for content in (wide_csv(500), long_value_csv(4096)):
        payload = await upload_payload(server, unique_name("within"), content)
        assert payload["errors"] == []


async def test_training_on_a_file_beyond_the_limits_fails_naming_the_limit(
    server: Server,
) -> None:
    # given: a file too wide, put in the folder by hand (no upload checked it)
    name = unique_name("too-wide-by-hand")
    (datasets_folder(server) / name).write_bytes(wide_csv(501))

    # when
    run_id = (await train(server.data, 5, datasetPath=name))["id"]
    final = await wait_until_final(lambda: _run(server, run_id), timeout=120)

    # then: the run failed, saying why; the listing shows the file as not readable
    assert final["status"] == "FAILED"
    assert "MAX_DATASET_COLUMNS" in final["errorMessage"]
    assert (await listing(server))[name]["rows"] is None


async def test_a_bom_is_not_part_of_the_first_column(server: Server) -> None:
    # given: a spreadsheet's export, starting with a UTF-8 byte order mark
    path = unique_name("bom")
    content = b"\xef\xbb\xbf" + small_csv(200)

    # when
    payload = await upload_payload(server, path, content)
    run_id = (await train(server.data, 5, datasetPath=path))["id"]
    final = await wait_until_final(lambda: _run(server, run_id), timeout=120)

    # then: the first column is job_role_name, for the listing and for training
    assert payload["dataset"]["columns"][0] == "job_role_name"
    assert final["status"] == "COMPLETED", final["errorMessage"]
    assert "job_role_name" in final["featuresUsed"]


@pytest.mark.parametrize(
    ("asked", "canonical"),
    [("./{name}", "{name}"), ("canon//{name}", "canon/{name}"), ("canon/./{name}", "canon/{name}")],
)
async def test_a_dataset_path_is_stored_in_its_canonical_form(
    server: Server, asked: str, canonical: str
) -> None:
    # given
    name = unique_name("canonical")
    asked, canonical = asked.format(name=name), canonical.format(name=name)

    # when: uploaded, then trained on, by the path as asked
    payload = await upload_payload(server, asked, small_csv(100))
    run = await train(server.data, 5, datasetPath=asked)

    # then: one name for the file everywhere
    assert payload["dataset"]["path"] == canonical
    assert (datasets_folder(server) / canonical).is_file()
    assert canonical in await listing(server)
    assert (await _run(server, run["id"]))["datasetPath"] == canonical
    # and: the same name said another way is the same file
    again = await upload_payload(server, canonical, small_csv(10))
    assert [e["code"] for e in again["errors"]] == ["DATASET_EXISTS"]
    await wait_until_final(lambda: _run(server, run["id"]), timeout=120)


def _split_after_file_headers(body: bytes) -> tuple[bytes, bytes]:
    """A multipart body cut just after its file part's headers (plus a few bytes)."""
    cut = body.index(b"Content-Type: text/csv\r\n\r\n") + 100
    return body[:cut], body[cut:]


async def test_a_multipart_boundary_that_says_json_still_streams_to_disk(
    server: Server,
) -> None:
    # given: a boundary holding "json", and a body whose second half is sent only once
    # the first half's file is on the server's disk
    path = unique_name("json-boundary")
    content_type = "multipart/form-data; boundary=jsonb0undary"
    request = httpx.Request(
        "POST",
        "http://testserver/graphql",
        headers={"Content-Type": content_type},
        **multipart(path, small_csv(300)),
    )
    head, rest = _split_after_file_headers(request.read())
    assert b"--jsonb0undary" in head

    async def body() -> AsyncIterator[bytes]:
        yield head
        await wait_for(
            lambda: _some(temporary_files(server)),
            timeout=10,
            what="the upload to reach the disk before its body has ended",
        )
        yield rest

    # when
    response = await server.client.post(
        "/graphql",
        content=body(),
        headers={
            "Authorization": f"Token {server.tokens['drh']}",
            "Content-Type": content_type,
        },
    )

    # then
    assert response.status_code == 200, response.text
    assert response.json()["data"]["uploadDataset"]["errors"] == []


async def _some(found: list[Path]) -> bool | None:
    return True if found else None


async def test_uploads_beyond_max_concurrent_uploads_are_refused_unread(server: Server) -> None:
    # given: a server taking one upload at a time, busy with one whose body is half sent
    app = ConfiguredApp(server, max_concurrent_uploads=1)
    request = httpx.Request(
        "POST", "http://testserver/graphql", **multipart(unique_name("slow"), small_csv(300))
    )
    head, rest = _split_after_file_headers(request.read())
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield head
        await release.wait()
        yield rest

    headers = {"Authorization": f"Token {server.tokens['drh']}"}
    async with app.client() as client:
        slow = asyncio.create_task(
            client.post(
                "/graphql",
                content=slow_body(),
                headers={**headers, "Content-Type": request.headers["content-type"]},
            )
        )
        await wait_for(
            lambda: _some(temporary_files(server)), timeout=10, what="the first upload to start"
        )

        # when: another upload arrives
        tracked = TrackedBody(unique_name("second"))
        refused = await client.post(
            "/graphql",
            content=tracked.chunks(),
            headers={**headers, "Content-Type": tracked.content_type},
        )

        # then: refused at once, before its body is read
        assert refused.status_code == 503, refused.text
        assert codes(refused.json()) == ["SERVICE_UNAVAILABLE"]
        assert int(refused.headers["retry-after"]) > 0
        assert tracked.read is False

        # when: the first one ends
        release.set()
        first = await slow

        # then: it was stored, and its slot is free again
        assert first.json()["data"]["uploadDataset"]["errors"] == []
        later = await upload(server, unique_name("later"), small_csv(20), client=client)
        assert later.json()["data"]["uploadDataset"]["errors"] == []
    assert temporary_files(server) == []


async def test_an_upload_removes_temporary_files_no_live_upload_owns(server: Server) -> None:
    # given: a temporary file left by a server killed mid-upload two hours ago, and one
    # another server process is writing right now
    folder = datasets_folder(server)
    stale = folder / ".upload-killed.partial"
    live = folder / ".upload-live.partial"
    stale.write_bytes(b"half an upload")
    live.write_bytes(b"an upload in progress")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    try:
        # when
        payload = await upload_payload(server, unique_name("cleaner"), small_csv(20))

        # then
        assert payload["errors"] == []
        assert not stale.exists()
        assert live.exists()
    finally:
        live.unlink()
        stale.unlink(missing_ok=True)
