"""/healthz, /readyz and X-Request-ID on a real `main.py serve` process (SQLite)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import http_client
from tests.prestart import prestartable
from tests.processes import LiveServer, start_live_server


@pytest.fixture(scope="module")
@prestartable
async def plain(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    server = await start_live_server(tmp_path_factory.mktemp("operators-health"))
    try:
        yield server
    finally:
        await server.kill()


def mapped_files(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


async def get(server: LiveServer, path: str, **headers: str) -> httpx.Response:
    async with http_client(base_url=server.url, timeout=30) as client:
        return await client.get(path, headers=headers)


async def test_healthz_says_the_process_is_alive(plain: LiveServer) -> None:
    response = await get(plain, "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_a_serving_process_has_not_imported_the_ml_libraries(plain: LiveServer) -> None:
    # given: a server up and answering, that has neither trained nor taken an upload
    assert (await get(plain, "/healthz")).status_code == 200

    # when: looking at the shared libraries it has loaded
    mapped = mapped_files(plain.pid)

    # then: pandas, numpy and scikit-learn wait for the first upload or prediction, and
    # training imports them in its own worker processes, so a server starts in about a
    # second and holds none of them
    for library in ("/pandas/", "/numpy/", "/sklearn/"):
        assert library not in mapped, library


async def test_readyz_reports_each_check(plain: LiveServer) -> None:
    response = await get(plain, "/readyz")
    body = response.json()
    print(f"\n/readyz: {response.status_code} {body}")
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    checks = body["checks"]
    assert set(checks) == {"database", "migrations", "training"}
    assert all(check["ok"] for check in checks.values())
    assert checks["migrations"]["pending"] == []
    assert checks["migrations"]["applied"] >= 3
    assert checks["training"]["backend"] == "local"
    # The test servers start their pool at the first run (TRAINING_WARM_UP=false).
    assert checks["training"] == {**checks["training"], "workers": 0, "startsOnDemand": True}


async def test_readyz_is_503_while_a_migration_is_missing(plain: LiveServer) -> None:
    # given a database that has forgotten it applied its latest migration
    database = sqlite3.connect(plain.artifacts / "training_api.sqlite3", timeout=30)
    with database:
        app, name, applied_at = database.execute(
            "SELECT app, name, applied_at FROM tortoise_migrations ORDER BY name DESC LIMIT 1"
        ).fetchone()
        database.execute("DELETE FROM tortoise_migrations WHERE app = ? AND name = ?", (app, name))
    try:
        # when
        response = await get(plain, "/readyz")
    finally:
        with database:
            database.execute(
                "INSERT INTO tortoise_migrations (app, name, applied_at) VALUES (?, ?, ?)",
                (app, name, applied_at),
            )
        database.close()
    # then
    body = response.json()
    print(f"\n/readyz without {app}.{name}: {response.status_code} {body}")
    assert response.status_code == 503, body
    assert body["status"] == "unavailable"
    assert body["checks"]["migrations"]["ok"] is False
    assert body["checks"]["migrations"]["pending"] == [f"{app}.{name}"]
    assert body["checks"]["database"]["ok"] is True
    # and it is ready again once the record is back
    assert (await get(plain, "/readyz")).status_code == 200


async def test_a_sane_request_id_is_echoed(plain: LiveServer) -> None:
    given = f"client-{uuid.uuid4().hex}"
    async with plain.client() as client:
        response = await client.post(
            "/graphql", json={"query": "{ viewer { username } }"}, headers={"X-Request-ID": given}
        )
    assert response.headers["x-request-id"] == given


async def test_an_insane_or_missing_request_id_is_replaced_by_a_fresh_one(
    plain: LiveServer,
) -> None:
    for headers in ({}, {"X-Request-ID": "x" * 500}, {"X-Request-ID": "a b\tc"}):
        generated = (await get(plain, "/healthz", **headers)).headers["x-request-id"]
        assert len(generated) == 32, headers
        assert set(generated) <= set("0123456789abcdef"), headers
    first = (await get(plain, "/healthz")).headers["x-request-id"]
    second = (await get(plain, "/healthz")).headers["x-request-id"]
    assert first != second


async def test_metrics_are_off_unless_enabled(plain: LiveServer) -> None:
    assert (await get(plain, "/metrics")).status_code == 404
