"""Mutation root: train a model, cancel a run, edit its notes and tags, promote one by
alias, add and remove datasets, log in and out, manage webhooks and training schedules,
score files and evaluate models.

Each field unpacks the request context and calls its resolver with typed values; the
resolver's RunOutcome becomes the payload (its FieldErrors, UserErrors)."""

from __future__ import annotations

from contextlib import suppress

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from resolvers import (
    accounts,
    batch_predictions,
    datasets,
    model_aliases,
    model_evaluations,
    run_tags,
    sweeps,
    train_model,
    training_schedules,
    webhooks,
)
from resolvers.accounts import Identity
from resolvers.cancel_training_run import cancel_training_run
from resolvers.login_limiter import limited_login
from resolvers.training_runs import RunRecord, parse_run_id
from resolvers.upload_spool import spooled_path
from schema.context import Info
from schema.datasets import DeleteDatasetPayload, UploadDatasetPayload
from schema.errors import UserError, user_errors
from schema.inputs import TrainModelInput
from schema.model_aliases import (
    DeleteModelAliasPayload,
    GateResult,
    ModelAliasPayload,
    PromotionGateInput,
)
from schema.permissions import IsAuthenticated, IsHRStaff, unauthenticated
from schema.sweeps import CancelSweepPayload, StartSweepInput, StartSweepPayload
from schema.training_schedules import (
    CreateTrainingScheduleInput,
    DeleteTrainingSchedulePayload,
    TrainingSchedulePayload,
    UpdateTrainingScheduleInput,
)
from schema.trust_jobs import (
    CancelBatchPredictionPayload,
    CancelEvaluationPayload,
    StartBatchPredictionInput,
    StartBatchPredictionPayload,
    StartEvaluationInput,
    StartEvaluationPayload,
)
from schema.types import TrainingRun, User
from schema.webhooks import (
    CreateWebhookPayload,
    DeleteWebhookPayload,
    RedeliverWebhookPayload,
    RotateWebhookSecretPayload,
    UpdateWebhookPayload,
    WebhookEventType,
)


@strawberry.type
class TrainModelPayload:
    training_run: RunRecord | None = strawberry.field(graphql_type=TrainingRun | None)
    errors: list[UserError]


@strawberry.type
class CancelTrainingRunPayload:
    training_run: RunRecord | None = strawberry.field(graphql_type=TrainingRun | None)
    errors: list[UserError]


@strawberry.type
class UpdateTrainingRunPayload:
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


async def _schedule_target(
    info: Info, id: strawberry.ID
) -> tuple[Identity | None, int | None, str]:
    """A schedule mutation's first arguments: the viewer, the schedule's database id (None
    if `id` names none) and `id` as sent, for errors to quote."""
    return await info.context.viewer(), training_schedules.parse_schedule_id(str(id)), str(id)


def _schedule_payload(outcome: training_schedules.ScheduleOutcome) -> TrainingSchedulePayload:
    return TrainingSchedulePayload(
        training_schedule=outcome.training_schedule, errors=user_errors(outcome.errors)
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
            "Set a run's notes and/or replace its tags (an argument left out is left as "
            "is; `tags: []` removes them all). Tags are trimmed and lower-cased, 1 to 32 "
            "characters without commas, at most 20 per run; refused input comes back in "
            "`errors` and changes nothing."
        ),
        permission_classes=[IsHRStaff],
    )
    async def update_training_run(
        self,
        info: Info,
        id: strawberry.ID,
        notes: str | None = strawberry.UNSET,
        tags: list[str] | None = strawberry.UNSET,
    ) -> UpdateTrainingRunPayload:
        run_id = parse_run_id(str(id))
        outcome = await run_tags.update_training_run(
            await info.context.viewer(),
            run_id,
            # Left out or null: unchanged (notes are never null; tags: [] clears them).
            notes=notes if isinstance(notes, str) else None,
            tags=tags if isinstance(tags, list) else None,
        )
        if run_id is not None:
            with suppress(KeyError):  # not loaded yet by this request
                info.context.tags.clear(run_id)  # read again if this request selects them
        return UpdateTrainingRunPayload(
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
        context.audit_actor = result.user  # who this login signed in, for its audit entry
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
            "COMPLETED run with a model file, creating it or moving it; logged in its history. "
            "With `gate`, the candidate and the alias's current model are evaluated on the "
            "gate's dataset first (evaluations of the same model and bytes are reused), and "
            "the alias moves only if the candidate passes; otherwise PROMOTION_GATE_FAILED."
        ),
        permission_classes=[IsHRStaff],
    )
    async def set_model_alias(
        self,
        info: Info,
        alias: str,
        run_id: strawberry.ID,
        gate: PromotionGateInput | None = None,
    ) -> ModelAliasPayload:
        services = info.context.services
        outcome = await model_aliases.set_model_alias(
            await info.context.viewer(),
            alias,
            parse_run_id(str(run_id)),
            str(run_id),
            gate.to_request() if gate is not None else None,
            artifacts=services.artifacts,
            jobs=services.jobs,
        )
        return ModelAliasPayload(
            model_alias=outcome.model_alias,
            errors=user_errors(outcome.errors),
            gate=GateResult.of(outcome.gate),
        )

    # --- trusting a model (issue 24) ---
    @strawberry.mutation(
        description=(
            "Score a whole CSV file (under artifacts/datasets/) with a model, as a job: "
            "follow it with batchPredictionUpdated, download the result from its downloadUrl."
        ),
        permission_classes=[IsHRStaff],
    )
    async def start_batch_prediction(
        self, info: Info, input: StartBatchPredictionInput
    ) -> StartBatchPredictionPayload:
        services = info.context.services
        outcome = await batch_predictions.start_batch_prediction(
            await info.context.viewer(),
            services.artifacts,
            services.jobs,
            input.model,
            input.dataset_path,
            input.explain or 0,
        )
        return StartBatchPredictionPayload(
            batch_prediction=outcome.batch_prediction, errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description=(
            "Cancel a batch prediction: at once when queued; a running one stops at its "
            "next chunk of rows and keeps no output file."
        ),
        permission_classes=[IsHRStaff],
    )
    async def cancel_batch_prediction(
        self, info: Info, id: strawberry.ID
    ) -> CancelBatchPredictionPayload:
        outcome = await batch_predictions.cancel_batch_prediction(
            await info.context.viewer(), str(id)
        )
        return CancelBatchPredictionPayload(
            batch_prediction=outcome.batch_prediction, errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description=(
            "Evaluate a model on a labelled CSV file, as a job: metrics, per class, confusion "
            "matrix, and the file's drift against the run's own training data."
        ),
        permission_classes=[IsHRStaff],
    )
    async def start_evaluation(
        self, info: Info, input: StartEvaluationInput
    ) -> StartEvaluationPayload:
        services = info.context.services
        outcome = await model_evaluations.start_evaluation(
            await info.context.viewer(),
            services.artifacts,
            services.jobs,
            input.model,
            input.dataset_path,
        )
        return StartEvaluationPayload(
            evaluation=outcome.evaluation, errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description=(
            "Cancel a model evaluation: at once when queued; a running one stops at its "
            "next chunk of rows and records no result."
        ),
        permission_classes=[IsHRStaff],
    )
    async def cancel_evaluation(self, info: Info, id: strawberry.ID) -> CancelEvaluationPayload:
        outcome = await model_evaluations.cancel_evaluation(await info.context.viewer(), str(id))
        return CancelEvaluationPayload(
            evaluation=outcome.evaluation, errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description="Remove an alias; its history is kept.", permission_classes=[IsHRStaff]
    )
    async def delete_model_alias(self, info: Info, alias: str) -> DeleteModelAliasPayload:
        outcome = await model_aliases.delete_model_alias(await info.context.viewer(), alias)
        return DeleteModelAliasPayload(
            deleted_alias=outcome.deleted_alias, errors=user_errors(outcome.errors)
        )

    # --- webhooks (issue 25, section 2) ---
    @strawberry.mutation(
        description=(
            "Register an http(s) endpoint for `events`. Its signing secret is in the "
            "payload this once; a URL whose host resolves to a loopback, private, "
            "link-local or metadata address is refused (URL_NOT_ALLOWED)."
        ),
        permission_classes=[IsHRStaff],
    )
    async def create_webhook(
        self,
        info: Info,
        url: str,
        events: list[WebhookEventType],
        description: str = "",
    ) -> CreateWebhookPayload:
        outcome = await webhooks.create_webhook(
            await info.context.viewer(),
            url,
            events,
            description,
            allow_private=info.context.services.webhook_allow_private_networks,
            box=info.context.services.webhook_secrets,
        )
        return CreateWebhookPayload(
            webhook=outcome.webhook, secret=outcome.secret, errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description="Change a webhook's URL, events, description or active flag (null: kept).",
        permission_classes=[IsHRStaff],
    )
    async def update_webhook(
        self,
        info: Info,
        id: strawberry.ID,
        url: str | None = None,
        events: list[WebhookEventType] | None = None,
        description: str | None = None,
        active: bool | None = None,
    ) -> UpdateWebhookPayload:
        outcome = await webhooks.update_webhook(
            await info.context.viewer(),
            str(id),
            url=url,
            events=events,
            description=description,
            active=active,
            allow_private=info.context.services.webhook_allow_private_networks,
        )
        return UpdateWebhookPayload(webhook=outcome.webhook, errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description="Remove a webhook with its deliveries; nothing more is sent to it.",
        permission_classes=[IsHRStaff],
    )
    async def delete_webhook(self, info: Info, id: strawberry.ID) -> DeleteWebhookPayload:
        outcome = await webhooks.delete_webhook(await info.context.viewer(), str(id))
        return DeleteWebhookPayload(
            deleted_database_id=outcome.deleted_id, errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description=(
            "Give a webhook a new signing secret, shown this once; every delivery from "
            "now on (retries included) is signed with it."
        ),
        permission_classes=[IsHRStaff],
    )
    async def rotate_webhook_secret(
        self, info: Info, id: strawberry.ID
    ) -> RotateWebhookSecretPayload:
        outcome = await webhooks.rotate_webhook_secret(
            await info.context.viewer(), str(id), box=info.context.services.webhook_secrets
        )
        return RotateWebhookSecretPayload(
            webhook=outcome.webhook, secret=outcome.secret, errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description=(
            "Send a delivery again from its first attempt, with the same webhook-id; its "
            "earlier attempts stay in its attemptLog."
        ),
        permission_classes=[IsHRStaff],
    )
    async def redeliver_webhook(
        self, info: Info, delivery_id: strawberry.ID
    ) -> RedeliverWebhookPayload:
        outcome = await webhooks.redeliver_webhook(await info.context.viewer(), str(delivery_id))
        return RedeliverWebhookPayload(
            delivery=outcome.delivery, errors=user_errors(outcome.errors)
        )

    # --- training schedules (issue 25) ---
    @strawberry.mutation(
        description=(
            "Retrain on a cron schedule, as the caller: each slot starts one run as "
            "trainModel would (counted against the caller's active runs). Refused input "
            "comes back in `errors` (field cron, timeZone, train..., name) and creates nothing."
        ),
        permission_classes=[IsHRStaff],
    )
    async def create_training_schedule(
        self, info: Info, input: CreateTrainingScheduleInput
    ) -> TrainingSchedulePayload:
        outcome = await training_schedules.create_schedule(
            await info.context.viewer(), input.to_changes(), info.context.services.artifacts
        )
        return _schedule_payload(outcome)

    @strawberry.mutation(
        description="Change a schedule; only the fields given change.",
        permission_classes=[IsHRStaff],
    )
    async def update_training_schedule(
        self, info: Info, id: strawberry.ID, input: UpdateTrainingScheduleInput
    ) -> TrainingSchedulePayload:
        outcome = await training_schedules.update_schedule(
            *await _schedule_target(info, id), input.to_changes(), info.context.services.artifacts
        )
        return _schedule_payload(outcome)

    @strawberry.mutation(
        description="Stop firing (nextRunAt null) until resumed.", permission_classes=[IsHRStaff]
    )
    async def pause_training_schedule(
        self, info: Info, id: strawberry.ID
    ) -> TrainingSchedulePayload:
        outcome = await training_schedules.pause_schedule(*await _schedule_target(info, id))
        return _schedule_payload(outcome)

    @strawberry.mutation(
        description="Fire again from the next slot after now (the paused ones are not made up).",
        permission_classes=[IsHRStaff],
    )
    async def resume_training_schedule(
        self, info: Info, id: strawberry.ID
    ) -> TrainingSchedulePayload:
        outcome = await training_schedules.resume_schedule(*await _schedule_target(info, id))
        return _schedule_payload(outcome)

    @strawberry.mutation(
        description="Remove a schedule and its history; its runs stay (schedule: null).",
        permission_classes=[IsHRStaff],
    )
    async def delete_training_schedule(
        self, info: Info, id: strawberry.ID
    ) -> DeleteTrainingSchedulePayload:
        outcome = await training_schedules.delete_schedule(*await _schedule_target(info, id))
        deleted = (
            None
            if outcome.deleted_id is None
            else strawberry.ID(str(relay.GlobalID("TrainingSchedule", str(outcome.deleted_id))))
        )
        return DeleteTrainingSchedulePayload(deleted_id=deleted, errors=user_errors(outcome.errors))

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
