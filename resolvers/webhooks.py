"""createWebhook, updateWebhook, deleteWebhook, rotateWebhookSecret, redeliverWebhook,
webhooks, webhook, webhookDeliveries: HR tools told of runs and promotions as they happen.

Refused input comes back as FieldErrors and changes nothing. A webhook's signing secret
is returned by createWebhook and rotateWebhookSecret only, once: no query reads it, and
the database holds it encrypted with WEBHOOK_SECRET_KEYS (models/webhook_secrets.py). The
tables and the lease are in models/webhooks.py, the outbox in models/webhook_outbox.py,
the sending in server/webhook_dispatcher.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from models.accounts import Identity
from models.webhook_secrets import SecretBox
from models.webhooks import (
    DESCRIPTION_MAX_LENGTH,
    URL_MAX_LENGTH,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEvent,
    WebhookEventType,
    get_webhook,
    list_deliveries,
    list_webhooks,
    redeliver,
)
from models.webhooks import create_webhook as create_row
from models.webhooks import delete_webhook as delete_row
from models.webhooks import rotate_secret as rotate_row
from models.webhooks import update_webhook as update_row
from resolvers.errors import ApiError, FieldError, FieldErrorCode
from resolvers.ids import parse_id
from resolvers.webhook_urls import UrlRefused, check_url

__all__ = [
    "DeliveryStatus",
    "Webhook",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEvent",
    "WebhookEventType",
    "create_webhook",
    "delete_webhook",
    "get_webhook",
    "list_webhooks",
    "parse_id",
    "redeliver_webhook",
    "rotate_webhook_secret",
    "update_webhook",
    "webhook_by_id",
    "webhook_deliveries",
]

logger = logging.getLogger("resolvers.webhooks")

MAX_DELIVERIES_PAGE = 100


@dataclass
class WebhookOutcome:
    webhook: Webhook | None = None
    # Only from createWebhook and rotateWebhookSecret: the one time it is shown.
    secret: str | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class DeleteWebhookOutcome:
    deleted_id: int | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class RedeliverOutcome:
    delivery: WebhookDelivery | None = None
    errors: list[FieldError] = field(default_factory=list)


def _not_found(argument: str, raw: str, what: str) -> FieldError:
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    return FieldError([argument], f"no {what} {shown}", FieldErrorCode.NOT_FOUND)


async def _url_errors(url: str, allow_private: bool) -> list[FieldError]:
    if len(url) > URL_MAX_LENGTH:
        return [
            FieldError(["url"], f"at most {URL_MAX_LENGTH} characters", FieldErrorCode.OUT_OF_RANGE)
        ]
    try:
        await check_url(url, allow_private=allow_private)
    except UrlRefused as exc:
        return [FieldError(["url"], str(exc), FieldErrorCode.URL_NOT_ALLOWED)]
    return []


def _events_errors(events: list[WebhookEventType]) -> list[FieldError]:
    if not events:
        return [FieldError(["events"], "subscribe to at least one event", FieldErrorCode.INVALID)]
    return []


def _description_errors(description: str) -> list[FieldError]:
    if len(description) > DESCRIPTION_MAX_LENGTH:
        return [
            FieldError(
                ["description"],
                f"at most {DESCRIPTION_MAX_LENGTH} characters",
                FieldErrorCode.OUT_OF_RANGE,
            )
        ]
    return []


def _event_values(events: list[WebhookEventType]) -> list[str]:
    return list(dict.fromkeys(event.value for event in events))


async def create_webhook(
    viewer: Identity | None,
    url: str,
    events: list[WebhookEventType],
    description: str,
    *,
    allow_private: bool,
    box: SecretBox,
) -> WebhookOutcome:
    url = url.strip()
    errors = [
        *(await _url_errors(url, allow_private)),
        *_events_errors(events),
        *_description_errors(description),
    ]
    if errors:
        return WebhookOutcome(errors=errors)
    username = viewer.username if viewer else None
    row, secret = await create_row(
        url, _event_values(events), description, username, datetime.now(UTC), box
    )
    logger.info(
        "webhook %s created by %s for %s (%s)", row.id, username or "-", url, ",".join(row.events)
    )
    return WebhookOutcome(webhook=row, secret=secret)


async def update_webhook(
    viewer: Identity | None,
    raw_id: str,
    *,
    url: str | None,
    events: list[WebhookEventType] | None,
    description: str | None,
    active: bool | None,
    allow_private: bool,
) -> WebhookOutcome:
    webhook_id = parse_id(raw_id, "Webhook")
    if webhook_id is None or await get_webhook(webhook_id) is None:
        return WebhookOutcome(errors=[_not_found("id", raw_id, "webhook")])
    changes: dict[str, object] = {}
    errors: list[FieldError] = []
    if url is not None:
        url = url.strip()
        errors += await _url_errors(url, allow_private)
        changes["url"] = url
    if events is not None:
        errors += _events_errors(events)
        changes["events"] = _event_values(events)
    if description is not None:
        errors += _description_errors(description)
        changes["description"] = description
    if active is not None:
        changes["active"] = active
    if errors:
        return WebhookOutcome(errors=errors)
    row = await update_row(webhook_id, changes)
    if row is None:  # deleted meanwhile
        return WebhookOutcome(errors=[_not_found("id", raw_id, "webhook")])
    logger.info(
        "webhook %s updated by %s (%s)",
        webhook_id,
        viewer.username if viewer else "-",
        ", ".join(changes) or "nothing",
    )
    return WebhookOutcome(webhook=row)


async def delete_webhook(viewer: Identity | None, raw_id: str) -> DeleteWebhookOutcome:
    webhook_id = parse_id(raw_id, "Webhook")
    if webhook_id is None or not await delete_row(webhook_id):
        return DeleteWebhookOutcome(errors=[_not_found("id", raw_id, "webhook")])
    logger.info("webhook %s deleted by %s", webhook_id, viewer.username if viewer else "-")
    return DeleteWebhookOutcome(deleted_id=webhook_id)


async def rotate_webhook_secret(
    viewer: Identity | None, raw_id: str, *, box: SecretBox
) -> WebhookOutcome:
    """A new secret signs every delivery from now on, retries of older events included;
    the old one stops at once."""
    webhook_id = parse_id(raw_id, "Webhook")
    rotated = None if webhook_id is None else await rotate_row(webhook_id, datetime.now(UTC), box)
    if rotated is None:
        return WebhookOutcome(errors=[_not_found("id", raw_id, "webhook")])
    row, secret = rotated
    logger.info("webhook %s secret rotated by %s", row.id, viewer.username if viewer else "-")
    return WebhookOutcome(webhook=row, secret=secret)


async def redeliver_webhook(viewer: Identity | None, raw_id: str) -> RedeliverOutcome:
    delivery_id = parse_id(raw_id, "WebhookDelivery")
    row = None if delivery_id is None else await redeliver(delivery_id, datetime.now(UTC))
    if row is None:
        return RedeliverOutcome(errors=[_not_found("deliveryId", raw_id, "webhook delivery")])
    logger.info(
        "webhook delivery %s (webhook %s) redelivery asked by %s",
        row.id,
        row.webhook_id,
        viewer.username if viewer else "-",
    )
    return RedeliverOutcome(delivery=row)


async def webhook_by_id(raw_id: str) -> Webhook | None:
    webhook_id = parse_id(raw_id, "Webhook")
    return None if webhook_id is None else await get_webhook(webhook_id)


async def webhook_deliveries(
    raw_webhook_id: str | None, status: DeliveryStatus | None, first: int
) -> list[WebhookDelivery]:
    if not 1 <= first <= MAX_DELIVERIES_PAGE:
        raise ApiError(f"first must be 1 to {MAX_DELIVERIES_PAGE}", argument="first")
    webhook_id = None
    if raw_webhook_id is not None:
        webhook_id = parse_id(raw_webhook_id, "Webhook")
        if webhook_id is None:
            return []
    return await list_deliveries(webhook_id, status, first)
