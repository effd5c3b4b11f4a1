"""Mutation root: train a model, log in."""

from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload

from resolvers import accounts, datasets, train_model
from resolvers.cancel_training_run import cancel_training_run
from resolvers.training_runs import parse_run_id
from schema.context import Info
from schema.datasets import UploadDatasetPayload
from schema.errors import UserError
from schema.inputs import TrainModelInput
from schema.permissions import IsHRStaff
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
        return await accounts.login(info.context, username, password)  # type: ignore[return-value]
