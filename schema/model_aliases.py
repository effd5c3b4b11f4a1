"""Model aliases as GraphQL types: where each points, who set it, and its history."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import accounts
from resolvers.accounts import Identity
from resolvers.model_aliases import ModelAlias as ModelAliasRow
from resolvers.model_aliases import ModelAliasAssignment as AssignmentRow
from resolvers.model_aliases import alias_history, assigned_run
from resolvers.training_runs import RunRecord
from schema.context import Info
from schema.errors import UserError
from schema.types import TrainingRun, User


async def _set_by(row: ModelAliasRow | AssignmentRow, info: Info) -> Identity | None:
    if row.set_by_id is None:
        return None
    return await accounts.visible_user(info.context, row.set_by_id)


@strawberry.type(description="One setModelAlias: the run the alias was pointed at, by whom, when.")
class ModelAliasAssignment:
    set_at: datetime
    set_by_username: str | None = strawberry.field(
        description="Who set it; kept if the account is deleted."
    )

    @strawberry.field(graphql_type=TrainingRun)
    async def run(self, root: strawberry.Parent[AssignmentRow]) -> RunRecord:
        return await assigned_run(root)

    @strawberry.field(
        description="Visible to HR staff and to that user; null for others.",
        graphql_type=User | None,
    )
    async def set_by(self, root: strawberry.Parent[AssignmentRow], info: Info) -> Identity | None:
        return await _set_by(root, info)


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

    @strawberry.field(graphql_type=TrainingRun)
    async def run(self, root: strawberry.Parent[ModelAliasRow]) -> RunRecord:
        return await assigned_run(root)

    @strawberry.field(
        description="Visible to HR staff and to that user; null for others.",
        graphql_type=User | None,
    )
    async def set_by(self, root: strawberry.Parent[ModelAliasRow], info: Info) -> Identity | None:
        return await _set_by(root, info)

    @strawberry.field(
        description=(
            "Every earlier assignment of this alias (not the current one), newest first; "
            "kept across deleteModelAlias."
        ),
        graphql_type=list[ModelAliasAssignment],
    )
    async def history(self, root: strawberry.Parent[ModelAliasRow]) -> list[AssignmentRow]:
        return await alias_history(root.alias)


@strawberry.type
class ModelAliasPayload:
    model_alias: ModelAliasRow | None = strawberry.field(graphql_type=ModelAlias | None)
    errors: list[UserError]


@strawberry.type
class DeleteModelAliasPayload:
    deleted_alias: str | None
    errors: list[UserError]
