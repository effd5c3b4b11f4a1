"""Webhooks as GraphQL types: the subscriptions, their deliveries and each attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import strawberry
from strawberry import relay

from resolvers.webhooks import DeliveryStatus, WebhookEventType

__all__ = [
    "CreateWebhookPayload",
    "DeleteWebhookPayload",
    "DeliveryStatus",
    "RedeliverWebhookPayload",
    "RotateWebhookSecretPayload",
    "UpdateWebhookPayload",
    "Webhook",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEventType",
]
from resolvers.webhooks import Webhook as WebhookRow
from resolvers.webhooks import WebhookDelivery as DeliveryRow
from resolvers.webhooks import WebhookDeliveryAttempt as AttemptRow
from schema.context import Info
from schema.errors import UserError

strawberry.enum(
    WebhookEventType,
    name="WebhookEventType",
    description=(
        "What a webhook may subscribe to; a delivery's body has `type` run.completed, "
        "run.failed, sweep.completed, alias.changed, evaluation.completed or schedule.failed."
    ),
)
strawberry.enum(
    DeliveryStatus,
    name="WebhookDeliveryStatus",
    description=(
        "PENDING: due now or after its backoff; SUCCEEDED: the receiver answered 2xx; "
        "FAILED: WEBHOOK_MAX_ATTEMPTS attempts failed (redeliverWebhook starts it again)."
    ),
)


@strawberry.type(description="An http(s) endpoint told of events, signed per Standard Webhooks.")
class Webhook(relay.Node):
    id: relay.NodeID[int]
    url: str
    description: str
    active: bool = strawberry.field(description="false: no delivery is made for new events.")
    created_at: datetime
    created_by_username: str | None
    secret_rotated_at: datetime | None

    @strawberry.field
    def database_id(self, root: strawberry.Parent[WebhookRow]) -> int:
        return root.id

    @strawberry.field(graphql_type=list[WebhookEventType])
    def events(self, root: strawberry.Parent[WebhookRow]) -> list[WebhookEventType]:
        return [WebhookEventType(value) for value in root.events]

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, WebhookRow | cls)


@strawberry.type(description="One try of a delivery.")
class WebhookDeliveryAttempt:
    attempt: int = strawberry.field(description="1 for the first try.")
    status_code: int | None = strawberry.field(description="null: no HTTP answer (see error).")
    duration_ms: float
    error: str | None
    attempted_at: datetime


@strawberry.type(description="One event sent to one webhook, with every attempt.")
class WebhookDelivery(relay.Node):
    id: relay.NodeID[int]
    status: DeliveryStatus
    attempts: int = strawberry.field(description="Attempts made so far.")
    next_attempt_at: datetime = strawberry.field(
        description="When it is (or was) due; after a failure, the end of its backoff."
    )
    last_status_code: int | None
    last_duration_ms: float | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @strawberry.field
    def database_id(self, root: strawberry.Parent[DeliveryRow]) -> int:
        return int(root.id)

    @strawberry.field
    def webhook_database_id(self, root: strawberry.Parent[DeliveryRow]) -> int:
        return root.webhook_id

    @strawberry.field(description="The webhook-id header, the same for every attempt.")
    def message_id(self, root: strawberry.Parent[DeliveryRow]) -> str:
        return root.event.message_id

    @strawberry.field(graphql_type=WebhookEventType)
    def event_type(self, root: strawberry.Parent[DeliveryRow]) -> WebhookEventType:
        return WebhookEventType(root.event.event_type)

    @strawberry.field(description="The body's `data`, as JSON text.")
    def payload(self, root: strawberry.Parent[DeliveryRow]) -> str:
        return orjson.dumps(root.event.data).decode()

    @strawberry.field(
        description="Every attempt, oldest first (a redelivery counts again from 1).",
        graphql_type=list[WebhookDeliveryAttempt],
    )
    def attempt_log(self, root: strawberry.Parent[DeliveryRow]) -> list[AttemptRow]:
        return sorted(root.attempt_log, key=lambda attempt: attempt.id)

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, DeliveryRow | cls)


@strawberry.type
class CreateWebhookPayload:
    webhook: WebhookRow | None = strawberry.field(graphql_type=Webhook | None)
    secret: str | None = strawberry.field(
        description=(
            "The signing secret (whsec_...): shown this once; verify deliveries with it "
            "(Standard Webhooks)."
        )
    )
    errors: list[UserError]


@strawberry.type
class UpdateWebhookPayload:
    webhook: WebhookRow | None = strawberry.field(graphql_type=Webhook | None)
    errors: list[UserError]


@strawberry.type
class DeleteWebhookPayload:
    deleted_database_id: int | None
    errors: list[UserError]


@strawberry.type
class RotateWebhookSecretPayload:
    webhook: WebhookRow | None = strawberry.field(graphql_type=Webhook | None)
    secret: str | None = strawberry.field(
        description="The new signing secret: shown this once; the old one stops at once."
    )
    errors: list[UserError]


@strawberry.type
class RedeliverWebhookPayload:
    delivery: DeliveryRow | None = strawberry.field(graphql_type=WebhookDelivery | None)
    errors: list[UserError]
