"""Training schedules and the record of each of their slots (issue 25, section 1).

`training_schedule` holds what to start and when (a cron expression in a time zone): a
training run (`train`) or a sweep (`sweep`), and `next_run_at`, the next slot, which every
API process's ticker reads to know what is due.

`training_schedule_slot` is both the lease and the history: a process fires a slot only
after inserting its (schedule_id, slot_at) row, and the UNIQUE constraint on that pair lets
exactly one INSERT through whatever the number of processes, on SQLite as on PostgreSQL,
with no lock service. The row then tells what became of the slot: the run or the sweep it
started, or why it was skipped, and whether the model was promoted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.webhook_outbox import WebhookEventType, record_event, schedule_failed_data

if TYPE_CHECKING:
    from models.accounts import User
    from models.sweeps import Sweep
    from models.training_runs import TrainingRun

SCHEDULE_NAME_MAX_LENGTH = 40


class Misfire(StrEnum):
    """What to do with slots missed while no process was running."""

    RUN_ONCE = "RUN_ONCE"
    SKIP = "SKIP"


class ScheduleKind(StrEnum):
    """What each slot starts: one training run, or a sweep of trials."""

    TRAIN = "TRAIN"
    SWEEP = "SWEEP"


class SlotOutcome(StrEnum):
    # Claimed by a process that has not yet said what became of it (or died meanwhile).
    CLAIMED = "CLAIMED"
    FIRED = "FIRED"
    SKIPPED = "SKIPPED"


class Promotion(StrEnum):
    PENDING = "PENDING"  # the run has not ended yet
    PROMOTING = "PROMOTING"  # a process is moving the alias
    PROMOTED = "PROMOTED"
    NOT_PROMOTED = "NOT_PROMOTED"


class TrainingSchedule(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=SCHEDULE_NAME_MAX_LENGTH, unique=True)
    cron = fields.CharField(max_length=255)
    time_zone = fields.CharField(max_length=64)
    misfire = fields.CharEnumField(Misfire, max_length=16, default=Misfire.RUN_ONCE)
    # The TrainModelInput as a GraphQL client writes it (camelCase, enum names), so that
    # fields added to that input later are kept and read back without a migration.
    # `{}` for a sweep schedule: the column predates sweeps and stays NOT NULL (making it
    # nullable would rebuild the table on SQLite, whose DROP cascades to the slots).
    train: Any = fields.JSONField()
    # The StartSweepInput, stored the same way (without `name`: generated per slot); set
    # for a sweep schedule, null for a train one.
    sweep: Any = fields.JSONField(null=True)
    promote_alias = fields.CharField(max_length=32, null=True)
    # setModelAlias's gate for that promotion: {"dataset_path", "metric", "min_improvement"}.
    promote_gate: Any = fields.JSONField(null=True)
    paused = fields.BooleanField(default=False)
    # Null while paused. Indexed: every ticker of every process asks for the due ones.
    next_run_at = fields.DatetimeField(null=True, db_index=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="training_schedules", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_by_username = fields.CharField(max_length=150, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "training_schedule"

    @property
    def kind(self) -> ScheduleKind:
        return ScheduleKind.SWEEP if self.sweep is not None else ScheduleKind.TRAIN


class ScheduleSlot(Model):
    id = fields.IntField(primary_key=True)
    schedule: fields.ForeignKeyRelation[TrainingSchedule] = fields.ForeignKeyField(
        "models.TrainingSchedule", related_name="slots", on_delete=fields.CASCADE
    )
    schedule_id: int
    slot_at = fields.DatetimeField()
    outcome = fields.CharEnumField(SlotOutcome, max_length=16, default=SlotOutcome.CLAIMED)
    # Why it was skipped, or a note on how it fired (late, after a misfire).
    reason: str | None = fields.TextField(null=True)
    run: fields.ForeignKeyNullableRelation[TrainingRun] = fields.ForeignKeyField(
        "models.TrainingRun", related_name="schedule_slots", null=True, on_delete=fields.SET_NULL
    )
    run_id: int | None
    # The sweep a sweep schedule's slot started (its best run is what gets promoted).
    sweep: fields.ForeignKeyNullableRelation[Sweep] = fields.ForeignKeyField(
        "models.Sweep", related_name="schedule_slots", null=True, on_delete=fields.SET_NULL
    )
    sweep_id: int | None
    claimed_at = fields.DatetimeField()
    claimed_by = fields.CharField(max_length=255)
    promotion = fields.CharEnumField(Promotion, max_length=16, null=True)
    promotion_detail: str | None = fields.TextField(null=True)
    # The lease of the process moving the alias (PROMOTING): renewed while it works; a
    # lease left to lapse is a process that died, and the promotion is taken again.
    promotion_claimed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "training_schedule_slot"
        unique_together = (("schedule_id", "slot_at"),)
        # Sweep.schedule reads the slot that started a sweep.
        indexes = (Index(fields=("sweep_id",), name="schedule_slot_sweep"),)


async def claim_slot(schedule_id: int, slot_at: datetime, claimed_at: datetime, by: str) -> bool:
    """Insert the slot's row: True for the one process whose INSERT the UNIQUE
    constraint let through, False for every other (the slot is theirs)."""
    try:
        await ScheduleSlot.create(
            schedule_id=schedule_id, slot_at=slot_at, claimed_at=claimed_at, claimed_by=by
        )
    except IntegrityError:
        return False
    return True


async def advance(schedule_id: int, seen: datetime, following: datetime | None) -> None:
    """Move `next_run_at` on from `seen`, unless another process (or an update, a pause)
    already moved it: a compare-and-set, so the value never goes back."""
    await TrainingSchedule.filter(id=schedule_id, next_run_at=seen, paused=False).update(
        next_run_at=following
    )


async def claim_promotion(slot_id: int, now: datetime) -> bool:
    """Take the promotion of a slot whose run ended; True for one process only."""
    updated = await ScheduleSlot.filter(id=slot_id, promotion=Promotion.PENDING).update(
        promotion=Promotion.PROMOTING, promotion_claimed_at=now
    )
    return bool(updated)


async def renew_promotion(slot_id: int, now: datetime) -> None:
    """Keep the lease of a promotion this process is still working on."""
    await ScheduleSlot.filter(id=slot_id, promotion=Promotion.PROMOTING).update(
        promotion_claimed_at=now
    )


async def release_lapsed_promotions(before: datetime) -> int:
    """Promotions whose lease was last renewed before `before` (their process died
    mid-move) go back to PENDING, to be claimed again; how many.

    Every ticker calls this every tick: the common answer (none) is a read, not an
    UPDATE, which on SQLite would take the database's one write lock each second in
    every process, beside the workers' progress writes."""
    lapsed = ScheduleSlot.filter(
        Q(promotion_claimed_at__lt=before) | Q(promotion_claimed_at__isnull=True),
        promotion=Promotion.PROMOTING,
    )
    if not await lapsed.exists():
        return 0
    return await lapsed.update(promotion=Promotion.PENDING)


async def record_skipped_slot(
    schedule: TrainingSchedule, slot_at: datetime, reason: str, *, failed: bool
) -> None:
    """The slot ran nothing, and why. `failed` (the creator may no longer train, the input
    no longer fits, the quota was full) is announced as schedule.failed in the same
    transaction; a slot skipped by the schedule's own misfire policy is not a failure."""
    async with in_transaction() as connection:
        await (
            ScheduleSlot.filter(schedule_id=schedule.id, slot_at=slot_at)
            .using_db(connection)
            .update(outcome=SlotOutcome.SKIPPED, reason=reason)
        )
        if failed:
            await record_event(
                WebhookEventType.SCHEDULE_FAILED,
                schedule_failed_data(schedule, slot_at, reason),
                connection=connection,
            )


async def record_promotion(
    slot: ScheduleSlot,
    schedule: TrainingSchedule,
    promoted: bool,
    detail: str,
    *,
    failed: bool,
    run_id: int | None = None,
) -> None:
    """The promotion's outcome on the slot; `failed` (the run or sweep did not complete, or
    the alias refused it) is announced as schedule.failed in the same transaction, naming
    `run_id` (a sweep's best run) or else the slot's run."""
    async with in_transaction() as connection:
        await (
            ScheduleSlot.filter(id=slot.id)
            .using_db(connection)
            .update(
                promotion=Promotion.PROMOTED if promoted else Promotion.NOT_PROMOTED,
                promotion_detail=detail,
            )
        )
        if failed:
            await record_event(
                WebhookEventType.SCHEDULE_FAILED,
                schedule_failed_data(schedule, slot.slot_at, detail, run_id or slot.run_id),
                connection=connection,
            )
