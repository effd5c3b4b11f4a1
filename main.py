"""Composition root: settings, the ASGI app factory, and the command line.

python main.py serve            # migrate, then serve http://127.0.0.1:8000/graphql
python main.py --help           # every command
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.db import apply_migrations, connected, tortoise_config
from trainer.artifacts import ArtifactPaths
from trainer.jobs.job import JobSettings
from trainer.logs import configure_logging, logging_config
from trainer.ml.dataset_files import CsvLimits

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from trainer.jobs.runners import JobRunner

# The web stack (strawberry, Starlette, uvicorn) and the job runners are imported inside
# the functions that need them, so that a CLI command such as `token create` starts in a
# fraction of a second instead of paying for the whole server's imports.
SCHEMA_FILE = Path(__file__).parent / "schema" / "schema.graphql"


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
    # Seconds a cancelled fit has to stop at its next chunk of trees before its worker
    # process is stopped (and replaced), so a cancel lands within about two seconds.
    cancel_grace_seconds: float = Field(default=1.5, gt=0, le=3_600)

    # --- dataset quotas: what uploadDataset may add (DATASET_QUOTA_EXCEEDED beyond) ---
    # Per uploader: files in the folder, and their bytes (ten uploads of MAX_UPLOAD_BYTES).
    max_datasets_per_user: int = Field(default=100, ge=1)
    max_dataset_bytes_per_user: int = Field(default=2_000_000_000, ge=1)
    # The whole datasets folder, files put there by other means included.
    max_datasets_total_bytes: int = Field(default=20_000_000_000, ge=1)

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


def build_runner(settings: Settings) -> JobRunner:
    from trainer.jobs.runners import LocalPoolRunner

    if settings.training_backend == "celery":
        from trainer.jobs.celery_app import CeleryRunner

        return CeleryRunner(
            settings.celery_broker_url,
            max_active_runs_per_user=settings.max_active_runs_per_user,
        )
    return LocalPoolRunner(
        settings.db_url,
        job_settings(settings),
        settings.training_workers,
        warm_up=settings.training_warm_up,
        max_active_runs_per_user=settings.max_active_runs_per_user,
    )


def create_app(settings: Settings | None = None) -> Starlette:
    """The ASGI app (schema/http/app.py) for these settings, or for the environment's:
    what `serve` (uvicorn's factory, in each worker process) and the tests run."""
    from schema.http.app import build_app

    settings = settings or Settings()
    return build_app(settings, build_runner(settings))


def __getattr__(name: str) -> object:
    """`main.TORTOISE_ORM`, read by the `tortoise` command line ([tool.tortoise] in
    pyproject.toml), built from the settings only when that tool asks for it."""
    if name == "TORTOISE_ORM":
        return tortoise_config(Settings().db_url)
    raise AttributeError(f"module 'main' has no attribute {name!r}")


# --- command line -------------------------------------------------------------------
T = TypeVar("T")


async def _with_db(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    async with connected(settings.db_url):
        return await work()


async def migrate(settings: Settings) -> None:
    settings.artifacts.ensure()
    await apply_migrations(settings.db_url)


async def bootstrap_admin() -> None:
    """On a database without users, create a superuser and show its secrets once."""
    from models.credentials import create_token, create_user
    from models.users import User

    if await User.exists():
        return
    password = secrets.token_urlsafe(12)
    admin = await create_user("admin", password=password, is_superuser=True)
    token = await create_token(admin, "bootstrap")
    print(
        "\n  No users yet: created superuser 'admin' (shown once, keep them safe)\n"
        f"    password: {password}\n"
        f"    token:    {token}\n"
        '  In GraphiQL, Headers: {"Authorization": "Token <token>"}\n',
        flush=True,
    )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if not args.no_migrate:
        asyncio.run(migrate(settings))
    asyncio.run(_with_db(settings, bootstrap_admin))
    with _metrics_directory(args.workers):
        uvicorn.run(
            "main:create_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=args.workers,
            ws_max_size=settings.max_body_bytes,
            log_level=settings.log_level.lower(),
            # Each worker process configures its logging from this (format included).
            log_config=logging_config(settings.log_level, settings.log_format),
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            timeout_worker_healthcheck=settings.worker_healthcheck_timeout,
        )
    return 0


@contextmanager
def _metrics_directory(workers: int) -> Iterator[None]:
    """With several worker processes, /metrics must add up all of them, whichever one
    answers: prometheus_client does so from files in PROMETHEUS_MULTIPROC_DIR. Unless the
    operator chose that folder, use a fresh one for this server's lifetime (files left
    by an earlier server would be counted again)."""
    if workers <= 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    directory = tempfile.mkdtemp(prefix="training-api-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(directory, ignore_errors=True)


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise SystemExit("passwords do not match")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise SystemExit("password must be at least 8 characters")
    return password


def cmd_createuser(settings: Settings, args: argparse.Namespace) -> int:
    from tortoise.exceptions import IntegrityError

    from models.credentials import create_user

    password = _read_password() if args.password else None

    async def work() -> int:
        try:
            user = await create_user(
                args.username, password=password, groups=args.group, is_superuser=args.superuser
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except IntegrityError:
            print(f"error: user {args.username!r} already exists", file=sys.stderr)
            return 2
        kind = "password" if password else "token-only"
        print(f"created user {user.username} ({kind}, groups: {', '.join(args.group) or '-'})")
        return 0

    return asyncio.run(_with_db(settings, work))


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from models.credentials import create_token, revoke_token
    from models.tokens import ApiToken
    from models.users import User

    async def work() -> int:
        if args.token_command == "revoke":
            missing = [i for i in args.token_ids if not await revoke_token(i)]
            for token_id in missing:
                print(f"error: no active token with id {token_id}", file=sys.stderr)
            return 1 if missing else 0
        user = await User.get_or_none(username=args.username)
        if user is None:
            print(f"error: no user {args.username!r}", file=sys.stderr)
            return 2
        if args.token_command == "create":
            print(await create_token(user, args.name))
            return 0
        for token in await ApiToken.filter(user=user).order_by("id"):
            state = "revoked" if token.revoked_at else "active"
            last = token.last_used_at.isoformat() if token.last_used_at else "never"
            print(f"{token.id}\t{token.prefix}…\t{token.name}\t{state}\tlast used {last}")
        return 0

    return asyncio.run(_with_db(settings, work))


def cmd_generate_dataset(_settings: Settings, args: argparse.Namespace) -> int:
    from trainer.ml.generator import generate_dataset

    summary = generate_dataset(args.rows, args.seed, Path(args.out))
    print(summary)
    return 0


def cmd_export_schema(_settings: Settings, args: argparse.Namespace) -> int:
    from schema import build_schema

    sdl = build_schema().as_str() + "\n"
    if args.out == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.out).write_text(sdl)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from trainer.jobs.celery_app import configure_worker, run_worker

    configure_worker(settings.celery_broker_url, settings.db_url, job_settings(settings))
    run_worker(args.concurrency, settings.log_level)
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    asyncio.run(migrate(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="Future Skills Training API")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply migrations and serve the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--no-migrate", action="store_true", help="skip applying migrations")
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(
        handler=cmd_migrate
    )

    worker = commands.add_parser("worker", help="run a Celery training worker")
    worker.add_argument(
        "--concurrency", type=int, default=1, help="runs trained at once by this worker"
    )
    worker.set_defaults(handler=cmd_worker)

    createuser = commands.add_parser("createuser", help="create an account")
    createuser.add_argument("username")
    createuser.add_argument(
        "--group", action="append", default=[], choices=["DRH", "RESPONSABLE_RH", "MANAGER"]
    )
    createuser.add_argument("--superuser", action="store_true")
    createuser.add_argument(
        "--password",
        action="store_true",
        help="ask for a password (prompt, or a line on stdin); without it: token-only",
    )
    createuser.set_defaults(handler=cmd_createuser)

    token = commands.add_parser("token", help="create, list or revoke API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="print a new token for USERNAME")
    create.add_argument("username")
    create.add_argument("--name", default="cli")
    token_commands.add_parser("list", help="list USERNAME's tokens").add_argument("username")
    revoke = token_commands.add_parser("revoke", help="revoke tokens by id (see `list`)")
    revoke.add_argument("token_ids", type=int, nargs="+")
    token.set_defaults(handler=cmd_token)

    generate = commands.add_parser("generate-dataset", help="write a synthetic dataset")
    generate.add_argument("--rows", type=int, required=True)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--out", required=True)
    generate.set_defaults(handler=cmd_generate_dataset)

    export = commands.add_parser("export-schema", help="print or write the SDL")
    export.add_argument("--out", default="-", help=f"file to write (default stdout); {SCHEMA_FILE}")
    export.set_defaults(handler=cmd_export_schema)
    return parser


# Settings whose values may hold a password: an error names them, never shows them.
_SECRET_SETTINGS = frozenset({"DATABASE_URL", "CELERY_BROKER_URL", "METRICS_TOKEN"})


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        for line in settings_errors(exc):
            print(f"error: {line}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return int(args.handler(settings, args))
    except Exception as exc:
        from models.availability import unusable_database

        reason = unusable_database(exc)
        if reason is None:
            raise
        print(f"error: cannot use the database {settings.shown_db_url}: {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
