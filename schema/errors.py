"""How errors reach clients: a stable `extensions.code` on every error, and nothing
internal (traceback, SQL, file path) in an unexpected one, which is logged with an id
that the client also gets."""

from __future__ import annotations

import logging
import traceback
import uuid

import orjson
import strawberry
from graphql import GraphQLError, GraphQLSyntaxError

from resolvers.errors import ApiError, ErrorCode, FieldError, is_database_outage
from schema.enums import UserErrorCode

logger = logging.getLogger("schema.errors")


@strawberry.type(description="A refused input: which field, why, and a stable code.")
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input field, e.g. [input, hyperparameters, nEstimators]."
    )
    message: str
    code: UserErrorCode

    @classmethod
    def of(cls, error: FieldError) -> UserError:
        return cls(field=error.field, message=error.message, code=error.code)


def user_errors(errors: list[FieldError]) -> list[UserError]:
    return [UserError.of(error) for error in errors]


def error_body(
    message: str, code: ErrorCode | str, *, with_data: bool = True, **extensions: object
) -> bytes:
    """The one JSON error body of every refusal answered outside GraphQL execution (body
    size, transport, persisted queries, model downloads): `{"data": null, "errors":
    [{"message", "extensions": {"code", ...}}]}`; without `data` where the response
    is not a GraphQL result (application/graphql-response+json, downloads)."""
    error = {"message": message, "extensions": {"code": code, **extensions}}
    body: dict[str, object] = (
        {"data": None, "errors": [error]} if with_data else {"errors": [error]}
    )
    return orjson.dumps(body)


# strawberry's limit extensions report through the validation context with bare
# GraphQLErrors, so their codes can only be attached here, from their documented messages.
_LIMIT_MESSAGES = {
    " exceeds maximum operation depth of ": ErrorCode.QUERY_TOO_DEEP,
    " aliases found. Allowed: ": ErrorCode.TOO_MANY_ALIASES,
    "GraphQL introspection has been disabled": ErrorCode.INTROSPECTION_DISABLED,
    "Maximum introspection depth exceeded": ErrorCode.QUERY_TOO_DEEP,
}


# An error's message may quote what the client sent (Tortoise's length check quotes the
# whole value): every line of a logged traceback, and the whole of it, is cut to these.
MAX_LOGGED_LINE = 500
MAX_LOGGED_TRACEBACK = 8000


def _bounded(text: str, limit: int = MAX_LOGGED_LINE) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def _bounded_traceback(exc: BaseException) -> str:
    """The traceback as `logging` would print it, but bounded whatever the exception."""
    lines = [
        _bounded(line)
        for chunk in traceback.format_exception(exc, limit=-30)
        for line in chunk.rstrip("\n").split("\n")
    ]
    text = "\n".join(lines)
    if len(text) <= MAX_LOGGED_TRACEBACK:
        return text
    # The end names the error; the start, where it came from.
    half = MAX_LOGGED_TRACEBACK // 2
    return f"{text[:half]}\n... ({len(text) - 2 * half} characters cut) ...\n{text[-half:]}"


def log_unexpected(exc: BaseException, where: object) -> str:
    """Log an unexpected error under a fresh id, with its bounded traceback, and return
    the id: the client gets it (`errorId`) to quote, the operator finds it in the log."""
    error_id = uuid.uuid4().hex[:12]
    logger.error(
        "unexpected error %s at %s\n%s", error_id, _bounded(str(where)), _bounded_traceback(exc)
    )
    return error_id


def _classify(error: GraphQLError, outage_retry_after: float) -> GraphQLError:
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(error, GraphQLSyntaxError):
        too_long = error.message.startswith("Syntax Error: Document contains more than")
        extensions["code"] = (
            ErrorCode.TOO_MANY_TOKENS if too_long else ErrorCode.GRAPHQL_PARSE_FAILED
        )
        error.extensions = extensions
        return error
    if original is None:
        for fragment, code in _LIMIT_MESSAGES.items():
            if fragment in error.message:
                extensions["code"] = code
    if original is None or isinstance(original, GraphQLError):
        # Raised as a GraphQL error on purpose (permissions carry their own code) or
        # produced by parsing and validation, which describe the document itself.
        extensions.setdefault(
            "code", ErrorCode.BAD_USER_INPUT if error.path else ErrorCode.GRAPHQL_VALIDATION_FAILED
        )
        error.extensions = extensions
        return error
    if isinstance(original, ApiError):
        extensions["code"] = original.code
        if original.argument:
            extensions["argument"] = original.argument
        extensions.update(original.details)
        error.extensions = extensions
        return error
    if is_database_outage(original):
        # Expected while the database is down: one line, no traceback, and a code that
        # tells the client to come back rather than report a bug.
        logger.warning("database unavailable at %s: %s", error.path, type(original).__name__)
        return GraphQLError(
            "The service is temporarily unavailable (database unreachable); retry later.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": ErrorCode.SERVICE_UNAVAILABLE, "retryAfter": outage_retry_after},
        )
    error_id = log_unexpected(original, error.path)
    return GraphQLError(
        f"Internal server error (id {error_id}).",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": ErrorCode.INTERNAL_SERVER_ERROR, "errorId": error_id},
    )


def classify_errors(errors: list[GraphQLError], *, outage_retry_after: float) -> None:
    """Give each error its code and mask unexpected ones, in place. A database outage
    tells the client to retry after `outage_retry_after` seconds (OUTAGE_RETRY_AFTER).

    In place because strawberry builds the response from this very list after calling
    Schema.process_errors, on every path (parse and validation errors, execution errors,
    subscriptions); a SchemaExtension does not see the errors of the early paths.
    """
    errors[:] = [_classify(error, outage_retry_after) for error in errors]
