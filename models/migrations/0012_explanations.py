"""A run's global importance measured by the method behind predictFutureNeed's reasons
(issue 24, section 2): mean |SHAP| per dataset column over (a sample of) its test split,
with the units they are in. Existing runs: null (trained before it was measured)."""

from json import loads

from tortoise import fields, migrations
from tortoise.fields.data import JSON_DUMPS
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0011_trust_jobs")]

    initial = False

    operations = [
        ops.AddField(
            model_name="TrainingRun",
            name="shap_importance",
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
    ]
