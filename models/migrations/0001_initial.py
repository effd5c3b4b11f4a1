from tortoise import migrations
from tortoise.migrations import operations as ops
from models.training_runs import RunStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Group',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
            ],
            options={'table': 'auth_group', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(unique=True, max_length=150)),
                ('password_hash', fields.CharField(null=True, max_length=255)),
                ('is_active', fields.BooleanField(default=True)),
                ('is_superuser', fields.BooleanField(default=False)),
                ('date_joined', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_login', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('groups', fields.ManyToManyField('models.Group', unique=True, db_constraint=True, through='auth_user_groups', forward_key='group_id', backward_key='auth_user_id', related_name='users', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'auth_user', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('prefix', fields.CharField(max_length=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'auth_token', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TrainingRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('run_date', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('worker', fields.CharField(null=True, max_length=255)),
                ('cancel_requested', fields.BooleanField(default=False)),
                ('model_version', fields.CharField(unique=True, max_length=64)),
                ('model_path', fields.CharField(null=True, max_length=255)),
                ('model_sha256', fields.CharField(null=True, max_length=64)),
                ('dataset_path', fields.CharField(max_length=255)),
                ('dataset_sha256', fields.CharField(null=True, max_length=64)),
                ('status', fields.CharEnumField(default=RunStatus.QUEUED, description='QUEUED: QUEUED\nRUNNING: RUNNING\nCOMPLETED: COMPLETED\nFAILED: FAILED\nCANCELLED: CANCELLED', enum_type=RunStatus, max_length=16)),
                ('stage', fields.CharField(null=True, max_length=32)),
                ('progress', fields.FloatField(default=0.0)),
                ('error_message', fields.TextField(null=True, unique=False)),
                ('accuracy', fields.FloatField(null=True)),
                ('precision', fields.FloatField(null=True)),
                ('recall', fields.FloatField(null=True)),
                ('f1_score', fields.FloatField(null=True)),
                ('training_duration_seconds', fields.FloatField(null=True)),
                ('total_samples', fields.IntField(null=True)),
                ('train_samples', fields.IntField(null=True)),
                ('test_samples', fields.IntField(null=True)),
                ('dropped_rows', fields.IntField(null=True)),
                ('per_class_metrics', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('confusion_matrix', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('feature_importance', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('features_used', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('test_split', fields.FloatField()),
                ('random_state', fields.IntField()),
                ('n_estimators', fields.IntField()),
                ('max_depth', fields.IntField(null=True)),
                ('min_samples_split', fields.IntField()),
                ('min_samples_leaf', fields.IntField()),
                ('class_weight', fields.CharField(null=True, max_length=32)),
                ('trained_by', fields.ForeignKeyField('models.User', source_field='trained_by_id', null=True, db_constraint=True, to_field='id', related_name='training_runs', on_delete=OnDelete.SET_NULL)),
                ('notes', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'training_run', 'app': 'models', 'indexes': [Index(fields=['run_date', 'id'], name='run_run_date_id'), Index(fields=['status', 'run_date', 'id'], name='run_status_run_date_id'), Index(fields=['trained_by_id', 'run_date', 'id'], name='run_user_run_date_id'), Index(fields=['accuracy', 'id'], name='run_accuracy_id'), Index(fields=['status', 'accuracy', 'id'], name='run_status_accuracy_id'), Index(fields=['trained_by_id', 'accuracy', 'id'], name='run_user_accuracy_id'), Index(fields=['f1_score', 'id'], name='run_f1_score_id'), Index(fields=['status', 'f1_score', 'id'], name='run_status_f1_score_id'), Index(fields=['trained_by_id', 'f1_score', 'id'], name='run_user_f1_score_id'), Index(fields=['training_duration_seconds', 'id'], name='run_training_duration_seconds_id'), Index(fields=['status', 'training_duration_seconds', 'id'], name='run_status_training_duration_seconds_id'), Index(fields=['trained_by_id', 'training_duration_seconds', 'id'], name='run_user_training_duration_seconds_id')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
