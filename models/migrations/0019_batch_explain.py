"""Batch predictions may explain each row (issue 24, sections 1-2): the reasons asked for
per row and the units of their contributions. Existing jobs: 0 reasons, no units (they
were scored without reasons).

Chained after 0018_schedule_sweeps (written in parallel on another branch: merge that one
first, or this chain has a missing link)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0018_schedule_sweeps")]

    initial = False

    operations = [
        ops.AddField(
            model_name="BatchPrediction",
            name="explain",
            field=fields.SmallIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="BatchPrediction",
            name="reason_units",
            field=fields.CharField(max_length=16, null=True),
        ),
    ]
