"""A schedule's promotion may go through setModelAlias's gate (issue 25 with issue 24):
the gate's dataset, metric and minimum improvement, as JSON. Existing schedules: none."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0016_schedules")]

    initial = False

    operations = [
        ops.AddField(
            model_name="TrainingSchedule",
            name="promote_gate",
            field=fields.JSONField(null=True),
        ),
    ]
