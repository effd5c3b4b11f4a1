"""Webhooks (issue 25, section 2): createWebhook and its secret shown once and stored
encrypted (a plain-text row from before encrypted at first use; a secret no key opens
fails its delivery, saying why), Standard
Webhooks signatures checked by a receiver with the `standardwebhooks` package, the events
(run.completed, run.failed, alias.changed) written in the transaction of their change,
retries with exponential backoff, attempts used up, redelivery, timeouts, redirects not
followed, and the SSRF rules at creation and at connect time.

The session server delivers (its dispatcher runs in its lifespan) with
WEBHOOK_ALLOW_PRIVATE_NETWORKS=true, so it can reach the receiver on 127.0.0.1; the
refusals with it false go through a second app built with it false (no lifespan)."""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import logging
import stat
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError
from tortoise.transactions import in_transaction

from models.run_lifecycle import move_run
from models.training_runs import RunStatus, TrainingRun
from models.webhook_secrets import SecretBox, new_key
from models.webhooks import Webhook, WebhookDelivery, WebhookEvent, new_secret
from resolvers.webhook_urls import GuardedTransport, UrlRefused, refused_address
from server.settings import Settings
from server.webhook_keys import KEY_FILE, secret_box
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import RUN_ROW, json_of, set_alias, train_completed, wait_for
from tests.webhook_receiver import Receiver, running_receiver

CREATE = """
mutation Create($url: String!, $events: [WebhookEventType!]!, $description: String! = "") {
  createWebhook(url: $url, events: $events, description: $description) {
    webhook { id databaseId url events description active createdByUsername }
    secret
    errors { field code message }
  }
}
"""
WEBHOOKS = "query { webhooks { id databaseId url events description active } }"
UPDATE = """
mutation Update($id: ID!, $url: String, $events: [WebhookEventType!], $active: Boolean) {
  updateWebhook(id: $id, url: $url, events: $events, active: $active) {
    webhook { databaseId url events active }
    errors { field code }
  }
}
"""
DELETE = """
mutation Delete($id: ID!) { deleteWebhook(id: $id) { deletedDatabaseId errors { field code } } }
"""
ROTATE = """
mutation Rotate($id: ID!) {
  rotateWebhookSecret(id: $id) { webhook { databaseId secretRotatedAt } secret errors { code } }
}
"""
DELIVERIES = """
query Deliveries($id: ID) {
  webhookDeliveries(webhookId: $id, first: 100) {
    id databaseId status attempts messageId eventType payload
    lastStatusCode lastDurationMs lastError deliveredAt
    attemptLog { attempt statusCode durationMs error attemptedAt }
  }
}
"""
REDELIVER = """
mutation Redeliver($id: ID!) {
  redeliverWebhook(deliveryId: $id) { delivery { databaseId status attempts } errors { code } }
}
"""


@pytest.fixture(autouse=True)
async def no_webhooks_left(server: Server) -> AsyncIterator[None]:
    """Each test's webhooks go with it: later events are not sent to a closed receiver."""
    yield
    await Webhook.all().delete()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def create_webhook(
    server: Server, receiver: Receiver, events: list[str], **variables: Any
) -> dict[str, Any]:
    """A webhook to `receiver`, whose secret the receiver then verifies with."""
    payload = (
        await server.data(CREATE, {"url": receiver.hook_url, "events": events, **variables})
    )["createWebhook"]
    assert payload["errors"] == [], payload
    receiver.secret = payload["secret"]
    webhook: dict[str, Any] = payload["webhook"]
    return webhook


async def deliveries(server: Server, webhook: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await server.data(DELIVERIES, {"id": webhook["id"]}))[
        "webhookDeliveries"
    ]
    return found


async def settled(server: Server, webhook: dict[str, Any], count: int = 1) -> list[dict[str, Any]]:
    """The webhook's deliveries once `count` exist and none is PENDING."""

    async def check() -> list[dict[str, Any]] | None:
        found = await deliveries(server, webhook)
        if len(found) >= count and all(item["status"] != "PENDING" for item in found):
            return found
        return None

    return await wait_for(check, timeout=60, what=f"{count} settled deliveries")


async def running_run() -> TrainingRun:
    return await TrainingRun.create(
        **(RUN_ROW | {"status": RunStatus.RUNNING}),
        model_version=f"hook-{uuid.uuid4().hex[:10]}",
        n_estimators=5,
    )


# --- creation, the secret, the list --------------------------------------------------------


async def test_create_webhook_shows_a_standard_secret_once(
    server: Server, receiver: Receiver
) -> None:
    payload = (
        await server.data(
            CREATE,
            {
                "url": receiver.hook_url,
                "events": ["RUN_COMPLETED", "ALIAS_CHANGED", "RUN_COMPLETED"],
                "description": "HR tool",
            },
        )
    )["createWebhook"]
    assert payload["errors"] == []
    secret = payload["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    webhook = payload["webhook"]
    assert webhook["events"] == ["RUN_COMPLETED", "ALIAS_CHANGED"]  # duplicates dropped
    assert webhook["createdByUsername"] == "drh-user"
    assert webhook["active"] is True

    listed = (await server.data(WEBHOOKS))["webhooks"]
    assert webhook["databaseId"] in [item["databaseId"] for item in listed]
    # No query reads it again: the GraphQL type has no field for it.
    response = await server.post("query { webhooks { secret } }")
    assert json_of(response)["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    rotated = (await server.data(ROTATE, {"id": webhook["id"]}))["rotateWebhookSecret"]
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != secret
    assert rotated["webhook"]["secretRotatedAt"] is not None


@pytest.mark.parametrize(
    ("variables", "field", "code"),
    [
        ({"events": []}, ["events"], "INVALID"),
        ({"url": "ftp://example.com/hook"}, ["url"], "URL_NOT_ALLOWED"),
        ({"url": "file:///etc/passwd"}, ["url"], "URL_NOT_ALLOWED"),
        ({"url": "javascript:alert(1)"}, ["url"], "URL_NOT_ALLOWED"),
        ({"url": "http://user:pw@example.com/"}, ["url"], "URL_NOT_ALLOWED"),
        ({"url": "https://example.com/" + "a" * 2000}, ["url"], "OUT_OF_RANGE"),
        ({"description": "d" * 501}, ["description"], "OUT_OF_RANGE"),
    ],
)
async def test_refused_input_creates_no_webhook(
    server: Server, variables: dict[str, Any], field: list[str], code: str
) -> None:
    before = await Webhook.all().count()
    sent = {"url": "https://93.184.215.14/hook", "events": ["RUN_FAILED"], **variables}
    payload = (await server.data(CREATE, sent))["createWebhook"]
    assert payload["webhook"] is None
    assert payload["secret"] is None
    assert [(error["field"], error["code"]) for error in payload["errors"]] == [(field, code)]
    assert await Webhook.all().count() == before


# --- SSRF ---------------------------------------------------------------------------------

PRIVATE_URLS = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://0.0.0.0/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_private_and_metadata_addresses_are_refused_at_creation(
    server: Server, url: str
) -> None:
    strict = ConfiguredApp(server, webhook_allow_private_networks=False)
    before = await Webhook.all().count()
    async with strict.client() as client:
        response = await client.post(
            "/graphql",
            json={"query": CREATE, "variables": {"url": url, "events": ["RUN_COMPLETED"]}},
            headers={"Authorization": f"Token {server.tokens['drh']}"},
        )
    payload = json_of(response)["data"]["createWebhook"]
    assert payload["webhook"] is None
    assert payload["secret"] is None
    assert [(error["field"], error["code"]) for error in payload["errors"]] == [
        (["url"], "URL_NOT_ALLOWED")
    ]
    assert await Webhook.all().count() == before


async def test_a_public_address_is_accepted_with_private_networks_refused(server: Server) -> None:
    strict = ConfiguredApp(server, webhook_allow_private_networks=False)
    async with strict.client() as client:
        response = await client.post(
            "/graphql",
            json={
                "query": CREATE,
                "variables": {"url": "https://93.184.215.14/hook", "events": ["RUN_FAILED"]},
            },
            headers={"Authorization": f"Token {server.tokens['drh']}"},
        )
    payload = json_of(response)["data"]["createWebhook"]
    assert payload["errors"] == []
    # Inactive at once: nothing is ever sent to that address by this suite.
    updated = (await server.data(UPDATE, {"id": payload["webhook"]["id"], "active": False}))[
        "updateWebhook"
    ]
    assert updated["webhook"]["active"] is False
    strict_update = ConfiguredApp(server, webhook_allow_private_networks=False)
    async with strict_update.client() as client:
        response = await client.post(
            "/graphql",
            json={
                "query": UPDATE,
                "variables": {"id": payload["webhook"]["id"], "url": "http://10.0.0.1/"},
            },
            headers={"Authorization": f"Token {server.tokens['drh']}"},
        )
    refused = json_of(response)["data"]["updateWebhook"]
    assert refused == {"webhook": None, "errors": [{"field": ["url"], "code": "URL_NOT_ALLOWED"}]}
    row = await Webhook.get(id=payload["webhook"]["databaseId"])
    assert row.url == "https://93.184.215.14/hook"


async def test_the_address_is_checked_again_at_connect_time(receiver: Receiver) -> None:
    """DNS rebinding: a name that resolved to a public address at creation may resolve to
    a private one later; the transport resolves, checks and connects to what it checked."""
    port = receiver.url.rsplit(":", 1)[1]
    rebound = f"http://localhost:{port}/hook"  # a name, resolved now, to loopback
    async with httpx.AsyncClient(transport=GuardedTransport(allow_private=False)) as client:
        with pytest.raises(UrlRefused, match="loopback"):
            await client.post(rebound, content=b"{}")
    assert receiver.attempts == 0

    # Allowed: the connection goes to the checked address, with the URL's Host header.
    receiver.fail_all = True
    async with httpx.AsyncClient(transport=GuardedTransport(allow_private=True)) as client:
        response = await client.post(rebound, content=b"{}")
    assert response.status_code == 503
    assert receiver.attempts == 1


# --- delivery, signatures, events ---------------------------------------------------------


async def test_run_completed_is_delivered_signed_and_verifiable(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["RUN_COMPLETED"])
    run = await train_completed(server.data, trees=3)

    async def arrived() -> list[Any] | None:
        found = [
            item
            for item in receiver.of_type("run.completed")
            if item.body["data"]["databaseId"] == run["databaseId"]
        ]
        return found or None

    (received,) = await wait_for(arrived, timeout=60, what="run.completed")
    headers = received.headers
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 120
    body = received.body
    assert body["type"] == "run.completed"
    datetime.fromisoformat(body["timestamp"])
    data = body["data"]
    assert data["id"] == run["id"]  # the global id the API gives the run
    assert data["databaseId"] == run["databaseId"]
    assert data["modelVersion"] == run["modelVersion"]
    assert data["status"] == "COMPLETED"
    assert data["accuracy"] == pytest.approx(run["accuracy"])
    assert data["trainedByUsername"] == "drh-user"

    (delivery,) = await settled(server, webhook)
    assert delivery["status"] == "SUCCEEDED"
    assert delivery["messageId"] == headers["webhook-id"]
    assert delivery["eventType"] == "RUN_COMPLETED"
    assert delivery["attemptLog"][0]["statusCode"] == 200
    assert delivery["attemptLog"][0]["durationMs"] > 0


async def test_a_tampered_body_or_another_secret_fails_verification(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["ALIAS_CHANGED"])
    run = await train_completed(server.data, trees=3)
    alias = f"hook-{uuid.uuid4().hex[:8]}"
    await set_alias(server, alias, run["id"])
    await settled(server, webhook)
    (received,) = [
        item for item in receiver.of_type("alias.changed") if item.body["data"]["alias"] == alias
    ]
    assert receiver.secret is not None
    Verifier(receiver.secret).verify(received.raw, received.headers)  # as received: valid
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Verifier(other).verify(received.raw, received.headers)
    tampered = received.raw.replace(alias.encode(), b"production")
    assert tampered != received.raw
    with pytest.raises(WebhookVerificationError):
        Verifier(receiver.secret).verify(tampered, received.headers)
    assert receiver.invalid == []


# --- the secrets at rest --------------------------------------------------------------------


async def stored_secret(webhook: dict[str, Any]) -> str:
    """The `secret` column of the webhook's row, as a dump of the database would show it."""
    return (await Webhook.get(id=webhook["databaseId"])).secret


def assert_encrypted(stored: str, secret: str, settings: Settings) -> None:
    assert not stored.startswith("whsec_")
    assert secret.removeprefix("whsec_") not in stored
    assert secret_box(settings).decrypt(stored) == secret


async def test_secrets_are_stored_encrypted_after_create_and_rotate(
    server: Server, receiver: Receiver
) -> None:
    payload = (await server.data(CREATE, {"url": receiver.hook_url, "events": ["RUN_FAILED"]}))[
        "createWebhook"
    ]
    webhook = payload["webhook"]
    assert_encrypted(await stored_secret(webhook), payload["secret"], server.settings)
    rotated = (await server.data(ROTATE, {"id": webhook["id"]}))["rotateWebhookSecret"]
    assert rotated["errors"] == []
    assert_encrypted(await stored_secret(webhook), rotated["secret"], server.settings)
    # No WEBHOOK_SECRET_KEYS in the tests: the key was generated beside the database, 0600.
    assert server.settings.webhook_secret_keys == []
    key_file = server.settings.artifacts.root / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # Signed with the rotated secret, decrypted for the delivery: the receiver verifies it.
    receiver.secret = rotated["secret"]
    run = await running_run()
    assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")
    (delivery,) = await settled(server, webhook)
    assert delivery["status"] == "SUCCEEDED"
    assert len(receiver.accepted) == 1
    assert receiver.invalid == []


async def test_a_plain_text_secret_signs_then_is_stored_encrypted(
    server: Server, receiver: Receiver
) -> None:
    """A row written before secrets were encrypted holds `whsec_...`: it is read as is,
    signs the delivery, and is encrypted in place."""
    webhook = await create_webhook(server, receiver, ["RUN_FAILED"])
    plain = new_secret()
    await Webhook.filter(id=webhook["databaseId"]).update(secret=plain)
    receiver.secret = plain
    run = await running_run()
    assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")

    (delivery,) = await settled(server, webhook)
    assert delivery["status"] == "SUCCEEDED"
    (received,) = receiver.of_type("run.failed")
    Verifier(plain).verify(received.raw, received.headers)
    assert receiver.invalid == []
    assert_encrypted(await stored_secret(webhook), plain, server.settings)


async def test_a_secret_no_key_opens_fails_its_delivery_saying_why(
    server: Server, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Encrypted with a key this server does not have (another process's key file): the
    delivery fails with that message and is logged; nothing is sent, the dispatcher goes on."""
    caplog.set_level(logging.INFO, logger="server.webhook_dispatcher")
    webhook = await create_webhook(server, receiver, ["RUN_FAILED"])
    foreign = SecretBox([new_key()]).encrypt(new_secret())
    await Webhook.filter(id=webhook["databaseId"]).update(secret=foreign)
    run = await running_run()
    assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")

    (delivery,) = await settled(server, webhook)
    assert delivery["status"] == "FAILED"
    assert delivery["attempts"] == server.settings.webhook_max_attempts
    assert delivery["lastStatusCode"] is None
    assert "cannot be decrypted" in delivery["lastError"]
    assert "WEBHOOK_SECRET_KEYS" in delivery["lastError"]
    assert receiver.attempts == 0
    logged = [r.getMessage() for r in caplog.records if "cannot be decrypted" in r.getMessage()]
    assert any(f"webhook delivery {delivery['databaseId']} " in line for line in logged)
    assert await stored_secret(webhook) == foreign  # left as it was, for the right key

    # The dispatcher is still at work: a webhook with a readable secret gets its events.
    other = await create_webhook(server, receiver, ["RUN_FAILED"])
    run = await running_run()
    assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="y")
    (fine,) = await settled(server, other)
    assert fine["status"] == "SUCCEEDED"


async def test_the_key_file_is_generated_once_0600_and_shared(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without WEBHOOK_SECRET_KEYS: processes starting at once agree on one generated key,
    logged once; WEBHOOK_SECRET_KEYS set, no file is written."""
    caplog.set_level(logging.INFO, logger="server.webhook_keys")
    settings = Settings(artifacts_dir=tmp_path / "artifacts")
    boxes = await asyncio.gather(*(asyncio.to_thread(secret_box, settings) for _ in range(8)))
    token = boxes[0].encrypt("whsec_x")
    assert all(box.decrypt(token) == "whsec_x" for box in boxes)
    key_file = tmp_path / "artifacts" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(path.name for path in key_file.parent.iterdir()) == [KEY_FILE]
    generated = [r for r in caplog.records if "WEBHOOK_SECRET_KEYS is not set" in r.getMessage()]
    assert len(generated) == 1
    assert secret_box(settings).decrypt(token) == "whsec_x"  # found again at the next start

    explicit = Settings(artifacts_dir=tmp_path / "elsewhere", webhook_secret_keys=new_key())
    secret_box(explicit)
    assert not (tmp_path / "elsewhere").exists()


# A fixed good key beside a bad one: a key made at collection would differ between the
# pytest-xdist workers, which must collect the same test ids.
GOOD_KEY = "fSbO92zECVrjLVb9HNVeugNBiiXgbpEFJvmAhHb9eng="


@pytest.mark.parametrize("value", ["not-a-key", f"{GOOD_KEY},short"], ids=["bad", "good-then-bad"])
def test_a_bad_webhook_secret_key_is_refused_without_showing_it(value: str) -> None:
    from pydantic import ValidationError

    from server.settings import settings_errors

    with pytest.raises(ValidationError) as caught:
        Settings(webhook_secret_keys=value)
    (line,) = settings_errors(caught.value)
    assert line.startswith("setting WEBHOOK_SECRET_KEYS is invalid: key ")
    assert "is not a Fernet key" in line
    assert value.split(",")[-1] not in line


async def test_alias_set_moved_and_deleted_are_announced(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["ALIAS_CHANGED"])
    first, second = [await train_completed(server.data, trees=3) for _ in range(2)]
    alias = f"hook-{uuid.uuid4().hex[:8]}"
    await set_alias(server, alias, first["id"])
    await set_alias(server, alias, second["id"])
    deleted = await server.data(
        "mutation D($a: String!) { deleteModelAlias(alias: $a) { deletedAlias } }", {"a": alias}
    )
    assert deleted["deleteModelAlias"]["deletedAlias"] == alias
    await settled(server, webhook, count=3)
    events = sorted(
        (item.body["data"] for item in receiver.of_type("alias.changed")),
        key=lambda data: data["changedAt"],
    )
    events = [data for data in events if data["alias"] == alias]
    assert [(data["action"], data["run"], data["previousRun"]) for data in events] == [
        ("SET", ref(first), None),
        ("SET", ref(second), ref(first)),
        ("DELETED", None, ref(second)),
    ]
    assert all(data["changedByUsername"] == "drh-user" for data in events)


def ref(run: dict[str, Any]) -> dict[str, Any]:
    return {"id": run["id"], "databaseId": run["databaseId"], "modelVersion": run["modelVersion"]}


async def fail_then_roll_back(run_id: int) -> None:
    async with in_transaction():
        assert await move_run(run_id, RunStatus.RUNNING, RunStatus.FAILED, error_message="boom")
        raise RuntimeError("roll back")


async def test_run_failed_is_recorded_in_the_transaction_of_the_move(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["RUN_FAILED"])
    # A move that rolls back leaves no event; a move that does not happen writes none.
    rolled_back = await running_run()
    events_before = await WebhookEvent.all().count()
    with pytest.raises(RuntimeError, match="roll back"):
        await fail_then_roll_back(rolled_back.id)
    assert (await TrainingRun.get(id=rolled_back.id)).status == RunStatus.RUNNING
    assert not await move_run(
        rolled_back.id, RunStatus.RUNNING, RunStatus.FAILED, only_if={"worker": "nobody"}
    )
    assert await WebhookEvent.all().count() == events_before

    assert await move_run(
        rolled_back.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="worker lost"
    )
    (delivery,) = await settled(server, webhook)
    assert delivery["status"] == "SUCCEEDED"
    (received,) = receiver.of_type("run.failed")
    assert received.body["data"]["databaseId"] == rolled_back.id
    assert received.body["data"]["errorMessage"] == "worker lost"
    assert received.body["data"]["status"] == "FAILED"


# --- retries, attempts used up, redelivery, timeouts, redirects ----------------------------


async def test_failed_attempts_are_retried_with_exponential_backoff(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["RUN_FAILED"])
    receiver.fail_next = 2
    run = await running_run()
    assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")

    (delivery,) = await settled(server, webhook)
    assert delivery["status"] == "SUCCEEDED"
    assert delivery["attempts"] == 3
    log = delivery["attemptLog"]
    assert [(a["attempt"], a["statusCode"], a["error"]) for a in log] == [
        (1, 500, "HTTP 500"),
        (2, 500, "HTTP 500"),
        (3, 200, None),
    ]
    times = [datetime.fromisoformat(a["attemptedAt"]) for a in log]
    base = server.settings.webhook_retry_base_seconds
    # Recorded when each attempt ended: the gaps are at least the backoff, base then 2*base.
    assert (times[1] - times[0]).total_seconds() >= base * 0.9
    assert (times[2] - times[1]).total_seconds() >= 2 * base * 0.9
    assert len(receiver.of_type("run.failed")) == 1


async def test_attempts_used_up_make_it_failed_and_redeliver_sends_it_again(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["RUN_FAILED"])
    receiver.fail_all = True
    run = await running_run()
    assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")

    (delivery,) = await settled(server, webhook)
    assert delivery["status"] == "FAILED"
    assert delivery["attempts"] == server.settings.webhook_max_attempts
    assert delivery["lastStatusCode"] == 503
    assert receiver.attempts == server.settings.webhook_max_attempts

    receiver.fail_all = False
    redelivered = (await server.data(REDELIVER, {"id": delivery["id"]}))["redeliverWebhook"]
    assert redelivered["errors"] == []
    (again,) = await settled(server, webhook)
    assert again["status"] == "SUCCEEDED"
    assert again["messageId"] == delivery["messageId"]
    assert len(again["attemptLog"]) == server.settings.webhook_max_attempts + 1
    assert list(receiver.accepted) == [delivery["messageId"]]

    missing = (await server.data(REDELIVER, {"id": "999999999"}))["redeliverWebhook"]
    assert missing == {"delivery": None, "errors": [{"code": "NOT_FOUND"}]}


async def test_a_slow_receiver_is_cut_off_at_the_timeout(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["RUN_FAILED"])
    timeout = server.settings.webhook_timeout_seconds
    receiver.delay_seconds = timeout + 3
    run = await running_run()
    assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")

    async def first_attempt() -> dict[str, Any] | None:
        found = await deliveries(server, webhook)
        return found[0] if found and found[0]["attemptLog"] else None

    delivery = await wait_for(first_attempt, timeout=30, what="the first attempt")
    receiver.delay_seconds = 0
    attempt = delivery["attemptLog"][0]
    assert attempt["statusCode"] is None
    assert attempt["error"] == f"timed out after {timeout:g} s"
    assert timeout * 1000 * 0.9 <= attempt["durationMs"] < (timeout + 2) * 1000


async def test_a_slow_receiver_holds_no_other_delivery(server: Server, receiver: Receiver) -> None:
    slow_hook = await create_webhook(server, receiver, ["RUN_FAILED"])
    receiver.delay_seconds = server.settings.webhook_timeout_seconds + 3
    async with running_receiver() as fast:
        fast_hook = await create_webhook(server, fast, ["RUN_FAILED"])
        for _ in range(2):
            run = await running_run()
            assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")
            await wait_for(
                functools.partial(_has_accepted, fast, len(fast.accepted) + 1),
                timeout=30,
                what="the fast receiver's delivery",
            )
        # Both events reached the fast receiver while the first slow attempt still waits.
        slow = await deliveries(server, slow_hook)
        assert [delivery["attemptLog"] for delivery in slow] == [[], []]
        assert {d["status"] for d in await deliveries(server, fast_hook)} == {"SUCCEEDED"}
    receiver.delay_seconds = 0


async def _has_accepted(receiver: Receiver, count: int) -> bool | None:
    return True if len(receiver.accepted) >= count else None


async def test_redirects_are_not_followed(server: Server, receiver: Receiver) -> None:
    webhook = await create_webhook(server, receiver, ["RUN_FAILED"])
    receiver.redirect = True
    run = await running_run()
    assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")
    (delivery,) = await settled(server, webhook)
    assert delivery["status"] == "FAILED"
    assert {a["statusCode"] for a in delivery["attemptLog"]} == {302}
    assert receiver.redirected_hits == 0


# --- update, deactivate, delete -------------------------------------------------------------


async def test_an_inactive_or_unsubscribed_webhook_gets_nothing_and_delete_removes_it(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["RUN_FAILED"])
    updated = (await server.data(UPDATE, {"id": webhook["id"], "active": False}))["updateWebhook"]
    assert updated["webhook"]["active"] is False
    run = await running_run()
    assert await move_run(run.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")
    changed = (
        await server.data(
            UPDATE, {"id": webhook["id"], "active": True, "events": ["RUN_COMPLETED"]}
        )
    )["updateWebhook"]
    assert changed["webhook"] == {
        "databaseId": webhook["databaseId"],
        "url": webhook["url"],
        "events": ["RUN_COMPLETED"],
        "active": True,
    }
    other = await running_run()
    assert await move_run(other.id, RunStatus.RUNNING, RunStatus.FAILED, error_message="x")
    assert await deliveries(server, webhook) == []

    deleted = (await server.data(DELETE, {"id": webhook["id"]}))["deleteWebhook"]
    assert deleted == {"deletedDatabaseId": webhook["databaseId"], "errors": []}
    assert not await Webhook.exists(id=webhook["databaseId"])
    again = (await server.data(DELETE, {"id": webhook["id"]}))["deleteWebhook"]
    assert again == {"deletedDatabaseId": None, "errors": [{"field": ["id"], "code": "NOT_FOUND"}]}
    assert await WebhookDelivery.filter(webhook_id=webhook["databaseId"]).count() == 0
    assert receiver.attempts == 0


async def test_a_webhook_is_a_node_for_hr_staff_only(server: Server, receiver: Receiver) -> None:
    # given
    webhook = await create_webhook(server, receiver, ["RUN_COMPLETED"])
    query = "query($id: ID!) { node(id: $id) { id ... on Webhook { url } } }"

    # when
    seen = {
        role: await server.data(query, {"id": webhook["id"]}, as_=role)
        for role in ("drh", "manager")
    }

    # then: HR staff read it, as Query.webhook; to a manager it is as absent as a wrong id
    assert seen["drh"]["node"] == {"id": webhook["id"], "url": receiver.hook_url}
    assert seen["manager"]["node"] is None


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("0.0.0.0", "an unspecified address"),
        ("127.0.0.1", "a loopback address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("224.0.0.1", "a multicast address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("8.8.8.8", None),
    ],
)
def test_each_refused_address_is_named_in_plain_words(address: str, why: str | None) -> None:
    assert refused_address(ipaddress.ip_address(address)) == why
