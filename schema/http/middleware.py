"""HTTP hardening around the GraphQL endpoint: request size and security headers."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.errors import error_body
from schema.http.prediction_body import is_prediction_only, may_be_prediction


def graphql_error_body(message: str, code: str) -> bytes:
    return error_body(message, code)


class BodySizeLimit:
    """Refuse HTTP bodies above `max_bytes` before reading them into memory.

    A declared Content-Length is checked up front; a chunked body is counted as it
    streams in, and the request is cut off as soon as it exceeds the limit. The one
    exception is a JSON prediction (schema/http/prediction_body.py), which may declare up to
    `max_prediction_bytes`.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_prediction_bytes: int = 0,
        max_query_tokens: int = 2000,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_prediction_bytes = max_prediction_bytes
        self.max_query_tokens = max_query_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            if declared.isdigit() and int(declared) <= self.max_prediction_bytes:
                await self._prediction(scope, headers, int(declared), receive, send)
            else:
                await self._refuse(send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await self._refuse(send)

    async def _prediction(
        self, scope: Scope, headers: dict[bytes, bytes], length: int, receive: Receive, send: Send
    ) -> None:
        """A body above `max_bytes` that says it is at most `max_prediction_bytes`: read
        (never more than it declared) and passed on only if it asks for predictions alone."""
        if not may_be_prediction(scope, headers):
            await self._refuse(send)
            return
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
        body = graphql_error_body(
            f"request body larger than {self.max_bytes} bytes", "REQUEST_TOO_LARGE"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


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
