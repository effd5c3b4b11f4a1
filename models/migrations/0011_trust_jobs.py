"""Batch predictions and model evaluations (issue 24), and the evaluations a promotion
gate kept on each alias assignment."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.training_runs import RunStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0010_sweeps")]

    initial = False

    operations = [
        ops.CreateModel(
            name="BatchPrediction",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("started_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "heartbeat_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("worker", fields.CharField(null=True, max_length=255)),
                ("cancel_requested", fields.BooleanField(default=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=RunStatus.QUEUED,
                        description="QUEUED: QUEUED\nRUNNING: RUNNING\nCOMPLETED: COMPLETED\nFAILED: FAILED\nCANCELLED: CANCELLED",
                        enum_type=RunStatus,
                        max_length=16,
                    ),
                ),
                ("progress", fields.FloatField(default=0.0)),
                ("error_message", fields.TextField(null=True, unique=False)),
                ("model_requested", fields.CharField(max_length=64)),
                ("model_version", fields.CharField(max_length=64)),
                ("dataset_path", fields.CharField(max_length=255)),
                ("dataset_sha256", fields.CharField(null=True, max_length=64)),
                ("created_by_username", fields.CharField(null=True, max_length=150)),
                (
                    "run",
                    fields.ForeignKeyField(
                        "models.TrainingRun",
                        source_field="run_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="batch_predictions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="batch_predictions",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("rows_total", fields.BigIntField(null=True)),
                ("rows_done", fields.BigIntField(default=0)),
                ("rows_scored", fields.BigIntField(null=True)),
                ("rows_rejected", fields.BigIntField(null=True)),
                ("output_path", fields.CharField(null=True, max_length=255)),
                ("output_sha256", fields.CharField(null=True, max_length=64)),
                ("rejects_path", fields.CharField(null=True, max_length=255)),
                ("rejects_sha256", fields.CharField(null=True, max_length=64)),
            ],
            options={"table": "batch_prediction", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ModelEvaluation",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("started_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "heartbeat_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("worker", fields.CharField(null=True, max_length=255)),
                ("cancel_requested", fields.BooleanField(default=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=RunStatus.QUEUED,
                        description="QUEUED: QUEUED\nRUNNING: RUNNING\nCOMPLETED: COMPLETED\nFAILED: FAILED\nCANCELLED: CANCELLED",
                        enum_type=RunStatus,
                        max_length=16,
                    ),
                ),
                ("progress", fields.FloatField(default=0.0)),
                ("error_message", fields.TextField(null=True, unique=False)),
                ("model_requested", fields.CharField(max_length=64)),
                ("model_version", fields.CharField(max_length=64)),
                ("dataset_path", fields.CharField(max_length=255)),
                ("dataset_sha256", fields.CharField(null=True, max_length=64)),
                ("created_by_username", fields.CharField(null=True, max_length=150)),
                (
                    "run",
                    fields.ForeignKeyField(
                        "models.TrainingRun",
                        source_field="run_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="evaluations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="model_evaluations",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("metrics", fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ("drift", fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={"table": "model_evaluation", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.AddField(
            model_name="ModelAliasAssignment",
            name="evaluation_ids",
            field=fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
    ]
