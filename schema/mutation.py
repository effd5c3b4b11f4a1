"""Mutation root: train a model, promote one by alias, log in."""

from __future__ import annotations

import strawberry

from resolvers import accounts, model_aliases, train_model
from resolvers.cancel_training_run import cancel_training_run
from resolvers.training_runs import parse_run_id
from schema.context import Info
from schema.errors import UserError
from schema.inputs import TrainModelInput
from schema.model_aliases import DeleteModelAliasPayload, ModelAliasPayload
from schema.permissions import IsHRStaff
from schema.types import TrainingRun, User


@strawberry.type
class TrainModelPayload:
    training_run: TrainingRun | None
    errors: list[UserError]


@strawberry.type
class CancelTrainingRunPayload:
    training_run: TrainingRun | None
    errors: list[UserError]


@strawberry.type
class LoginPayload:
    token: str = strawberry.field(
        description="Send it as 'Authorization: Token <token>'. Shown only once."
    )
    user: User


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Train a model. Refused input comes back in `errors` and creates no run.",
        permission_classes=[IsHRStaff],
    )
    async def train_model(self, info: Info, input: TrainModelInput) -> TrainModelPayload:
        return await train_model.train_model(info.context, input)  # type: ignore[return-value]

    @strawberry.mutation(
        description=(
            "Cancel a run: at once when queued; a running one stops within about two "
            "seconds and keeps no model file."
        ),
        permission_classes=[IsHRStaff],
    )
    async def cancel_training_run(self, info: Info, id: strawberry.ID) -> CancelTrainingRunPayload:
        return await cancel_training_run(info.context, parse_run_id(str(id)))  # type: ignore[return-value]

    @strawberry.mutation(description="Exchange a username and password for a new API token.")
    async def login(self, info: Info, username: str, password: str) -> LoginPayload:
        return await accounts.login(info.context, username, password)  # type: ignore[return-value]

    # --- model aliases (issue 10) ---
    @strawberry.mutation(
        description=(
            "Point an alias (lowercase letters, digits, '-', '_'; 1-32 characters) at a "
            "COMPLETED run with a model file, creating it or moving it; logged in its history."
        ),
        permission_classes=[IsHRStaff],
    )
    async def set_model_alias(
        self, info: Info, alias: str, run_id: strawberry.ID
    ) -> ModelAliasPayload:
        viewer = await info.context.viewer()
        return await model_aliases.set_model_alias(  # type: ignore[return-value]
            viewer, alias, parse_run_id(str(run_id)), str(run_id)
        )

    @strawberry.mutation(
        description="Remove an alias; its history is kept.", permission_classes=[IsHRStaff]
    )
    async def delete_model_alias(self, info: Info, alias: str) -> DeleteModelAliasPayload:
        viewer = await info.context.viewer()
        return await model_aliases.delete_model_alias(viewer, alias)  # type: ignore[return-value]
