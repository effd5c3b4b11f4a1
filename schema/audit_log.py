"""The audit log's GraphQL side: every mutation field recorded in one place, and the
`auditLog` connection HR staff and superusers read.

Recording is a strawberry field extension that `audit_mutations` puts on every field of
the Mutation root when the schema is built, outermost (after the permission check's own
extension): it sees each call whatever its end, success, payload `errors`, a refusal
(FORBIDDEN, UNAUTHENTICATED) or an exception, and so a mutation added later is recorded
without anyone remembering to. A SchemaExtension's `on_execute` sees the operation as a
whole instead, and could tell neither which field refused what nor a payload's `errors`
the client did not select; its `resolve` hook would run for every field of every query.
Documents that fail to parse or validate, or exceed the query limits, never reach a
mutation: they are in the logs and metrics, not in the audit log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.execution.values import VariableValues, get_argument_values
from strawberry import relay
from strawberry.extensions.field_extension import FieldExtension
from strawberry.types.base import get_object_definition

from resolvers.audit_log import AuditChannel, AuditOutcome, AuditPage, AuditRecord, record
from resolvers.errors import ApiError, ErrorCode, is_database_outage
from schema.context import Info
from schema.scalars import JSON

strawberry.enum(AuditOutcome, name="AuditOutcome")
strawberry.enum(AuditChannel, name="AuditChannel")

logger = logging.getLogger("schema.audit_log")

# Writes of synchronous mutation fields, which cannot await theirs (kept until done).
_pending: set[asyncio.Task[None]] = set()


def _error_code(error: BaseException) -> str:
    if isinstance(error, ApiError):
        return str(error.code)
    if isinstance(error, GraphQLError) and error.extensions and error.extensions.get("code"):
        return str(error.extensions["code"])
    if is_database_outage(error):
        return ErrorCode.SERVICE_UNAVAILABLE
    return ErrorCode.INTERNAL_SERVER_ERROR


def _payload_error_code(result: Any) -> str | None:
    """The code of the first refused input of a payload with `errors`, else None."""
    errors = getattr(result, "errors", None)
    if not isinstance(errors, list) or not errors:
        return None
    code = getattr(errors[0], "code", None)
    return str(getattr(code, "value", code)) if code is not None else ErrorCode.BAD_USER_INPUT


def _arguments(info: Info) -> dict[str, Any] | None:
    """The field's arguments as the client sent them (variables applied), before
    strawberry turns them into Python inputs; None if they cannot be read."""
    raw = info._raw_info
    try:
        definition = raw.parent_type.fields[raw.field_name]
        variables: Any = raw.variable_values
        if not isinstance(variables, VariableValues):
            # strawberry's executor hands resolvers the plain coerced dict.
            variables = VariableValues(sources={}, coerced=variables)
        return get_argument_values(definition, raw.field_nodes[0], variables)
    except Exception:  # variables that did not coerce: the error says so already
        logger.debug("audit: arguments of %s not readable", info.field_name, exc_info=True)
        return None


class AuditedMutation(FieldExtension):
    """Records each call of the field it is on (resolvers/audit_log.record)."""

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        started = datetime.now(UTC)
        try:
            result = await next_(source, info, **kwargs)
        except BaseException as error:
            if isinstance(error, Exception):
                await _record(info, started, _error_code(error))
            raise
        await _record(info, started, _payload_error_code(result))
        return result

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        started = datetime.now(UTC)
        try:
            result = next_(source, info, **kwargs)
        except Exception as error:
            _record_later(info, started, _error_code(error))
            raise
        _record_later(info, started, _payload_error_code(result))
        return result


def _record_later(info: Info, started: datetime, code: str | None) -> None:
    task = asyncio.get_running_loop().create_task(_record(info, started, code))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _record(info: Info, started: datetime, code: str | None) -> None:
    """Never raises: what it cannot read is left out, a failed write is logged."""
    context = info.context
    try:
        actor = await context.viewer() or context.audit_actor
    except Exception:  # the identity look-up failed with the database: still recorded
        actor = None
    state = getattr(getattr(context, "request", None), "state", None)
    operation = info._raw_info.operation
    await record(
        channel=AuditChannel.GRAPHQL,
        operation=info.field_name,
        actor=actor,
        error_code=code,
        arguments=_arguments(info),
        operation_name=operation.name.value if operation.name else None,
        request_id=getattr(state, "request_id", None),
        client_address=getattr(context, "client_address", None),
        at=started,
    )


def audit_mutations(mutation: type) -> None:
    """Put AuditedMutation on every field of `mutation` (once: the schema may be built
    several times in one process)."""
    for field in get_object_definition(mutation, strict=True).fields:
        if not any(isinstance(extension, AuditedMutation) for extension in field.extensions):
            # Last is outermost: it also sees the permission check's refusals.
            field.extensions.append(AuditedMutation())


# --- reading ------------------------------------------------------------------------------
@strawberry.type(
    description=(
        "One recorded action: who, what, with which outcome, when. A Node: node(id:) and "
        "auditEntry(id:) give it to HR staff and superusers only."
    )
)
class AuditEntry(relay.Node):
    id: relay.NodeID[int]
    at: datetime = strawberry.field(description="When the action was received.")
    username: str | None = strawberry.field(
        description="Who acted (null: no valid credentials, or the command line)."
    )
    user_id: int | None = strawberry.field(description="Their account's databaseId.")
    channel: AuditChannel
    operation: str = strawberry.field(
        description=(
            "The mutation field called (trainModel, login, ...) or the action "
            "(downloadModel, exportRuns, multipartUpload, token.create, token.revoke)."
        )
    )
    operation_name: str | None = strawberry.field(
        description="The GraphQL document's operationName, as the client sent it."
    )
    arguments: JSON | None = strawberry.field(
        description=(
            "The arguments, without passwords, tokens, secrets or uploaded content; "
            "strings cut at 200 characters."
        )
    )
    outcome: AuditOutcome
    error_code: str | None = strawberry.field(
        description="Why it was refused or failed: an error code or a UserErrorCode."
    )
    request_id: str | None = strawberry.field(description="The request's X-Request-ID.")
    client_address: str | None

    @strawberry.field
    def database_id(self, root: strawberry.Parent[AuditRecord]) -> int:
        return root.id

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, AuditRecord | cls)


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditRecord = strawberry.field(graphql_type=AuditEntry)


@strawberry.type
class AuditLogConnection:
    """Read from a resolvers.audit_log.AuditPage."""

    @strawberry.field(graphql_type=list[AuditEntryEdge])
    def edges(self, root: strawberry.Parent[AuditPage]) -> list[AuditEntryEdge]:
        return [AuditEntryEdge(cursor=root.cursor(entry), node=entry) for entry in root.entries]

    @strawberry.field(graphql_type=list[AuditEntry])
    def nodes(self, root: strawberry.Parent[AuditPage]) -> list[AuditRecord]:
        return root.entries

    @strawberry.field
    def page_info(self, root: strawberry.Parent[AuditPage]) -> relay.PageInfo:
        entries = root.entries
        return relay.PageInfo(
            has_next_page=root.has_next_page,
            has_previous_page=root.has_previous_page,
            start_cursor=root.cursor(entries[0]) if entries else None,
            end_cursor=root.cursor(entries[-1]) if entries else None,
        )

    @strawberry.field(description="Entries matching the filter; counted only when selected.")
    async def total_count(self, root: strawberry.Parent[AuditPage]) -> int:
        return await root.total_count()


@strawberry.input(description="All given conditions must hold.")
class AuditLogFilter:
    username: str | None = strawberry.field(default=None, description="Who acted.")
    operation: list[str] | None = strawberry.field(
        default=None, description="Any of these operations (e.g. trainModel, login)."
    )
    outcome: list[AuditOutcome] | None = strawberry.field(
        default=None, description="Any of these outcomes."
    )
    since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")
