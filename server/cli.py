"""The command line: `python main.py serve|migrate|worker|createuser|token|audit|
generate-dataset|export-schema`, each command a function of the settings and its
arguments.

The web stack (strawberry, Starlette, uvicorn) and the job runners are imported inside
the commands that need them, so that a command such as `token create` starts in a
fraction of a second instead of paying for the whole server's imports.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO, TypeVar

import orjson
from pydantic import ValidationError

from models.db import apply_migrations, connected
from server.settings import Settings, job_settings, settings_errors
from trainer.logs import configure_logging, logging_config

__all__ = ["build_parser", "main", "migrate"]

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema" / "schema.graphql"

T = TypeVar("T")

logger = logging.getLogger("server.cli")


async def _with_db(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    async with connected(settings.db_url):
        return await work()


async def migrate(settings: Settings) -> None:
    settings.artifacts.ensure()
    await apply_migrations(settings.db_url)


async def bootstrap_admin() -> None:
    """On a database without users, create a superuser and show its secrets once."""
    from models.accounts import User, create_token, create_user

    if await User.exists():
        return
    password = secrets.token_urlsafe(12)
    admin = await create_user("admin", password=password, is_superuser=True)
    token = await create_token(admin, "bootstrap")
    await _audit_token_change("token.create", {"username": "admin", "name": "bootstrap"})
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

    from models.accounts import create_user

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


async def _audit_token_change(
    operation: str, arguments: dict[str, object], error_code: str | None = None
) -> None:
    """The audit entry of a token made or revoked from the command line (no account
    acts: whoever runs it has the server's own database access). Written through
    models/ alone, so `token create` still starts without the web stack (the arguments
    hold no secret); a failure is reported and the command's work stands."""
    from models.audit_log import AuditChannel, AuditOutcome, NewEntry, append

    outcome = AuditOutcome.OK if error_code is None else AuditOutcome.ERROR
    try:
        await append(
            NewEntry(
                at=datetime.now(UTC),
                channel=AuditChannel.CLI,
                operation=operation,
                outcome=outcome,
                arguments=arguments,
                error_code=error_code,
            )
        )
    except Exception:
        logger.exception("audit entry not written: %s (%s)", operation, error_code or "OK")


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from models.accounts import ApiToken, User, create_token, revoke_token

    async def work() -> int:
        if args.token_command == "revoke":
            missing = []
            for token_id in args.token_ids:
                revoked = await revoke_token(token_id)
                if not revoked:
                    missing.append(token_id)
                await _audit_token_change(
                    "token.revoke", {"tokenId": token_id}, None if revoked else "NOT_FOUND"
                )
            for token_id in missing:
                print(f"error: no active token with id {token_id}", file=sys.stderr)
            return 1 if missing else 0
        user = await User.get_or_none(username=args.username)
        if user is None:
            print(f"error: no user {args.username!r}", file=sys.stderr)
            if args.token_command == "create":
                await _audit_token_change(
                    "token.create", {"username": args.username, "name": args.name}, "NOT_FOUND"
                )
            return 2
        if args.token_command == "create":
            print(await create_token(user, args.name))
            await _audit_token_change(
                "token.create", {"username": user.username, "name": args.name}
            )
            return 0
        for token in await ApiToken.filter(user=user).order_by("id"):
            state = "revoked" if token.revoked_at else "active"
            last = token.last_used_at.isoformat() if token.last_used_at else "never"
            print(f"{token.id}\t{token.prefix}…\t{token.name}\t{state}\tlast used {last}")
        return 0

    return asyncio.run(_with_db(settings, work))


def _date(text: str) -> datetime:
    """A date or date-time (ISO 8601) for `audit export`; naive means UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD or an ISO 8601 date-time)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """`audit export`: the entries since a date as JSON lines, oldest first, read in
    keyset chunks (a year of entries never sits in memory). `audit prune`: what the
    server does hourly, for a cron job when servers run with AUDIT_RETENTION_DAYS=0."""
    from models.audit_log import AuditFilter, every_entry, prune

    async def export(out: TextIO) -> int:
        lines = 0
        async for entry in every_entry(AuditFilter(since=args.since, until=args.until)):
            out.write(orjson.dumps(entry.as_json()).decode() + "\n")
            lines += 1
        print(f"{lines} audit entries written", file=sys.stderr)
        return 0

    async def prune_entries() -> int:
        days = args.days if args.days is not None else settings.audit_retention_days
        deleted = await prune(datetime.now(UTC) - timedelta(days=days)) if days > 0 else 0
        print(f"{deleted} audit entries older than {days} days deleted", file=sys.stderr)
        return 0

    if args.audit_command == "prune":
        return asyncio.run(_with_db(settings, prune_entries))
    if args.out == "-":
        return asyncio.run(_with_db(settings, lambda: export(sys.stdout)))
    with open(args.out, "w", encoding="utf-8") as out:
        return asyncio.run(_with_db(settings, lambda: export(out)))


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

    audit = commands.add_parser("audit", help="export or prune the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_export = audit_commands.add_parser(
        "export", help="write the entries since a date as JSON lines, oldest first"
    )
    audit_export.add_argument(
        "--since", type=_date, required=True, help="inclusive, e.g. 2026-01-01"
    )
    audit_export.add_argument("--until", type=_date, help="exclusive")
    audit_export.add_argument("--out", default="-", help="file to write (default stdout)")
    audit_prune = audit_commands.add_parser(
        "prune", help="delete the entries older than the retention (AUDIT_RETENTION_DAYS)"
    )
    audit_prune.add_argument("--days", type=int, help="instead of AUDIT_RETENTION_DAYS")
    audit.set_defaults(handler=cmd_audit)

    generate = commands.add_parser("generate-dataset", help="write a synthetic dataset")
    generate.add_argument("--rows", type=int, required=True)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--out", required=True)
    generate.set_defaults(handler=cmd_generate_dataset)

    export = commands.add_parser("export-schema", help="print or write the SDL")
    export.add_argument("--out", default="-", help=f"file to write (default stdout); {SCHEMA_FILE}")
    export.set_defaults(handler=cmd_export_schema)
    return parser


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
