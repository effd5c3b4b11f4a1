"""setModelAlias, deleteModelAlias, modelAliases: promotion of trained runs by name.

Refused input comes back as FieldErrors (field and code) and changes nothing; the SQL,
the row lock and the assignment log are in models/model_aliases.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, cast

from models.accounts import Identity
from models.model_aliases import (
    ALIAS_PATTERN,
    AliasTargetMissing,
    AliasTargetRefused,
    ModelAlias,
    ModelAliasAssignment,
    Setter,
    alias_history,
    delete_alias,
    list_aliases,
    set_alias,
)
from models.run_records import RunRecord
from models.training_runs import TrainingRun
from resolvers.errors import FieldError, FieldErrorCode

__all__ = [
    "AliasOutcome",
    "DeleteAliasOutcome",
    "ModelAlias",
    "ModelAliasAssignment",
    "alias_history",
    "assigned_run",
    "delete_model_alias",
    "list_aliases",
    "set_model_alias",
]

logger = logging.getLogger("resolvers.model_aliases")

ALIAS_RULE = "lowercase letters, digits, '-' and '_', 1 to 32 characters"


@dataclass
class AliasOutcome:
    model_alias: ModelAlias | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class DeleteAliasOutcome:
    deleted_alias: str | None = None
    errors: list[FieldError] = field(default_factory=list)


def _alias_error(alias: str) -> FieldError | None:
    if ALIAS_PATTERN.fullmatch(alias):
        return None
    shown = alias if len(alias) <= 40 else alias[:40] + "…"
    return FieldError(
        ["alias"], f"{shown!r} is not an alias name: use {ALIAS_RULE}", FieldErrorCode.INVALID
    )


async def set_model_alias(
    viewer: Identity | None, alias: str, run_id: int | None, run_label: str
) -> AliasOutcome:
    """Point `alias` at a COMPLETED run with a model file (`run_id` None: an id naming no
    run); create it, or move it from wherever it pointed."""
    error = _alias_error(alias)
    if error is not None:
        return AliasOutcome(errors=[error])
    if run_id is None:
        shown = run_label if len(run_label) <= 40 else run_label[:40] + "…"
        return AliasOutcome(
            errors=[FieldError(["runId"], f"no training run {shown}", FieldErrorCode.NOT_FOUND)]
        )
    if await TrainingRun.filter(model_version=alias).exists():
        # predictFutureNeed(model:) takes an alias or a modelVersion: one name, one model.
        return AliasOutcome(
            errors=[
                FieldError(
                    ["alias"],
                    f"{alias!r} is the model version of a run; choose another alias name",
                    FieldErrorCode.DUPLICATE,
                )
            ]
        )
    setter = Setter(viewer.id, viewer.username) if viewer else Setter(None, None)
    try:
        row = await set_alias(alias, run_id, setter)
    except AliasTargetRefused as exc:
        code = (
            FieldErrorCode.NOT_FOUND
            if isinstance(exc, AliasTargetMissing)
            else FieldErrorCode.INVALID_STATE
        )
        return AliasOutcome(errors=[FieldError(["runId"], str(exc), code)])
    logger.info("alias %s set to run %s by %s", alias, run_id, setter.username or "-")
    return AliasOutcome(model_alias=row)


async def delete_model_alias(viewer: Identity | None, alias: str) -> DeleteAliasOutcome:
    error = _alias_error(alias)
    if error is not None:
        return DeleteAliasOutcome(errors=[error])
    if not await delete_alias(alias, viewer.username if viewer else None):
        return DeleteAliasOutcome(
            errors=[FieldError(["alias"], f"there is no alias {alias!r}", FieldErrorCode.NOT_FOUND)]
        )
    logger.info("alias %s deleted by %s", alias, viewer.username if viewer else "-")
    return DeleteAliasOutcome(deleted_alias=alias)


async def assigned_run(row: ModelAlias | ModelAliasAssignment) -> RunRecord:
    """The row's run (prefetched by the list queries, else read now) as TrainingRun reads it."""
    run: Any = row.run
    if not isinstance(run, TrainingRun):
        run = cast("TrainingRun", await run)
    return RunRecord.of(run)
