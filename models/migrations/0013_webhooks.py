"""Webhooks, the outbox of their events, deliveries and attempts (issue 25, section 2)."""

from orjson import loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.webhooks import DeliveryStatus


class Migration(migrations.Migration):
    dependencies = [("models", "0012_explanations")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Webhook",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("url", fields.CharField(max_length=2000)),
                ("events", fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ("description", fields.CharField(default="", max_length=500)),
                ("active", fields.BooleanField(default=True)),
                ("secret", fields.CharField(max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("created_by_username", fields.CharField(null=True, max_length=150)),
                ("secret_rotated_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "webhook", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WebhookEvent",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("message_id", fields.CharField(unique=True, max_length=64)),
                ("event_type", fields.CharField(max_length=64)),
                ("data", fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "webhook_event", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WebhookDelivery",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("event", fields.ForeignKeyField("models.WebhookEvent", source_field="event_id", db_constraint=True, to_field="id", related_name="deliveries", on_delete=OnDelete.CASCADE)),
                ("webhook", fields.ForeignKeyField("models.Webhook", source_field="webhook_id", db_constraint=True, to_field="id", related_name="deliveries", on_delete=OnDelete.CASCADE)),
                ("status", fields.CharEnumField(default=DeliveryStatus.PENDING, description="PENDING: PENDING\nSUCCEEDED: SUCCEEDED\nFAILED: FAILED", enum_type=DeliveryStatus, max_length=16)),
                ("attempts", fields.IntField(default=0)),
                ("next_attempt_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("lease_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("lease_owner", fields.CharField(null=True, max_length=64)),
                ("last_status_code", fields.IntField(null=True)),
                ("last_duration_ms", fields.FloatField(null=True)),
                ("last_error", fields.CharField(null=True, max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("delivered_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "webhook_delivery",
                "app": "models",
                "indexes": [
                    Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
                    Index(fields=["webhook_id", "id"], name="webhook_delivery_webhook_id"),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WebhookDeliveryAttempt",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("delivery", fields.ForeignKeyField("models.WebhookDelivery", source_field="delivery_id", db_constraint=True, to_field="id", related_name="attempt_log", on_delete=OnDelete.CASCADE)),
                ("attempt", fields.IntField()),
                ("status_code", fields.IntField(null=True)),
                ("duration_ms", fields.FloatField()),
                ("error", fields.CharField(null=True, max_length=500)),
                ("attempted_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "webhook_delivery_attempt", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
