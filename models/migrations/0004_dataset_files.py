"""Remember what each dataset file version holds (rows, columns, sha256): Query.datasets."""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.data import JSON_DUMPS
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0003_trained_by_username")]

    initial = False

    operations = [
        ops.CreateModel(
            name="DatasetFile",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("path", fields.CharField(unique=True, max_length=255)),
                ("size_bytes", fields.BigIntField()),
                ("mtime_ns", fields.BigIntField()),
                ("rows", fields.IntField(null=True)),
                ("columns", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ("sha256", fields.CharField(max_length=64)),
                ("described_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={"table": "dataset_file", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
