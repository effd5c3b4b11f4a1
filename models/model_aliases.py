"""Model aliases ("production", "champion"): a name pointing at one trained run, and the
log of every assignment, so who promoted which model and when can always be answered.

`model_alias` holds the current target of each alias (its name is unique: the database,
not the code, makes two concurrent creations of one alias collide); `model_alias_assignment`
records every setModelAlias, kept when the alias moves or is deleted. Moving an alias
locks its row first, so concurrent moves are applied one after the other, each logged.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.run_records import read
from models.training_runs import RunStatus, TrainingRun
from models.webhook_outbox import WebhookEventType, alias_event_data, record_event

if TYPE_CHECKING:
    from models.accounts import User

ALIAS_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")
ALIAS_MAX_LENGTH = 32
# A concurrent creation of the same alias makes the losing transaction's INSERT fail on
# the unique name; it is retried once the winner's row exists (and can be locked).
_CREATE_ATTEMPTS = 3


class ModelAlias(Model):
    id = fields.IntField(primary_key=True)
    alias = fields.CharField(max_length=ALIAS_MAX_LENGTH, unique=True)
    run: fields.ForeignKeyRelation[TrainingRun] = fields.ForeignKeyField(
        "models.TrainingRun", related_name="model_aliases", on_delete=fields.CASCADE
    )
    set_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="model_aliases_set", null=True, on_delete=fields.SET_NULL
    )
    run_id: int
    set_by_id: int | None
    # Kept if the account is deleted, as on runs.
    set_by_username = fields.CharField(max_length=150, null=True)
    set_at = fields.DatetimeField()

    class Meta:
        table = "model_alias"


class ModelAliasAssignment(Model):
    id = fields.IntField(primary_key=True)
    # The name, not a foreign key: the log outlives deleteModelAlias.
    alias = fields.CharField(max_length=ALIAS_MAX_LENGTH, db_index=True)
    run: fields.ForeignKeyRelation[TrainingRun] = fields.ForeignKeyField(
        "models.TrainingRun", related_name="model_alias_assignments", on_delete=fields.CASCADE
    )
    set_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User",
        related_name="model_alias_assignments",
        null=True,
        on_delete=fields.SET_NULL,
    )
    run_id: int
    set_by_id: int | None
    set_by_username = fields.CharField(max_length=150, null=True)
    set_at = fields.DatetimeField()
    # The model evaluations a promotion gate judged this assignment on (issue 24): ids
    # of model_evaluation rows, candidate first; empty when set without a gate.
    evaluation_ids: Any = fields.JSONField(default=list)

    class Meta:
        table = "model_alias_assignment"


async def alias_exists(name: str) -> bool:
    # A name no alias can have (upper case, 33+ characters) is not looked up.
    return ALIAS_PATTERN.fullmatch(name) is not None and (
        await ModelAlias.filter(alias=name).exists()
    )


class AliasTargetRefused(Exception):
    """The run cannot be promoted (not COMPLETED, no model file): the message says why."""


class AliasTargetMissing(AliasTargetRefused):
    """No run of that id."""


class AliasMoved(Exception):
    """The alias no longer points at the run a promotion gate judged the candidate
    against (another setModelAlias moved it meanwhile): the gate must judge again."""


@dataclass(frozen=True)
class Expected:
    """Where a gated promotion found the alias (`run_id` None: no alias yet); the move
    is made only if the locked row still says so."""

    run_id: int | None


@dataclass(frozen=True)
class Setter:
    """Who sets an alias (None: a script with no account)."""

    user_id: int | None
    username: str | None


def promotable(run: TrainingRun | None, run_label: str) -> None:
    """Raise AliasTargetRefused unless `run` is a COMPLETED run with a model file."""
    if run is None:
        raise AliasTargetMissing(f"no training run {run_label}")
    if run.status != RunStatus.COMPLETED:
        raise AliasTargetRefused(
            f"run {run.id} is {run.status.value}: only a COMPLETED run can be promoted"
        )
    if not run.model_path or not run.model_sha256:
        raise AliasTargetRefused(f"run {run.id} has no model file")


async def set_alias(
    alias: str,
    run_id: int,
    setter: Setter,
    evaluation_ids: list[int] | None = None,
    expected: Expected | None = None,
) -> ModelAlias:
    """Point `alias` at the run, creating or moving it, and log the assignment.

    One transaction: the run is checked, the alias row locked (or created), then moved
    and logged. Two concurrent calls for one alias are serialised by that lock (or by the
    unique name when both create it): one ends last and wins, both are in the log. With
    `expected`, raise AliasMoved instead of moving an alias that points elsewhere.
    """
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return await _set_alias_once(alias, run_id, setter, evaluation_ids or [], expected)
        except IntegrityError:
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def _set_alias_once(
    alias: str, run_id: int, setter: Setter, evaluation_ids: list[int], expected: Expected | None
) -> ModelAlias:
    async with in_transaction() as connection:
        # Locked too, so the run cannot change state (or be deleted) under the promotion.
        run = (
            await TrainingRun.filter(id=run_id)
            .select_for_update()
            .using_db(connection)
            .only("id", "status", "model_path", "model_sha256", "model_version")
            .first()
        )
        promotable(run, str(run_id))
        row = await ModelAlias.filter(alias=alias).select_for_update().using_db(connection).first()
        previous_run_id = row.run_id if row is not None else None
        if expected is not None and previous_run_id != expected.run_id:
            raise AliasMoved(f"{alias!r} moved to run {previous_run_id} during the gate")
        # Taken once the lock is held, so the log's times follow its order.
        now = datetime.now(UTC)
        changes = {
            "run_id": run_id,
            "set_by_id": setter.user_id,
            "set_by_username": setter.username,
            "set_at": now,
        }
        if row is None:
            row = await ModelAlias.create(alias=alias, **changes, using_db=connection)
        else:
            await ModelAlias.filter(id=row.id).using_db(connection).update(**changes)
            row.update_from_dict(changes)
        await ModelAliasAssignment.create(
            alias=alias, evaluation_ids=evaluation_ids, **changes, using_db=connection
        )
        await _record_alias_event(
            alias, "SET", run, previous_run_id, setter.username, now, connection
        )
    return row


async def _record_alias_event(
    alias: str,
    action: str,
    run: TrainingRun | None,
    previous_run_id: int | None,
    username: str | None,
    now: datetime,
    connection: BaseDBAsyncClient,
) -> None:
    """The alias.changed webhook event, in the change's own transaction."""
    previous = None
    if previous_run_id is not None:
        previous = await (
            TrainingRun.filter(id=previous_run_id)
            .using_db(connection)
            .only("id", "model_version")
            .first()
        )
    await record_event(
        WebhookEventType.ALIAS_CHANGED,
        alias_event_data(alias, action, run, previous, username, now),
        connection=connection,
    )


async def delete_alias(alias: str, username: str | None = None) -> bool:
    """Remove the alias (its log stays), announcing it to webhooks; False if there was none."""
    async with in_transaction() as connection:
        row = await ModelAlias.filter(alias=alias).select_for_update().using_db(connection).first()
        if row is None:
            return False
        await ModelAlias.filter(id=row.id).using_db(connection).delete()
        await _record_alias_event(
            alias, "DELETED", None, row.run_id, username, datetime.now(UTC), connection
        )
    return True


async def current_assignment(alias: str) -> ModelAliasAssignment | None:
    """The assignment that set the alias where it points now (the newest of its log)."""
    if not await ModelAlias.exists(alias=alias):
        return None
    return await ModelAliasAssignment.filter(alias=alias).order_by("-id").first()


async def list_aliases() -> list[ModelAlias]:
    return await ModelAlias.all().order_by("alias").prefetch_related("run")


async def alias_history(alias: str) -> list[ModelAliasAssignment]:
    """Every assignment of `alias` but the current one, newest first.

    The current one is the newest entry while the alias exists (both are written in one
    transaction); once deleted, all of them are earlier assignments.
    """
    entries = await ModelAliasAssignment.filter(alias=alias).order_by("-id").prefetch_related("run")
    if entries and await ModelAlias.exists(alias=alias):
        entries = entries[1:]
    return entries


async def aliases_of_runs(run_ids: list[int]) -> list[list[str]]:
    """The aliases pointing at each run, in name order: one query for a page of runs."""
    found: dict[int, list[str]] = defaultdict(list)
    if not run_ids:
        return []
    # Plain SQL on the read path (models/run_records.read): a detail request asks for
    # it, and the ORM's query building and its one connection cost more than the read.
    # A short read: the table holds one row per alias an operator named.
    marks = ", ".join("?" * len(run_ids))
    rows, _ = await read(
        f"SELECT run_id, alias FROM {ModelAlias._meta.db_table} "
        f"WHERE run_id IN ({marks}) ORDER BY alias",
        [int(run_id) for run_id in run_ids],
        short=True,
    )
    for run_id, alias in rows:
        found[run_id].append(alias)
    return [found.get(run_id, []) for run_id in run_ids]


async def model_run(model: str) -> TrainingRun | None:
    """The run an alias (first) or a modelVersion names, in one query each."""
    row = await ModelAlias.filter(alias=model).select_related("run").first()
    if row is not None:
        return row.run
    return await TrainingRun.get_or_none(model_version=model)
