"""The webhook outbox's table description, as its model's docstring gives it (a COMMENT on
PostgreSQL; nothing on SQLite): written by `tortoise makemigrations` so that the
migrations describe the models exactly (tests/api/test_migrations.py)."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0020_promotion_lease")]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name="WebhookEvent",
            options={
                "table": "webhook_event",
                "app": "models",
                "pk_attr": "id",
                "table_description": "The outbox: one row per event, written with the change that caused it.",
            },
        ),
    ]
