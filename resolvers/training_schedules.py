"""Training schedules: create, update, pause, resume, delete, list (issue 25, section 1).

A schedule stores its train input, or its sweep input, as the GraphQL client wrote it (a
JSON object, see models/training_schedules.py), checked here once with the rules trainModel
(or startSweep) applies, and again at each slot, when schedule_ticker.py hands it to that
mutation's own code path. Refused input comes back as FieldErrors and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from tortoise.exceptions import IntegrityError

from models.accounts import Identity
from models.model_aliases import ALIAS_PATTERN
from models.run_list import RunFilter, RunOrder
from models.training_schedules import (
    SCHEDULE_NAME_MAX_LENGTH,
    Misfire,
    Promotion,
    ScheduleKind,
    ScheduleSlot,
    SlotOutcome,
    TrainingSchedule,
)
from resolvers.errors import ApiError, FieldError, FieldErrorCode, InvalidCursor
from resolvers.ids import parse_id
from resolvers.model_aliases import GateRequest
from resolvers.sweeps import SweepRequest
from resolvers.sweeps import validate as validate_sweep
from resolvers.train_model import TrainRequest, validate
from resolvers.training_runs import (
    PageSizes,
    RunConnection,
    list_training_runs,
)
from trainer.artifacts import ArtifactPaths, UnsafePath

__all__ = [
    "Misfire",
    "Promotion",
    "ScheduleChanges",
    "ScheduleConnection",
    "ScheduleKind",
    "ScheduleOutcome",
    "ScheduleSlot",
    "SlotOutcome",
    "TrainingSchedule",
    "create_schedule",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
    "next_slot",
    "parse_schedule_id",
    "pause_schedule",
    "resume_schedule",
    "schedule_history",
    "schedule_of_sweep",
    "schedule_runs",
    "slots_after",
    "update_schedule",
]

logger = logging.getLogger("resolvers.training_schedules")

NAME_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{SCHEDULE_NAME_MAX_LENGTH - 1}}}")
MAX_TIME_ZONE_LENGTH = 64
MAX_HISTORY = 100


@dataclass
class ScheduleOutcome:
    training_schedule: TrainingSchedule | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True)
class ScheduleChanges:
    """What create or update was asked; None: not given (update keeps the value).

    `train` is the request as trainModel reads it (to check it), `train_json` the same
    input as stored; `sweep` and `sweep_json` likewise for startSweep. A schedule has
    exactly one of the two: given on update, either replaces whichever the schedule had.
    `promote_given` tells a `promote: null` (remove) from no `promote`.
    """

    name: str | None = None
    cron: str | None = None
    time_zone: str | None = None
    misfire: Misfire | None = None
    train: TrainRequest | None = None
    train_json: dict[str, Any] | None = None
    sweep: SweepRequest | None = None
    sweep_json: dict[str, Any] | None = None
    promote_alias: str | None = None
    # setModelAlias's gate for each promotion (None: the alias moves on COMPLETED alone).
    promote_gate: GateRequest | None = None
    promote_given: bool = False


# --- cron ----------------------------------------------------------------------------------


def _is_second_occurrence(moment: datetime) -> bool:
    """A wall-clock time met twice when the clocks go back, seen the second time: its
    slot fired at the first, and fires once (as cron does for fixed times)."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def slots_after(cron: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """The schedule's slots strictly after `after`, in UTC, computed in `zone` (croniter
    walks local wall-clock times, so 09:00 stays 09:00 across a DST change; a time that
    the spring change skips fires at the end of the gap)."""
    walker = croniter(cron, after.astimezone(zone))
    while True:
        moment: datetime = walker.get_next(datetime)
        if not _is_second_occurrence(moment):
            yield moment.astimezone(UTC)


def next_slot(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    return next(slots_after(cron, zone, after))


def previous_slot(cron: str, zone: ZoneInfo, before: datetime) -> datetime:
    """The last slot at or before `before`."""
    walker = croniter(cron, (before + timedelta(microseconds=1)).astimezone(zone))
    while True:
        moment: datetime = walker.get_prev(datetime)
        if not _is_second_occurrence(moment):
            return moment.astimezone(UTC)


def _cron_error(cron: str) -> FieldError | None:
    problem = None
    if len(cron.split()) not in (5, 6):
        problem = (
            "must have 5 fields (minute hour day-of-month month day-of-week), or 6 with "
            f"seconds as the sixth; got {len(cron.split())}"
        )
    elif len(cron) > 255:
        problem = "must be at most 255 characters"
    else:
        try:
            next_slot(cron, ZoneInfo("UTC"), datetime.now(UTC))
        except (CroniterError, ValueError, KeyError) as exc:
            problem = f"is not a valid cron expression: {exc}"
    if problem is None:
        return None
    return FieldError(["input", "cron"], f"{cron!r} {problem}", FieldErrorCode.INVALID)


def zone_of(name: str) -> ZoneInfo | None:
    if not name or len(name) > MAX_TIME_ZONE_LENGTH or name.startswith(("/", ".")):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# --- checks ----------------------------------------------------------------------------


def _name_taken(name: str) -> FieldError:
    return FieldError(
        ["input", "name"], f"a schedule named {name!r} already exists", FieldErrorCode.DUPLICATE
    )


def _train_errors(changes: ScheduleChanges, artifacts: ArtifactPaths) -> list[FieldError]:
    """trainModel's own checks, their paths under `input.train`."""
    if changes.train is None:
        return []
    generated = "modelVersion" if changes.train.model_version is not None else None
    return _nested_errors("train", validate(changes.train, artifacts), generated, "run")


def _sweep_errors(changes: ScheduleChanges, artifacts: ArtifactPaths) -> list[FieldError]:
    """startSweep's own checks, their paths under `input.sweep`."""
    if changes.sweep is None:
        return []
    _, found = validate_sweep(changes.sweep, artifacts)
    generated = "name" if changes.sweep.name is not None else None
    return _nested_errors("sweep", found, generated, "sweep")


def _nested_errors(
    part: str, found: list[FieldError], generated: str | None, kind: str
) -> list[FieldError]:
    """The nested input's errors re-rooted under `input.<part>`, and one for a field the
    schedule generates for each slot (`generated`, when the client gave it)."""
    errors = [
        FieldError(["input", part, *error.field[1:]], error.message, error.code) for error in found
    ]
    if generated is not None:
        errors.append(
            FieldError(
                ["input", part, generated],
                f"is generated for each {kind} of a schedule (<name>-<slot time>); leave it out",
                FieldErrorCode.INVALID,
            )
        )
    return errors


def _kind_errors(changes: ScheduleChanges, creating: bool) -> list[FieldError]:
    """Exactly one of train and sweep on create; at most one on update."""
    given = [name for name in ("train", "sweep") if getattr(changes, name) is not None]
    if len(given) == 2:
        message = "give either train or sweep, not both: a slot starts one run or one sweep"
    elif not given and creating:
        message = "give train (one run per slot) or sweep (one sweep per slot)"
    else:
        return []
    return [
        FieldError(["input", name], message, FieldErrorCode.INVALID)
        for name in (given or ["train", "sweep"])
    ]


async def _errors(
    changes: ScheduleChanges, artifacts: ArtifactPaths, schedule_id: int | None = None
) -> list[FieldError]:
    errors: list[FieldError] = _kind_errors(changes, creating=schedule_id is None)
    if changes.name is not None:
        if not NAME_PATTERN.fullmatch(changes.name):
            errors.append(
                FieldError(
                    ["input", "name"],
                    f"must be 1 to {SCHEDULE_NAME_MAX_LENGTH} letters, digits, '.', '_' or "
                    "'-', starting with a letter or digit (it names the runs' model versions)",
                    FieldErrorCode.INVALID,
                )
            )
        elif await TrainingSchedule.filter(name=changes.name).exclude(id=schedule_id or 0).exists():
            errors.append(_name_taken(changes.name))
    if changes.cron is not None and (cron_error := _cron_error(changes.cron)) is not None:
        errors.append(cron_error)
    if changes.time_zone is not None and zone_of(changes.time_zone) is None:
        errors.append(
            FieldError(
                ["input", "timeZone"],
                f"{changes.time_zone[:80]!r} is not an IANA time zone (such as 'Europe/Paris')",
                FieldErrorCode.INVALID,
            )
        )
    if changes.promote_alias is not None and not ALIAS_PATTERN.fullmatch(changes.promote_alias):
        errors.append(
            FieldError(
                ["input", "promote", "alias"],
                "must be lowercase letters, digits, '-' and '_', 1 to 32 characters",
                FieldErrorCode.INVALID,
            )
        )
    gate = changes.promote_gate
    if gate is not None:
        try:
            artifacts.dataset(gate.dataset_path)
        except UnsafePath as exc:
            errors.append(
                FieldError(
                    ["input", "promote", "gate", "datasetPath"],
                    f"dataset path {exc}",
                    FieldErrorCode.PATH_NOT_ALLOWED,
                )
            )
    return errors + _train_errors(changes, artifacts) + _sweep_errors(changes, artifacts)


def _stored_gate(gate: GateRequest | None) -> dict[str, Any] | None:
    return asdict(gate) if gate is not None else None


def stored_gate_request(stored: dict[str, Any] | None) -> GateRequest | None:
    """The gate a schedule stored, as setModelAlias takes it."""
    return GateRequest(**stored) if stored else None


def _first_slot(schedule: TrainingSchedule, now: datetime) -> datetime:
    zone = zone_of(schedule.time_zone)
    assert zone is not None  # checked when stored
    return next_slot(schedule.cron, zone, now)


# --- mutations -------------------------------------------------------------------------


async def create_schedule(
    viewer: Identity | None, changes: ScheduleChanges, artifacts: ArtifactPaths
) -> ScheduleOutcome:
    errors = await _errors(changes, artifacts)
    if errors:
        return ScheduleOutcome(errors=errors)
    assert changes.name
    assert changes.cron
    assert (changes.train_json is None) != (changes.sweep_json is None)
    schedule = TrainingSchedule(
        name=changes.name,
        cron=changes.cron,
        time_zone=changes.time_zone or "UTC",
        misfire=changes.misfire or Misfire.RUN_ONCE,
        train=changes.train_json or {},
        sweep=changes.sweep_json,
        promote_alias=changes.promote_alias,
        promote_gate=_stored_gate(changes.promote_gate),
        created_by_id=viewer.id if viewer else None,
        created_by_username=viewer.username if viewer else None,
    )
    schedule.next_run_at = _first_slot(schedule, datetime.now(UTC))
    try:
        await schedule.save()
    except IntegrityError:
        # Two creations raced for one name; the unique index let one through.
        if await TrainingSchedule.filter(name=changes.name).exists():
            return ScheduleOutcome(errors=[_name_taken(changes.name)])
        raise
    logger.info(
        "schedule %s (%s, %s) created by %s: %r in %s, next slot %s",
        schedule.id,
        schedule.name,
        schedule.kind.value,
        schedule.created_by_username or "-",
        schedule.cron,
        schedule.time_zone,
        schedule.next_run_at,
    )
    return ScheduleOutcome(training_schedule=schedule)


def _not_found(label: str) -> ScheduleOutcome:
    shown = label if len(label) <= 40 else label[:40] + "…"
    return ScheduleOutcome(
        errors=[FieldError(["id"], f"no training schedule {shown}", FieldErrorCode.NOT_FOUND)]
    )


async def update_schedule(
    viewer: Identity | None,
    schedule_id: int | None,
    label: str,
    changes: ScheduleChanges,
    artifacts: ArtifactPaths,
) -> ScheduleOutcome:
    """Change what was given; a new cron or zone recomputes the next slot from now."""
    schedule = await get_schedule(schedule_id)
    if schedule is None:
        return _not_found(label)
    errors = await _errors(changes, artifacts, schedule.id)
    if errors:
        return ScheduleOutcome(errors=errors)
    if changes.name is not None:
        schedule.name = changes.name
    if changes.cron is not None:
        schedule.cron = changes.cron
    if changes.time_zone is not None:
        schedule.time_zone = changes.time_zone
    if changes.misfire is not None:
        schedule.misfire = changes.misfire
    if changes.train_json is not None:
        schedule.train, schedule.sweep = changes.train_json, None
    if changes.sweep_json is not None:
        schedule.train, schedule.sweep = {}, changes.sweep_json
    if changes.promote_given:
        schedule.promote_alias = changes.promote_alias
        schedule.promote_gate = _stored_gate(changes.promote_gate)
    if not schedule.paused:
        schedule.next_run_at = _first_slot(schedule, datetime.now(UTC))
    try:
        await schedule.save()
    except IntegrityError:  # renamed to a name another request took meanwhile
        return ScheduleOutcome(errors=[_name_taken(schedule.name)])
    logger.info(
        "schedule %s (%s) updated by %s, next slot %s",
        schedule.id,
        schedule.name,
        viewer.username if viewer else "-",
        schedule.next_run_at,
    )
    return ScheduleOutcome(training_schedule=schedule)


async def pause_schedule(
    viewer: Identity | None, schedule_id: int | None, label: str
) -> ScheduleOutcome:
    """No slot fires while paused (nextRunAt null); none is made up for at resume."""
    schedule = await get_schedule(schedule_id)
    if schedule is None:
        return _not_found(label)
    await TrainingSchedule.filter(id=schedule.id).update(paused=True, next_run_at=None)
    await schedule.refresh_from_db()
    logger.info("schedule %s paused by %s", schedule.id, viewer.username if viewer else "-")
    return ScheduleOutcome(training_schedule=schedule)


async def resume_schedule(
    viewer: Identity | None, schedule_id: int | None, label: str
) -> ScheduleOutcome:
    """Resume from the next slot after now: slots of the pause are not misfires."""
    schedule = await get_schedule(schedule_id)
    if schedule is None:
        return _not_found(label)
    if schedule.paused:
        await TrainingSchedule.filter(id=schedule.id, paused=True).update(
            paused=False, next_run_at=_first_slot(schedule, datetime.now(UTC))
        )
        await schedule.refresh_from_db()
    logger.info(
        "schedule %s resumed by %s, next slot %s",
        schedule.id,
        viewer.username if viewer else "-",
        schedule.next_run_at,
    )
    return ScheduleOutcome(training_schedule=schedule)


@dataclass
class DeleteScheduleOutcome:
    deleted_id: int | None = None
    errors: list[FieldError] = field(default_factory=list)


async def delete_schedule(
    viewer: Identity | None, schedule_id: int | None, label: str
) -> DeleteScheduleOutcome:
    """Remove the schedule and its history; its runs stay (their `schedule` becomes null)."""
    if schedule_id is None or not await TrainingSchedule.filter(id=schedule_id).delete():
        return DeleteScheduleOutcome(errors=_not_found(label).errors)
    logger.info("schedule %s deleted by %s", schedule_id, viewer.username if viewer else "-")
    return DeleteScheduleOutcome(deleted_id=schedule_id)


# --- reading ---------------------------------------------------------------------------


def parse_schedule_id(raw: str) -> int | None:
    """A numeric database id or a global id of a TrainingSchedule; None if neither."""
    return parse_id(raw, "TrainingSchedule")


async def get_schedule(schedule_id: int | None) -> TrainingSchedule | None:
    return None if schedule_id is None else await TrainingSchedule.get_or_none(id=schedule_id)


@dataclass
class ScheduleConnection:
    schedules: list[TrainingSchedule]
    has_next_page: bool
    has_previous_page: bool

    @staticmethod
    def cursor(schedule: TrainingSchedule) -> str:
        return base64.urlsafe_b64encode(f"schedule:{schedule.id}".encode()).decode()

    async def total_count(self) -> int:
        return await TrainingSchedule.all().count()


async def list_schedules(
    sizes: PageSizes, first: int | None = None, after: str | None = None
) -> ScheduleConnection:
    """Schedules in creation order (by id), keyset-paginated."""
    size = sizes.default if first is None else first
    if not 0 <= size <= sizes.maximum:
        raise ApiError(
            f"`first` must be between 0 and {sizes.maximum}, got {size}", argument="first"
        )
    query = TrainingSchedule.all().order_by("id")
    if after is not None:
        query = query.filter(id__gt=_decode_cursor(after))
    rows = await query.limit(size + 1)
    return ScheduleConnection(rows[:size], len(rows) > size, after is not None)


def _decode_cursor(cursor: str) -> int:
    try:
        kind, _, raw_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        kind, raw_id = "", ""
    if kind != "schedule" or not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 10:
        raise InvalidCursor(f"malformed cursor {cursor[:60]!r}", argument="after")
    return int(raw_id)


async def schedule_history(schedule_id: int, first: int) -> list[ScheduleSlot]:
    """The schedule's slots, newest first."""
    if not 0 <= first <= MAX_HISTORY:
        raise ApiError(
            f"`first` must be between 0 and {MAX_HISTORY}, got {first}", argument="first"
        )
    return await ScheduleSlot.filter(schedule_id=schedule_id).order_by("-slot_at").limit(first)


async def schedule_of_sweep(sweep_id: int) -> TrainingSchedule | None:
    """The schedule whose slot started this sweep; None for a sweep started by hand."""
    slot = await ScheduleSlot.filter(sweep_id=sweep_id).select_related("schedule").first()
    return None if slot is None else slot.schedule


async def schedule_runs(
    sizes: PageSizes, schedule_id: int, first: int | None, after: str | None
) -> RunConnection:
    return await list_training_runs(
        sizes,
        order=RunOrder(column="run_date", descending=True),
        first=first,
        after=after,
        run_filter=RunFilter(schedule_id=schedule_id),
    )
