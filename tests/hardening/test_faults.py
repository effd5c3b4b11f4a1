"""Faults injected into real server processes: the database going away for a few seconds,
an artifacts folder that cannot be written, a full disk, and a race for one modelVersion.
Each ends in a clear error, a recovery without help, and nothing lost.

The database is cut with a TCP proxy this test runs between the server and PostgreSQL;
the machine's PostgreSQL itself is never stopped or reconfigured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.conftest import Server
from tests.helpers import (
    TRAIN,
    codes,
    data_of,
    json_of,
    train,
    train_variables,
    wait_until_final,
)
from tests.prestart import prestartable
from tests.processes import (
    LiveServer,
    free_port,
    postgres_admin_url,
    postgres_database,
    start_live_server,
)

RUN = """
query Run($id: ID!) {
  trainingRun(id: $id) { id status modelVersion errorMessage modelPath modelSha256 }
}
"""
RUNS_OF_VERSION = """
query RunsOfVersion($version: String) {
  trainingRuns(filter: {modelVersion: $version}) { totalCount nodes { id } }
}
"""
CUT_SECONDS = 3.0
REQUEST_BOUND = 10.0
RECOVERY_BOUND = 30.0
INTERNAL_DETAILS = ("Traceback", 'File "', "asyncpg", "SELECT", "postgres://", "/tmp", "/work")


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return json_of(response)


async def run_of(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    body = await post(client, RUN, {"id": run_id})
    assert "errors" not in body, body
    run: dict[str, Any] = body["data"]["trainingRun"]
    return run


async def wait_final(client: httpx.AsyncClient, run_id: str, timeout: float) -> dict[str, Any]:
    return await wait_until_final(lambda: run_of(client, run_id), timeout=timeout)


def leftovers(artifacts: Path, model_version: str) -> list[Path]:
    """Temporary or partial files anywhere under the artifacts folder, and any model file
    for `model_version`."""
    return sorted(
        path
        for path in artifacts.rglob("*")
        if path.name.startswith(".")
        or path.name.endswith(".partial")
        or path.name.startswith(model_version)
    )


# --- the database going away ----------------------------------------------------------
class TcpProxy:
    """Forwards 127.0.0.1:port to an upstream address until cut.

    cut() aborts every open connection and stops listening, so new connections are
    refused, as when the database's machine goes away; restore() listens again.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        assert self._server is not None, "proxy not listening"
        server, self._server = self._server, None
        server.close()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._server is None:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), 10
            )
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        pair = {writer, upstream_writer}
        self._open |= pair
        try:
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        finally:
            for each in pair:
                each.transport.abort()
            self._open -= pair

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()


@dataclass
class ProxiedPostgres:
    server: LiveServer
    proxy: TcpProxy


def through(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{proxy.port}" if user else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture(scope="module")
async def proxied_postgres(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ProxiedPostgres]:
    """A server on a fresh PostgreSQL database, reached through a TcpProxy."""
    upstream = urlsplit(postgres_admin_url())
    proxy = TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
    await proxy.start()
    try:
        async with postgres_database() as database_url:
            server = await start_live_server(
                tmp_path_factory.mktemp("faults-postgres"),
                database_url=through(proxy, database_url),
                settings={"STALE_RUN_AFTER": "10"},
            )
            try:
                yield ProxiedPostgres(server, proxy)
            finally:
                await server.kill()
    finally:
        await proxy.close()


@dataclass
class Attempt:
    status: int | None
    body: dict[str, Any] | None
    text: str
    seconds: float


async def attempt(client: httpx.AsyncClient, run_id: str) -> Attempt:
    started = time.monotonic()
    try:
        response = await client.post(
            "/graphql",
            json={"query": RUN, "variables": {"id": run_id}},
            timeout=REQUEST_BOUND,
        )
    except httpx.TimeoutException as exc:
        return Attempt(None, None, f"timed out: {exc}", time.monotonic() - started)
    try:
        body = response.json()
    except ValueError:
        body = None
    return Attempt(response.status_code, body, response.text, time.monotonic() - started)


@pytest.mark.postgres
async def test_database_cut_gives_clear_errors_and_the_server_recovers_by_itself(
    proxied_postgres: ProxiedPostgres,
) -> None:
    server, proxy = proxied_postgres.server, proxied_postgres.proxy
    async with server.client() as client:
        # given: a finished run, and a long one training when the database goes away
        finished = await wait_final(client, (await train(data_of(client), 5, wait=True))["id"], 60)
        assert finished["status"] == "COMPLETED"
        in_flight = await train(data_of(client), 1000)
        deadline = time.monotonic() + 60
        while (status := (await run_of(client, in_flight["id"]))["status"]) == "QUEUED":
            assert time.monotonic() < deadline, "the long run never started"
            await asyncio.sleep(0.1)
        assert status == "RUNNING"

        # when: the database is unreachable for a few seconds, while clients keep asking
        await proxy.cut()
        cut_at = time.monotonic()
        during: list[Attempt] = []
        try:
            while time.monotonic() - cut_at < CUT_SECONDS and len(during) < 100:
                during.append(await attempt(client, finished["id"]))
                await asyncio.sleep(0.1)
        finally:
            await proxy.restore()
        restored_at = time.monotonic()
        after: list[Attempt] = []
        while time.monotonic() - restored_at < RECOVERY_BOUND and len(after) < 300:
            after.append(await attempt(client, finished["id"]))
            if after[-1].status == 200 and after[-1].body and not after[-1].body.get("errors"):
                break
            await asyncio.sleep(0.1)
        recovered_in = time.monotonic() - restored_at

        # then: during the cut, each request got a prompt error with a code, nothing internal
        print(
            f"\ndatabase cut for {CUT_SECONDS:g} s: {len(during)} requests answered "
            f"{sorted({(a.status, *codes(a.body or {})) for a in during})}, slowest "
            f"{max(a.seconds for a in during):.2f} s; recovered {recovered_in:.2f} s after "
            f"the database came back ({len(after)} requests)"
        )
        assert during
        for each in during:
            assert each.status is not None, f"no answer within {REQUEST_BOUND:g} s"
            assert each.body is not None, each.text
            assert each.status == 200 or each.status >= 500, each.text
            assert codes(each.body), each.text
            for detail in INTERNAL_DETAILS:
                assert detail not in each.text, f"{detail!r} leaked: {each.text}"
        # and the server answers normally again without a restart
        assert after[-1].status == 200
        assert after[-1].body == {"data": {"trainingRun": finished}}
        assert recovered_in < RECOVERY_BOUND
        # and nothing is lost: both runs are there, the interrupted one tells its story
        interrupted = await wait_final(client, in_flight["id"], timeout=120)
        print(f"the run training during the cut ended {interrupted}")
        assert interrupted["status"] in {"COMPLETED", "FAILED"}
        if interrupted["status"] == "FAILED":
            assert interrupted["errorMessage"]
        after_recovery = await train(data_of(client), 5, wait=True)
        assert after_recovery["status"] == "COMPLETED"
        assert server.process.returncode is None


# --- the models folder cannot be written -------------------------------------------------
@pytest.fixture(scope="module")
@prestartable
async def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    # Warm: every test here trains, and the pool's start-up is paid in the background.
    server = await start_live_server(
        tmp_path_factory.mktemp("faults-sqlite"), settings={"TRAINING_WARM_UP": "true"}
    )
    try:
        yield server
    finally:
        await server.kill()


@contextlib.contextmanager
def models_folder_replaced(models: Path, aside: Path, kind: str) -> Iterator[None]:
    """Put a regular file, or a link to nowhere, where the models folder was; writes
    there fail even for root, which chmod would not stop."""
    models.rename(aside)
    if kind == "file":
        models.write_text("not a folder\n")
    else:
        models.symlink_to(aside.parent / "gone" / "models")
    try:
        yield
    finally:
        models.unlink()
        aside.rename(models)


@pytest.mark.parametrize("kind", ["file", "dangling-symlink"])
async def test_unwritable_models_folder_fails_the_run_with_a_clear_message(
    sqlite_server: LiveServer, tmp_path: Path, kind: str
) -> None:
    # given
    artifacts = sqlite_server.artifacts
    version = f"unwritable-{kind}-{uuid.uuid4().hex[:6]}"
    log_start = len(sqlite_server.log_text())
    async with sqlite_server.client() as client:
        with models_folder_replaced(artifacts / "models", tmp_path / "models-aside", kind):
            # when
            run = await train(data_of(client), 5, modelVersion=version, wait=True)

            # then
            print(
                f"\nmodels folder replaced by a {kind}: run {run['status']}: {run['errorMessage']}"
            )
            assert run["status"] == "FAILED"
            assert "model file" in run["errorMessage"]
            assert str(artifacts) not in run["errorMessage"]
            assert run["modelPath"] is None
            assert leftovers(artifacts, version) == []
        # and the next run, with the folder back, trains
        assert (await train(data_of(client), 5, wait=True))["status"] == "COMPLETED"
    assert "Traceback" not in sqlite_server.log_text()[log_start:]


# --- the disk is full ----------------------------------------------------------------------
@contextlib.contextmanager
def full_tmpfs_on(directory: Path) -> Iterator[Path]:
    """Mount a 64 kB tmpfs on `directory` and fill it; skip if mounting is not allowed."""
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        filler = directory / "filler"
        with filler.open("wb", buffering=0) as handle:
            for _ in range(64):  # 64 x 4 kB covers the 64 kB with room to spare
                try:
                    handle.write(os.urandom(4096))
                except OSError:
                    break
        yield filler
    finally:
        unmounted = subprocess.run(["umount", str(directory)], check=False)
        if unmounted.returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], check=False)


async def test_full_disk_fails_the_run_with_no_space_and_leaves_no_partial_file(
    sqlite_server: LiveServer,
) -> None:
    # given: the models folder on a full file system
    artifacts = sqlite_server.artifacts
    models = artifacts / "models"
    version = f"disk-full-{uuid.uuid4().hex[:6]}"
    async with sqlite_server.client() as client:
        with full_tmpfs_on(models) as filler:
            assert shutil.disk_usage(models).free < 4096

            # when
            run = await train(data_of(client), 5, modelVersion=version, wait=True)

            # then
            print(f"\nmodels folder on a full disk: run {run['status']}: {run['errorMessage']}")
            assert run["status"] == "FAILED"
            assert "no space" in run["errorMessage"].lower()
            assert run["modelPath"] is None
            assert sorted(models.iterdir()) == [filler]
            assert leftovers(artifacts, version) == []
        assert leftovers(artifacts, version) == []
        # and once there is room again, training works
        assert (await train(data_of(client), 5, wait=True))["status"] == "COMPLETED"


# --- a race for one modelVersion ---------------------------------------------------------
CONCURRENT_CALLS = 8


def assert_one_run_and_duplicates(payloads: list[dict[str, Any]]) -> None:
    created = [p for p in payloads if p["trainingRun"] is not None]
    refused = [p for p in payloads if p["trainingRun"] is None]
    assert len(created) == 1, payloads
    assert created[0]["errors"] == []
    assert [[e["code"] for e in p["errors"]] for p in refused] == [["DUPLICATE"]] * (
        CONCURRENT_CALLS - 1
    )
    assert all(p["errors"][0]["field"] == ["input", "modelVersion"] for p in refused)


async def test_concurrent_calls_with_one_model_version_create_one_run_in_process(
    clean_runs: Server,
) -> None:
    # given
    variables = train_variables(1, modelVersion="race-sqlite")

    # when
    responses = await asyncio.gather(
        *(clean_runs.post(TRAIN, variables) for _ in range(CONCURRENT_CALLS))
    )

    # then
    payloads = [response.json()["data"]["trainModel"] for response in responses]
    assert_one_run_and_duplicates(payloads)
    listed = await clean_runs.data(RUNS_OF_VERSION, {"version": "race-sqlite"})
    assert listed["trainingRuns"]["totalCount"] == 1


@pytest.mark.postgres
async def test_concurrent_calls_with_one_model_version_create_one_run_on_postgresql(
    proxied_postgres: ProxiedPostgres,
) -> None:
    # given
    server = proxied_postgres.server
    variables = train_variables(1, modelVersion="race-postgres")

    # when
    async with server.client() as client:
        bodies = await asyncio.gather(
            *(post(client, TRAIN, variables) for _ in range(CONCURRENT_CALLS))
        )
        listed = await post(client, RUNS_OF_VERSION, {"version": "race-postgres"})

    # then
    assert all("errors" not in body for body in bodies), bodies
    assert_one_run_and_duplicates([body["data"]["trainModel"] for body in bodies])
    assert listed["data"]["trainingRuns"]["totalCount"] == 1
