"""GET /runs/{databaseId}/model and TrainingRun.downloadUrl (issue 9, part 3).

Most tests write a model file and its run row directly (any bytes do: the server serves
files, it never unpickles them); one trains a real run and loads what it downloads.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import uuid
from pathlib import Path

import joblib
import pytest

from models.training_runs import RunStatus, TrainingRun
from server.downloads import ModelDownloads
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import RUN_ROW, auth, http_error_code, measure, train

# Larger than FileResponse's 64 KiB chunk, so the body streams in several pieces.
CONTENT = os.urandom(200_000)
INT4_MAX = 2**31 - 1

RUN_QUERY = """
query Run($id: ID!) {
  trainingRun(id: $id) { databaseId status modelSha256 downloadUrl }
}
"""


async def stored_run(
    server: Server,
    *,
    content: bytes | None = CONTENT,
    status: RunStatus = RunStatus.COMPLETED,
    with_path: bool = True,
) -> tuple[TrainingRun, Path]:
    """A run row and, unless `content` is None, its model file."""
    version = f"dl-{uuid.uuid4().hex[:12]}"
    path = server.settings.artifacts.model_file(version)
    if content is not None:
        path.write_bytes(content)
    run = await TrainingRun.create(
        model_version=version,
        **RUN_ROW,
        n_estimators=10,
        status=status,
        model_path=f"models/{version}.joblib" if with_path else None,
        model_sha256=hashlib.sha256(content or b"").hexdigest() if with_path else None,
    )
    return run, path


# --- who may download -------------------------------------------------------------------


async def test_without_a_token_the_answer_is_401_with_www_authenticate(server: Server) -> None:
    run, _ = await stored_run(server)
    for headers in ({}, {"Authorization": "Token fst_not-a-real-token"}, {"Authorization": "x"}):
        response = await server.client.get(f"/runs/{run.id}/model", headers=headers)
        assert response.status_code == 401
        assert http_error_code(response) == "UNAUTHENTICATED"
        assert "token" in response.headers["www-authenticate"].lower()
        assert CONTENT not in response.content


@pytest.mark.parametrize("role", ["manager", "nogroup"])
async def test_managers_and_users_without_a_group_get_403(server: Server, role: str) -> None:
    run, _ = await stored_run(server)
    response = await server.client.get(f"/runs/{run.id}/model", headers=auth(server, role))
    assert response.status_code == 403
    assert http_error_code(response) == "FORBIDDEN"
    # an unknown run looks the same to them: no probing which ids exist
    unknown = await server.client.get(f"/runs/{INT4_MAX}/model", headers=auth(server, role))
    assert unknown.status_code == 403


@pytest.mark.parametrize("role", ["drh", "rrh", "root"])
async def test_hr_staff_and_superusers_get_the_file(server: Server, role: str) -> None:
    run, _ = await stored_run(server)
    response = await server.client.get(f"/runs/{run.id}/model", headers=auth(server, role))
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["etag"] == f'"{run.model_sha256}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="{run.model_version}.joblib"'
    )
    assert "private" in response.headers["cache-control"]
    # Bearer works as well as Token
    bearer = await server.client.get(
        f"/runs/{run.id}/model", headers={"Authorization": f"Bearer {server.tokens[role]}"}
    )
    assert bearer.status_code == 200


# --- HTTP features ----------------------------------------------------------------------


async def test_head_answers_the_headers_without_the_body(server: Server) -> None:
    run, _ = await stored_run(server)
    response = await server.client.head(f"/runs/{run.id}/model", headers=auth(server))
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["etag"] == f'"{run.model_sha256}"'


async def test_if_none_match_with_the_etag_answers_304(server: Server) -> None:
    run, _ = await stored_run(server)
    etag = f'"{run.model_sha256}"'
    url = f"/runs/{run.id}/model"
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await server.client.get(url, headers=auth(server, if_none_match=value))
        assert response.status_code == 304, value
        assert response.content == b""
        assert response.headers["etag"] == etag
    other = await server.client.get(url, headers=auth(server, if_none_match='"0123"'))
    assert other.status_code == 200
    assert other.content == CONTENT


async def test_a_range_request_gets_206_with_content_range(server: Server) -> None:
    run, _ = await stored_run(server)
    url = f"/runs/{run.id}/model"
    response = await server.client.get(url, headers=auth(server, range="bytes=100000-"))
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100000-{len(CONTENT) - 1}/{len(CONTENT)}"
    assert response.content == CONTENT[100_000:]
    # resuming only while the file is the same: If-Range with the ETag
    etag = f'"{run.model_sha256}"'
    same = await server.client.get(url, headers=auth(server, range="bytes=10-19", if_range=etag))
    assert same.status_code == 206
    assert same.content == CONTENT[10:20]
    stale = await server.client.get(
        url, headers=auth(server, range="bytes=10-19", if_range='"not-the-etag"')
    )
    assert stale.status_code == 200
    assert stale.content == CONTENT


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("items=0-9", id="not-bytes"),
        pytest.param("bytes", id="no-equals"),
        pytest.param("bytes=-", id="no-range"),
        pytest.param("bytes=20-10", id="end-before-start"),
    ],
)
async def test_a_malformed_range_is_a_json_400(server: Server, value: str) -> None:
    run, _ = await stored_run(server)
    for method in ("GET", "HEAD"):
        response = await server.client.request(
            method, f"/runs/{run.id}/model", headers=auth(server, range=value)
        )
        assert response.status_code == 400, (method, response.text)
        if method == "GET":
            assert http_error_code(response) == "BAD_REQUEST"
            assert CONTENT not in response.content


async def test_a_range_past_the_end_is_a_json_416_with_content_range(server: Server) -> None:
    run, _ = await stored_run(server)
    url = f"/runs/{run.id}/model"
    response = await server.client.get(url, headers=auth(server, range=f"bytes={len(CONTENT)}-"))
    assert response.status_code == 416
    assert http_error_code(response) == "RANGE_NOT_SATISFIABLE"
    assert response.headers["content-range"] == f"bytes */{len(CONTENT)}"
    # If-Range naming another version: the whole file, whatever the range asks
    stale = await server.client.get(
        url, headers=auth(server, range=f"bytes={len(CONTENT)}-", if_range='"not-the-etag"')
    )
    assert stale.status_code == 200
    assert stale.content == CONTENT


async def test_other_methods_are_405_in_json(server: Server) -> None:
    run, _ = await stored_run(server)
    response = await server.client.post(f"/runs/{run.id}/model", headers=auth(server))
    assert response.status_code == 405
    assert http_error_code(response) == "METHOD_NOT_ALLOWED"
    assert response.headers["allow"] == "GET, HEAD"


# --- what is not served -----------------------------------------------------------------


@pytest.mark.parametrize(
    "run_id", [str(INT4_MAX), str(INT4_MAX + 1), "99999999999999999999", "abc", "-1", "0", "1e3"]
)
async def test_ids_that_name_no_run_are_404(server: Server, run_id: str) -> None:
    response = await server.client.get(f"/runs/{run_id}/model", headers=auth(server))
    assert response.status_code == 404
    assert http_error_code(response) == "NOT_FOUND"


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FAILED])
async def test_a_run_that_is_not_completed_is_404(server: Server, status: RunStatus) -> None:
    run, _ = await stored_run(server, status=status)
    response = await server.client.get(f"/runs/{run.id}/model", headers=auth(server))
    assert response.status_code == 404
    assert http_error_code(response) == "NOT_FOUND"
    assert status.value in response.json()["errors"][0]["message"]


async def test_a_missing_file_or_model_path_is_404(server: Server) -> None:
    missing, _ = await stored_run(server, content=None)
    no_path, _ = await stored_run(server, with_path=False)
    for run in (missing, no_path):
        response = await server.client.get(f"/runs/{run.id}/model", headers=auth(server))
        assert response.status_code == 404
        assert http_error_code(response) == "NOT_FOUND"


async def test_a_model_path_outside_the_models_folder_is_never_served(
    server: Server, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.joblib"
    outside.write_bytes(CONTENT)
    run, path = await stored_run(server, content=None)
    path.symlink_to(outside)  # a link out of the models folder
    escaping, _ = await stored_run(server)
    await TrainingRun.filter(id=escaping.id).update(model_path="models/../test.sqlite3")
    for run_id in (run.id, escaping.id):
        response = await server.client.get(f"/runs/{run_id}/model", headers=auth(server))
        assert response.status_code == 404
        assert CONTENT not in response.content


async def test_a_changed_file_is_409_and_logged(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="schema.http.downloads")
    same_size, same_size_path = await stored_run(server)
    other_size, other_size_path = await stored_run(server)
    url = f"/runs/{same_size.id}/model"
    # served once: its hash is remembered, and must not hide the change below
    assert (await server.client.get(url, headers=auth(server))).status_code == 200

    # a new file in its place (a new inode), same size
    replacement = same_size_path.with_suffix(".new")
    replacement.write_bytes(bytes(reversed(CONTENT)))
    replacement.replace(same_size_path)
    other_size_path.write_bytes(CONTENT + b"more")

    for run, path in ((same_size, same_size_path), (other_size, other_size_path)):
        for method in ("GET", "HEAD"):
            response = await server.client.request(
                method, f"/runs/{run.id}/model", headers=auth(server)
            )
            assert response.status_code == 409
            assert CONTENT not in response.content
            if method == "GET":
                assert http_error_code(response) == "MODEL_FILE_CHANGED"
        logged = [
            record
            for record in caplog.records
            if record.levelno == logging.ERROR and f"run {run.id}'" in record.message
        ]
        assert logged, "the refusal is logged as an error"
        assert str(path) not in logged[0].message


async def test_a_file_rewritten_in_place_is_409_even_after_it_was_verified(server: Server) -> None:
    run, path = await stored_run(server)
    url = f"/runs/{run.id}/model"
    assert (await server.client.head(url, headers=auth(server))).status_code == 200
    before = path.stat()
    with path.open("r+b") as handle:  # same inode, same size, other bytes
        handle.write(b"\x00" * 16)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert (await server.client.get(url, headers=auth(server))).status_code == 409


async def test_a_verified_file_is_not_hashed_again(server: Server) -> None:
    configured = ConfiguredApp(server)
    downloads: ModelDownloads = configured.app.state.model_downloads
    run, path = await stored_run(server)
    second, _ = await stored_run(server)
    url = f"/runs/{run.id}/model"
    async with configured.client() as client:
        assert (await client.get(url, headers=auth(server))).content == CONTENT
        assert downloads.files.hashes == 1
        for headers in (
            auth(server),
            auth(server, range="bytes=0-9"),
            auth(server, if_none_match=f'"{run.model_sha256}"'),
        ):
            assert (await client.get(url, headers=headers)).status_code in (200, 206, 304)
        await client.head(url, headers=auth(server))
        assert downloads.files.hashes == 1
        # another file is hashed once too
        await client.get(f"/runs/{second.id}/model", headers=auth(server))
        assert downloads.files.hashes == 2
        # a new version of the file (new inode) is hashed again
        path.with_suffix(".new").write_bytes(CONTENT)
        path.with_suffix(".new").replace(path)
        assert (await client.get(url, headers=auth(server))).status_code == 200
        assert downloads.files.hashes == 3


async def test_concurrent_first_downloads_hash_the_file_once(server: Server) -> None:
    configured = ConfiguredApp(server)
    downloads: ModelDownloads = configured.app.state.model_downloads
    content = os.urandom(32 * 1024 * 1024)  # long enough to hash that the requests overlap
    run, path = await stored_run(server, content=content)
    async with configured.client() as client:
        responses = await asyncio.gather(
            *(client.head(f"/runs/{run.id}/model", headers=auth(server)) for _ in range(4))
        )
    path.unlink()
    assert [response.status_code for response in responses] == [200] * 4
    assert downloads.files.hashes == 1


async def test_the_verified_files_are_bounded(server: Server) -> None:
    configured = ConfiguredApp(server)
    files = configured.app.state.model_downloads.files
    files.max_entries = 2
    runs = [(await stored_run(server, content=bytes([n]) * 10))[0] for n in range(4)]
    async with configured.client() as client:
        for run in runs:
            response = await client.head(f"/runs/{run.id}/model", headers=auth(server))
            assert response.status_code == 200
    assert len(files) == 2


async def test_an_allowed_origin_can_download_and_read_the_headers(server: Server) -> None:
    configured = ConfiguredApp(server, cors_origins=["https://hr.example"])
    run, _ = await stored_run(server)
    url = f"/runs/{run.id}/model"
    async with configured.client() as client:
        preflight = await client.options(
            url,
            headers={
                "Origin": "https://hr.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, range, if-none-match",
            },
        )
        assert preflight.status_code == 200
        response = await client.get(url, headers={**auth(server), "Origin": "https://hr.example"})
        refused = await client.get(url, headers={**auth(server), "Origin": "https://evil.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://hr.example"
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "content-disposition" in exposed
    assert "etag" in exposed
    # another origin: no CORS header at all, so its page cannot read the answer
    assert not [name for name in refused.headers if name.startswith("access-control-")]


# --- TrainingRun.downloadUrl ------------------------------------------------------------


async def test_download_url_is_set_for_completed_runs_with_a_model_file(server: Server) -> None:
    completed, _ = await stored_run(server)
    no_path, _ = await stored_run(server, with_path=False)
    failed, _ = await stored_run(server, status=RunStatus.FAILED)
    queued, _ = await stored_run(server, content=None, status=RunStatus.QUEUED)
    expected = {
        completed.id: f"/runs/{completed.id}/model",
        no_path.id: None,
        failed.id: None,
        queued.id: None,
    }
    for run_id, url in expected.items():
        data = await server.data(RUN_QUERY, {"id": str(run_id)}, as_="manager")
        assert data["trainingRun"]["downloadUrl"] == url


LIST_QUERY = """
query Runs($withUrl: Boolean!) {
  trainingRuns(first: 100) {
    nodes { databaseId status modelVersion downloadUrl @include(if: $withUrl) }
  }
}
"""


async def test_download_url_adds_no_query_to_a_page(
    clean_runs: Server,
    sql_log: pytest.LogCaptureFixture,
) -> None:
    for number in range(30):
        await stored_run(clean_runs, content=None, status=list(RunStatus)[number % 5])
    without, _ = await measure(clean_runs, sql_log, LIST_QUERY, {"withUrl": False})
    with_url, data = await measure(clean_runs, sql_log, LIST_QUERY, {"withUrl": True})
    assert len(with_url) == len(without)
    nodes = data["trainingRuns"]["nodes"]
    assert len(nodes) == 30
    for node in nodes:
        expected = f"/runs/{node['databaseId']}/model" if node["status"] == "COMPLETED" else None
        assert node["downloadUrl"] == expected


# --- end to end -------------------------------------------------------------------------


async def test_a_trained_model_downloads_intact_and_loads(server: Server) -> None:
    run = await train(server.data, 5, wait=True)
    assert run["status"] == "COMPLETED", run
    data = await server.data(RUN_QUERY, {"id": run["id"]})
    details = data["trainingRun"]
    assert details["downloadUrl"] == f"/runs/{run['databaseId']}/model"

    response = await server.client.get(details["downloadUrl"], headers=auth(server))

    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == details["modelSha256"]
    assert response.headers["etag"] == f'"{details["modelSha256"]}"'
    assert f'filename="{run["modelVersion"]}.joblib"' in response.headers["content-disposition"]
    model = joblib.load(io.BytesIO(response.content))  # our own server's file, hash checked
    assert list(model.classes_)
