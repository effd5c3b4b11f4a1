"""How errors reach clients: a stable `extensions.code` on every error, and nothing
internal (traceback, SQL, file path) in an unexpected one, which is logged with an id
that the client also gets."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError

from resolvers.errors import ApiError
from schema.enums import UserErrorCode

logger = logging.getLogger("schema.errors")


@strawberry.type(description="A refused input: which field, why, and a stable code.")
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input field, e.g. [input, hyperparameters, nEstimators]."
    )
    message: str
    code: UserErrorCode


def _classify(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    extensions = dict(error.extensions or {})
    if original is None or isinstance(original, GraphQLError):
        # Raised as a GraphQL error on purpose (permissions carry their own code) or
        # produced by parsing and validation, which describe the document itself.
        extensions.setdefault(
            "code", "BAD_USER_INPUT" if error.path else "GRAPHQL_VALIDATION_FAILED"
        )
        error.extensions = extensions
        return error
    if isinstance(original, ApiError):
        extensions["code"] = original.code
        if original.argument:
            extensions["argument"] = original.argument
        error.extensions = extensions
        return error
    error_id = uuid.uuid4().hex[:12]
    logger.error("unexpected error %s at %s", error_id, error.path, exc_info=original)
    return GraphQLError(
        f"Internal server error (id {error_id}).",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "errorId": error_id},
    )


class ErrorCodes(strawberry.extensions.SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            result.errors = [_classify(error) for error in result.errors]
