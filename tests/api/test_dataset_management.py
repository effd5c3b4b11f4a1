"""Datasets kept within bounds: the listing's size and cost whatever a file's header
holds, one listing per operation however many aliases ask, upload quotas, who uploaded
what, and deleteDataset. Over HTTP against the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from models.accounts import create_token, create_user
from models.datasets import DatasetFile
from models.training_runs import RunStatus, TrainingRun
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import (
    RUN_ROW,
    codes,
    datasets_folder,
    graphql_ws,
    json_of,
    listing,
    multipart,
    open_session,
    refused_paths,
    small_csv,
    temporary_files,
    unique_name,
    upload_payload,
)
from trainer.ml.dataset_files import dataset_files

WIDE = "query Wide($first: Int!) { datasets { path columnCount columns(first: $first) } }"
DELETE = """
mutation Delete($path: String!) {
  deleteDataset(path: $path) { deletedPath errors { field code message } }
}
"""
WITH_UPLOADER = "{ datasets { path uploadedBy } }"


def wide_csv(columns: int) -> bytes:
    """A header of `columns` names and one row: a file put in the folder by hand."""
    header = ",".join(f"feature_{i:06d}" for i in range(columns - 1)) + ",future_need_level"
    return f"{header}\n{','.join(['1'] * (columns - 1))},HIGH\n".encode()


def aliased(count: int, selection: str) -> str:
    return "{ " + " ".join(f"a{i}: datasets {{ {selection} }}" for i in range(count)) + " }"


async def cost_of(server: Server, query: str) -> dict[str, Any]:
    response = await server.client.post(
        "/graphql",
        json={"query": query, "extensions": {"cost": True}},
        headers={"Authorization": f"Token {server.tokens['drh']}"},
    )
    return json_of(response)


# --- the listing: bounded whatever the files hold -------------------------------------------
async def test_a_wide_file_lists_its_column_count_and_at_most_first_columns(
    server: Server,
) -> None:
    # given: a file of 450 columns put in the folder by hand (within MAX_DATASET_COLUMNS;
    # a wider one is listed as not readable, tests/api/test_datasets.py)
    name = unique_name("wide")
    (datasets_folder(server) / name).write_bytes(wide_csv(450))

    # when: listed without `first`, with first: 1000, and with first: 3
    default = {
        d["path"]: d for d in (await server.data(aliased(1, "path columnCount columns")))["a0"]
    }
    most = {d["path"]: d for d in (await server.data(WIDE, {"first": 1000}))["datasets"]}
    few = {d["path"]: d for d in (await server.data(WIDE, {"first": 3}))["datasets"]}

    # then: the whole count, the first 100 (all 450, 3) names
    assert default[name]["columnCount"] == 450
    assert default[name]["columns"] == [f"feature_{i:06d}" for i in range(100)]
    assert len(most[name]["columns"]) == 450
    assert few[name]["columns"] == ["feature_000000", "feature_000001", "feature_000002"]
    shipped = default["future_skills_dataset.csv"]
    assert shipped["columnCount"] == len(shipped["columns"]) == 12
    row = await DatasetFile.get(path=name)
    assert (len(row.columns), row.column_count) == (450, 450)


async def test_a_row_described_before_column_counts_is_completed_once_listed(
    server: Server,
) -> None:
    # given: a wide file described before column counts were kept (every name stored)
    name = unique_name("legacy")
    path = datasets_folder(server) / name
    path.write_bytes(wide_csv(2000))
    info = path.stat()
    names = [f"feature_{i:06d}" for i in range(1999)] + ["future_need_level"]
    await DatasetFile.create(
        path=name,
        size_bytes=info.st_size,
        mtime_ns=info.st_mtime_ns,
        rows=1,
        columns=names,
        sha256="0" * 64,
    )

    # when
    listed = {d["path"]: d for d in (await server.data(WIDE, {"first": 5}))["datasets"]}

    # then: counted, and only the names a listing can show are kept
    assert (listed[name]["columnCount"], listed[name]["columns"]) == (2000, names[:5])
    row = await DatasetFile.get(path=name)
    assert (row.column_count, row.columns) == (2000, names[:1000])


@pytest.mark.parametrize("first", [1001, -1])
async def test_columns_beyond_the_maximum_are_refused(server: Server, first: int) -> None:
    body = await server.gql(WIDE, {"first": first})

    assert body["data"] is None
    assert {(e["extensions"]["code"], e["extensions"].get("argument")) for e in body["errors"]} == {
        ("BAD_USER_INPUT", "first")
    }


async def test_the_cost_of_columns_is_the_columns_it_may_list(server: Server) -> None:
    # when: the ten aliased listings, then the same with first: 1000
    default = await cost_of(server, aliased(10, "columns"))
    most = await cost_of(server, aliased(10, "columns(first: 1000)"))
    few = await cost_of(server, aliased(10, "columns(first: 2)"))

    # then: 100 names per dataset (an estimated 10 datasets), plus the listing's own weight
    assert "errors" not in default, default["errors"]
    assert default["extensions"]["cost"]["requested"] == 10 * (10 * (1 + 100) + 10)
    assert few["extensions"]["cost"]["requested"] == 10 * (10 * (1 + 2) + 10)
    assert codes(most) == ["QUERY_TOO_COSTLY"]
    assert most["errors"][0]["extensions"]["cost"] == 10 * (10 * (1 + 1000) + 10)


async def test_aliased_listings_read_the_table_once(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a new file, not yet described
    name = unique_name("aliased")
    (datasets_folder(server) / name).write_bytes(small_csv(10))
    caplog.set_level(logging.INFO, logger="resolvers.datasets")
    caplog.set_level(logging.DEBUG, logger="tortoise.db_client")

    # when: ten aliases list the folder in one operation
    data = await server.data(aliased(10, "path rows"))

    # then: the same answer ten times, from one read of the table and one of the file
    assert all(data[f"a{i}"] == data["a0"] for i in range(10))
    assert {d["path"]: d["rows"] for d in data["a0"]}[name] == 10
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if m.startswith("SELECT") and 'FROM "dataset_file":' in m]) == 1
    assert len([m for m in messages if m.startswith(f"dataset {name} described")]) == 1


async def test_each_operation_on_a_websocket_lists_the_folder_afresh(server: Server) -> None:
    # given: a WebSocket (one context for the whole connection) that has listed once
    async with graphql_ws(server.client) as ws:
        await open_session(ws, server)

        async def paths(op_id: str) -> set[str]:
            query = {"query": "{ datasets { path } }"}
            await ws.send_json({"id": op_id, "type": "subscribe", "payload": query})
            message = await ws.receive_json(timeout=10)
            assert message["type"] == "next", message
            assert (await ws.receive_json(timeout=10))["type"] == "complete"
            return {d["path"] for d in message["payload"]["data"]["datasets"]}

        name = unique_name("websocket")
        assert name not in await paths("1")

        # when: a file arrives, and the same connection lists again
        (datasets_folder(server) / name).write_bytes(small_csv(5))

        # then
        assert name in await paths("2")


# --- who uploaded what ----------------------------------------------------------------------
async def test_uploaded_by_names_the_uploader_and_null_for_files_put_by_hand(
    server: Server,
) -> None:
    # given
    uploaded = unique_name("by-rrh")
    await upload_payload(server, uploaded, small_csv(20), as_="rrh")
    by_hand = unique_name("by-hand")
    (datasets_folder(server) / by_hand).write_bytes(small_csv(5))

    # when
    found = {d["path"]: d["uploadedBy"] for d in (await server.data(WITH_UPLOADER))["datasets"]}

    # then
    assert found[uploaded] == "rrh-user"
    assert found[by_hand] is None
    assert (await DatasetFile.get(path=uploaded)).uploaded_by == "rrh-user"


# --- quotas ---------------------------------------------------------------------------------
async def _hr_account(role_group: str = "RESPONSABLE_RH") -> str:
    """A new HR staff account's token: its quota starts empty."""
    user = await create_user(f"quota-{uuid.uuid4().hex[:8]}", groups=[role_group])
    return await create_token(user, "tests")


async def _upload_with(
    app: ConfiguredApp, token: str, path: str, content: bytes, *, replace: bool | None = None
) -> dict[str, Any]:
    async with app.client() as client:
        response = await client.post(
            "/graphql",
            headers={"Authorization": f"Token {token}"},
            **multipart(path, content, replace=replace),
        )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = json_of(response)["data"]["uploadDataset"]
    return payload


def _refused_for_quota(server: Server, payload: dict[str, Any], path: str) -> None:
    assert payload["dataset"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        (["file"], "DATASET_QUOTA_EXCEEDED")
    ]
    assert not (datasets_folder(server) / path).exists()
    assert temporary_files(server) == []


async def test_an_upload_past_the_users_dataset_count_is_refused(server: Server) -> None:
    # given: two datasets per user, and an account that has uploaded two
    app = ConfiguredApp(server, max_datasets_per_user=2)
    token = await _hr_account()
    first, second, third = (unique_name("count") for _ in range(3))
    for path in (first, second):
        assert (await _upload_with(app, token, path, small_csv(20)))["errors"] == []

    # when: a third, then a replacement of one of the two
    refused = await _upload_with(app, token, third, small_csv(20))
    replaced = await _upload_with(app, token, first, small_csv(30), replace=True)

    # then: the third is refused, nothing placed; replacing adds no dataset
    _refused_for_quota(server, refused, third)
    assert replaced["errors"] == []
    assert replaced["dataset"]["rows"] == 30

    # when: another account uploads (its own quota), and the first deletes one
    assert (await _upload_with(app, await _hr_account(), third, small_csv(20)))["errors"] == []
    async with app.client() as client:
        deleted = await client.post(
            "/graphql",
            json={"query": DELETE, "variables": {"path": second}},
            headers={"Authorization": f"Token {token}"},
        )
    assert deleted.json()["data"]["deleteDataset"]["errors"] == []

    # then: the first account has room again
    again = await _upload_with(app, token, unique_name("count"), small_csv(20))
    assert again["errors"] == []


async def test_an_upload_past_the_users_bytes_is_refused(server: Server) -> None:
    # given: room for 150 rows' worth of bytes per user, 100 of them used
    app = ConfiguredApp(server, max_dataset_bytes_per_user=len(small_csv(150)))
    token = await _hr_account()
    assert (await _upload_with(app, token, unique_name("bytes"), small_csv(100)))["errors"] == []

    # when: 100 more rows, then 40
    too_many = unique_name("bytes")
    refused = await _upload_with(app, token, too_many, small_csv(100))
    fits = await _upload_with(app, token, unique_name("bytes"), small_csv(40))

    # then
    _refused_for_quota(server, refused, too_many)
    assert fits["errors"] == []


async def test_an_upload_past_the_folders_total_is_refused(server: Server) -> None:
    # given: a folder limit 1,000 bytes above what the folder holds now
    held = sum(version.size_bytes for version in dataset_files(datasets_folder(server)))
    app = ConfiguredApp(server, max_datasets_total_bytes=held + 1000)
    token = await _hr_account("DRH")

    # when: a file larger than the room left, then a smaller one
    large = unique_name("total")
    refused = await _upload_with(app, token, large, small_csv(100))
    small = b"future_need_level,trend_score\nHIGH,1\n"
    fits = await _upload_with(app, token, unique_name("total"), small)

    # then
    _refused_for_quota(server, refused, large)
    assert fits["errors"] == []


# --- deleteDataset --------------------------------------------------------------------------
async def delete(server: Server, path: str, as_: str = "drh") -> dict[str, Any]:
    data = await server.data(DELETE, {"path": path}, as_=as_)
    payload: dict[str, Any] = data["deleteDataset"]
    return payload


def refusal(payload: dict[str, Any]) -> list[tuple[list[str], str]]:
    assert payload["deletedPath"] is None
    return [(error["field"], error["code"]) for error in payload["errors"]]


async def test_the_uploader_deletes_a_dataset_and_its_description(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a dataset uploaded by an RESPONSABLE_RH account
    path = f"to-delete/{unique_name('mine')}"
    await upload_payload(server, path, small_csv(20), as_="rrh")
    caplog.set_level(logging.INFO, logger="resolvers.datasets")

    # when
    payload = await delete(server, path, as_="rrh")

    # then: gone from the folder, the table and the listing, in one log line
    assert payload == {"deletedPath": path, "errors": []}
    assert not (datasets_folder(server) / path).exists()
    assert not await DatasetFile.filter(path=path).exists()
    assert path not in await listing(server)
    lines = [r.getMessage() for r in caplog.records if "deleted by" in r.getMessage()]
    assert lines == [
        f"dataset {path} deleted by rrh-user: {len(small_csv(20))} bytes, uploaded by rrh-user"
    ]

    # when: deleted again
    again = await delete(server, path, as_="rrh")

    # then
    assert refusal(again) == [(["path"], "NOT_FOUND")]


async def test_only_the_uploader_a_drh_or_a_superuser_may_delete(server: Server) -> None:
    # given: a dataset the DRH account uploaded, and one put in the folder by hand
    uploaded = unique_name("drh-owned")
    await upload_payload(server, uploaded, small_csv(20), as_="drh")
    by_hand = unique_name("by-hand")
    (datasets_folder(server) / by_hand).write_bytes(small_csv(5))

    # when: a RESPONSABLE_RH account tries both
    theirs = await delete(server, uploaded, as_="rrh")
    nobodys = await delete(server, by_hand, as_="rrh")

    # then: refused, both files still there
    assert refusal(theirs) == [(["path"], "DATASET_NOT_OWNED")]
    assert refusal(nobodys) == [(["path"], "DATASET_NOT_OWNED")]
    assert (datasets_folder(server) / uploaded).exists()
    assert (datasets_folder(server) / by_hand).exists()

    # when: a superuser and a DRH do
    assert (await delete(server, uploaded, as_="root"))["deletedPath"] == uploaded
    assert (await delete(server, by_hand, as_="drh"))["deletedPath"] == by_hand

    # then
    assert not (datasets_folder(server) / uploaded).exists()
    assert not (datasets_folder(server) / by_hand).exists()


@pytest.mark.parametrize("path", ["future_skills_dataset.csv", "./future_skills_dataset.csv"])
async def test_the_shipped_dataset_is_never_deleted(server: Server, path: str) -> None:
    payload = await delete(server, path, as_="root")

    assert refusal(payload) == [(["path"], "DATASET_PROTECTED")]
    assert (datasets_folder(server) / "future_skills_dataset.csv").is_file()


@pytest.mark.parametrize("path", refused_paths("escape-delete"))
async def test_a_path_outside_the_folder_is_refused(
    server: Server, path: str, tmp_path: Path
) -> None:
    # given: files outside the folder, one of them behind a link from inside it
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "inside.csv").write_bytes(small_csv(5))
    (server.settings.artifacts.root / "outside.csv").write_bytes(small_csv(5))
    link = datasets_folder(server) / "escape-delete"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(outside)

    # when
    payload = await delete(server, path, as_="root")

    # then
    assert refusal(payload) == [(["path"], "PATH_NOT_ALLOWED")]
    assert (outside / "inside.csv").exists()
    assert (server.settings.artifacts.root / "outside.csv").exists()


async def test_what_the_listing_does_not_show_is_not_found(server: Server) -> None:
    # given: a missing name, a folder named like a dataset, and a link to a dataset
    target = unique_name("linked")
    (datasets_folder(server) / target).write_bytes(small_csv(5))
    link = datasets_folder(server) / unique_name("link")
    link.symlink_to(target)
    folder = datasets_folder(server) / unique_name("folder")
    folder.mkdir()

    # when / then
    for path in (unique_name("missing"), folder.name, link.name):
        assert refusal(await delete(server, path, as_="root")) == [(["path"], "NOT_FOUND")], path
    assert (datasets_folder(server) / target).exists()
    assert folder.is_dir()


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING])
async def test_a_dataset_an_active_run_will_read_is_not_deleted(
    server: Server, status: RunStatus
) -> None:
    # given: a dataset, and a run (written as a row: nobody trains it) that reads it
    path = f"in-use/{unique_name('active')}"
    await upload_payload(server, path, small_csv(20))
    run = await TrainingRun.create(
        **(RUN_ROW | {"dataset_path": f"./{path}"}),
        model_version=f"in-use-{uuid.uuid4().hex[:10]}",
        n_estimators=5,
        status=status,
    )

    # when
    payload = await delete(server, path)

    # then: refused while the run is active, deleted once it has ended
    assert refusal(payload) == [(["path"], "DATASET_IN_USE")]
    assert (datasets_folder(server) / path).exists()
    await TrainingRun.filter(id=run.id).update(status=RunStatus.CANCELLED)
    assert (await delete(server, path))["deletedPath"] == path
