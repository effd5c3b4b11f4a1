"""Which algorithm a run trained and all its parameters (trainer/ml/algorithms.py), its
cross-validation metrics when asked, and a sweep trial's objective value (issue 23).

Every existing run trained a RandomForest: its five settings are copied into `parameters`
under scikit-learn's names, so nothing is lost and every run reads the same way.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations import operations as ops

SQLITE_BACKFILL = (
    "UPDATE training_run SET parameters = json_object("
    "'n_estimators', n_estimators, 'max_depth', max_depth, "
    "'min_samples_split', min_samples_split, 'min_samples_leaf', min_samples_leaf, "
    "'class_weight', class_weight)"
)
POSTGRES_BACKFILL = (
    "UPDATE training_run SET parameters = jsonb_build_object("
    "'n_estimators', n_estimators, 'max_depth', max_depth, "
    "'min_samples_split', min_samples_split, 'min_samples_leaf', min_samples_leaf, "
    "'class_weight', class_weight)"
)


async def forwards(apps: Any, schema_editor: Any) -> None:
    client: BaseDBAsyncClient = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await client.execute_query(POSTGRES_BACKFILL if postgres else SQLITE_BACKFILL)


async def backwards(apps: Any, schema_editor: Any) -> None:
    """The columns are dropped by the AddField operations' reversal; nothing to undo here."""


class Migration(migrations.Migration):
    dependencies = [("models", "0007_run_search")]

    initial = False

    operations = [
        ops.AddField(
            model_name="TrainingRun",
            name="algorithm",
            field=fields.CharField(db_default="RANDOM_FOREST", db_index=True, max_length=32),
        ),
        ops.AddField(
            model_name="TrainingRun",
            name="parameters",
            field=fields.JSONField(null=True),
        ),
        ops.AddField(
            model_name="TrainingRun",
            name="cross_validation",
            field=fields.JSONField(null=True),
        ),
        ops.AddField(
            model_name="TrainingRun",
            name="objective_value",
            field=fields.FloatField(null=True),
        ),
        ops.RunPython(forwards, backwards),
    ]
