"""The audit log (append-only, issue 25 section 3) and tags on training runs (section 4):
tables audit_log and run_tag, with the indexes their filters read (models/audit_log.py,
models/run_tags.py)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.audit_log import AuditChannel, AuditOutcome
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [("models", "0013_webhooks")]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('user_id', fields.IntField(null=True)),
                ('username', fields.CharField(null=True, max_length=150)),
                ('channel', fields.CharEnumField(description='GRAPHQL: graphql\nHTTP: http\nCLI: cli', enum_type=AuditChannel, max_length=16)),
                ('operation', fields.CharField(max_length=64)),
                ('operation_name', fields.CharField(null=True, max_length=64)),
                ('arguments', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('outcome', fields.CharEnumField(description='OK: OK\nERROR: ERROR\nFORBIDDEN: FORBIDDEN\nUNAUTHENTICATED: UNAUTHENTICATED', enum_type=AuditOutcome, max_length=16)),
                ('error_code', fields.CharField(null=True, max_length=64)),
                ('request_id', fields.CharField(null=True, max_length=128)),
                ('client_address', fields.CharField(null=True, max_length=64)),
            ],
            options={'table': 'audit_log', 'app': 'models', 'indexes': [Index(fields=['username', 'id'], name='audit_username_id'), Index(fields=['operation', 'id'], name='audit_operation_id'), Index(fields=['outcome', 'id'], name='audit_outcome_id')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RunTag',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('run', fields.ForeignKeyField('models.TrainingRun', source_field='run_id', db_constraint=True, to_field='id', related_name='tags', on_delete=OnDelete.CASCADE)),
                ('tag', fields.CharField(max_length=32)),
            ],
            options={'table': 'run_tag', 'app': 'models', 'unique_together': (('run_id', 'tag'),), 'indexes': [Index(fields=['tag', 'run_id'], name='run_tag_tag_run')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
