"""Webhooks: the subscriptions HR tools register, the outbox of events, and the
deliveries of each event to each subscribed webhook, with every attempt.

Three tables do the work of a message queue inside the database the service already has:
`webhook_event` is the outbox (written in the transaction of the change that caused it:
models/webhook_outbox.py), `webhook_delivery` one row per (event, webhook) that a
dispatcher in any server process claims with a lease (a conditional UPDATE, so two
processes never send one delivery at once, and a killed process's lease simply expires),
`webhook_delivery_attempt` the story of each try. State lives only here, so a restart,
or kill -9 of every process, loses nothing: what was due is still due.

A webhook's signing secret is stored encrypted (models/webhook_secrets.py): every
function here that writes or reads one takes the SecretBox holding the keys.
"""

from __future__ import annotations

import base64
import logging
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.expressions import Q
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.webhook_secrets import SecretBox, SecretKeyError, is_plain

logger = logging.getLogger("models.webhooks")

URL_MAX_LENGTH = 2000
DESCRIPTION_MAX_LENGTH = 500
ERROR_MAX_LENGTH = 500
# Standard Webhooks: a secret is "whsec_" + base64 of 24 to 64 random bytes.
SECRET_BYTES = 32


class WebhookEventType(StrEnum):
    """Every event a webhook may subscribe to; the value is the body's `type`."""

    RUN_COMPLETED = "run.completed"
    RUN_FAILED = "run.failed"
    SWEEP_COMPLETED = "sweep.completed"
    ALIAS_CHANGED = "alias.changed"
    EVALUATION_COMPLETED = "evaluation.completed"
    SCHEDULE_FAILED = "schedule.failed"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class Webhook(Model):
    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=URL_MAX_LENGTH)
    # WebhookEventType values ("run.completed", ...).
    events = fields.JSONField[list[str]]()
    description = fields.CharField(max_length=DESCRIPTION_MAX_LENGTH, default="")
    active = fields.BooleanField(default=True)
    # Encrypted (a Fernet token of 164 characters, models/webhook_secrets.py): signing
    # needs the secret itself, so it cannot be hashed, and a dump must not reveal it.
    # Rows written before encryption hold "whsec_..." until start-up or first use.
    secret = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()
    created_by_username = fields.CharField(max_length=150, null=True)
    secret_rotated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook"


class WebhookEvent(Model):
    """The outbox: one row per event, written with the change that caused it."""

    id = fields.BigIntField(primary_key=True)
    # The webhook-id header: the same for every attempt and every webhook of this event.
    message_id = fields.CharField(max_length=64, unique=True)
    event_type = fields.CharField(max_length=64)
    # The body's "data".
    data = fields.JSONField[dict[str, object]]()
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_event"


class WebhookDelivery(Model):
    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[WebhookEvent] = fields.ForeignKeyField(
        "models.WebhookEvent", related_name="deliveries", on_delete=fields.CASCADE
    )
    webhook: fields.ForeignKeyRelation[Webhook] = fields.ForeignKeyField(
        "models.Webhook", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_id: int
    webhook_id: int
    attempt_log: fields.ReverseRelation[WebhookDeliveryAttempt]
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    # Who is sending it, until when: a claim is valid while lease_until is in the future.
    lease_until = fields.DatetimeField(null=True)
    lease_owner = fields.CharField(max_length=64, null=True)
    last_status_code = fields.IntField(null=True)
    last_duration_ms = fields.FloatField(null=True)
    last_error = fields.CharField(max_length=ERROR_MAX_LENGTH, null=True)
    created_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_delivery"
        indexes = (
            # the dispatcher's "what is due"
            Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            # webhookDeliveries of one webhook, newest first
            Index(fields=["webhook_id", "id"], name="webhook_delivery_webhook_id"),
        )


class WebhookDeliveryAttempt(Model):
    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[WebhookDelivery] = fields.ForeignKeyField(
        "models.WebhookDelivery", related_name="attempt_log", on_delete=fields.CASCADE
    )
    delivery_id: int
    attempt = fields.IntField()
    status_code = fields.IntField(null=True)
    duration_ms = fields.FloatField()
    error = fields.CharField(max_length=ERROR_MAX_LENGTH, null=True)
    attempted_at = fields.DatetimeField()

    class Meta:
        table = "webhook_delivery_attempt"


# --- the subscriptions -------------------------------------------------------------------


async def create_webhook(
    url: str,
    events: list[str],
    description: str,
    created_by: str | None,
    now: datetime,
    box: SecretBox,
) -> tuple[Webhook, str]:
    """The new row and its secret in plain text (to show once; the row holds it encrypted)."""
    secret = new_secret()
    row = await Webhook.create(
        url=url,
        events=events,
        description=description,
        secret=box.encrypt(secret),
        created_at=now,
        created_by_username=created_by,
    )
    return row, secret


async def list_webhooks() -> list[Webhook]:
    return await Webhook.all().order_by("id")


async def get_webhook(webhook_id: int) -> Webhook | None:
    return await Webhook.get_or_none(id=webhook_id)


async def update_webhook(webhook_id: int, changes: dict[str, object]) -> Webhook | None:
    if changes:
        await Webhook.filter(id=webhook_id).update(**changes)
    return await Webhook.get_or_none(id=webhook_id)


async def delete_webhook(webhook_id: int) -> bool:
    """Remove it with its deliveries (and their attempts); the events stay for others."""
    return bool(await Webhook.filter(id=webhook_id).delete())


async def rotate_secret(
    webhook_id: int, now: datetime, box: SecretBox
) -> tuple[Webhook, str] | None:
    """A new secret for the webhook: the row and the secret in plain text, or None."""
    secret = new_secret()
    moved = await Webhook.filter(id=webhook_id).update(
        secret=box.encrypt(secret), secret_rotated_at=now
    )
    row = await Webhook.get_or_none(id=webhook_id) if moved else None
    return (row, secret) if row is not None else None


# --- the secrets at rest -------------------------------------------------------------------


async def _store_rewrapped(webhook_id: int, stored: str, box: SecretBox) -> bool:
    """Replace `stored` by its encryption with the first key, if the row still holds
    `stored` (a conditional UPDATE: a rotation or another process that got there first
    wins, and doing it twice changes nothing more); True if this call wrote it."""
    return bool(
        await Webhook.filter(id=webhook_id, secret=stored).update(secret=box.rewrapped(stored))
    )


async def signing_secret(webhook: Webhook, box: SecretBox) -> str:
    """The secret that signs a delivery of `webhook`; SecretKeyError if no key opens it.

    A row still in plain text is used as is, then stored encrypted."""
    secret = box.decrypt(webhook.secret)
    if is_plain(webhook.secret) and await _store_rewrapped(webhook.id, webhook.secret, box):
        logger.info("webhook %s signing secret encrypted at rest (was plain text)", webhook.id)
    return secret


async def encrypt_stored_secrets(box: SecretBox) -> tuple[int, int]:
    """Encrypt every plain-text secret and re-encrypt with the first key those an older
    key made (the key-encryption key's rotation); (rows rewritten, rows no key opens).

    Safe with several processes at once: each write is conditional on the value read."""
    rewritten = unreadable = 0
    rows: list[Any] = await Webhook.all().order_by("id").values_list("id", "secret")
    for webhook_id, stored in rows:
        if box.is_current(stored):
            continue
        try:
            rewritten += await _store_rewrapped(webhook_id, stored, box)
        except SecretKeyError:
            unreadable += 1
    return rewritten, unreadable


# --- deliveries --------------------------------------------------------------------------


async def list_deliveries(
    webhook_id: int | None, status: DeliveryStatus | None, limit: int
) -> list[WebhookDelivery]:
    """Newest first, each with its event and its attempts."""
    query = WebhookDelivery.all()
    if webhook_id is not None:
        query = query.filter(webhook_id=webhook_id)
    if status is not None:
        query = query.filter(status=status)
    return await query.order_by("-id").limit(limit).prefetch_related("event", "attempt_log")


async def get_delivery(delivery_id: int) -> WebhookDelivery | None:
    return (
        await WebhookDelivery.filter(id=delivery_id)
        .prefetch_related("event", "attempt_log")
        .first()
    )


async def redeliver(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Send the delivery again from its first attempt (same webhook-id: a receiver that
    already took it knows it); its earlier attempts stay in its log."""
    moved = await WebhookDelivery.filter(id=delivery_id).update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        lease_until=None,
        lease_owner=None,
    )
    return await get_delivery(delivery_id) if moved else None


async def claim_due(owner: str, now: datetime, lease: timedelta, limit: int) -> list[int]:
    """Lease up to `limit` due deliveries to `owner` (a name unique to this claim); their ids.

    The candidates are read, then taken by one conditional UPDATE that repeats the
    conditions: a row another process leased in between no longer matches (PostgreSQL
    re-checks the WHERE on the row it waited for; SQLite has one writer at a time), so a
    delivery is never held by two live owners. A lease outlives the attempt's timeout:
    it expires only if its owner died, and then the next dispatcher takes the delivery.
    """
    free = Q(lease_until=None) | Q(lease_until__lt=now)
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    candidates = await (
        WebhookDelivery.filter(due & free)
        .order_by("next_attempt_at")
        .limit(limit)
        .values_list("id", flat=True)
    )
    if not candidates:
        return []
    taken = await WebhookDelivery.filter(Q(id__in=list(candidates)) & due & free).update(
        lease_until=now + lease, lease_owner=owner
    )
    if not taken:
        return []
    claimed: list[Any] = await WebhookDelivery.filter(
        id__in=list(candidates), lease_owner=owner
    ).values_list("id", flat=True)
    return [int(value) for value in claimed]


async def leased_deliveries(ids: list[int]) -> list[WebhookDelivery]:
    return await WebhookDelivery.filter(id__in=ids).prefetch_related("event", "webhook")


async def record_attempt(
    delivery: WebhookDelivery,
    owner: str,
    *,
    attempt: int,
    status_code: int | None,
    duration_ms: float,
    error: str | None,
    succeeded: bool,
    next_attempt_at: datetime | None,
    now: datetime,
) -> bool:
    """Write one attempt and the delivery's new state, if `owner` still holds its lease
    (a lease lost to a slower-than-expected attempt is not overwritten); True if written.

    `next_attempt_at` None with a failure: the attempts are used up, the delivery FAILED.
    """
    error = error[:ERROR_MAX_LENGTH] if error else error
    if succeeded:
        status = DeliveryStatus.SUCCEEDED
    elif next_attempt_at is None:
        status = DeliveryStatus.FAILED
    else:
        status = DeliveryStatus.PENDING
    async with in_transaction() as connection:
        updated = (
            await WebhookDelivery.filter(id=delivery.id, lease_owner=owner)
            .using_db(connection)
            .update(
                status=status,
                attempts=attempt,
                next_attempt_at=next_attempt_at or now,
                lease_until=None,
                lease_owner=None,
                last_status_code=status_code,
                last_duration_ms=duration_ms,
                last_error=error,
                delivered_at=now if succeeded else None,
            )
        )
        if not updated:
            return False
        await WebhookDeliveryAttempt.create(
            delivery_id=delivery.id,
            attempt=attempt,
            status_code=status_code,
            duration_ms=duration_ms,
            error=error,
            attempted_at=now,
            using_db=connection,
        )
    return True


async def delivery_counts() -> dict[str, int]:
    """Deliveries per status (the bench and operators' checks)."""
    counts = {status.value: 0 for status in DeliveryStatus}
    for status in DeliveryStatus:
        counts[status.value] = await WebhookDelivery.filter(status=status).count()
    return counts
