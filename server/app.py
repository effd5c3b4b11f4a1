"""The ASGI application: routes, middleware and the lifespan that starts and stops the
database connection, the job runner, the reaper, the run watcher, the webhook dispatcher,
the schedule ticker, the audit pruner and the sweep driver.

main.py reads the settings and builds the runner; this module gets both passed in
(`Settings` names the settings it reads), so it reads no environment itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from tortoise.contrib.starlette import RegisterTortoise

from models.accounts import dummy_password_hash
from models.db import tortoise_config
from models.trust_jobs import BatchPrediction, ModelEvaluation
from resolvers.audit_log import prune_forever
from resolvers.context import Services
from resolvers.datasets import DatasetQuota
from resolvers.identity_cache import IdentityCache
from resolvers.login_limiter import LoginLimiter
from resolvers.rate_limits import SlidingWindow, TokenBuckets
from resolvers.schedule_ticker import ScheduleTicker
from resolvers.subscription_slots import SubscriptionSlots
from resolvers.sweep_driver import SweepDriver, trial_launcher
from resolvers.training_runs import PageSizes
from resolvers.upload_spool import remove_stale_uploads
from schema import QueryLimits, build_schema
from schema.download_urls import MODEL_DOWNLOAD_ROUTE
from schema.training_schedules import request_reader, sweep_reader
from schema.trust_jobs import PREDICTION_DOWNLOAD_ROUTE, PREDICTION_REJECTS_ROUTE
from server.downloads import ModelDownloads
from server.health import Readiness, healthz
from server.heap import startup_objects_frozen
from server.metrics import MetricsEndpoint
from server.middleware import BodySizeLimit, InternalErrors, SecurityHeaders
from server.persisted_queries import PersistedQueryStore
from server.prediction_downloads import PredictionDownloads
from server.request_id import RequestId
from server.run_export import RUN_EXPORT_ROUTE, RunExportEndpoint
from server.settings import Settings
from server.view import GraphQLView
from server.webhook_dispatcher import WebhookDispatcher, WebhookSettings
from server.webhook_keys import secret_box
from server.websockets import WebSocketLimits
from trainer.jobs.reaper import fail_stale_jobs, fail_stale_runs, reap_forever
from trainer.jobs.runners import JobRunner, requeue_queued_runs
from trainer.jobs.watchers import job_watcher, run_watcher
from trainer.ml.predictor import ModelCache
from trainer.model_files import VerifiedModelFiles

# GraphiQL's scripts and styles (static/vendor/VENDORED.md) and the dashboard
# (static/dashboard/, its page served at /), served at /static.
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


def login_limiter(settings: Settings) -> LoginLimiter:
    def window(limit: int) -> SlidingWindow:
        return SlidingWindow(
            limit, settings.login_window_seconds, max_keys=settings.login_limiter_max_keys
        )

    return LoginLimiter(
        per_username=window(settings.login_attempts_per_username),
        per_address=window(settings.login_attempts_per_address),
    )


def websocket_limits(settings: Settings) -> WebSocketLimits:
    return WebSocketLimits(
        init_timeout=settings.ws_connection_init_timeout,
        anonymous_idle=settings.ws_anonymous_idle_seconds,
        max_connections_per_address=settings.ws_max_connections_per_address,
        max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
    )


def webhook_settings(settings: Settings) -> WebhookSettings:
    return WebhookSettings(
        retry_base_seconds=settings.webhook_retry_base_seconds,
        max_attempts=settings.webhook_max_attempts,
        timeout_seconds=settings.webhook_timeout_seconds,
        poll_seconds=settings.webhook_poll_seconds,
        concurrency=settings.webhook_concurrency,
        allow_private_networks=settings.webhook_allow_private_networks,
    )


def build_app(settings: Settings, runner: JobRunner) -> Starlette:
    settings.artifacts.ensure()
    watcher = run_watcher(settings.subscription_poll_interval)
    batch_watcher = job_watcher(BatchPrediction, settings.subscription_poll_interval)
    evaluation_watcher = job_watcher(ModelEvaluation, settings.subscription_poll_interval)
    webhook_secrets = secret_box(settings)
    services = Services(
        artifacts=settings.artifacts,
        jobs=runner,
        watcher=watcher,
        batch_watcher=batch_watcher,
        evaluation_watcher=evaluation_watcher,
        identities=IdentityCache(ttl=settings.auth_cache_seconds),
        login_limiter=login_limiter(settings),
        websocket_recheck_seconds=settings.websocket_recheck_seconds,
        subscriptions=SubscriptionSlots(settings.ws_max_subscriptions_per_user),
        dataset_quota=DatasetQuota(
            max_datasets_per_user=settings.max_datasets_per_user,
            max_bytes_per_user=settings.max_dataset_bytes_per_user,
            max_total_bytes=settings.max_datasets_total_bytes,
        ),
        page_sizes=PageSizes(settings.default_page_size, settings.max_page_size),
        models=ModelCache(
            settings.model_cache_size,
            max_bytes=settings.model_cache_bytes,
            max_model_bytes=settings.max_model_bytes,
        ),
        prediction_budget=TokenBuckets(
            settings.prediction_rows_per_second,
            settings.prediction_rows_burst,
            max_keys=settings.prediction_limiter_max_keys,
        ),
        dataset_limits=settings.dataset_limits,
        webhook_allow_private_networks=settings.webhook_allow_private_networks,
        webhook_secrets=webhook_secrets,
        sweeps=SweepDriver(
            trial_launcher(runner, settings.artifacts),
            interval=settings.sweep_driver_interval,
            lease_seconds=settings.sweep_lease_seconds,
        ),
    )
    dispatcher = WebhookDispatcher(webhook_settings(settings), webhook_secrets)
    api_schema = build_schema(
        QueryLimits(
            max_depth=settings.max_query_depth,
            max_tokens=settings.max_query_tokens,
            max_aliases=settings.max_query_aliases,
            max_root_fields=settings.max_root_fields,
            max_cost=settings.max_query_cost,
            max_introspection_depth=settings.max_introspection_depth,
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
        ),
        introspection=settings.introspection,
        max_batch_operations=settings.max_batch_operations,
        document_cache_size=settings.document_cache_size,
        outage_retry_after=settings.outage_retry_after,
    )
    graphql = GraphQLView(
        api_schema,
        services,
        graphiql=settings.graphiql,
        allowed_origins=settings.cors_origins,
        persisted_queries=PersistedQueryStore(settings.apq_cache_size),
        websockets=websocket_limits(settings),
        upload_field_max_bytes=settings.max_body_bytes,
        max_concurrent_uploads=settings.max_concurrent_uploads,
    )

    model_downloads = ModelDownloads(services, VerifiedModelFiles(), settings.cors_origins)
    # --- training schedules (issue 25): each process ticks; the database picks the firer
    ticker = ScheduleTicker(
        jobs=runner,
        artifacts=settings.artifacts,
        read_request=request_reader(api_schema),
        read_sweep=sweep_reader(api_schema),
        wake_sweeps=services.sweeps.wake,
        tick_seconds=settings.schedule_tick_seconds,
        misfire_grace_seconds=settings.schedule_misfire_grace_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=tortoise_config(settings.db_url)):
            await asyncio.gather(
                asyncio.to_thread(remove_stale_uploads, settings.artifacts.datasets),
                asyncio.to_thread(dummy_password_hash),
            )
            await runner.start()
            await fail_stale_runs(settings.stale_run_after)
            await fail_stale_jobs(settings.stale_run_after, settings.artifacts.predictions)
            if settings.training_backend == "local":
                await requeue_queued_runs(runner)
            reaper = asyncio.create_task(
                reap_forever(settings.stale_run_after, settings.artifacts.predictions)
            )
            audit_pruner = asyncio.create_task(prune_forever(settings.audit_retention_days))
            dispatcher.start()
            schedules = asyncio.create_task(ticker.run_forever())
            await services.sweeps.start()
            try:
                with startup_objects_frozen():
                    yield
            finally:
                await services.sweeps.stop()
                # Awaited: a slot this process has claimed still records its outcome.
                schedules.cancel()
                await asyncio.gather(schedules, return_exceptions=True)
                reaper.cancel()
                await dispatcher.stop()
                audit_pruner.cancel()
                for each in (watcher, batch_watcher, evaluation_watcher):
                    await each.stop()
                await runner.stop()

    async def dashboard(_request: Request) -> FileResponse:
        # The dashboard's one page (static/dashboard/); its modules come from /static.
        return FileResponse(STATIC_DIR / "dashboard" / "index.html", media_type="text/html")

    app = Starlette(
        routes=[
            Route("/", dashboard),
            # --- operators (issue 13) ---
            Route("/healthz", healthz),
            Route(
                "/readyz", Readiness(settings.db_url, runner, settings.readiness_timeout).respond
            ),
            *(
                [
                    Route(
                        "/metrics",
                        MetricsEndpoint(settings.metrics_token, settings.readiness_timeout).respond,
                    )
                ]
                if settings.metrics_enabled
                else []
            ),
            # Every method reaches the view, which answers the unsupported ones as JSON.
            Route("/graphql", graphql, methods=None),
            # --- model download (issue 9) ---
            Route(MODEL_DOWNLOAD_ROUTE, model_downloads, methods=None),
            # --- batch prediction output (issue 24) ---
            Route(
                PREDICTION_DOWNLOAD_ROUTE,
                PredictionDownloads(services, VerifiedModelFiles(), settings.cors_origins),
                methods=None,
            ),
            Route(
                PREDICTION_REJECTS_ROUTE,
                PredictionDownloads(
                    services, VerifiedModelFiles(), settings.cors_origins, rejects=True
                ),
                methods=None,
            ),
            # --- CSV export of the run list (issue 21) ---
            Route(RUN_EXPORT_ROUTE, RunExportEndpoint(services, api_schema), methods=None),
            WebSocketRoute("/graphql", graphql),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
        # Outermost first. CORS wraps everything that can answer, the body size limit and
        # unexpected errors (500) included, so a browser on an allowed origin can read
        # every refusal.
        middleware=[
            Middleware(RequestId),  # outermost: every response carries X-Request-ID
            Middleware(SecurityHeaders),
            *(
                [
                    Middleware(
                        CORSMiddleware,
                        allow_origins=settings.cors_origins,
                        allow_methods=["GET", "HEAD", "POST"],
                        allow_headers=settings.cors_allow_headers,
                    )
                ]
                if settings.cors_origins
                else []
            ),
            Middleware(InternalErrors),
            Middleware(
                BodySizeLimit,
                max_bytes=settings.max_body_bytes,
                max_upload_bytes=settings.max_upload_bytes,
                max_prediction_bytes=settings.max_prediction_body_bytes,
                max_query_tokens=settings.max_query_tokens,
            ),
        ],
    )
    app.state.services = services
    app.state.model_downloads = model_downloads
    return app
