"""The audit log's service: what one entry holds (secrets and content left out, strings
capped), writing it without ever failing the action it records, the auditLog page, the
retention prune. The table and its SQL are in models/audit_log.py.

Writing: one INSERT, awaited after the action and before its response is sent, so an
entry is in the table by the time the client has its answer (a test, an operator
reading the log right after, see it), at the cost of that one statement
(bench/results/audit-tags-*.md; on PostgreSQL it commits without waiting for the disk,
models/audit_log.append). A write that fails (the
database is down, a value the driver refuses) is logged with its traceback and
swallowed: the audit must not turn a done action into an error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from models.accounts import Identity
from models.audit_log import (
    AuditChannel,
    AuditFilter,
    AuditOutcome,
    AuditRecord,
    NewEntry,
    append,
    count,
    every_entry,
    get_entry,
    page,
    prune,
)
from models.run_list import as_utc
from resolvers.errors import ApiError, ErrorCode, InvalidCursor
from resolvers.ids import parse_id
from resolvers.training_runs import PageSizes

__all__ = [
    "AuditChannel",
    "AuditFilter",
    "AuditOutcome",
    "AuditPage",
    "AuditRecord",
    "audit_entry",
    "audit_page",
    "can_read_audit_log",
    "every_entry",
    "outcome_of_code",
    "prune_forever",
    "prune_older_than",
    "record",
    "safe_arguments",
]

logger = logging.getLogger("resolvers.audit_log")

# What an entry keeps of the arguments: names whose values are secrets are replaced,
# anything that is not plain data (an uploaded file) is replaced, strings are capped.
SECRET_NAME_PARTS = ("password", "token", "secret", "apikey", "api_key", "authorization")
REDACTED = "[redacted]"
CONTENT_OMITTED = "[content omitted]"
MAX_STRING = 200
MAX_ITEMS = 50
MAX_DEPTH = 6
# How often each server process deletes the entries past the retention.
PRUNE_INTERVAL_SECONDS = 3_600.0


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def safe_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """`arguments` as an entry keeps them: secrets and uploaded content left out,
    strings capped at MAX_STRING characters, lists at MAX_ITEMS entries."""
    return {name: _safe(name, value, 0) for name, value in arguments.items()}


def _safe(name: str, value: Any, depth: int) -> Any:
    if _is_secret(name):
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + "…"
    if depth >= MAX_DEPTH:
        return CONTENT_OMITTED
    if isinstance(value, Mapping):
        return {str(key): _safe(str(key), item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        kept = [_safe(name, item, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            kept.append(f"… {len(value) - MAX_ITEMS} more")
        return kept
    if isinstance(value, datetime):
        return value.isoformat()
    return CONTENT_OMITTED  # a file, or another object the client did not write as text


def outcome_of_code(code: str | None) -> AuditOutcome:
    """The outcome of an action refused with `code` (None: it succeeded)."""
    if code is None:
        return AuditOutcome.OK
    if code == ErrorCode.UNAUTHENTICATED:
        return AuditOutcome.UNAUTHENTICATED
    if code == ErrorCode.FORBIDDEN:
        return AuditOutcome.FORBIDDEN
    return AuditOutcome.ERROR


async def record(
    *,
    channel: AuditChannel,
    operation: str,
    actor: Identity | None,
    error_code: str | None = None,
    arguments: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    request_id: str | None = None,
    client_address: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one entry; never raises (a failure is logged with its traceback)."""
    try:
        await append(
            NewEntry(
                at=at or datetime.now(UTC),
                channel=channel,
                operation=operation,
                outcome=outcome_of_code(error_code),
                error_code=error_code,
                user_id=actor.id if actor else None,
                username=actor.username if actor else None,
                operation_name=operation_name,
                arguments=safe_arguments(arguments) if arguments is not None else None,
                request_id=request_id,
                client_address=client_address,
            )
        )
    except Exception:
        logger.exception(
            "audit entry not written: %s by %s (%s)",
            operation,
            actor.username if actor else "-",
            error_code or "OK",
        )


# --- reading ------------------------------------------------------------------------------
_CURSOR_PREFIX = "audit:"


def encode_audit_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{entry_id}".encode()).decode().rstrip("=")


def decode_audit_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor(f"malformed cursor {cursor[:60]!r}", argument="after") from exc
    number = raw.removeprefix(_CURSOR_PREFIX)
    if not raw.startswith(_CURSOR_PREFIX) or not (number.isascii() and number.isdigit()):
        raise InvalidCursor("not a cursor of the audit log", argument="after")
    if len(number) > 19:
        raise InvalidCursor("malformed cursor", argument="after")
    return int(number)


@dataclass
class AuditPage:
    """One page of entries, newest first, and what its connection fields need."""

    entries: list[AuditRecord]
    has_next_page: bool
    has_previous_page: bool
    audit_filter: AuditFilter | None

    def cursor(self, entry: AuditRecord) -> str:
        return encode_audit_cursor(entry.id)

    async def total_count(self) -> int:
        return await count(self.audit_filter)


def checked_audit_filter(
    *,
    username: str | None,
    operations: Sequence[str] | None,
    outcomes: Sequence[AuditOutcome] | None,
    since: datetime | None,
    until: datetime | None,
) -> AuditFilter:
    try:
        return AuditFilter(
            username=username,
            operations=list(operations) if operations else None,
            outcomes=list(outcomes) if outcomes else None,
            since=None if since is None else as_utc(since),
            until=None if until is None else as_utc(until),
        )
    except ValueError as exc:
        raise ApiError(str(exc), argument="filter") from None


async def audit_page(
    audit_filter: AuditFilter | None, *, first: int | None, after: str | None, sizes: PageSizes
) -> AuditPage:
    """Up to `first` entries (DEFAULT_PAGE_SIZE when absent, at most MAX_PAGE_SIZE, as
    the run list), newest first, after the `after` cursor."""
    size = sizes.default if first is None else first
    if not 0 <= size <= sizes.maximum:
        raise ApiError(
            f"`first` must be between 0 and {sizes.maximum}, got {size}", argument="first"
        )
    before_id = decode_audit_cursor(after) if after else None
    rows = await page(audit_filter, limit=size + 1, before_id=before_id)
    return AuditPage(rows[:size], len(rows) > size, after is not None, audit_filter)


def can_read_audit_log(viewer: Identity | None) -> bool:
    """HR staff and superusers, as auditLog's permission (schema IsHRStaff)."""
    return viewer is not None and viewer.can_train


async def audit_entry(viewer: Identity | None, raw_id: str) -> AuditRecord | None:
    """One entry by global id (AuditEntry:...) or numeric database id; None if absent,
    or if `viewer` may not read the audit log (node(id:) lets managers in: to them an
    entry is as absent as a wrong id)."""
    if not can_read_audit_log(viewer):
        return None
    entry_id = _entry_id(raw_id)
    return None if entry_id is None else await get_entry(entry_id)


def _entry_id(raw: str) -> int | None:
    return parse_id(raw, "AuditEntry")


# --- retention ----------------------------------------------------------------------------
async def prune_older_than(days: int, now: datetime | None = None) -> int:
    """Delete the entries older than `days` days (0: keep everything); how many went."""
    if days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    deleted = await prune(cutoff)
    if deleted:
        logger.info("audit log: %d entries older than %d days deleted", deleted, days)
    return deleted


async def prune_forever(days: int, interval: float = PRUNE_INTERVAL_SECONDS) -> None:
    """The server's retention: prune at start-up, then every `interval` seconds. Every
    server process runs it; the deletes are idempotent, so several only repeat a cheap
    indexed look-up. A failure is logged and retried at the next interval."""
    while True:
        try:
            await prune_older_than(days)
        except Exception:
            logger.exception("audit log: pruning failed; retried in %.0f s", interval)
        await asyncio.sleep(interval)
