"""Model aliases as GraphQL types: where each points, who set it, and its history."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import accounts
from resolvers.accounts import Identity
from resolvers.model_aliases import GateOutcome as GateOutcomeValue
from resolvers.model_aliases import (
    GateRequest,
    alias_evaluations,
    alias_history,
    assigned_run,
    assignment_evaluations,
)
from resolvers.model_aliases import ModelAlias as ModelAliasRow
from resolvers.model_aliases import ModelAliasAssignment as AssignmentRow
from resolvers.model_evaluations import ModelEvaluation as ModelEvaluationRow
from resolvers.training_runs import RunRecord
from schema.context import Info
from schema.enums import GateMetric
from schema.errors import UserError
from schema.trust_jobs import VISIBLE_USER_DESCRIPTION, ModelEvaluation
from schema.types import TrainingRun, User


# Resolvers an alias and its assignments share (each type names the field).
async def _run(root: strawberry.Parent[ModelAliasRow | AssignmentRow]) -> RunRecord:
    return await assigned_run(root)


async def _set_by(
    root: strawberry.Parent[ModelAliasRow | AssignmentRow], info: Info
) -> Identity | None:
    if root.set_by_id is None:
        return None
    return await accounts.visible_user(info.context, root.set_by_id)


@strawberry.type(description="One setModelAlias: the run the alias was pointed at, by whom, when.")
class ModelAliasAssignment:
    set_at: datetime
    set_by_username: str | None = strawberry.field(
        description="Who set it; kept if the account is deleted."
    )

    run = strawberry.field(resolver=_run, graphql_type=TrainingRun)
    set_by = strawberry.field(
        resolver=_set_by, graphql_type=User | None, description=VISIBLE_USER_DESCRIPTION
    )

    @strawberry.field(
        description=(
            "The evaluations a promotion gate judged this assignment on (candidate first, "
            "then the model it replaced); empty when set without a gate."
        ),
        graphql_type=list[ModelEvaluation],
    )
    async def evaluations(self, root: strawberry.Parent[AssignmentRow]) -> list[ModelEvaluationRow]:
        return await assignment_evaluations(root)


@strawberry.type(
    description=(
        "A name (such as 'production') pointing at a COMPLETED run: predictFutureNeed's "
        "`model` takes it, and a moved alias is followed at the next request."
    )
)
class ModelAlias:
    alias: str
    set_at: datetime = strawberry.field(description="When it was pointed at its run.")
    set_by_username: str | None = strawberry.field(
        description="Who pointed it there; kept if the account is deleted."
    )

    run = strawberry.field(resolver=_run, graphql_type=TrainingRun)
    set_by = strawberry.field(
        resolver=_set_by, graphql_type=User | None, description=VISIBLE_USER_DESCRIPTION
    )

    @strawberry.field(
        description=(
            "Every earlier assignment of this alias (not the current one), newest first; "
            "kept across deleteModelAlias."
        ),
        graphql_type=list[ModelAliasAssignment],
    )
    async def history(self, root: strawberry.Parent[ModelAliasRow]) -> list[AssignmentRow]:
        return await alias_history(root.alias)

    @strawberry.field(
        description=(
            "The evaluations that justified the current assignment (its promotion gate's: "
            "candidate first); empty when set without a gate."
        ),
        graphql_type=list[ModelEvaluation],
    )
    async def evaluations(self, root: strawberry.Parent[ModelAliasRow]) -> list[ModelEvaluationRow]:
        return await alias_evaluations(root.alias)


@strawberry.input(
    description=(
        "Move the alias only if the candidate, evaluated on `datasetPath`, reaches the "
        "alias's current model on `metric` plus `minImprovement` (a tie passes at 0)."
    )
)
class PromotionGateInput:
    dataset_path: str = strawberry.field(description="A labelled CSV under artifacts/datasets/.")
    metric: GateMetric = GateMetric.ACCURACY
    min_improvement: float = 0.0

    def to_request(self) -> GateRequest:
        return GateRequest(self.dataset_path, self.metric.value, self.min_improvement)


@strawberry.type(description="What a promotion gate compared, and whether the candidate passed.")
class GateResult:
    metric: GateMetric
    candidate_value: float | None
    current_value: float | None = strawberry.field(
        description="Null when the alias pointed nowhere (the gate passes)."
    )
    passed: bool
    candidate_evaluation: ModelEvaluationRow | None = strawberry.field(
        graphql_type=ModelEvaluation | None
    )
    current_evaluation: ModelEvaluationRow | None = strawberry.field(
        graphql_type=ModelEvaluation | None
    )

    @staticmethod
    def of(outcome: GateOutcomeValue | None) -> GateResult | None:
        if outcome is None:
            return None
        return GateResult(
            metric=GateMetric(outcome.metric),
            candidate_value=outcome.candidate_value,
            current_value=outcome.current_value,
            passed=outcome.passed,
            candidate_evaluation=outcome.candidate,
            current_evaluation=outcome.current,
        )


@strawberry.type
class ModelAliasPayload:
    model_alias: ModelAliasRow | None = strawberry.field(graphql_type=ModelAlias | None)
    errors: list[UserError]
    gate: GateResult | None = strawberry.field(
        default=None, description="Set when a gate was asked for, whether it passed or not."
    )


@strawberry.type
class DeleteModelAliasPayload:
    deleted_alias: str | None
    errors: list[UserError]
