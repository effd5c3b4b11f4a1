"""Who calls a plain HTTP route (not GraphQL), and its refusals in the API's JSON error
shape: the model download and the runs' CSV export answer alike.

The token is read as GraphQL reads it (`Authorization: Token <key>` or `Bearer <key>`,
through the same identity cache); a refusal is `{"errors": [{"message", "extensions":
{"code", ...}}]}` with GraphQL's codes, never cached.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from models.accounts import Identity
from resolvers.context import Services, token_from_authorization
from resolvers.errors import ErrorCode
from schema.errors import error_body
from schema.permissions import UNAUTHENTICATED_MESSAGE
from server.audit import remember_caller
from trainer.logs import update_log_context

__all__ = ["admit", "authenticated_caller", "json_error", "unauthenticated"]


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
    remember_caller(request, identity)
    return identity


def unauthenticated(realm: str) -> Response:
    """401 with the challenge of both schemes the API accepts."""
    return json_error(
        401,
        UNAUTHENTICATED_MESSAGE,
        ErrorCode.UNAUTHENTICATED,
        {"www-authenticate": f'Token realm="{realm}", Bearer realm="{realm}"'},
    )


async def admit(
    services: Services,
    request: Request,
    *,
    what: str,
    methods: tuple[str, ...],
    allowed: Callable[[Identity], bool],
    refused: str,
) -> Identity | Response:
    """The caller of a plain route (`what`, e.g. "model download"), or the refusal to
    answer instead: 405 for another method, 401 without a valid token, 403 (`refused`)
    when `allowed` says no. Who asks is checked before anything about the resource, so
    an unknown id and a refused caller look alike."""
    if request.method not in methods:
        return json_error(
            405,
            f"the {what} answers {' and '.join(methods)} only",
            ErrorCode.METHOD_NOT_ALLOWED,
            {"allow": ", ".join(methods)},
        )
    identity = await authenticated_caller(services, request)
    if identity is None:
        return unauthenticated(what)
    if not allowed(identity):
        return json_error(403, refused, ErrorCode.FORBIDDEN)
    return identity
