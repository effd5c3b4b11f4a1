"""A scheduled promotion holds a lease (issue 25): when the process moving the alias
took it, renewed while it works, so a promotion whose process died is taken again by
another instead of staying PROMOTING for ever. Existing PROMOTING slots: no lease, taken
again at the next tick."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0019_batch_explain")]

    initial = False

    operations = [
        ops.AddField(
            model_name="ScheduleSlot",
            name="promotion_claimed_at",
            field=fields.DatetimeField(null=True),
        ),
    ]
