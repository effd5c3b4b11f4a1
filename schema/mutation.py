"""Mutation root: train a model, log in, log out."""

from __future__ import annotations

import strawberry

from resolvers import accounts, train_model
from resolvers.cancel_training_run import cancel_training_run
from resolvers.training_runs import parse_run_id
from schema.context import Info
from schema.errors import UserError
from schema.inputs import TrainModelInput
from schema.permissions import IsAuthenticated, IsHRStaff
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
class LogoutPayload:
    revoked: bool = strawberry.field(
        description="The token that sent this request is revoked: every later use is refused."
    )


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

    @strawberry.mutation(
        description="Revoke the token that sent this request (sign out).",
        permission_classes=[IsAuthenticated],
    )
    async def logout(self, info: Info) -> LogoutPayload:
        return LogoutPayload(revoked=await accounts.logout(info.context))
