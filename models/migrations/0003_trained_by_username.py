"""Keep the trainer's username on each run: a page of runs then costs one query."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_default_groups')]

    initial = False

    operations = [
        ops.AddField(
            model_name='TrainingRun',
            name='trained_by_username',
            field=fields.CharField(null=True, max_length=150),
        ),
        ops.RunSQL(
            "UPDATE training_run SET trained_by_username = "
            "(SELECT username FROM auth_user WHERE auth_user.id = training_run.trained_by_id)",
            reverse_sql="",
        ),
    ]
