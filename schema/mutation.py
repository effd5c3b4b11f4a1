"""Mutation root: train a model, cancel a run, promote one by alias, add and remove
datasets, log in and out.

Each field unpacks the request context and calls its resolver with typed values; the
resolver's RunOutcome becomes the payload (its FieldErrors, UserErrors)."""

from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload

from resolvers import accounts, datasets, model_aliases, sweeps, train_model
from resolvers.accounts import Identity
from resolvers.cancel_training_run import cancel_training_run
from resolvers.login_limiter import limited_login
from resolvers.training_runs import RunRecord, parse_run_id
from resolvers.upload_spool import spooled_path
from schema.context import Info
from schema.datasets import DeleteDatasetPayload, UploadDatasetPayload
from schema.errors import UserError, user_errors
from schema.inputs import TrainModelInput
from schema.model_aliases import DeleteModelAliasPayload, ModelAliasPayload
from schema.permissions import IsAuthenticated, IsHRStaff, unauthenticated
from schema.sweeps import CancelSweepPayload, StartSweepInput, StartSweepPayload
from schema.types import TrainingRun, User


@strawberry.type
class TrainModelPayload:
    training_run: RunRecord | None = strawberry.field(graphql_type=TrainingRun | None)
    errors: list[UserError]


@strawberry.type
class CancelTrainingRunPayload:
    training_run: RunRecord | None = strawberry.field(graphql_type=TrainingRun | None)
    errors: list[UserError]


@strawberry.type
class LoginPayload:
    token: str = strawberry.field(
        description="Send it as 'Authorization: Token <token>'. Shown only once."
    )
    user: Identity = strawberry.field(graphql_type=User)


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
        services = info.context.services
        outcome = await train_model.train_model(
            input.to_request(),
            viewer=await info.context.viewer(),
            artifacts=services.artifacts,
            jobs=services.jobs,
        )
        return TrainModelPayload(
            training_run=outcome.training_run, errors=user_errors(outcome.errors)
        )

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
            training_run=outcome.training_run, errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description=(
            "Add a CSV file to the datasets folder at `path` (GraphQL multipart request). It "
            "is checked as training checks it, and refused with the reason unless usable; "
            "an existing path is refused unless `replace` is true."
        ),
        permission_classes=[IsHRStaff],
        graphql_type=UploadDatasetPayload,
    )
    async def upload_dataset(
        self, info: Info, file: Upload, path: str, replace: bool | None = False
    ) -> datasets.UploadOutcome:
        context = info.context
        viewer = await context.viewer()
        return await datasets.upload_dataset(
            context.services.artifacts,
            context.services.dataset_limits,
            spooled_path(file, getattr(context.request.state, "upload_spool", None)),
            path,
            bool(replace),
            uploaded_by=viewer.username if viewer else "-",
            quota=context.services.dataset_quota,
        )

    @strawberry.mutation(
        description=(
            "Remove a dataset file of the folder and its description. Its uploader may, and "
            "a DRH or a superuser for any file; never the shipped default, nor a file that "
            "a QUEUED or RUNNING run will read."
        ),
        permission_classes=[IsHRStaff],
    )
    async def delete_dataset(self, info: Info, path: str) -> DeleteDatasetPayload:
        viewer = await info.context.viewer()
        if viewer is None:
            raise unauthenticated()
        outcome = await datasets.delete_dataset(info.context.services.artifacts, path, viewer)
        return DeleteDatasetPayload(
            deleted_path=outcome.deleted_path, errors=user_errors(outcome.errors)
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
        return LoginPayload(token=result.token, user=result.user)

    @strawberry.mutation(
        description="Revoke the token that sent this request (sign out).",
        permission_classes=[IsAuthenticated],
    )
    async def logout(self, info: Info) -> LogoutPayload:
        context = info.context
        viewer = await context.viewer()
        if viewer is None or context.token is None:
            raise unauthenticated()
        forget = context.services.identities.forget
        return LogoutPayload(revoked=await accounts.logout(viewer, context.token, forget))

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
        outcome = await model_aliases.set_model_alias(
            await info.context.viewer(), alias, parse_run_id(str(run_id)), str(run_id)
        )
        return ModelAliasPayload(
            model_alias=outcome.model_alias, errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description="Remove an alias; its history is kept.", permission_classes=[IsHRStaff]
    )
    async def delete_model_alias(self, info: Info, alias: str) -> DeleteModelAliasPayload:
        outcome = await model_aliases.delete_model_alias(await info.context.viewer(), alias)
        return DeleteModelAliasPayload(
            deleted_alias=outcome.deleted_alias, errors=user_errors(outcome.errors)
        )

    # --- sweeps (issue 23) ---
    @strawberry.mutation(
        description=(
            "Start a search for the best model: trials are training runs judged on validation "
            "rows carved from the training split. Refused input comes back in `errors` "
            "(each naming its field) and creates nothing."
        ),
        permission_classes=[IsHRStaff],
    )
    async def start_sweep(self, info: Info, input: StartSweepInput) -> StartSweepPayload:
        services = info.context.services
        outcome = await sweeps.start_sweep(
            input.to_request(), viewer=await info.context.viewer(), artifacts=services.artifacts
        )
        if outcome.sweep is not None:
            services.sweeps.wake()
        return StartSweepPayload(sweep=outcome.sweep, errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description=(
            "Cancel a sweep: no trial starts after, queued trials are cancelled and running "
            "ones stop within seconds."
        ),
        permission_classes=[IsHRStaff],
    )
    async def cancel_sweep(self, info: Info, id: strawberry.ID) -> CancelSweepPayload:
        outcome = await sweeps.cancel_sweep(
            sweeps.parse_sweep_id(str(id)), await info.context.viewer()
        )
        return CancelSweepPayload(sweep=outcome.sweep, errors=user_errors(outcome.errors))
