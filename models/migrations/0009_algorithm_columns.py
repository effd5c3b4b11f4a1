"""How a run is judged while it grows (issue 23): `validation_fraction` (rows carved,
stratified and seeded, from the training split) and `objective` (the metric measured on
them, trainer/ml/algorithms.py OBJECTIVES). Sweep trials set both; runs started by hand
leave them null.

The five RandomForest columns (n_estimators .. class_weight) stay, as the read-only view
behind the deprecated `TrainingRun.hyperparameters`: `parameters` is what the trainer reads.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0008_run_algorithm")]

    initial = False

    operations = [
        ops.AddField(
            model_name="TrainingRun",
            name="validation_fraction",
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name="TrainingRun",
            name="objective",
            field=fields.CharField(max_length=32, null=True),
        ),
    ]
