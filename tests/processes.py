"""Real `main.py` processes for the tests: prepare a deployment, start, talk to, kill.

The one subprocess harness of the suite. Two ways in:

- `live_server()` / `start_live_server()` (the hardening tests): a temporary artifacts folder
  with the shipped dataset, a migrated database holding a DRH account and its token (made
  by one short `tests.provision` process, not three CLI calls), and `main.py serve` on a
  free port of 127.0.0.1. Its pool starts at the first training unless a test asks for
  TRAINING_WARM_UP=true. Everything the server prints goes to a log file the tests read.
- `Deployment` / `Services` / `first_server()` (the job tests): several services (servers,
  Celery workers) on one deployment, started and killed one by one.

Every process runs in a session (process group) of its own, so killing its group also
kills the processes it started: the local training pool, Celery's pool children.

Also here: a fresh PostgreSQL database per test (created and dropped with asyncpg), for the
tests that need PostgreSQL; they skip without TEST_POSTGRES_URL, or fail when
REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from main import Settings
from tests.conftest import (
    POSTGRES_URL,
    REPO,
    REQUIRE_SERVICES,
    SHIPPED_DATASET,
    create_postgres_database,
    drop_postgres_database,
)
from tests.helpers import RUN_ROW, http_client, json_of, wait_for

PYTHON = sys.executable
DRH_USER = "drh-user"
STARTUP_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(**settings: str) -> dict[str, str]:
    """This environment without any server setting it may carry, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(PYTHONUNBUFFERED="1", LOG_LEVEL="INFO", **settings)
    return env


def server_env(database_url: str, artifacts: Path, settings: Mapping[str, str]) -> dict[str, str]:
    """A live server's environment: one worker started at the first training, fast
    progress reports, then `settings` (which may override any of these)."""
    env = service_env(
        TRAINING_WORKERS="1",
        TRAINING_WARM_UP="false",
        PROGRESS_INTERVAL="0.2",
        DATABASE_URL=database_url,
        ARTIFACTS_DIR=str(artifacts),
    )
    env.update(settings)
    return env


async def _run_python(
    *args: str, env: dict[str, str], stdin: str | None, timeout: float
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        *args,
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin is not None else None), timeout
        )
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> str:
    """Run `main.py ARGS` to completion and return its standard output."""
    code, out, err = await _run_python("main.py", *args, env=env, stdin=stdin, timeout=timeout)
    assert code == 0, f"main.py {' '.join(args)}: {err[-2000:]}"
    return out


async def provision(
    env: dict[str, str],
    username: str = DRH_USER,
    *,
    groups: tuple[str, ...] = ("DRH",),
    password: str | None = None,
    migrate: bool = True,
    timeout: float = 120,
) -> str:
    """Migrate the database of `env`, create an account and return a new token for it,
    in one `tests.provision` process (see that module)."""
    args = [username, *(f"--group={group}" for group in groups)]
    args += ["--password"] if password is not None else []
    args += [] if migrate else ["--no-migrate"]
    stdin = f"{password}\n" if password is not None else None
    code, out, err = await _run_python(
        "-m", "tests.provision", *args, env=env, stdin=stdin, timeout=timeout
    )
    assert code == 0, f"tests.provision {' '.join(args)}: {err[-2000:]}"
    token = out.strip()
    assert len(token.split()) == 1, f"tests.provision printed other than one token: {token!r}"
    return token


# One provisioned SQLite database per password (None: a token-only account) in this test
# process, with its token: each SQLite live server starts on a copy of it.
_PROVISIONED: dict[str | None, tuple[Path, str]] = {}


async def provisioned_sqlite_copy(database: Path, password: str | None) -> str:
    """Write a migrated SQLite database holding the DRH account at `database`; return a
    token of that account.

    The first call for a password provisions a template database in one `tests.provision`
    process; later calls copy it, a millisecond instead of an interpreter start-up, for
    each of the many live servers. Their tokens are then the same, each valid only in its
    own server's copy.
    """
    if password not in _PROVISIONED:
        folder = Path(tempfile.mkdtemp(prefix="fst-provisioned-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = folder / "template.sqlite3"
        env = service_env(DATABASE_URL=f"sqlite://{template}", ARTIFACTS_DIR=str(folder))
        _PROVISIONED[password] = (template, await provision(env, DRH_USER, password=password))
    template, token = _PROVISIONED[password]
    # The provisioning process has ended, so SQLite has folded its log into the file.
    shutil.copyfile(template, database)
    return token


@dataclass(frozen=True)
class Deployment:
    """An artifacts folder with the shipped dataset, and the settings of its processes."""

    env: dict[str, str]
    artifacts: Path

    @classmethod
    def create(cls, directory: Path, database_url: str, **settings: str) -> Deployment:
        artifacts = directory / "artifacts"
        (artifacts / "datasets").mkdir(parents=True)
        shutil.copy(SHIPPED_DATASET, artifacts / "datasets" / SHIPPED_DATASET.name)
        env = service_env(DATABASE_URL=database_url, ARTIFACTS_DIR=str(artifacts), **settings)
        return cls(env, artifacts)

    async def migrate(self) -> None:
        await run_cli("migrate", env=self.env)

    async def drh_token(self) -> str:
        """A DRH account and a token for it, written straight into the migrated database."""
        return await provision(self.env, DRH_USER, migrate=False)

    @property
    def models(self) -> Path:
        return self.artifacts / "models"

    def model_file(self, model_version: str) -> Path:
        return self.models / f"{model_version}.joblib"

    def partial_files(self) -> list[Path]:
        return sorted(self.models.glob("*.partial"))


@dataclass
class Service:
    """One `main.py` process, the leader of its own process group, logging to a file."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def assert_running(self) -> None:
        if self.process.returncode is not None:
            raise AssertionError(
                f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
            )

    async def kill(self) -> None:
        """SIGKILL the whole group: the service and everything it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 10)


@dataclass
class Services:
    """Services started by one test or module; kill_all() is its teardown."""

    log_dir: Path
    started: list[Service] = field(default_factory=list)

    async def start(self, name: str, *args: str, env: dict[str, str]) -> Service:
        log = self.log_dir / f"{len(self.started):02d}-{name}.log"
        with log.open("wb") as handle:
            process = await asyncio.create_subprocess_exec(
                PYTHON,
                "main.py",
                *args,
                cwd=REPO,
                env=env,
                stdout=handle,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(name, process, log)
        self.started.append(service)
        return service

    async def serve(self, name: str, deployment: Deployment) -> Service:
        """Start `main.py serve` on a free port; return once /healthz answers."""
        port = free_port()
        service = await self.start(name, "serve", "--port", str(port), env=deployment.env)
        service.url = f"http://127.0.0.1:{port}"

        async def healthy() -> bool | None:
            service.assert_running()
            try:
                async with http_client(timeout=2) as client:
                    response = await client.get(f"{service.url}/healthz")
            except httpx.TransportError:
                return None
            return True if response.status_code == 200 else None

        await wait_for(healthy, timeout=120, what=f"{name} to answer /healthz", interval=0.1)
        return service

    async def kill_all(self) -> None:
        for service in reversed(self.started):
            await service.kill()


@dataclass
class Api:
    """GraphQL over HTTP to a server process, as the DRH user."""

    service: Service
    token: str

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        async with http_client(timeout=120) as client:
            response = await client.post(
                f"{self.service.url}/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Token {self.token}"},
            )
        assert response.status_code == 200, response.text
        body = json_of(response)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


async def first_server(services: Services, deployment: Deployment, name: str = "server") -> Api:
    """Migrate, then start a server while the DRH account and its token are created."""
    await deployment.migrate()
    token, server = await asyncio.gather(deployment.drh_token(), services.serve(name, deployment))
    return Api(server, token)


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: state, ppid, pgrp, ..."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.rpartition(")")[2].split()


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def process_state(pid: int) -> str | None:
    """R, S, D, Z (ended, not yet collected by its parent)...; None when there is none."""
    fields = _stat_fields(pid)
    return fields[0] if fields else None


async def group_gone(pgid: int, timeout: float = 10) -> list[int]:
    """Wait until no process of group `pgid` runs; return those still running at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        members = live_group_members(pgid)
        if not members or time.monotonic() > deadline:
            return members
        await asyncio.sleep(0.1)


def live_group_members(pgid: int) -> list[int]:
    """Processes of group `pgid` that still run (zombies excluded: they have ended)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


# --- one server for a test or module (the hardening tests) --------------------------------
@dataclass
class LiveServer:
    """One `main.py serve` process and what a test needs to talk to it."""

    url: str
    token: str
    process: asyncio.subprocess.Process
    log_path: Path
    artifacts: Path
    env: dict[str, str]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def database(self) -> Path:
        """The SQLite file this server uses (a PostgreSQL server has none)."""
        url = self.env["DATABASE_URL"]
        if not url.startswith("sqlite://"):
            raise AssertionError(f"not an SQLite server: {url}")
        return Path(url.removeprefix("sqlite://"))

    def insert_run(self, **columns: Any) -> int:
        """Write a run row straight into this server's database; return its id.

        For the tests that need a run to read, not a training to watch: RUN_ROW's columns,
        a unique model version, owned by the DRH user, QUEUED with no progress, unless
        `columns` (table column names) say otherwise. Far cheaper than training one: a
        server started with TRAINING_WARM_UP=false never starts its pool for it.
        """
        with (
            contextlib.closing(sqlite3.connect(self.database, timeout=30)) as connection,
            connection,
        ):
            (owner,) = connection.execute(
                "SELECT id FROM auth_user WHERE username = ?", (DRH_USER,)
            ).fetchone()
            row = {
                **RUN_ROW,
                "run_date": datetime.now(UTC).isoformat(sep=" "),
                "model_version": f"row-{uuid.uuid4().hex[:12]}",
                "status": "QUEUED",
                "progress": 0.0,
                "cancel_requested": 0,
                "n_estimators": 100,
                "notes": "",
                "trained_by_id": owner,
                "trained_by_username": DRH_USER,
                **columns,
            }
            values = [
                json.dumps(value) if isinstance(value, dict | list) else value
                for value in row.values()
            ]
            names = ", ".join(f'"{name}"' for name in row)
            marks = ", ".join("?" for _ in row)
            cursor = connection.execute(
                f"INSERT INTO training_run ({names}) VALUES ({marks})", values
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def client(self, timeout: float = 60) -> httpx.AsyncClient:
        """A client for this server, authenticated as the DRH user."""
        return http_client(base_url=self.url, headers=self.auth, timeout=timeout)

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, timeout: float = 60
    ) -> httpx.Response:
        async with self.client(timeout) as client:
            return await client.post(
                "/graphql", json={"query": query, "variables": variables or {}}
            )

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body = json_of(response)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def healthy(self) -> bool:
        if self.process.returncode is not None:
            raise AssertionError(
                f"the server exited with {self.process.returncode}:\n{self.tail()}"
            )
        try:
            async with http_client(timeout=2) as client:
                response = await client.get(f"{self.url}/healthz")
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not await self.healthy():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the server did not answer /healthz within {timeout:g} s:\n{self.tail()}"
                )
            await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL the whole process group: the server and its training pool."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 10)


async def start_live_server(
    directory: Path,
    *,
    database_url: str | None = None,
    password: str | None = None,
    settings: Mapping[str, str] | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
    workers: int = 1,
) -> LiveServer:
    """Prepare a deployment in `directory` and start serving it; see the module docstring.

    `password` gives the DRH user a password; `settings` are extra environment variables
    (MAX_BODY_BYTES, INTROSPECTION, TRAINING_WARM_UP, ...); `workers` is serve's
    --workers (uvicorn server processes).
    """
    artifacts = directory / "artifacts"
    (artifacts / "datasets").mkdir(parents=True)
    shutil.copy(SHIPPED_DATASET, artifacts / "datasets" / SHIPPED_DATASET.name)
    if database_url is None:
        database = artifacts / "training_api.sqlite3"
        env = server_env(f"sqlite://{database}", artifacts, settings or {})
        token = await provisioned_sqlite_copy(database, password)
    else:
        env = server_env(database_url, artifacts, settings or {})
        token = await provision(env, DRH_USER, password=password)

    port = free_port()
    log_path = directory / "server.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            PYTHON,
            "main.py",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-migrate",
            "--workers",
            str(workers),
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", token, process, log_path, artifacts, env)
    try:
        await server.wait_healthy(startup_timeout)
    except BaseException:
        await server.kill()
        raise
    return server


async def start_live_servers(*starts: Awaitable[LiveServer]) -> list[LiveServer]:
    """Start several servers at once (their start-up is mostly waiting on imports); if
    one fails, kill the others before raising."""
    results = await asyncio.gather(*starts, return_exceptions=True)
    servers = [result for result in results if isinstance(result, LiveServer)]
    for result in results:
        if isinstance(result, BaseException):
            for server in servers:
                await server.kill()
            raise result
    return servers


@contextlib.asynccontextmanager
async def live_server(
    directory: Path,
    *,
    database_url: str | None = None,
    password: str | None = None,
    workers: int = 1,
    **settings: str,
) -> AsyncIterator[LiveServer]:
    server = await start_live_server(
        directory,
        database_url=database_url,
        password=password,
        settings=settings,
        workers=workers,
    )
    try:
        yield server
    finally:
        await server.kill()


# --- PostgreSQL -----------------------------------------------------------------------
def postgres_admin_url() -> str:
    """TEST_POSTGRES_URL, or skip (fail under REQUIRE_SERVICES=1) when it is not set."""
    if not POSTGRES_URL:
        reason = "PostgreSQL tests need TEST_POSTGRES_URL=postgres://user@host:5432/db"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    return POSTGRES_URL


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh database for one test, dropped afterwards."""
    admin_url = postgres_admin_url()
    url = await create_postgres_database(admin_url, prefix="fst_hardening")
    try:
        yield url
    finally:
        await drop_postgres_database(admin_url, url)
