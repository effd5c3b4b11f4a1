"""/healthz, /readyz and X-Request-ID on the real app (tests/conftest.py `server`)."""

from __future__ import annotations

import uuid

from tortoise import Tortoise

from tests.conftest import Server


async def test_healthz_says_the_process_is_alive(server: Server) -> None:
    response = await server.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_each_check(server: Server) -> None:
    response = await server.client.get("/readyz")
    body = response.json()
    print(f"\n/readyz: {response.status_code} {body}")
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    checks = body["checks"]
    assert set(checks) == {"database", "migrations", "training"}
    assert all(check["ok"] for check in checks.values())
    assert checks["migrations"]["pending"] == []
    assert checks["migrations"]["applied"] >= 3
    assert checks["training"] == {
        "ok": True,
        "backend": "local",
        "workers": 2,
        **{"seconds": checks["training"]["seconds"]},
    }


async def test_readyz_is_503_while_a_migration_is_missing(server: Server) -> None:
    # given a database that has forgotten it applied the latest migration
    connection = Tortoise.get_connection("default")
    _, rows = await connection.execute_query(
        "SELECT app, name FROM tortoise_migrations ORDER BY name DESC LIMIT 1"
    )
    app, name = rows[0][0], rows[0][1]
    await connection.execute_query(
        f"DELETE FROM tortoise_migrations WHERE app = '{app}' AND name = '{name}'"
    )
    try:
        # when
        response = await server.client.get("/readyz")
    finally:
        await connection.execute_query(
            "INSERT INTO tortoise_migrations (app, name, applied_at) "
            f"VALUES ('{app}', '{name}', CURRENT_TIMESTAMP)"
        )
    # then
    body = response.json()
    assert response.status_code == 503, body
    assert body["status"] == "unavailable"
    assert body["checks"]["migrations"]["ok"] is False
    assert body["checks"]["migrations"]["pending"] == [f"{app}.{name}"]
    assert body["checks"]["database"]["ok"] is True
    # and it is ready again once the record is back
    assert (await server.client.get("/readyz")).status_code == 200


async def test_a_sane_request_id_is_echoed(server: Server) -> None:
    given = f"client-{uuid.uuid4().hex}"
    response = await server.post("{ viewer { username } }", headers={"X-Request-ID": given})
    assert response.headers["x-request-id"] == given


async def test_an_insane_or_missing_request_id_is_replaced_by_a_fresh_one(server: Server) -> None:
    for headers in ({}, {"X-Request-ID": "x" * 500}, {"X-Request-ID": "a b\tc"}):
        response = await server.client.get("/healthz", headers=headers)
        generated = response.headers["x-request-id"]
        assert len(generated) == 32, headers
        assert set(generated) <= set("0123456789abcdef"), headers
    first = (await server.client.get("/healthz")).headers["x-request-id"]
    second = (await server.client.get("/healthz")).headers["x-request-id"]
    assert first != second


async def test_metrics_are_off_unless_enabled(server: Server) -> None:
    assert (await server.client.get("/metrics")).status_code == 404
