"""Fixtures: the real ASGI app (lifespan, local training pool) on a real database.

The database is SQLite unless TEST_DATABASE=postgres, which runs the same tests on a
fresh database of the server named by TEST_POSTGRES_URL (dropped at the end). One
pytest process serves one backend, because Tortoise caches SQL per model class; the
Makefile runs the suite a second time for PostgreSQL when it is configured.
REQUIRE_SERVICES=1 (set by .ci/run) turns "unreachable" into a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx_ws.transport import ASGIWebSocketTransport

from main import Settings, create_app, migrate
from models.accounts import create_token, create_user
from models.training_runs import TrainingRun
from tests.helpers import REPO, SHIPPED_DATASET, TagMeasured, json_of
from tests.prestart import start_collected, stop_untaken
from tests.scheduling import FileOrGroupScheduling

REFERENCE_DATASET = Path(__file__).parent / "data" / "rest_original_future_skills_dataset.csv"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
DATABASE = os.environ.get("TEST_DATABASE", "sqlite")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


class RoleOptions(TypedDict, total=False):
    """create_user's options for one role's user."""

    groups: list[str]
    is_superuser: bool


ROLES: dict[str, RoleOptions] = {
    "drh": {"groups": ["DRH"]},
    "rrh": {"groups": ["RESPONSABLE_RH"]},
    "manager": {"groups": ["MANAGER"]},
    "nogroup": {"groups": []},
    "root": {"groups": [], "is_superuser": True},
}

__all__ = [
    "POSTGRES_URL",
    "REPO",
    "REQUIRE_SERVICES",
    "SHIPPED_DATASET",
    "Server",
    "create_postgres_database",
    "drop_postgres_database",
]


def pytest_report_header(config: pytest.Config) -> str:
    if DATABASE == "postgres":
        return f"database: PostgreSQL at {POSTGRES_URL}"
    return "database: SQLite (TEST_DATABASE=postgres runs the suite on PostgreSQL)"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` shares the suite out by file or group (see tests/scheduling.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return FileOrGroupScheduling(config, log)


def _asyncpg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def create_postgres_database(admin_url: str, prefix: str = "fst_test") -> str:
    """A new empty database on the server of `admin_url`; returns its URL.

    Unreachable server: skip, or fail under REQUIRE_SERVICES=1.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        connection = await asyncpg.connect(_asyncpg_url(admin_url), timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"PostgreSQL at {admin_url} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {admin_url} is unreachable: {exc}")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        # A test database is thrown away at the end: a commit need not wait for the disk
        # (the server still never loses its consistency; only the last commits of a
        # crashed server would be lost). The suite commits thousands of times.
        await connection.execute(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
    finally:
        await connection.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def drop_postgres_database(admin_url: str, database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(_asyncpg_url(admin_url), timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _postgres_database() -> str:
    """A fresh database on the server named by TEST_POSTGRES_URL."""
    assert POSTGRES_URL is not None
    return await create_postgres_database(POSTGRES_URL)


async def _drop_postgres_database(url: str) -> None:
    assert POSTGRES_URL is not None
    await drop_postgres_database(POSTGRES_URL, url)


@dataclass
class Server:
    """The app under test, with a token per role and a GraphQL helper."""

    client: httpx.AsyncClient
    settings: Settings
    tokens: dict[str, str]
    backend: str

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = "drh",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if as_ is not None:
            all_headers.setdefault("Authorization", f"Token {self.tokens[as_]}")
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = "drh"
    ) -> dict[str, Any]:
        response = await self.post(query, variables, as_=as_)
        assert response.status_code == 200, response.text
        return json_of(response)

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = "drh"
    ) -> dict[str, Any]:
        body = await self.gql(query, variables, as_=as_)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture(scope="session")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    backend = DATABASE
    artifacts = tmp_path_factory.mktemp(f"artifacts-{backend}")
    (artifacts / "datasets").mkdir()
    shutil.copy(SHIPPED_DATASET, artifacts / "datasets" / SHIPPED_DATASET.name)
    shutil.copy(REFERENCE_DATASET, artifacts / "datasets" / "reference.csv")
    database_url = (
        await _postgres_database()
        if backend == "postgres"
        else f"sqlite://{artifacts}/test.sqlite3"
    )
    settings = Settings(
        artifacts_dir=artifacts,
        database_url=database_url,
        training_workers=2,
        progress_interval=0.1,
        # Revocation tests expect the very next request refused; the cache has its own.
        auth_cache_seconds=0,
        # The pool is brought up in the background once the app has started (below): its
        # workers import scikit-learn while the first tests, which do not train, run.
        training_warm_up=False,
        # The prediction tests send thousands of rows a second as one user; the budget
        # has its own tests, on apps of their own (tests/api/test_prediction_limits.py).
        prediction_rows_per_second=1e9,
        # The webhook tests deliver to a receiver on 127.0.0.1, and watch retries happen.
        webhook_allow_private_networks=True,
        webhook_poll_seconds=0.1,
        webhook_retry_base_seconds=0.3,
        webhook_max_attempts=3,
        webhook_timeout_seconds=2.0,
        # Sweeps (tests/api/test_sweeps.py) advance at every tick of the driver.
        sweep_driver_interval=0.2,
    )
    await migrate(settings)
    ready: asyncio.Future[Server] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def hold() -> None:
        # The lifespan and the transport open anyio cancel scopes, which must be
        # entered and exited in one task; pytest-asyncio may tear a session fixture
        # down from another, so one task holds them for the whole session.
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=300, shutdown_timeout=30) as manager:
            transport = ASGIWebSocketTransport(app=manager.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", timeout=60
            ) as client:
                app.state.services.jobs.warm_up_in_background()
                tokens = {}
                for role, options in ROLES.items():
                    user = await create_user(f"{role}-user", password=f"{role}-password", **options)
                    tokens[role] = await create_token(user, "tests")
                ready.set_result(Server(client, settings, tokens, backend))
                await stop.wait()

    holder = asyncio.create_task(hold())
    try:
        # Typed: mypy would join Task[None] and Future[Server] to object, which wait() refuses.
        started: set[asyncio.Future[Any]] = {holder, ready}
        done, _ = await asyncio.wait(started, return_when=asyncio.FIRST_COMPLETED)
        if holder in done:
            holder.result()  # start-up failed: raise its error here
        yield ready.result()
    finally:
        stop.set()
        await holder
        if backend == "postgres":
            await _drop_postgres_database(database_url)


@pytest.fixture(scope="session", autouse=True)
async def prestarted_live_servers(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Start the live servers the collected tests use while the first tests run (see
    tests/prestart.py)."""
    await start_collected(request)
    yield
    await stop_untaken()


@pytest.fixture
async def clean_runs(server: Server) -> Server:
    """A server whose run table starts empty for this test."""
    await TrainingRun.all().delete()
    return server


@pytest.fixture
def sql_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The SQL log of this test, each record tagged for `tests.helpers.measure`."""
    caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
    logger = logging.getLogger("tortoise.db_client")
    tag = TagMeasured()
    logger.addFilter(tag)
    try:
        yield caplog
    finally:
        logger.removeFilter(tag)
