"""X-Request-ID: take the caller's (when sane) or make one, echo it, and log with it.

A proxy or client that sends an id can find this server's log lines for its request;
one that does not gets a fresh id back to quote in a bug report. The id is bound to the
log context for the whole request (or WebSocket connection), so every line logged while
serving it carries it.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainer.logs import bind_log_context, log_context

HEADER = "x-request-id"
# Bounded and plain: it is written to logs and echoed, so nothing that could forge a log
# line or a header (no spaces, quotes, control characters).
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == HEADER.encode():
            candidate = value.decode("latin-1")
            if _SANE_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestId:
    """A pure ASGI middleware (no response buffering, WebSockets included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] in {"http.response.start", "websocket.accept"}:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message)[HEADER] = request_id
                else:
                    message.setdefault("headers", [])
                    message["headers"] = [
                        *message["headers"],
                        (HEADER.encode(), request_id.encode()),
                    ]
            await send(message)

        token = bind_log_context(request_id=request_id, operation=None, user=None, run_id=None)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_context.reset(token)
