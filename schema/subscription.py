"""Subscription root: follow a training run live over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import strawberry

from resolvers import batch_predictions, model_evaluations, sweeps, training_runs
from resolvers.batch_predictions import BatchPrediction as BatchPredictionRow
from resolvers.errors import NotFound
from resolvers.model_evaluations import ModelEvaluation as ModelEvaluationRow
from resolvers.sweeps import Sweep as SweepRow
from resolvers.training_runs import RunRecord
from schema.context import Info
from schema.permissions import IsHRStaffOrManager, field_label, unauthenticated
from schema.sweeps import Sweep
from schema.trust_jobs import BatchPrediction, ModelEvaluation
from schema.types import TrainingRun


async def _still_allowed(info: Info) -> None:
    """The caller may still read runs; raised errors end the subscription with their code.

    The context looks the token up again once its identity is older than the
    connection's re-check interval, so a revoked token, a deactivated account or a lost
    group ends the stream within that interval.
    """
    viewer = await info.context.viewer()
    if viewer is None:
        raise unauthenticated()
    if IsHRStaffOrManager.scope not in viewer.scopes:
        raise IsHRStaffOrManager.forbidden(field_label(info))


@asynccontextmanager
async def _held(info: Info) -> AsyncIterator[None]:
    """Counts the stream against the viewer's open subscriptions while it runs."""
    viewer = await info.context.viewer()
    assert viewer is not None  # the permission class let it through
    with info.context.services.subscriptions.hold(viewer.id):
        yield


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "The run now, then at every change of status, stage or progress; "
            "completes after its final state. Ends with an UNAUTHENTICATED (or FORBIDDEN) "
            "error when the caller's token is revoked or its access withdrawn meanwhile."
        ),
        permission_classes=[IsHRStaffOrManager],
        graphql_type=TrainingRun,
    )
    async def training_run_updated(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[RunRecord, None]:
        run = await training_runs.get_training_run(str(id))
        if run is None:
            raise NotFound(f"no training run with id {id!s}", argument="id")
        services = info.context.services
        async with _held(info):
            updates = services.watcher.watch(
                run,
                check=lambda: _still_allowed(info),
                # Quarter-interval ticks: an identity is looked up again at most a
                # quarter of the interval after it went stale.
                check_every=services.websocket_recheck_seconds / 4,
            )
            async for update in updates:
                yield update

    # --- trusting a model (issue 24) ---
    @strawberry.subscription(
        description=(
            "The batch prediction now, then at every change of status, progress or "
            "cancelRequested; completes after its final state."
        ),
        permission_classes=[IsHRStaffOrManager],
        graphql_type=BatchPrediction,
    )
    async def batch_prediction_updated(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[BatchPredictionRow, None]:
        row = await batch_predictions.get_batch_prediction(str(id))
        if row is None:
            raise NotFound(f"no batch prediction with id {id!s}", argument="id")
        services = info.context.services
        async with _held(info):
            async for update in services.batch_watcher.watch(
                row,
                check=lambda: _still_allowed(info),
                check_every=services.websocket_recheck_seconds / 4,
            ):
                yield update

    @strawberry.subscription(
        description=(
            "The model evaluation now, then at every change of status, progress or "
            "cancelRequested; completes after its final state."
        ),
        permission_classes=[IsHRStaffOrManager],
        graphql_type=ModelEvaluation,
    )
    async def evaluation_updated(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[ModelEvaluationRow, None]:
        row = await model_evaluations.get_model_evaluation(str(id))
        if row is None:
            raise NotFound(f"no model evaluation with id {id!s}", argument="id")
        services = info.context.services
        async with _held(info):
            async for update in services.evaluation_watcher.watch(
                row,
                check=lambda: _still_allowed(info),
                check_every=services.websocket_recheck_seconds / 4,
            ):
                yield update

    @strawberry.subscription(
        description=(
            "The sweep now, then at every change of status, trial counts or best value; "
            "completes after its final state."
        ),
        permission_classes=[IsHRStaffOrManager],
        graphql_type=Sweep,
    )
    async def sweep_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[SweepRow, None]:
        sweep = await sweeps.get_sweep(str(id))
        if sweep is None:
            raise NotFound(f"no sweep with id {id!s}", argument="id")
        async with _held(info):
            async for update in sweeps.watch_sweep(
                sweep.id,
                interval=info.context.services.watcher.interval,
                check=lambda: _still_allowed(info),
            ):
                yield update
