"""The audit log: one row per mutation, login, token change and file download, appended
and never changed.

Append-only by construction: this module offers `append`, reads and `prune` (the
retention setting, run by the server itself), and no update; the API has no field that
deletes or edits an entry. Who is kept as an id and a username without a foreign key, so
deleting an account neither rewrites nor removes the entries that name it.

Reads are keyset pages on the id (newest first), each filter backed by an index that
ends with the id: `(username, id)`, `(operation, id)`, `(outcome, id)`; the time range
reads `(at)` (also what the prune deletes by).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.run_records import datetime_from_db, read

OPERATION_MAX_LENGTH = 64
ERROR_CODE_MAX_LENGTH = 64
REQUEST_ID_MAX_LENGTH = 128
CLIENT_ADDRESS_MAX_LENGTH = 64
# Rows one prune statement deletes: a long DELETE would hold SQLite's single write lock
# (and a large PostgreSQL transaction) for as long as it takes.
PRUNE_BATCH = 5_000


class AuditOutcome(StrEnum):
    OK = "OK"
    ERROR = "ERROR"  # refused input or a failure: error_code says which
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"


class AuditChannel(StrEnum):
    """Where the action came from."""

    GRAPHQL = "graphql"
    HTTP = "http"  # a plain route: model download, runs export
    CLI = "cli"  # the command line (token create / revoke)


class AuditEntry(Model):
    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    user_id = fields.IntField(null=True)
    username = fields.CharField(max_length=150, null=True)
    channel = fields.CharEnumField(AuditChannel, max_length=16)
    # The mutation field (trainModel, login...) or the action (downloadModel, token.create).
    operation = fields.CharField(max_length=OPERATION_MAX_LENGTH)
    # The GraphQL document's operationName, as the client sent it (capped).
    operation_name = fields.CharField(max_length=OPERATION_MAX_LENGTH, null=True)
    arguments: Any = fields.JSONField(null=True)
    outcome = fields.CharEnumField(AuditOutcome, max_length=16)
    error_code = fields.CharField(max_length=ERROR_CODE_MAX_LENGTH, null=True)
    request_id = fields.CharField(max_length=REQUEST_ID_MAX_LENGTH, null=True)
    client_address = fields.CharField(max_length=CLIENT_ADDRESS_MAX_LENGTH, null=True)

    class Meta:
        table = "audit_log"
        indexes = (
            Index(fields=("username", "id"), name="audit_username_id"),
            Index(fields=("operation", "id"), name="audit_operation_id"),
            Index(fields=("outcome", "id"), name="audit_outcome_id"),
        )


@dataclass(frozen=True)
class NewEntry:
    """What `append` writes; values already capped and stripped of secrets by the caller
    (resolvers/audit_log.py)."""

    at: datetime
    channel: AuditChannel
    operation: str
    outcome: AuditOutcome
    user_id: int | None = None
    username: str | None = None
    operation_name: str | None = None
    arguments: dict[str, Any] | None = None
    error_code: str | None = None
    request_id: str | None = None
    client_address: str | None = None


async def append(entry: NewEntry) -> None:
    """Write one entry. On PostgreSQL its commit does not wait for the WAL to reach the
    disk (synchronous_commit off, for this transaction only): that flush was most of the
    INSERT's time (7.4 ms of 8, measured beside the API's own writes), which the mutation
    would wait for. The entry is visible at once and durable within a few hundred
    milliseconds (the WAL writer's delay, or the next synchronous commit, e.g. the next
    mutation's); only a crash of the database server in that window can lose it."""
    if AuditEntry._meta.db.capabilities.dialect != "postgres":
        await AuditEntry.create(**_values(entry))
        return
    async with in_transaction() as connection:
        await connection.execute_query("SET LOCAL synchronous_commit = off")
        await AuditEntry.create(**_values(entry), using_db=connection)


def _values(entry: NewEntry) -> dict[str, Any]:
    return dict(
        at=entry.at,
        channel=entry.channel,
        operation=entry.operation[:OPERATION_MAX_LENGTH],
        operation_name=_capped(entry.operation_name, OPERATION_MAX_LENGTH),
        outcome=entry.outcome,
        error_code=_capped(entry.error_code, ERROR_CODE_MAX_LENGTH),
        user_id=entry.user_id,
        username=entry.username,
        arguments=entry.arguments,
        request_id=_capped(entry.request_id, REQUEST_ID_MAX_LENGTH),
        client_address=_capped(entry.client_address, CLIENT_ADDRESS_MAX_LENGTH),
    )


def _capped(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


@dataclass(frozen=True)
class AuditFilter:
    """Entries to keep; every condition given must hold (`since` inclusive, `until`
    exclusive)."""

    username: str | None = None
    operations: Sequence[str] | None = None
    outcomes: Sequence[AuditOutcome] | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditRecord:
    """An entry as read for the API and the export."""

    id: int
    at: datetime
    user_id: int | None
    username: str | None
    channel: AuditChannel
    operation: str
    operation_name: str | None
    arguments: dict[str, Any] | None
    outcome: AuditOutcome
    error_code: str | None
    request_id: str | None
    client_address: str | None

    def as_json(self) -> dict[str, Any]:
        """One line of `audit export`."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "userId": self.user_id,
            "username": self.username,
            "channel": self.channel.value,
            "operation": self.operation,
            "operationName": self.operation_name,
            "arguments": self.arguments,
            "outcome": self.outcome.value,
            "errorCode": self.error_code,
            "requestId": self.request_id,
            "clientAddress": self.client_address,
        }


_COLUMNS = (
    "id",
    "at",
    "user_id",
    "username",
    "channel",
    "operation",
    "operation_name",
    "arguments",
    "outcome",
    "error_code",
    "request_id",
    "client_address",
)


def _where(audit_filter: AuditFilter | None) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if audit_filter is None:
        return clauses, params
    if audit_filter.username is not None:
        clauses.append("username = ?")
        params.append(audit_filter.username)
    if audit_filter.operations:
        clauses.append(f"operation IN ({', '.join('?' * len(audit_filter.operations))})")
        params += list(audit_filter.operations)
    if audit_filter.outcomes:
        clauses.append(f"outcome IN ({', '.join('?' * len(audit_filter.outcomes))})")
        params += [outcome.value for outcome in audit_filter.outcomes]
    if audit_filter.since is not None:
        clauses.append("at >= ?")
        params.append(audit_filter.since)
    if audit_filter.until is not None:
        clauses.append("at < ?")
        params.append(audit_filter.until)
    return clauses, params


async def page(
    audit_filter: AuditFilter | None,
    *,
    limit: int,
    before_id: int | None = None,
    after_id: int | None = None,
    newest_first: bool = True,
) -> list[AuditRecord]:
    """Up to `limit` entries, by id: newest first below `before_id`, or oldest first
    above `after_id`."""
    clauses, params = _where(audit_filter)
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    if after_id is not None:
        clauses.append("id > ?")
        params.append(after_id)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    direction = "DESC" if newest_first else "ASC"
    rows, _ = await read(
        f"SELECT {', '.join(_COLUMNS)} FROM {AuditEntry._meta.db_table}{where} "
        f"ORDER BY id {direction} LIMIT {int(limit)}",
        params,
    )
    return [_record(row) for row in rows]


async def get_entry(entry_id: int) -> AuditRecord | None:
    """One entry by id (node(id:), auditEntry); None if absent or pruned."""
    rows, _ = await read(
        f"SELECT {', '.join(_COLUMNS)} FROM {AuditEntry._meta.db_table} WHERE id = ?",
        [entry_id],
    )
    return _record(rows[0]) if rows else None


async def count(audit_filter: AuditFilter | None) -> int:
    clauses, params = _where(audit_filter)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows, _ = await read(f"SELECT COUNT(*) FROM {AuditEntry._meta.db_table}{where}", params)
    return int(rows[0][0])


async def every_entry(
    audit_filter: AuditFilter | None, chunk: int = 1_000
) -> AsyncIterator[AuditRecord]:
    """Every matching entry, oldest first, read in keyset chunks (`audit export`)."""
    after_id: int | None = None
    while True:
        records = await page(audit_filter, limit=chunk, after_id=after_id, newest_first=False)
        for record in records:
            yield record
        if len(records) < chunk:
            return
        after_id = records[-1].id


async def prune(older_than: datetime) -> int:
    """Delete the entries from before `older_than`, in batches; how many went."""
    deleted = 0
    while True:
        ids = (
            await AuditEntry.filter(at__lt=older_than)
            .limit(PRUNE_BATCH)
            .values_list("id", flat=True)
        )
        if not ids:
            return deleted
        await AuditEntry.filter(id__in=list(ids)).delete()
        deleted += len(ids)
        if len(ids) < PRUNE_BATCH:
            return deleted


def _record(row: Sequence[Any]) -> AuditRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    arguments = values["arguments"]
    if isinstance(arguments, str | bytes):  # both drivers return JSON as text
        arguments = orjson.loads(arguments)
    return AuditRecord(
        id=int(values["id"]),
        at=datetime_from_db(values["at"]),
        user_id=values["user_id"],
        username=values["username"],
        channel=AuditChannel(values["channel"]),
        operation=values["operation"],
        operation_name=values["operation_name"],
        arguments=arguments,
        outcome=AuditOutcome(values["outcome"]),
        error_code=values["error_code"],
        request_id=values["request_id"],
        client_address=values["client_address"],
    )
