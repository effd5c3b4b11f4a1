"""HTTP hardening around the GraphQL endpoint: request size, security headers, and a
JSON answer for unexpected errors."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.errors import ErrorCode
from schema.errors import error_body, log_unexpected
from server.prediction_body import is_prediction_only, may_be_prediction


def too_large(limit: int) -> tuple[Message, Message]:
    """The JSON 413 (start and body messages) for a body over `limit` bytes."""
    body = error_body(f"request body larger than {limit} bytes", ErrorCode.REQUEST_TOO_LARGE)
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodySizeLimit:
    """Starlette's request body limit, refusing with a GraphQL error body (JSON 413).

    Starlette's RequestBodyLimitMiddleware checks a declared Content-Length and counts a
    chunked body as it streams in, cutting the request off as soon as it is over; its
    refusal is plain text, rewritten here into the JSON every other refusal uses. Every
    request gets `max_bytes`, except those `allowance` grants more (uploads), and JSON
    predictions, which may declare up to `max_prediction_bytes`
    (server/prediction_body.py).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_upload_bytes: int | None = None,
        max_prediction_bytes: int = 0,
        max_query_tokens: int = 2000,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes or max_bytes
        self.max_prediction_bytes = max_prediction_bytes
        self.max_query_tokens = max_query_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if (
            declared.isdigit()
            and self.max_bytes < int(declared) <= self.max_prediction_bytes
            and may_be_prediction(scope, headers)
        ):
            await self._prediction(scope, int(declared), receive, send)
            return
        limit = self.max_bytes
        if is_dataset_upload(scope):
            limit = max(limit, self.max_upload_bytes)
        limited = RequestBodyLimitMiddleware(self.app, max_body_size=limit)
        await limited(scope, receive, _refusal_as_json(send, limit))

    async def _prediction(self, scope: Scope, length: int, receive: Receive, send: Send) -> None:
        """A JSON body above `max_bytes` that says it is at most `max_prediction_bytes`:
        read (never more than it declared) and passed on only if it asks for predictions
        alone; anything else gets the same 413 as any body over `max_bytes`."""
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > length:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not is_prediction_only(body, self.max_query_tokens):
            await self._refuse(send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        for message in too_large(self.max_bytes):
            await send(message)


def is_dataset_upload(scope: Scope) -> bool:
    """A GraphQL multipart request (uploadDataset) with credentials: it may be as large
    as MAX_UPLOAD_BYTES, streamed to disk as it comes (resolvers/upload_spool.py). Without an
    Authorization header it keeps the tight limit, and the view refuses it unread."""
    if scope.get("method") != "POST" or scope.get("path") != "/graphql":
        return False
    headers = Headers(scope=scope)
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == "multipart/form-data" and bool(headers.get("authorization"))


def _refusal_as_json(send: Send, limit: int) -> Send:
    """`send`, with Starlette's plain-text 413 replaced by a GraphQL error body."""
    replacing = False
    start, body = too_large(limit)

    async def send_json(message: Message) -> None:
        nonlocal replacing
        if message["type"] == "http.response.start" and message["status"] == 413:
            content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
            replacing = content_type.startswith("text/plain")
            if replacing:
                await send(start)
                return
        if replacing and message["type"] == "http.response.body":
            if not message.get("more_body", False):
                await send(body)
            return
        await send(message)

    return send_json


# GraphiQL's page and its assets are the project's own files (static/, served at /static),
# so scripts, styles and requests are 'self' only: no CDN, no inline script or style.
# Fonts and the page icon are data: URIs inside those files. Nothing may frame the pages.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src {connect}; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
# What a Host header may hold to be written into the policy (host, IPv4/IPv6, port).
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def content_security_policy(host: str | None) -> str:
    """The policy for a response to a request sent to `host`.

    connect-src names the WebSockets of the same host explicitly (ws: and wss:, as TLS
    may end at a proxy): 'self' covers them only in recent browsers.
    """
    connect = "'self'"
    if host and _HOST.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    return _CSP.format(connect=connect)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        host = Headers(scope=scope).get("host")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", content_security_policy(host))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class InternalErrors:
    """An unexpected exception escaping the app is answered as the JSON 500 of every
    other error (INTERNAL_SERVER_ERROR, with an `errorId` the log repeats beside the
    traceback).

    Starlette's ServerErrorMiddleware would answer it too, but it always sits outside
    every user middleware: its plain-text 500 carried no CORS headers, so a page on an
    allowed origin saw an opaque network failure instead of the error. Installed inside
    the CORS, security-header and request-id middleware, this answer carries them all.
    A response already started cannot be replaced: that exception goes on up.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            error_id = log_unexpected(exc, f"{scope.get('method')} {scope.get('path')}")
            body = error_body(
                f"Internal server error (id {error_id}).",
                ErrorCode.INTERNAL_SERVER_ERROR,
                errorId=error_id,
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
