"""Training schedules, the record of their slots (the UNIQUE (schedule_id, slot_at) pair is
the lease that fires each slot once), and the schedule of each run (issue 25)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.training_schedules import Misfire, Promotion, SlotOutcome
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [("models", "0014_audit_and_tags")]

    initial = False

    operations = [
        ops.CreateModel(
            name='TrainingSchedule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=40)),
                ('cron', fields.CharField(max_length=255)),
                ('time_zone', fields.CharField(max_length=64)),
                ('misfire', fields.CharEnumField(default=Misfire.RUN_ONCE, description='RUN_ONCE: RUN_ONCE\nSKIP: SKIP', enum_type=Misfire, max_length=16)),
                ('train', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('promote_alias', fields.CharField(null=True, max_length=32)),
                ('paused', fields.BooleanField(default=False)),
                ('next_run_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='training_schedules', on_delete=OnDelete.SET_NULL)),
                ('created_by_username', fields.CharField(null=True, max_length=150)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'training_schedule', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ScheduleSlot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('schedule', fields.ForeignKeyField('models.TrainingSchedule', source_field='schedule_id', db_constraint=True, to_field='id', related_name='slots', on_delete=OnDelete.CASCADE)),
                ('slot_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('outcome', fields.CharEnumField(default=SlotOutcome.CLAIMED, description='CLAIMED: CLAIMED\nFIRED: FIRED\nSKIPPED: SKIPPED', enum_type=SlotOutcome, max_length=16)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('run', fields.ForeignKeyField('models.TrainingRun', source_field='run_id', null=True, db_constraint=True, to_field='id', related_name='schedule_slots', on_delete=OnDelete.SET_NULL)),
                ('claimed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(max_length=255)),
                ('promotion', fields.CharEnumField(null=True, description='PENDING: PENDING\nPROMOTING: PROMOTING\nPROMOTED: PROMOTED\nNOT_PROMOTED: NOT_PROMOTED', enum_type=Promotion, max_length=16)),
                ('promotion_detail', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'training_schedule_slot', 'app': 'models', 'unique_together': (('schedule_id', 'slot_at'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='TrainingRun',
            name='schedule',
            field=fields.ForeignKeyField('models.TrainingSchedule', source_field='schedule_id', null=True, db_constraint=True, to_field='id', related_name='runs', on_delete=OnDelete.SET_NULL),
        ),
    ]
