"""What every resolver can reach: the process-wide services and the per-request caller."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from models.accounts import Identity
from resolvers.identity_cache import IdentityCache
from resolvers.loaders import AliasLoader, ScheduleLoader, SweepLoader, TagLoader, UserLoader
from resolvers.login_limiter import LoginLimiter
from resolvers.rate_limits import TokenBuckets
from resolvers.subscription_slots import SubscriptionSlots
from trainer.logs import update_log_context

if TYPE_CHECKING:
    from models.trust_jobs import BatchPrediction, ModelEvaluation
    from models.webhook_secrets import SecretBox
    from resolvers.datasets import DatasetQuota
    from resolvers.sweep_driver import SweepDriver
    from resolvers.training_runs import PageSizes
    from trainer.artifacts import ArtifactPaths
    from trainer.jobs.runners import JobRunner
    from trainer.jobs.watchers import RowWatcher, RunWatcher
    from trainer.ml.dataset_files import CsvLimits
    from trainer.ml.predictor import ModelCache


@dataclass(frozen=True)
class Services:
    """Built once by the app factory (server/app.py) from the settings, and shared
    by every request; no defaults here: server/settings.py is the one list of knobs."""

    artifacts: ArtifactPaths
    jobs: JobRunner
    watcher: RunWatcher
    # Followers of batch predictions and evaluations, one poll each per tick.
    batch_watcher: RowWatcher[BatchPrediction]
    evaluation_watcher: RowWatcher[ModelEvaluation]
    login_limiter: LoginLimiter
    identities: IdentityCache
    # How long an open WebSocket may rely on an identity before looking it up again.
    websocket_recheck_seconds: float
    subscriptions: SubscriptionSlots
    # What uploadDataset may add (MAX_DATASETS_PER_USER, MAX_DATASET_BYTES_PER_USER,
    # MAX_DATASETS_TOTAL_BYTES).
    dataset_quota: DatasetQuota
    # trainingRuns pages (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE).
    page_sizes: PageSizes
    # Models loaded for predictFutureNeed (MODEL_CACHE_SIZE, MODEL_CACHE_BYTES).
    models: ModelCache
    # Rows each user may have predicted per second (PREDICTION_ROWS_PER_SECOND).
    prediction_budget: TokenBuckets
    # How wide a dataset may be (MAX_DATASET_COLUMNS, MAX_DATASET_CELL_CHARS).
    dataset_limits: CsvLimits
    # Webhook URLs may reach private networks (WEBHOOK_ALLOW_PRIVATE_NETWORKS).
    webhook_allow_private_networks: bool
    # The keys that encrypt webhook signing secrets at rest (WEBHOOK_SECRET_KEYS).
    webhook_secrets: SecretBox
    # Advances the sweeps this process holds the lease of; startSweep wakes it.
    sweeps: SweepDriver


def token_from_authorization(header: str | None) -> str | None:
    """Accept `Token <key>` (as the REST original) and `Bearer <key>`."""
    if not header:
        return None
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() not in {"token", "bearer"} or not key.strip():
        return None
    return key.strip()


@dataclass
class RequestContext:
    """One per HTTP request or WebSocket connection.

    The caller is resolved lazily and once: queries that need no identity (login) cost no
    token lookup, and a page of runs costs one lookup however many fields check it. A
    WebSocket lives for hours, so there the identity is looked up again once it is
    `recheck_after` seconds old: a revoked token or a deactivated user stops working on
    open connections too.
    """

    services: Services
    request: Any = None
    response: Any = None
    token: str | None = None
    client_address: str | None = None
    # Set by strawberry from a WebSocket's connection_init payload.
    connection_params: Any = None
    users: UserLoader = field(default_factory=UserLoader)
    aliases: AliasLoader = field(default_factory=AliasLoader)
    tags: TagLoader = field(default_factory=TagLoader)
    schedules: ScheduleLoader = field(default_factory=ScheduleLoader)
    sweeps: SweepLoader = field(default_factory=SweepLoader)
    # Who an audited mutation acted as when the request carried no token: the account
    # a `login` signed in (schema/audit_log.py).
    audit_actor: Identity | None = None
    recheck_after: float | None = None
    _identity: Identity | None = None
    _resolved_at: float | None = None

    async def viewer(self) -> Identity | None:
        now = time.monotonic()
        stale = self._resolved_at is None or (
            self.recheck_after is not None and now - self._resolved_at >= self.recheck_after
        )
        if stale:
            # A WebSocket's re-check bypasses the identity cache: the cache's own delay
            # would otherwise add to the connection's.
            fresh = self.recheck_after is not None
            identities = self.services.identities
            self._identity = (
                await identities.authenticate(self.token, fresh=fresh) if self.token else None
            )
            self._resolved_at = now
            update_log_context(user=self._identity.username if self._identity else None)
        return self._identity

    async def signed_in(self) -> bool:
        """A caller whose token is valid: what may add to the process's shared stores
        (persisted queries, metric labels), which anonymous traffic could otherwise fill."""
        return self.token is not None and await self.viewer() is not None

    @property
    def is_anonymous(self) -> bool:
        """No credentials presented (a WebSocket that sent none in connection_init)."""
        return self.token is None

    def authenticate_as(self, token: str | None, *, recheck_after: float) -> None:
        """Replace the credentials, as a WebSocket connection_init payload does."""
        self.token = token
        self.recheck_after = recheck_after
        self._resolved_at = None
