"""Webhooks with real server processes (issue 25, section 2). They survive kill -9: a real
`main.py serve` process group,
killed while deliveries are in flight and others wait in the outbox, then restarted on
the same database (SQLite, and PostgreSQL when TEST_POSTGRES_URL is set). Every event is
delivered after the restart, verified by a standardwebhooks receiver that accepts each
webhook-id once; what the killed process had leased is sent again once its lease expires.
And a host that resolves to loopback at connect time is refused there (DNS rebinding).
The key that encrypts the signing secrets rotates across a restart (new key first, old
one second: deliveries go on and the secret is re-encrypted), and a server without the
key that encrypted a secret fails that delivery saying why and goes on running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from strawberry.relay import GlobalID

from models.webhook_secrets import new_key
from models.webhooks import new_secret
from tests.helpers import SET_ALIAS, train_completed, wait_for
from tests.processes import (
    Api,
    Deployment,
    LiveServer,
    Services,
    first_server,
    live_server,
    postgres_database,
    start_live_server,
)
from tests.webhook_receiver import Receiver, running_receiver

EVENTS = 20
WEBHOOK_SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    "WEBHOOK_POLL_SECONDS": "0.1",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "WEBHOOK_MAX_ATTEMPTS": "20",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_CONCURRENCY": "5",
}
CREATE = """
mutation Create($url: String!) {
  createWebhook(url: $url, events: [RUN_COMPLETED, ALIAS_CHANGED]) {
    webhook { id } secret errors { code }
  }
}
"""
DELIVERIES = """
query Deliveries($id: ID) {
  webhookDeliveries(webhookId: $id, first: 100) {
    status messageId attempts lastStatusCode lastError
  }
}
"""


@contextlib.asynccontextmanager
async def database_url(backend: str, directory: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite://{directory}/db.sqlite3"
    else:
        async with postgres_database() as url:
            yield url


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_kill_9_of_the_server_loses_no_webhook_event(tmp_path: Path, backend: str) -> None:
    services = Services(tmp_path)
    async with database_url(backend, tmp_path) as url, running_receiver(seed=7) as receiver:
        try:
            await _kill_and_restart(
                services, Deployment.create(tmp_path, url, **WEBHOOK_SETTINGS), receiver
            )
        finally:
            await services.kill_all()


async def _kill_and_restart(services: Services, deployment: Deployment, receiver: Receiver) -> None:
    # given: a webhook, and a completed run whose event is delivered
    api = await first_server(services, deployment)
    created = (await api.data(CREATE, {"url": receiver.hook_url}))["createWebhook"]
    assert created["errors"] == []
    receiver.secret = created["secret"]
    webhook_id = created["webhook"]["id"]
    run = await train_completed(api.data, trees=3)
    await wait_for(lambda: _true_if(len(receiver.accepted) == 1), timeout=60, what="run.completed")

    # when: the receiver hangs, EVENTS promotions are made, and the server is killed
    # with deliveries in flight and the rest still in the outbox
    receiver.hold = asyncio.Event()
    for number in range(EVENTS):
        await api.data(SET_ALIAS, {"alias": f"durable-{number}", "runId": str(run["id"])})
    await wait_for(
        lambda: _true_if(receiver.attempts >= 2), timeout=30, what="deliveries in flight"
    )
    in_flight = receiver.attempts - 1
    await api.service.kill()

    # then: restarted, the server delivers every event, each accepted once
    receiver.hold.set()  # the requests of the dead server are dropped, never accepted
    receiver.hold = None
    receiver.fail_rate = 0.2  # and some attempts fail on the way, at random (seeded)
    restarted = Api(await services.serve("restarted", deployment), api.token)

    async def all_delivered() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = (await restarted.data(DELIVERIES, {"id": webhook_id}))[
            "webhookDeliveries"
        ]
        done = all(item["status"] == "SUCCEEDED" for item in found)
        return found if len(found) == EVENTS + 1 and done else None

    deliveries = await wait_for(all_delivered, timeout=120, what="every delivery SUCCEEDED")
    message_ids = {item["messageId"] for item in deliveries}
    assert len(message_ids) == EVENTS + 1
    assert set(receiver.accepted) == message_ids
    assert receiver.invalid == []
    aliases = {item.body["data"]["alias"] for item in receiver.of_type("alias.changed")}
    assert aliases == {f"durable-{number}" for number in range(EVENTS)}
    print(
        f"\n{deployment.env['DATABASE_URL'].split(':')[0]}: {EVENTS + 1} events, "
        f"{in_flight} in flight at kill -9; {receiver.attempts} attempts, "
        f"{receiver.injected_failures} failed on purpose, {receiver.duplicates} duplicates "
        f"refused by webhook-id, every event accepted once"
    )


async def _true_if(condition: bool) -> bool | None:
    return True if condition else None


async def test_a_name_that_now_resolves_to_loopback_is_refused_at_connect_time(
    tmp_path: Path,
) -> None:
    """DNS rebinding, end to end: a webhook whose host passed the check at creation (here
    written straight into the database, as if `localhost` had then resolved to a public
    address) is refused when the dispatcher connects, with WEBHOOK_ALLOW_PRIVATE_NETWORKS
    false: the receiver listening there never sees a request, and the attempt says why."""
    async with (
        running_receiver() as receiver,
        live_server(tmp_path, WEBHOOK_POLL_SECONDS="0.1", WEBHOOK_MAX_ATTEMPTS="1") as server,
    ):
        port = receiver.url.rsplit(":", 1)[1]
        with contextlib.closing(sqlite3.connect(server.database, timeout=30)) as db, db:
            db.execute(
                "INSERT INTO webhook (url, events, description, active, secret, created_at)"
                " VALUES (?, ?, '', 1, ?, ?)",
                (
                    f"http://localhost:{port}/hook",
                    json.dumps(["alias.changed"]),
                    new_secret(),
                    datetime.now(UTC).isoformat(sep=" "),
                ),
            )
        run_id = server.insert_run(status="COMPLETED", model_path="m.joblib", model_sha256="0" * 64)
        await server.data(SET_ALIAS, {"alias": "rebound", "runId": str(run_id)})

        async def failed() -> dict[str, Any] | None:
            found = (await server.data(DELIVERIES, {"id": None}))["webhookDeliveries"]
            return found[0] if found and found[0]["status"] == "FAILED" else None

        delivery = await wait_for(failed, timeout=60, what="the refused delivery")
    assert delivery["lastStatusCode"] is None
    assert delivery["lastError"].startswith("refused: the host 'localhost' resolves to")
    assert "loopback" in delivery["lastError"]
    assert receiver.attempts == 0


def _stored_secret(server: LiveServer, webhook_id: str) -> str:
    """The webhook's `secret` column, as a dump of the database would show it."""
    key = int(GlobalID.from_id(webhook_id).node_id)
    with contextlib.closing(sqlite3.connect(server.database, timeout=30)) as db:
        (stored,) = db.execute("SELECT secret FROM webhook WHERE id = ?", (key,)).fetchone()
    return str(stored)


async def test_the_key_encrypting_secrets_rotates_and_a_missing_key_fails_deliveries_only(
    tmp_path: Path,
) -> None:
    old, new = new_key(), new_key()
    settings = {**WEBHOOK_SETTINGS, "WEBHOOK_MAX_ATTEMPTS": "2", "WEBHOOK_SECRET_KEYS": old}
    services = Services(tmp_path)
    async with running_receiver() as receiver:
        # given: a webhook created by a server whose only key is `old`
        first = await start_live_server(tmp_path, settings=settings)
        try:
            created = (await first.data(CREATE, {"url": receiver.hook_url}))["createWebhook"]
            assert created["errors"] == []
            receiver.secret = created["secret"]
            webhook_id = created["webhook"]["id"]
            stored = _stored_secret(first, webhook_id)
            assert Fernet(old).decrypt(stored.encode()).decode() == receiver.secret
            run_id = first.insert_run(
                status="COMPLETED", model_path="m.joblib", model_sha256="0" * 64
            )
        finally:
            await first.kill()
        # and a webhook stored in plain text, as before secrets were encrypted
        plain = new_secret()
        with contextlib.closing(sqlite3.connect(first.database, timeout=30)) as db, db:
            plain_id = db.execute(
                "INSERT INTO webhook (url, events, description, active, secret, created_at)"
                " VALUES (?, ?, '', 0, ?, ?)",
                (
                    receiver.hook_url,
                    json.dumps(["schedule.failed"]),
                    plain,
                    datetime.now(UTC).isoformat(sep=" "),
                ),
            ).lastrowid
        deployment = Deployment(dict(first.env), first.artifacts)
        try:
            # when: restarted with a new key first and the old one second
            deployment.env["WEBHOOK_SECRET_KEYS"] = f"{new},{old}"
            rotated = Api(await services.serve("rotated", deployment), first.token)
            # the plain-text secret is encrypted at start-up, with no delivery to make
            plain_global = str(GlobalID("Webhook", str(plain_id)))
            await wait_for(
                lambda: _true_if(not _stored_secret(first, plain_global).startswith("whsec_")),
                timeout=30,
                what="the plain secret encrypted at start-up",
            )
            encrypted = _stored_secret(first, plain_global).encode()
            assert Fernet(new).decrypt(encrypted).decode() == plain
            await rotated.data(SET_ALIAS, {"alias": "after-rotation", "runId": str(run_id)})

            # then: delivered, verified by the receiver, and re-encrypted with the new key
            await wait_for(
                lambda: _true_if(len(receiver.accepted) == 1), timeout=60, what="a delivery"
            )
            assert receiver.invalid == []
            stored = _stored_secret(first, webhook_id)
            assert Fernet(new).decrypt(stored.encode()).decode() == receiver.secret
            await rotated.service.kill()

            # when: a server has only a key that no longer opens it
            deployment.env["WEBHOOK_SECRET_KEYS"] = old
            wrong = Api(await services.serve("wrong-key", deployment), first.token)
            await wrong.data(SET_ALIAS, {"alias": "wrong-key", "runId": str(run_id)})

            # then: that delivery fails, saying why, in the API and the log; the server runs on
            async def failed() -> dict[str, Any] | None:
                found = (await wrong.data(DELIVERIES, {"id": webhook_id}))["webhookDeliveries"]
                latest = found[0]
                return latest if latest["status"] == "FAILED" else None

            delivery = await wait_for(failed, timeout=60, what="the undecryptable delivery")
            assert delivery["lastStatusCode"] is None
            assert "cannot be decrypted" in delivery["lastError"]
            assert "WEBHOOK_SECRET_KEYS" in delivery["lastError"]
            logged = [
                line
                for line in wrong.service.output().splitlines()
                if "attempt 2: failed" in line and "cannot be decrypted" in line
            ]
            assert len(logged) == 1, wrong.service.tail()
            wrong.service.assert_running()
            assert len(receiver.accepted) == 1  # nothing was sent
        finally:
            await services.kill_all()
