"""The settings: every knob of the server, its workers and its command line, declared once
and read from the environment here and nowhere else (README, Configuration, lists them;
tests/docs/test_readme.py keeps that table and this class in step).

The app factory and the command line take a `Settings` object itself; the few typed views
the lower layers want (ArtifactPaths, CsvLimits, JobSettings) are derived below, so a
setting is never declared a second time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from trainer.artifacts import ArtifactPaths
from trainer.jobs.job import JobSettings
from trainer.ml.dataset_files import CsvLimits

__all__ = ["Settings", "job_settings", "settings_errors"]


class Settings(BaseSettings):
    """Everything configurable, read from the environment (see README, Configuration)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False)

    artifacts_dir: Path = Path("artifacts")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    training_backend: Literal["local", "celery"] = "local"
    training_workers: int = Field(default=2, ge=1, le=256)
    # As scikit-learn's n_jobs: a count of cores, or -1 for all of them (0 means nothing).
    training_n_jobs: int = Field(default=1, ge=-1, le=1024)
    training_nice: int = Field(default=10, ge=0, le=19)
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    progress_interval: float = Field(default=0.5, gt=0, le=60)
    stale_run_after: float = Field(default=30.0, gt=0, le=86_400)
    subscription_poll_interval: float = Field(default=0.25, gt=0, le=60)
    # Sweeps (issue 23): how often each API process's driver looks at the sweeps it drives,
    # and how long its lease on a sweep lasts unless renewed (a crashed process's sweeps
    # are taken over by another one after at most this long).
    sweep_driver_interval: float = Field(default=1.0, gt=0, le=60)
    sweep_lease_seconds: float = Field(default=20.0, gt=0, le=3600)
    graphiql: bool = True
    introspection: bool = True
    max_body_bytes: int = Field(default=100_000, ge=1_000)
    # uploadDataset's multipart requests (HR staff only), streamed to the datasets folder.
    max_upload_bytes: int = Field(default=200_000_000, ge=1_000)
    # Uploads one server process takes at once (streamed, then parsed in a thread).
    max_concurrent_uploads: int = Field(default=2, ge=1, le=1_000)
    # How wide a dataset may be (uploads, listings, training): the trainer uses a dozen
    # short columns; these bound the memory and CPU one file can cost.
    max_dataset_columns: int = Field(default=500, ge=1, le=100_000)
    max_dataset_cell_chars: int = Field(default=4096, ge=1, le=10_000_000)
    max_query_depth: int = Field(default=12, ge=1)
    max_query_tokens: int = Field(default=2000, ge=1)
    max_query_aliases: int = Field(default=15, ge=0)
    max_root_fields: int = Field(default=10, ge=1)
    max_batch_operations: int = Field(default=10, ge=1)
    # Query cost and introspection (schema/cost.py, schema/limits.py): the budget of one
    # request, batches summed, and how deep __schema / __type selections may go.
    max_query_cost: int = Field(default=30_000, ge=1)
    max_introspection_depth: int = Field(default=14, ge=1)
    # Documents whose parse, validation and cost each server process remembers (least
    # recently used out): a client repeating its queries skips that work.
    document_cache_size: int = Field(default=256, ge=1, le=1_000_000)
    # How long a server process trusts a token it has just looked up (0: every request).
    auth_cache_seconds: float = Field(default=5.0, ge=0)
    # --- sessions, logins and WebSockets (sec-auth, issue 12) ---
    # An open WebSocket looks its token up again this often; subscriptions end when it fails.
    websocket_recheck_seconds: float = Field(default=5.0, gt=0)
    login_attempts_per_username: int = Field(default=10, ge=1)
    login_attempts_per_address: int = Field(default=30, ge=1)
    login_window_seconds: float = Field(default=60.0, gt=0)
    login_limiter_max_keys: int = Field(default=10_000, ge=1)
    ws_connection_init_timeout: float = Field(default=10.0, gt=0)
    ws_anonymous_idle_seconds: float = Field(default=30.0, gt=0)
    ws_max_connections_per_address: int = Field(default=20, ge=1)
    ws_max_subscriptions_per_connection: int = Field(default=20, ge=1)
    ws_max_subscriptions_per_user: int = Field(default=50, ge=1)
    # --- end sec-auth ---
    log_level: str = "INFO"
    # Test-suite speed: start the local pool's processes with the server (true) or at the
    # first training (false: a server that never trains never imports scikit-learn).
    training_warm_up: bool = True

    # --- browsers and front-end clients (README: CORS, persisted queries) ---
    # Other origins whose pages may call the API, over HTTP (CORS) and WebSocket; a JSON
    # list or comma-separated, e.g. CORS_ORIGINS=https://hr.example,https://ops.example.
    cors_origins: Annotated[list[str], NoDecode] = []
    # Request headers such pages may send (preflight Access-Control-Allow-Headers).
    cors_allow_headers: Annotated[list[str], NoDecode] = [
        "authorization",
        "content-type",
        "x-request-id",
        "apollo-require-preflight",
        "x-apollo-operation-name",
        "apollographql-client-name",
        "apollographql-client-version",
        # Resumable and conditional model downloads (GET /runs/{id}/model).
        "range",
        "if-range",
        "if-none-match",
    ]
    # Automatic persisted queries remembered per server process (0: APQ off).
    apq_cache_size: int = Field(default=1000, ge=0)
    # trainingRuns pages: the size without first/last, and the most first/last may ask.
    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=100, ge=1)

    @field_validator("cors_origins", "cors_allow_headers", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept a JSON list or a comma-separated string."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]

    @field_validator("webhook_secret_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return [item.strip() for item in value.split(",") if item.strip()]

    @field_validator("webhook_secret_keys")
    @classmethod
    def _fernet_keys(cls, keys: list[str]) -> list[str]:
        """Refused at start-up, not at the first delivery (without the key in the message)."""
        from models.webhook_secrets import valid_key

        for number, key in enumerate(keys, start=1):
            if not valid_key(key):
                raise ValueError(
                    f"key {number} is not a Fernet key (32 bytes in url-safe base64: "
                    "python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())')"
                )
        return keys

    @field_validator("cors_origins")
    @classmethod
    def _normalize_origins(cls, origins: list[str]) -> list[str]:
        """Origins as browsers send them (lower case, no default port), so CORS and the
        WebSocket check compare like with like; anything but an origin is refused."""
        if not origins:
            return origins  # without strawberry's import: the CLI starts without the web stack
        from strawberry.http.websocket_origin import normalize_allowed_origins

        return sorted(normalize_allowed_origins(origins))

    @field_validator("cors_allow_headers")
    @classmethod
    def _lower_headers(cls, headers: list[str]) -> list[str]:
        return [header.lower() for header in headers]

    # --- operators (issue 13): health, metrics, logs, running behind a proxy ---
    # Each /readyz check (and the database read of a /metrics scrape) gets this long.
    readiness_timeout: float = Field(default=2.0, gt=0, le=30)
    metrics_enabled: bool = False
    # When set, GET /metrics requires `Authorization: Bearer <metrics_token>`.
    metrics_token: str | None = None
    log_format: Literal["text", "json"] = "text"
    # Trust X-Forwarded-For/-Proto from these addresses (comma-separated, "*" for any):
    # the proxy in front, so the login limiter and logs see the real client address.
    forwarded_allow_ips: str = "127.0.0.1"
    # What a client is told to wait (`retryAfter`, seconds) while the database is down.
    outage_retry_after: float = Field(default=5.0, gt=0, le=3_600)
    # With --workers N, uvicorn restarts a worker process that does not answer its
    # liveness ping within this many seconds; its start-up (imports) counts too, and on a
    # busy machine that takes longer than uvicorn's default of 5 s.
    worker_healthcheck_timeout: int = Field(default=60, ge=1)

    # --- predictions (issue 10) ---
    # Models predictFutureNeed keeps loaded per server process (least recently used out):
    # at most this many, and at most this many bytes of model files between them (a
    # loaded model takes about its file's size in memory).
    model_cache_size: int = Field(default=4, ge=1, le=1_000)
    model_cache_bytes: int = Field(default=512_000_000, ge=1_000_000)
    # A larger model file is never loaded (MODEL_TOO_LARGE), and training logs a warning
    # when it writes one. At most MODEL_CACHE_BYTES, so every model loaded can be kept.
    max_model_bytes: int = Field(default=256_000_000, ge=1_000)
    # Rows each user may have predicted per second in each server process (a token
    # bucket), and how many may come at once (at least one full request, 1,000 rows).
    prediction_rows_per_second: float = Field(default=2_000.0, gt=0)
    prediction_rows_burst: int = Field(default=1_000, ge=1_000)
    # Users whose prediction budget each server process remembers (least recent out).
    prediction_limiter_max_keys: int = Field(default=10_000, ge=1)
    # A POST /graphql body asking for predictFutureNeed alone may be this large (1,000
    # rows are ~330 kB of JSON); every other body stays within MAX_BODY_BYTES.
    max_prediction_body_bytes: int = Field(default=1_000_000, ge=1_000)

    # --- training jobs: per-user queue bound, cancel deadline (sec-jobs) ---
    # QUEUED + RUNNING runs one user may have at once; trainModel refuses more.
    max_active_runs_per_user: int = Field(default=5, ge=1, le=10_000)
    # QUEUED + RUNNING batch predictions and evaluations (together) one user may have at
    # once; startBatchPrediction and startEvaluation refuse more (TOO_MANY_ACTIVE_JOBS).
    max_active_jobs_per_user: int = Field(default=5, ge=1, le=10_000)
    # Seconds a cancelled fit has to stop at its next chunk of trees before its worker
    # process is stopped (and replaced), so a cancel lands within about two seconds.
    cancel_grace_seconds: float = Field(default=1.5, gt=0, le=3_600)

    # --- dataset quotas: what uploadDataset may add (DATASET_QUOTA_EXCEEDED beyond) ---
    # Per uploader: files in the folder, and their bytes (ten uploads of MAX_UPLOAD_BYTES).
    max_datasets_per_user: int = Field(default=100, ge=1)
    max_dataset_bytes_per_user: int = Field(default=2_000_000_000, ge=1)
    # The whole datasets folder, files put there by other means included.
    max_datasets_total_bytes: int = Field(default=20_000_000_000, ge=1)

    # --- webhooks (issue 25, section 2): delivery of signed events to HR tools ---
    # A failed delivery is tried again after BASE, 2*BASE, 4*BASE... seconds, at most
    # WEBHOOK_MAX_ATTEMPTS times in all; one attempt waits at most WEBHOOK_TIMEOUT_SECONDS.
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0, le=86_400)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # How often each server process looks for due deliveries in the outbox.
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=3_600)
    # Deliveries one server process sends at once.
    webhook_concurrency: int = Field(default=10, ge=1, le=1_000)
    # true: webhook URLs may reach loopback and private addresses (tests, a closed network).
    webhook_allow_private_networks: bool = False
    # Fernet keys (comma-separated) that encrypt webhook signing secrets in the database:
    # the first encrypts, every one decrypts (rotation: put a new key first, keep the old
    # one second until the next start-up has re-encrypted). Unset: a key generated into
    # ARTIFACTS_DIR/webhook-secret.key (0600); production sets the same keys everywhere.
    webhook_secret_keys: Annotated[list[str], NoDecode] = []
    # --- training schedules (issue 25): every API process runs a ticker ---
    # Seconds between two looks at the due schedules (sooner when a slot comes sooner).
    schedule_tick_seconds: float = Field(default=1.0, gt=0, le=60)
    # A slot found later than this was missed while no server ran: its schedule's
    # `misfire` decides (RUN_ONCE fires the latest missed slot once, SKIP records it).
    schedule_misfire_grace_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # --- audit log (issue 25) ---
    # Entries older than this many days are deleted by each server process (at start-up,
    # then hourly); 0 keeps them all. Export them first (`main.py audit export`) if
    # they must outlive it.
    audit_retention_days: int = Field(default=365, ge=0, le=36_500)

    @field_validator("training_n_jobs")
    @classmethod
    def _n_jobs_not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be a number of cores (1 or more) or -1 for all, not 0")
        return value

    @model_validator(mode="after")
    def _default_page_fits(self) -> Settings:
        """MAX_PAGE_SIZE alone below the default page lowers the default with it; both
        set, and contradicting each other, is refused."""
        if self.default_page_size > self.max_page_size:
            if "default_page_size" in self.model_fields_set:
                raise ValueError("DEFAULT_PAGE_SIZE must not be larger than MAX_PAGE_SIZE")
            self.default_page_size = self.max_page_size
        return self

    @model_validator(mode="after")
    def _largest_model_fits_cache(self) -> Settings:
        if self.max_model_bytes > self.model_cache_bytes:
            raise ValueError(
                "MAX_MODEL_BYTES must not be larger than MODEL_CACHE_BYTES, or a model "
                "could be loaded again for every prediction"
            )
        return self

    @model_validator(mode="after")
    def _heartbeat_fits_staleness(self) -> Settings:
        if self.stale_run_after <= self.progress_interval:
            raise ValueError(
                "STALE_RUN_AFTER must be longer than PROGRESS_INTERVAL, or every running "
                "run would be declared lost between two heartbeats"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlives_ticks(self) -> Settings:
        if self.sweep_lease_seconds <= 2 * self.sweep_driver_interval:
            raise ValueError(
                "SWEEP_LEASE_SECONDS must be more than twice SWEEP_DRIVER_INTERVAL, or a "
                "driving process would lose its sweeps between two renewals"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str | None) -> str | None:
        """A URL Tortoise cannot use is refused with the settings' other errors, not met
        later as a traceback."""
        if url is None:
            return url
        from tortoise.backends.base.config_generator import expand_db_url
        from tortoise.exceptions import ConfigurationError

        try:
            expand_db_url(url)
        except (ConfigurationError, ValueError) as exc:
            raise ValueError(
                f"{exc} (use sqlite://PATH or postgres://USER[:PASSWORD]@HOST:PORT/DATABASE)"
            ) from None
        return url

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite://{self.artifacts_dir}/training_api.sqlite3"

    @property
    def shown_db_url(self) -> str:
        """db_url without its password, for messages."""
        parts = urlsplit(self.db_url)
        if parts.password is None:
            return self.db_url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def artifacts(self) -> ArtifactPaths:
        return ArtifactPaths.at(self.artifacts_dir)

    @property
    def dataset_limits(self) -> CsvLimits:
        return CsvLimits(self.max_dataset_columns, self.max_dataset_cell_chars)


def job_settings(settings: Settings) -> JobSettings:
    return JobSettings(
        artifacts=settings.artifacts,
        report_interval=settings.progress_interval,
        n_jobs=settings.training_n_jobs,
        stale_after=settings.stale_run_after,
        nice=settings.training_nice,
        cancel_grace=settings.cancel_grace_seconds,
        max_model_bytes=settings.max_model_bytes,
        log_level=settings.log_level,
        log_format=settings.log_format,
        dataset_limits=settings.dataset_limits,
    )


# Settings whose values may hold a password: an error names them, never shows them.
_SECRET_SETTINGS = frozenset(
    {"DATABASE_URL", "CELERY_BROKER_URL", "METRICS_TOKEN", "WEBHOOK_SECRET_KEYS"}
)


def settings_errors(exc: ValidationError) -> list[str]:
    """One line per invalid setting, named as its environment variable, without a traceback."""
    lines = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        if name in _SECRET_SETTINGS:
            lines.append(f"setting {name} is invalid: {message}")
        elif name:
            value = str(error.get("input", ""))
            shown = value if len(value) <= 40 else value[:40] + "…"
            lines.append(f"setting {name}={shown!r} is invalid: {message}")
        else:
            lines.append(f"invalid settings: {message}")
    return lines
