"""setModelAlias, deleteModelAlias, modelAliases: promotion of trained runs by name.

Refused input comes back as FieldErrors (field and code) and changes nothing; the SQL,
the row lock and the assignment log are in models/model_aliases.py.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, cast

from models.accounts import Identity
from models.model_aliases import (
    ALIAS_PATTERN,
    AliasMoved,
    AliasTargetMissing,
    AliasTargetRefused,
    Expected,
    ModelAlias,
    ModelAliasAssignment,
    Setter,
    alias_history,
    current_assignment,
    delete_alias,
    list_aliases,
    set_alias,
)
from models.run_records import RunRecord
from models.training_runs import RunStatus, TrainingRun
from models.trust_jobs import ModelEvaluation
from resolvers.errors import FieldError, FieldErrorCode
from resolvers.model_evaluations import evaluation_of, evaluations_by_ids
from resolvers.trust_jobs import check_dataset_path
from trainer.artifacts import ArtifactPaths
from trainer.jobs.runners import JobRunner

__all__ = [
    "AliasOutcome",
    "DeleteAliasOutcome",
    "GateOutcome",
    "GateRequest",
    "ModelAlias",
    "ModelAliasAssignment",
    "alias_evaluations",
    "alias_history",
    "assigned_run",
    "assignment_evaluations",
    "delete_model_alias",
    "list_aliases",
    "set_model_alias",
]

logger = logging.getLogger("resolvers.model_aliases")

# A gated promotion judges again when the alias moved meanwhile, this many times at most.
_GATE_ATTEMPTS = 3

ALIAS_RULE = "lowercase letters, digits, '-' and '_', 1 to 32 characters"


# The metrics a promotion gate may compare, as evaluations record them.
GATE_METRICS = ("accuracy", "precision", "recall", "f1_score")


@dataclass(frozen=True)
class GateRequest:
    """setModelAlias's `gate`: move the alias only if the candidate, evaluated on this
    dataset, reaches the alias's current model on `metric` plus `min_improvement`."""

    dataset_path: str
    metric: str
    min_improvement: float = 0.0


@dataclass(frozen=True)
class GateOutcome:
    metric: str
    candidate_value: float | None
    current_value: float | None
    passed: bool
    candidate: ModelEvaluation | None
    current: ModelEvaluation | None
    # The run the alias pointed at when judged (None: no alias): the move is made only
    # from there, so a gate is never passed against a model the alias no longer serves.
    current_run_id: int | None = None


@dataclass
class AliasOutcome:
    model_alias: ModelAlias | None = None
    errors: list[FieldError] = field(default_factory=list)
    gate: GateOutcome | None = None


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
    viewer: Identity | None,
    alias: str,
    run_id: int | None,
    run_label: str,
    gate: GateRequest | None = None,
    *,
    artifacts: ArtifactPaths | None = None,
    jobs: JobRunner | None = None,
) -> AliasOutcome:
    """Point `alias` at a COMPLETED run with a model file (`run_id` None: an id naming no
    run); create it, or move it from wherever it pointed. With a `gate` (and the
    artifacts and runners it needs), only if the candidate passes it."""
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
    if gate is None:
        return await _assign(alias, run_id, setter)
    assert artifacts is not None, "a gate needs the artifacts"
    assert jobs is not None, "a gate needs the runners"
    for _ in range(_GATE_ATTEMPTS):
        judged = await _judge(viewer, alias, run_id, gate, artifacts, jobs)
        if isinstance(judged, FieldError):
            return AliasOutcome(errors=[judged])
        if not judged.passed:
            logger.info(
                "alias %s not moved to run %s: promotion gate failed (%s %s < %s + %s)",
                alias,
                run_id,
                gate.metric,
                judged.candidate_value,
                judged.current_value,
                gate.min_improvement,
            )
            return AliasOutcome(
                errors=[
                    FieldError(
                        ["gate"],
                        f"run {run_id} reaches {gate.metric} {judged.candidate_value:.4f} on "
                        f"{gate.dataset_path!r}, below the current model's "
                        f"{judged.current_value:.4f} + {gate.min_improvement:g}: "
                        f"{alias!r} was not moved",
                        FieldErrorCode.PROMOTION_GATE_FAILED,
                    )
                ],
                gate=judged,
            )
        try:
            return await _assign(alias, run_id, setter, judged)
        except AliasMoved:
            logger.info(
                "alias %s moved while its gate evaluated run %s: judging again", alias, run_id
            )
    return AliasOutcome(
        errors=[
            FieldError(
                ["alias"],
                f"{alias!r} was moved by others {_GATE_ATTEMPTS} times while the gate "
                "evaluated; try again",
                FieldErrorCode.INVALID_STATE,
            )
        ]
    )


async def _assign(
    alias: str, run_id: int, setter: Setter, judged: GateOutcome | None = None
) -> AliasOutcome:
    """Move the alias; after a gate, only from the run it judged against (AliasMoved)."""
    evaluation_ids: list[int] = []
    expected: Expected | None = None
    if judged is not None:
        evaluation_ids = [e.id for e in (judged.candidate, judged.current) if e is not None]
        expected = Expected(judged.current_run_id)
    try:
        row = await set_alias(alias, run_id, setter, evaluation_ids, expected)
    except AliasTargetRefused as exc:
        code = (
            FieldErrorCode.NOT_FOUND
            if isinstance(exc, AliasTargetMissing)
            else FieldErrorCode.INVALID_STATE
        )
        return AliasOutcome(errors=[FieldError(["runId"], str(exc), code)])
    logger.info("alias %s set to run %s by %s", alias, run_id, setter.username or "-")
    return AliasOutcome(model_alias=row, gate=judged)


def _gate_value(evaluation: ModelEvaluation, metric: str) -> float:
    return float(evaluation.metrics[metric])


async def _judge(
    viewer: Identity | None,
    alias: str,
    run_id: int,
    gate: GateRequest,
    artifacts: ArtifactPaths,
    jobs: JobRunner,
) -> GateOutcome | FieldError:
    """Evaluate the candidate and the alias's current model on the gate's dataset
    (reusing evaluations of the same model and bytes) and compare them."""
    dataset, error = check_dataset_path(artifacts, gate.dataset_path, ["gate", "datasetPath"])
    if error is not None or dataset is None:
        return error or FieldError(["gate", "datasetPath"], "no dataset", FieldErrorCode.NOT_FOUND)
    if gate.metric not in GATE_METRICS:
        return FieldError(
            ["gate", "metric"],
            f"metric must be one of {', '.join(GATE_METRICS)}",
            FieldErrorCode.INVALID,
        )
    if not math.isfinite(gate.min_improvement):
        return FieldError(
            ["gate", "minImprovement"],
            "minImprovement must be a finite number",
            FieldErrorCode.INVALID,
        )
    candidate_run = await TrainingRun.get_or_none(id=run_id)
    if candidate_run is None:
        return FieldError(["runId"], f"no training run {run_id}", FieldErrorCode.NOT_FOUND)
    if candidate_run.status != RunStatus.COMPLETED or not candidate_run.model_sha256:
        return FieldError(
            ["runId"],
            f"run {run_id} is {candidate_run.status.value}: only a COMPLETED run can be promoted",
            FieldErrorCode.INVALID_STATE,
        )
    current_row = await ModelAlias.filter(alias=alias).select_related("run").first()
    candidate = await evaluation_of(viewer, artifacts, jobs, candidate_run, dataset)
    current: ModelEvaluation | None = None
    if current_row is not None:
        current_run = current_row.run
        current = (
            candidate
            if current_run.id == run_id
            else await evaluation_of(viewer, artifacts, jobs, current_run, dataset)
        )
    for evaluation in (candidate, current):
        if evaluation is not None and evaluation.status != RunStatus.COMPLETED:
            return FieldError(
                ["gate", "datasetPath"],
                f"evaluation {evaluation.id} of {evaluation.model_version} on {dataset!r} "
                f"ended {evaluation.status.value}: {evaluation.error_message}",
                FieldErrorCode.INVALID,
            )
    candidate_value = _gate_value(candidate, gate.metric)
    if current is None or current_row is None:  # no current model: nothing to beat
        return GateOutcome(gate.metric, candidate_value, None, True, candidate, None)
    current_value = _gate_value(current, gate.metric)
    passed = candidate_value >= current_value + gate.min_improvement
    return GateOutcome(
        gate.metric, candidate_value, current_value, passed, candidate, current, current_row.run_id
    )


async def alias_evaluations(alias: str) -> list[ModelEvaluation]:
    """The evaluations that justified the alias's current assignment (none without a gate)."""
    assignment = await current_assignment(alias)
    return await evaluations_by_ids(list(assignment.evaluation_ids or [])) if assignment else []


async def assignment_evaluations(row: ModelAliasAssignment) -> list[ModelEvaluation]:
    return await evaluations_by_ids(list(row.evaluation_ids or []))


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
