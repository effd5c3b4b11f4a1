"""A schedule may start a sweep at each slot instead of one run (issue 25 with issue 23):
the stored StartSweepInput, and on each slot the sweep it started.

Existing schedules are train schedules: `sweep` stays null for them and `train` keeps its
input. `train` is left NOT NULL (a sweep schedule stores `{}` there): making it nullable
would rebuild the table on SQLite, and dropping the old table would cascade to the slots.
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0017_schedule_gate")]

    initial = False

    operations = [
        ops.AddField(
            model_name="TrainingSchedule",
            name="sweep",
            field=fields.JSONField(null=True),
        ),
        ops.AddField(
            model_name="ScheduleSlot",
            name="sweep",
            field=fields.ForeignKeyField(
                "models.Sweep",
                source_field="sweep_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="schedule_slots",
                on_delete=OnDelete.SET_NULL,
            ),
        ),
        ops.AddIndex(
            model_name="ScheduleSlot",
            index=Index(fields=("sweep_id",), name="schedule_slot_sweep"),
        ),
    ]
