"""The ticker that fires training schedules: one in every API process (server/app.py).

Each tick reads the schedules whose `next_run_at` has come, and for each due slot
inserts the slot's row first (models/training_schedules.claim_slot): the UNIQUE
(schedule_id, slot_at) pair lets one process through, whatever their number, so a slot
fires exactly once with nothing but the database. The winner then starts the run through
trainModel's own code path (resolvers/train_model.train_model: same validation, quota and
queueing) as the schedule's creator, or records why the slot was skipped. A sweep
schedule's slot starts a sweep through startSweep's (resolvers/sweeps.start_sweep), in the
transaction that records it on the slot, so a sweep is never started twice nor lost.

A slot later than SCHEDULE_MISFIRE_GRACE_SECONDS when a ticker first sees it was missed
while no process ran: with RUN_ONCE the latest missed slot fires once (the earlier ones
are not made up for), with SKIP it is recorded as skipped. The same tick settles the
promotions of scheduled runs and sweeps that have ended, each claimed by one process: a
sweep promotes its best run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from models.accounts import Identity, User, identity_of
from models.model_aliases import ModelAlias
from models.sweeps import ACTIVE_SWEEP_STATUSES, FINAL_SWEEP_STATUSES, Sweep, SweepStatus
from models.training_runs import ACTIVE_STATUSES, FINAL_STATUSES, RunStatus, TrainingRun
from models.training_schedules import (
    Misfire,
    Promotion,
    ScheduleSlot,
    SlotOutcome,
    TrainingSchedule,
    advance,
    claim_promotion,
    claim_slot,
    record_promotion,
    record_skipped_slot,
    release_lapsed_promotions,
    renew_promotion,
)
from resolvers.errors import FieldErrorCode
from resolvers.model_aliases import set_model_alias
from resolvers.sweeps import SweepRequest, start_sweep
from resolvers.train_model import TrainRequest, train_model
from resolvers.training_schedules import next_slot, previous_slot, stored_gate_request, zone_of
from trainer.artifacts import ArtifactPaths
from trainer.jobs.runners import JobRunner

logger = logging.getLogger("resolvers.schedule_ticker")

# Stored train input (JSON) -> the request trainModel reads; built by the schema, which
# knows TrainModelInput (schema/training_schedules.py).
RequestReader = Callable[[dict[str, Any]], TrainRequest]
# Stored sweep input (JSON) -> the request startSweep reads (StartSweepInput's coercion).
SweepReader = Callable[[dict[str, Any]], SweepRequest]
# At most this many on-time slots of one schedule are fired in one tick (a per-second
# cron after a long stall of the process): the rest wait for the next tick.
MAX_SLOTS_PER_TICK = 100
MAX_COUNTED = 10_000
# A slot still CLAIMED this long after its claim lost its process between the claim and
# the record (a kill -9, a crash): what became of it is then read from the runs. A
# promotion's lease not renewed for as long lost its process too, and is taken again.
STALE_CLAIM = timedelta(minutes=2)
PROMOTION_RENEWAL_SECONDS = STALE_CLAIM.total_seconds() / 4


def _count_slots(cron: str, zone: ZoneInfo, first: datetime, last: datetime) -> str:
    """The slots from `first` to before `last`, as words ("" for none); counted up to
    MAX_COUNTED (a per-second cron after a day down)."""
    count, slot = 0, first
    while slot < last and count < MAX_COUNTED:
        count += 1
        slot = next_slot(cron, zone, slot)
    if count == 0:
        return ""
    shown = f"{count}+" if count == MAX_COUNTED else str(count)
    return f"{shown} earlier missed slot{'' if count == 1 else 's'}"


def model_version_for(name: str, slot_at: datetime) -> str:
    """`<schedule name>-<slot time in UTC>`: unique per slot, readable in the run list."""
    return f"{name}-{slot_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


@dataclass
class ScheduleTicker:
    jobs: JobRunner
    artifacts: ArtifactPaths
    read_request: RequestReader
    read_sweep: SweepReader
    # Tells this process's sweep driver a sweep was started (else it sees it at its tick).
    wake_sweeps: Callable[[], None]
    tick_seconds: float
    misfire_grace_seconds: float
    process: str = f"{socket.gethostname()}:{os.getpid()}"
    # Runs being started for claimed slots: starting one can take seconds (the first
    # submit starts the training pool), during which the next slots must still be claimed.
    _starting: set[asyncio.Task[None]] = field(default_factory=set)
    # Sweep slots are checked and started one at a time in this process: slots of one
    # schedule fired in one tick must not both see "no sweep running" and both start one.
    _sweep_start: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run_forever(self) -> None:
        failing = False
        try:
            while True:
                try:
                    await self.tick()
                    pause = await self._pause()
                    if failing:
                        logger.info("schedule ticker: ticking again")
                        failing = False
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # A database outage: the next tick tries again (due slots stay due),
                    # and the log gets one line per outage, not one per tick.
                    if not failing:
                        logger.warning("schedule tick failed, retrying", exc_info=True)
                    failing = True
                    pause = self.tick_seconds
                await asyncio.sleep(pause)
        finally:
            # Shutting down: the slots already claimed still get their run (or reason).
            await asyncio.gather(*self._starting, return_exceptions=True)

    async def _pause(self) -> float:
        """Until the next tick, or the earliest next slot if it comes sooner."""
        first = (
            await TrainingSchedule.filter(paused=False, next_run_at__isnull=False)
            .order_by("next_run_at")
            .only("id", "next_run_at")
            .first()
        )
        if first is None or first.next_run_at is None:
            return self.tick_seconds
        until = (first.next_run_at - datetime.now(UTC)).total_seconds()
        return min(self.tick_seconds, max(0.01, until))

    async def tick(self) -> None:
        now = datetime.now(UTC)
        due = await TrainingSchedule.filter(paused=False, next_run_at__lte=now).order_by(
            "next_run_at"
        )
        for schedule in due:
            await self._run_due(schedule, now)
        await self._settle_promotions(now)
        await self._settle_stale_claims(now)

    async def _run_due(self, schedule: TrainingSchedule, now: datetime) -> None:
        seen = schedule.next_run_at
        zone = zone_of(schedule.time_zone)
        assert seen is not None
        assert zone is not None
        cutoff = now - timedelta(seconds=self.misfire_grace_seconds)
        if seen < cutoff:
            # Missed while no process ran: only the latest missed slot is considered.
            latest_missed = max(previous_slot(schedule.cron, zone, cutoff), seen)
            earlier = _count_slots(schedule.cron, zone, seen, latest_missed)
            await self._misfire(schedule, latest_missed, earlier)
            slot = next_slot(schedule.cron, zone, latest_missed)
        else:
            slot = seen
        fired = 0
        while slot <= now and fired < MAX_SLOTS_PER_TICK:
            await self._fire(schedule, slot, note=None)
            fired += 1
            slot = next_slot(schedule.cron, zone, slot)
        await advance(schedule.id, seen, slot)

    async def _misfire(self, schedule: TrainingSchedule, slot_at: datetime, earlier: str) -> None:
        """The latest missed slot fires (RUN_ONCE) or is recorded skipped (SKIP); the
        earlier missed ones are counted in its reason, not recorded one by one."""
        if schedule.misfire is Misfire.RUN_ONCE:
            note = "missed while no server was running; fired once at start-up (misfire RUN_ONCE)"
            if earlier:
                note += f"; {earlier} not run"
            await self._fire(schedule, slot_at, note=note)
        elif await claim_slot(schedule.id, slot_at, datetime.now(UTC), self.process):
            reason = "missed while no server was running (misfire SKIP)"
            if earlier:
                reason += f"; {earlier} skipped too"
            await self._skip(schedule, slot_at, reason, failed=False)

    async def _skip(
        self, schedule: TrainingSchedule, slot_at: datetime, reason: str, *, failed: bool = True
    ) -> None:
        await record_skipped_slot(schedule, slot_at, reason, failed=failed)
        logger.info("schedule %s slot %s skipped: %s", schedule.id, slot_at.isoformat(), reason)

    async def _creator(self, schedule: TrainingSchedule) -> Identity | str:
        """The identity the runs belong to, or why there is none that may train."""
        if schedule.created_by_id is None:
            return "the schedule's creator account no longer exists"
        user = await User.get_or_none(id=schedule.created_by_id)
        if user is None or not user.is_active:
            return f"the account of {schedule.created_by_username} is deleted or disabled"
        identity = await identity_of(user)
        if not identity.can_train:
            return f"{user.username} may no longer train (not HR staff)"
        return identity

    async def _fire(self, schedule: TrainingSchedule, slot_at: datetime, note: str | None) -> None:
        """Claim the slot; if this process won it, start its run beside the ticker."""
        claimed_at = datetime.now(UTC)
        if not await claim_slot(schedule.id, slot_at, claimed_at, self.process):
            return  # another process has this slot
        task = asyncio.create_task(self._start_run(schedule, slot_at, note, claimed_at))
        self._starting.add(task)
        task.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[None]) -> None:
        self._starting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("starting a scheduled run failed", exc_info=task.exception())

    async def _start_run(
        self, schedule: TrainingSchedule, slot_at: datetime, note: str | None, claimed_at: datetime
    ) -> None:
        creator = await self._creator(schedule)
        if isinstance(creator, str):
            await self._skip(schedule, slot_at, creator)
            return
        if schedule.sweep is not None:
            await self._start_sweep(schedule, slot_at, note, claimed_at, creator)
            return
        try:
            request = self.read_request(schedule.train)
        except Exception as exc:  # the stored input no longer fits TrainModelInput
            await self._skip(schedule, slot_at, f"the stored train input is not valid now: {exc}")
            return
        request = replace(
            request, model_version=model_version_for(schedule.name, slot_at), wait=False
        )
        outcome = await train_model(
            request,
            viewer=creator,
            artifacts=self.artifacts,
            jobs=self.jobs,
            schedule_id=schedule.id,
        )
        if outcome.training_run is None:
            reasons = "; ".join(f"{error.code.value}: {error.message}" for error in outcome.errors)
            await self._skip(schedule, slot_at, reasons)
            return
        run_id = outcome.training_run.id
        await ScheduleSlot.filter(schedule_id=schedule.id, slot_at=slot_at).update(
            outcome=SlotOutcome.FIRED,
            run_id=run_id,
            reason=note,
            promotion=Promotion.PENDING if schedule.promote_alias else None,
        )
        logger.info(
            "schedule %s slot %s fired run %s (%.3f s after the slot)%s",
            schedule.id,
            slot_at.isoformat(),
            run_id,
            (claimed_at - slot_at).total_seconds(),
            f": {note}" if note else "",
        )

    async def _sweep_refusal(
        self, schedule: TrainingSchedule, creator: Identity
    ) -> tuple[str, bool] | None:
        """Why a sweep may not start now, and whether that is a failure: the schedule's
        previous sweep is still searching (a schedule runs one sweep at a time: its own
        policy, as a misfire SKIP is, not announced), or the creator's
        MAX_ACTIVE_RUNS_PER_USER is full, as trainModel would refuse a run (its trials
        would only wait; announced as schedule.failed, as for a train slot)."""
        previous = (
            await Sweep.filter(
                schedule_slots__schedule_id=schedule.id,
                status__in=[status.value for status in ACTIVE_SWEEP_STATUSES],
            )
            .only("id", "status")
            .first()
        )
        if previous is not None:
            return (
                f"sweep {previous.id} of this schedule is still {previous.status.value}: "
                "a schedule runs one sweep at a time"
            ), False
        limit = self.jobs.max_active_runs_per_user
        active = await TrainingRun.filter(
            trained_by_id=creator.id, status__in=list(ACTIVE_STATUSES)
        ).count()
        if active >= limit:
            return (
                f"{FieldErrorCode.TOO_MANY_ACTIVE_RUNS.value}: {creator.username} already has "
                f"{active} training runs queued or running, the most allowed at once "
                f"({limit}); the sweep's trials could not start"
            ), True
        return None

    async def _start_sweep(
        self,
        schedule: TrainingSchedule,
        slot_at: datetime,
        note: str | None,
        claimed_at: datetime,
        creator: Identity,
    ) -> None:
        """Start the slot's sweep through startSweep's path, as the creator; the sweep and
        the slot's record of it are written in one transaction."""
        try:
            request = self.read_sweep(schedule.sweep)
        except Exception as exc:  # the stored input no longer fits StartSweepInput
            await self._skip(schedule, slot_at, f"the stored sweep input is not valid now: {exc}")
            return
        request = replace(request, name=model_version_for(schedule.name, slot_at))
        async with self._sweep_start:
            refusal = await self._sweep_refusal(schedule, creator)
            if refusal is not None:
                reason, failed = refusal
                await self._skip(schedule, slot_at, reason, failed=failed)
                return
            async with in_transaction():
                outcome = await start_sweep(request, viewer=creator, artifacts=self.artifacts)
                if outcome.sweep is not None:
                    await ScheduleSlot.filter(schedule_id=schedule.id, slot_at=slot_at).update(
                        outcome=SlotOutcome.FIRED,
                        sweep_id=outcome.sweep.id,
                        reason=note,
                        promotion=Promotion.PENDING if schedule.promote_alias else None,
                    )
        if outcome.sweep is None:
            reasons = "; ".join(
                f"{error.code.value}: {'.'.join(map(str, error.field[1:]))} {error.message}"
                for error in outcome.errors
            )
            await self._skip(schedule, slot_at, reasons)
            return
        self.wake_sweeps()
        logger.info(
            "schedule %s slot %s started sweep %s (%.3f s after the slot)%s",
            schedule.id,
            slot_at.isoformat(),
            outcome.sweep.id,
            (claimed_at - slot_at).total_seconds(),
            f": {note}" if note else "",
        )

    async def _settle_stale_claims(self, now: datetime) -> None:
        """Record the slots whose claimer died before saying what became of them: FIRED
        with the run it had created (found by its schedule and generated version), or
        SKIPPED. Each update is conditional on the slot still being CLAIMED. (A sweep is
        recorded on its slot in the transaction that creates it: a CLAIMED sweep slot
        started nothing.)"""
        stale = await ScheduleSlot.filter(
            outcome=SlotOutcome.CLAIMED, claimed_at__lt=now - STALE_CLAIM
        ).select_related("schedule")
        for slot in stale:
            schedule: TrainingSchedule = slot.schedule
            version = model_version_for(schedule.name, slot.slot_at)
            run = await TrainingRun.filter(schedule_id=schedule.id, model_version=version).first()
            if run is not None:
                changes: dict[str, Any] = {
                    "outcome": SlotOutcome.FIRED,
                    "run_id": run.id,
                    "reason": "recorded after the server that fired it stopped",
                    "promotion": Promotion.PENDING if schedule.promote_alias else None,
                }
            else:
                changes = {
                    "outcome": SlotOutcome.SKIPPED,
                    "reason": "the server that claimed this slot stopped before starting its "
                    + ("sweep" if schedule.sweep is not None else "run"),
                }
            if await ScheduleSlot.filter(id=slot.id, outcome=SlotOutcome.CLAIMED).update(**changes):
                logger.info(
                    "schedule %s slot %s of a stopped server: %s",
                    schedule.id,
                    slot.slot_at.isoformat(),
                    changes["reason"],
                )

    async def _settle_promotions(self, now: datetime) -> None:
        """Move the alias to each scheduled run that ended COMPLETED, or to the best run of
        each scheduled sweep that did; record why not. A promotion whose process died
        mid-move (its lease lapsed) is taken again."""
        released = await release_lapsed_promotions(now - STALE_CLAIM)
        if released:
            logger.info("%s promotion(s) of a stopped server taken again", released)
        runs_ended = await ScheduleSlot.filter(
            promotion=Promotion.PENDING, run__status__in=list(FINAL_STATUSES)
        ).select_related("schedule", "run")
        sweeps_ended = await ScheduleSlot.filter(
            promotion=Promotion.PENDING,
            sweep__status__in=[status.value for status in FINAL_SWEEP_STATUSES],
        ).select_related("schedule", "sweep")
        for slot in [*runs_ended, *sweeps_ended]:
            if await claim_promotion(slot.id, now):
                # Beside the ticker: a gate evaluates both models first (seconds).
                task = asyncio.create_task(self._promote(slot))
                self._starting.add(task)
                task.add_done_callback(self._started)

    async def _promote(self, slot: ScheduleSlot) -> None:
        """Settle one claimed promotion, renewing its lease until it is recorded."""
        renewal = asyncio.create_task(self._renew_lease(slot.id))
        try:
            await self._settle_promotion(slot)
        finally:
            renewal.cancel()

    @staticmethod
    async def _renew_lease(slot_id: int) -> None:
        while True:
            await asyncio.sleep(PROMOTION_RENEWAL_SECONDS)
            await renew_promotion(slot_id, datetime.now(UTC))

    async def _settle_promotion(self, slot: ScheduleSlot) -> None:
        schedule: TrainingSchedule = slot.schedule
        alias = schedule.promote_alias
        run_id: int | None = None
        promoted = failed = False
        if alias is None:
            detail = "the schedule no longer promotes"
        elif slot.sweep_id is not None:
            sweep: Sweep | None = slot.sweep
            assert sweep is not None
            run_id = sweep.best_run_id
            if sweep.status is not SweepStatus.COMPLETED:
                failed = True
                why = f" ({sweep.error_message})" if sweep.error_message else ""
                detail = (
                    f"sweep {sweep.id} ended {sweep.status.value}{why}: "
                    f"alias {alias!r} stays where it was"
                )
            elif run_id is None:
                failed = True
                detail = f"sweep {sweep.id} has no best run: alias {alias!r} stays where it was"
            else:
                promoted, detail = await self._move_alias(schedule, alias, run_id)
                failed = not promoted
                detail += f" (the best of sweep {sweep.id})"
        else:
            run: TrainingRun | None = slot.run
            assert run is not None
            if run.status != RunStatus.COMPLETED:
                failed = True
                detail = (
                    f"run {run.id} ended {run.status.value}: alias {alias!r} stays where it was"
                )
            else:
                promoted, detail = await self._move_alias(schedule, alias, run.id)
                failed = not promoted
        await record_promotion(slot, schedule, promoted, detail, failed=failed, run_id=run_id)
        logger.info("schedule %s slot %s promotion: %s", schedule.id, slot.id, detail)

    async def _move_alias(
        self, schedule: TrainingSchedule, alias: str, run_id: int
    ) -> tuple[bool, str]:
        """setModelAlias as the creator, through the schedule's gate: moved, and what
        the history says. An alias already on the run (moved by a process that died
        before recording it) is not moved, logged or announced again."""
        if await ModelAlias.filter(alias=alias, run_id=run_id).exists():
            return True, f"alias {alias!r} already points at run {run_id}"
        creator = await self._creator(schedule)
        gate = stored_gate_request(schedule.promote_gate)
        outcome = await set_model_alias(
            None if isinstance(creator, str) else creator,
            alias,
            run_id,
            str(run_id),
            gate,
            artifacts=self.artifacts,
            jobs=self.jobs,
        )
        if not outcome.errors:
            moved = f"alias {alias!r} now points at run {run_id}"
            judged = outcome.gate
            if gate is None or judged is None:
                return True, moved
            if judged.current_value is None:
                beaten = "no current model to beat"
            else:
                beaten = f">= {judged.current_value:.4f} + {gate.min_improvement:g}"
            return (
                True,
                f"{moved}; gate passed: {gate.metric} {judged.candidate_value:.4f} {beaten}",
            )
        return False, f"alias {alias!r} stays where it was: " + "; ".join(
            error.message for error in outcome.errors
        )
