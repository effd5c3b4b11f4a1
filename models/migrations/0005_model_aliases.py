"""Model aliases and the log of their assignments (setModelAlias, issue 10)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_dataset_files')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ModelAlias',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alias', fields.CharField(unique=True, max_length=32)),
                ('run', fields.ForeignKeyField('models.TrainingRun', source_field='run_id', db_constraint=True, to_field='id', related_name='model_aliases', on_delete=OnDelete.CASCADE)),
                ('set_by', fields.ForeignKeyField('models.User', source_field='set_by_id', null=True, db_constraint=True, to_field='id', related_name='model_aliases_set', on_delete=OnDelete.SET_NULL)),
                ('set_by_username', fields.CharField(null=True, max_length=150)),
                ('set_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'model_alias', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ModelAliasAssignment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alias', fields.CharField(db_index=True, max_length=32)),
                ('run', fields.ForeignKeyField('models.TrainingRun', source_field='run_id', db_constraint=True, to_field='id', related_name='model_alias_assignments', on_delete=OnDelete.CASCADE)),
                ('set_by', fields.ForeignKeyField('models.User', source_field='set_by_id', null=True, db_constraint=True, to_field='id', related_name='model_alias_assignments', on_delete=OnDelete.SET_NULL)),
                ('set_by_username', fields.CharField(null=True, max_length=150)),
                ('set_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'model_alias_assignment', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
