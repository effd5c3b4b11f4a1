"""A real `main.py serve` process for the hardening tests, set up as an operator would.

`live_server()` prepares a temporary artifacts folder holding the shipped dataset, runs
`migrate`, `createuser` and `token create` against the given database, starts `serve` on a
free port of 127.0.0.1 in a process group of its own (so that killing the group also
kills its training pool), waits for GET /healthz and, on the way out, kills the group.
Everything the server prints goes to a log file the tests read.

Also here: a fresh PostgreSQL database per test (created and dropped with asyncpg), for the
tests that need PostgreSQL; they skip without TEST_POSTGRES_URL, or fail when
REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
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

PYTHON = sys.executable
DRH_USER = "drh-user"
STARTUP_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, artifacts: Path, settings: Mapping[str, str]) -> dict[str, str]:
    """This environment without any server setting it may carry, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
        TRAINING_WORKERS="1",
        PROGRESS_INTERVAL="0.2",
        DATABASE_URL=database_url,
        ARTIFACTS_DIR=str(artifacts),
    )
    env.update(settings)
    return env


async def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> str:
    """Run `main.py ARGS` to completion and return its standard output."""
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "main.py",
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
    assert process.returncode == 0, f"main.py {' '.join(args)}: {err.decode()[-2000:]}"
    return out.decode()


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

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def client(self, timeout: float = 60) -> httpx.AsyncClient:
        """A client for this server, authenticated as the DRH user."""
        return httpx.AsyncClient(base_url=self.url, headers=self.auth, timeout=timeout)

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
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def healthy(self) -> bool:
        if self.process.returncode is not None:
            raise AssertionError(
                f"the server exited with {self.process.returncode}:\n{self.tail()}"
            )
        try:
            async with httpx.AsyncClient(timeout=2) as client:
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
            await asyncio.sleep(0.2)

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
) -> LiveServer:
    """Prepare a deployment in `directory` and start serving it; see the module docstring.

    `password` gives the DRH user a password (read by `createuser --password` from stdin);
    `settings` are extra environment variables (MAX_BODY_BYTES, INTROSPECTION, ...).
    """
    artifacts = directory / "artifacts"
    (artifacts / "datasets").mkdir(parents=True)
    shutil.copy(SHIPPED_DATASET, artifacts / "datasets" / SHIPPED_DATASET.name)
    database_url = database_url or f"sqlite://{artifacts}/training_api.sqlite3"
    env = server_env(database_url, artifacts, settings or {})

    await run_cli("migrate", env=env)
    password_args = ("--password",) if password is not None else ()
    stdin = f"{password}\n" if password is not None else None
    await run_cli("createuser", DRH_USER, "--group", "DRH", *password_args, env=env, stdin=stdin)
    token = (await run_cli("token", "create", DRH_USER, env=env)).strip()
    assert len(token.split()) == 1, f"`token create` printed other than one token: {token!r}"

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
    **settings: str,
) -> AsyncIterator[LiveServer]:
    server = await start_live_server(
        directory, database_url=database_url, password=password, settings=settings
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
