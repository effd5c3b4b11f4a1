"""Sweeps (issue 23): the sweep table, and on each training run the sweep it is a trial of,
its trial number (unique per sweep: a trial is never started twice, whichever process
drives the sweep), its intermediate objective values and whether it was pruned."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from models.sweeps import SweepStatus


class Migration(migrations.Migration):
    dependencies = [("models", "0009_algorithm_columns")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Sweep",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("name", fields.CharField(max_length=100)),
                ("notes", fields.TextField(default="")),
                ("status", fields.CharEnumField(SweepStatus, default=SweepStatus.QUEUED, max_length=16)),
                ("input", fields.JSONField()),
                ("objective", fields.CharField(max_length=32)),
                ("method", fields.CharField(max_length=16)),
                ("pruning", fields.CharField(max_length=16)),
                ("max_trials", fields.IntField()),
                ("parallelism", fields.IntField()),
                ("time_budget_seconds", fields.FloatField(null=True)),
                ("seed", fields.IntField()),
                ("dataset_path", fields.CharField(max_length=255)),
                ("best_run", fields.ForeignKeyField("models.TrainingRun", source_field="best_run_id", null=True, db_constraint=True, to_field="id", related_name=False, on_delete=OnDelete.SET_NULL)),
                ("best_value", fields.FloatField(null=True)),
                ("best_value_history", fields.JSONField(default=list)),
                ("parameter_importance", fields.JSONField(null=True)),
                ("cancel_requested", fields.BooleanField(default=False)),
                ("error_message", fields.TextField(null=True)),
                ("created_by", fields.ForeignKeyField("models.User", source_field="created_by_id", null=True, db_constraint=True, to_field="id", related_name="sweeps", on_delete=OnDelete.SET_NULL)),
                ("created_by_username", fields.CharField(null=True, max_length=150)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("started_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("finished_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("driver", fields.CharField(null=True, max_length=255)),
                ("lease_expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "sweep", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.AddField(
            model_name="TrainingRun",
            name="sweep",
            field=fields.ForeignKeyField(
                "models.Sweep",
                source_field="sweep_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="trials",
                on_delete=OnDelete.SET_NULL,
            ),
        ),
        ops.AddField(model_name="TrainingRun", name="trial_number", field=fields.IntField(null=True)),
        ops.AddField(
            model_name="TrainingRun", name="intermediate_values", field=fields.JSONField(null=True)
        ),
        ops.AddField(
            model_name="TrainingRun", name="pruned", field=fields.BooleanField(db_default=False)
        ),
        ops.RunSQL(
            "CREATE UNIQUE INDEX training_run_sweep_trial ON training_run (sweep_id, trial_number)",
            "DROP INDEX IF EXISTS training_run_sweep_trial",
        ),
    ]
