"""The audit entry of a plain HTTP route (a model download, the runs' CSV export): the
one helper those endpoints call with their answer, so that served files and refusals are
recorded alike (resolvers/audit_log.py writes it; GraphQL mutations are recorded by
schema/audit_log.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from models.accounts import Identity
from resolvers.audit_log import AuditChannel, record
from resolvers.errors import ErrorCode

__all__ = ["audit_http", "audit_refused_upload", "remember_caller"]

_CALLER = "audited_caller"


def remember_caller(request: Request, identity: Identity | None) -> None:
    """Keep who called (server/refusals.py), for the entry of a refused request too."""
    setattr(request.state, _CALLER, identity)


def _error_code(response: Response) -> str | None:
    """None for an answer that serves (2xx, 304); else its JSON body's code."""
    if response.status_code < 400:
        return None
    try:
        body = orjson.loads(response.body)
        return str(body["errors"][0]["extensions"]["code"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        failed = response.status_code >= 500
        return ErrorCode.INTERNAL_SERVER_ERROR if failed else ErrorCode.BAD_REQUEST


async def audit_http(
    request: Request, operation: str, response: Response, arguments: Mapping[str, Any]
) -> Response:
    """Record `response` to `request` as `operation`, and return it."""
    client = request.client
    await record(
        channel=AuditChannel.HTTP,
        operation=operation,
        actor=getattr(request.state, _CALLER, None),
        error_code=_error_code(response),
        arguments={"method": request.method, **arguments},
        request_id=getattr(request.state, "request_id", None),
        client_address=client.host if client else None,
    )
    return response


async def audit_refused_upload(request: Request, identity: Identity | None, code: str) -> None:
    """A multipart request (uploadDataset's only way in) refused before its body is read:
    which mutation it carried is unknown then, so it is recorded as `multipartUpload`."""
    client = request.client
    await record(
        channel=AuditChannel.HTTP,
        operation="multipartUpload",
        actor=identity,
        error_code=code,
        arguments={
            "method": request.method,
            "contentLength": request.headers.get("content-length"),
        },
        request_id=getattr(request.state, "request_id", None),
        client_address=client.host if client else None,
    )
