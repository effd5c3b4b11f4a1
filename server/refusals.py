"""Who calls a plain HTTP route (not GraphQL), and its refusals in the API's JSON error
shape: the model download and the runs' CSV export answer alike.

The token is read as GraphQL reads it (`Authorization: Token <key>` or `Bearer <key>`,
through the same identity cache); a refusal is `{"errors": [{"message", "extensions":
{"code", ...}}]}` with GraphQL's codes, never cached.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from models.credentials import Identity
from resolvers.context import Services, token_from_authorization
from resolvers.errors import ErrorCode
from schema.errors import error_body
from schema.permissions import UNAUTHENTICATED_MESSAGE
from trainer.logs import update_log_context

__all__ = ["authenticated_caller", "json_error", "unauthenticated"]


def json_error(
    status: int,
    message: str,
    code: ErrorCode,
    headers: dict[str, str] | None = None,
    *,
    extensions: dict[str, object] | None = None,
) -> Response:
    """A refusal; `extensions` beside the code (e.g. the refused `argument`)."""
    return Response(
        error_body(message, code, with_data=False, **(extensions or {})),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store", **(headers or {})},
    )


async def authenticated_caller(services: Services, request: Request) -> Identity | None:
    """The identity of the request's token, None without a valid one; named in the
    request's log lines."""
    token = token_from_authorization(request.headers.get("authorization"))
    identity = await services.identities.authenticate(token) if token else None
    update_log_context(user=identity.username if identity else None)
    return identity


def unauthenticated(realm: str) -> Response:
    """401 with the challenge of both schemes the API accepts."""
    return json_error(
        401,
        UNAUTHENTICATED_MESSAGE,
        ErrorCode.UNAUTHENTICATED,
        {"www-authenticate": f'Token realm="{realm}", Bearer realm="{realm}"'},
    )
