"""Mutation root: train a model, cancel a run, log in.

Each field unpacks the request context and calls its resolver with typed values; the
resolver's RunOutcome becomes the payload (its FieldErrors, UserErrors)."""

from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload

from models.training_runs import TrainingRun as TrainingRunRow
from resolvers import accounts, datasets, train_model
from resolvers.cancel_training_run import cancel_training_run
from resolvers.errors import RunOutcome
from resolvers.training_runs import parse_run_id
from schema.auth.login_limiter import limited_login
from schema.auth.permissions import IsHRStaff
from schema.context import Info
from schema.datasets import UploadDatasetPayload
from schema.errors import UserError, user_errors
from schema.inputs import TrainModelInput
from schema.types import TrainingRun, User
from schema.uploads import spooled_path


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


def _run(outcome: RunOutcome) -> TrainingRun | None:
    # The Tortoise row is what TrainingRun's fields read (schema/types.py).
    row: TrainingRunRow | None = outcome.training_run
    return row  # type: ignore[return-value]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Train a model. Refused input comes back in `errors` and creates no run.",
        permission_classes=[IsHRStaff],
    )
    async def train_model(self, info: Info, input: TrainModelInput) -> TrainModelPayload:
        services = info.context.services
        outcome = await train_model.train_model(
            input.to_request(),
            viewer=await info.context.viewer(),
            artifacts=services.artifacts,
            jobs=services.jobs,
        )
        return TrainModelPayload(training_run=_run(outcome), errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description=(
            "Cancel a run: at once when queued; a running one stops within about two "
            "seconds and keeps no model file."
        ),
        permission_classes=[IsHRStaff],
    )
    async def cancel_training_run(self, info: Info, id: strawberry.ID) -> CancelTrainingRunPayload:
        outcome = await cancel_training_run(parse_run_id(str(id)), await info.context.viewer())
        return CancelTrainingRunPayload(
            training_run=_run(outcome), errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description=(
            "Add a CSV file to the datasets folder at `path` (GraphQL multipart request). It "
            "is checked as training checks it, and refused with the reason unless usable; "
            "an existing path is refused unless `replace` is true."
        ),
        permission_classes=[IsHRStaff],
    )
    async def upload_dataset(
        self, info: Info, file: Upload, path: str, replace: bool | None = False
    ) -> UploadDatasetPayload:
        context = info.context
        viewer = await context.viewer()
        return await datasets.upload_dataset(  # type: ignore[return-value]
            context.services.artifacts,
            spooled_path(file, getattr(context.request.state, "upload_spool", None)),
            path,
            bool(replace),
            uploaded_by=viewer.username if viewer else "-",
        )

    @strawberry.mutation(description="Exchange a username and password for a new API token.")
    async def login(self, info: Info, username: str, password: str) -> LoginPayload:
        context = info.context
        result = await limited_login(
            context.services.login_limiter,
            context.client_address,
            username,
            lambda: accounts.login(username, password),
        )
        return LoginPayload(token=result.token, user=result.user)  # type: ignore[arg-type]
