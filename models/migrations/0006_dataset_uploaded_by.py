"""Who uploaded each dataset (quotas, deleteDataset), and each file's whole column count
(only the first 1,000 names are kept from now on). Existing rows: null in both."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_model_aliases')]

    initial = False

    operations = [
        ops.AddField(
            model_name='DatasetFile',
            name='column_count',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='DatasetFile',
            name='uploaded_by',
            field=fields.CharField(null=True, max_length=150),
        ),
    ]
