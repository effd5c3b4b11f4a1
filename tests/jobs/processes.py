"""Real server and worker processes for the job tests: prepare, start, talk to, kill.

Every service runs in a session (process group) of its own, so killing its group also kills
the processes it started: the local training pool, Celery's pool children.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from main import Settings
from tests.conftest import REPO, SHIPPED_DATASET

PYTHON = sys.executable
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(
    check: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, interval: float = 0.1
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


def service_env(**settings: str) -> dict[str, str]:
    """This environment without any server setting it may carry, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(PYTHONUNBUFFERED="1", LOG_LEVEL="INFO", **settings)
    return env


async def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> str:
    """Run `main.py ARGS` to completion and return its standard output."""
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "main.py",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"main.py {' '.join(args)}: {err.decode()[-2000:]}"
    return out.decode()


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
        """A DRH account and a token for it, made with the commands an operator uses."""
        await run_cli("createuser", "drh-user", "--group", "DRH", env=self.env)
        token = (await run_cli("token", "create", "drh-user", env=self.env)).strip()
        assert len(token.split()) == 1, f"`token create` printed more than a token: {token!r}"
        return token

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
                async with httpx.AsyncClient(timeout=2) as client:
                    response = await client.get(f"{service.url}/healthz")
            except httpx.TransportError:
                return None
            return True if response.status_code == 200 else None

        await wait_for(healthy, timeout=120, what=f"{name} to answer /healthz", interval=0.2)
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
        async with httpx.AsyncClient(timeout=120) as client:
            response = await client.post(
                f"{self.service.url}/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Token {self.token}"},
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


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
