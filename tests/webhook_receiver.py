"""A webhook receiver for the tests and bench/webhooks.py: a real HTTP server (uvicorn on
a free port of 127.0.0.1) that does what the README tells HR tools to do.

It verifies each request with the `standardwebhooks` package (`Webhook.verify`: the
signature, and a timestamp within five minutes), and accepts each webhook-id once: a
repeated id (a retry whose first answer was lost, a redelivery) is answered 200 and
counted, not processed again. It can be told to fail: a share of attempts at random
(seeded: the same run fails the same attempts), the next N attempts, every attempt, a
slow answer, a request held and dropped, or a redirect.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    raw: bytes


@dataclass
class Receiver:
    """Its state: what it accepted, what it refused, and how it should answer next."""

    secret: str | None = None
    fail_rate: float = 0.0
    seed: int = 0
    fail_next: int = 0
    fail_all: bool = False
    delay_seconds: float = 0.0
    # Set: every request waits until it is set again, then is answered 503 unaccepted
    # (a receiver stuck while its sender dies).
    hold: asyncio.Event | None = None
    redirect: bool = False
    accepted: dict[str, Received] = field(default_factory=dict)
    duplicates: int = 0
    attempts: int = 0
    injected_failures: int = 0
    invalid: list[str] = field(default_factory=list)
    redirected_hits: int = 0
    url: str = ""
    _random: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"

    async def handle(self, request: Request) -> Response:
        self.attempts += 1
        body = await request.body()
        headers = {key.lower(): value for key, value in request.headers.items()}
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.hold is not None:
            await self.hold.wait()
            return Response("dropped", status_code=503)
        if self.redirect:
            return RedirectResponse(f"{self.url}/elsewhere", status_code=302)
        if self.fail_all:
            return Response("down", status_code=503)
        if self.fail_next > 0:
            self.fail_next -= 1
            return Response("failing on purpose", status_code=500)
        if self.fail_rate and self._random.random() < self.fail_rate:
            self.injected_failures += 1
            return Response("failing at random", status_code=500)
        if self.secret is None:
            return Response("no secret configured", status_code=500)
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            self.invalid.append(str(exc))
            return Response(f"invalid signature: {exc}", status_code=400)
        webhook_id = headers["webhook-id"]
        if webhook_id in self.accepted:
            self.duplicates += 1
            return JSONResponse({"duplicate": True})
        self.accepted[webhook_id] = Received(webhook_id, orjson.loads(body), headers, body)
        return JSONResponse({"accepted": True})

    async def elsewhere(self, request: Request) -> Response:
        self.redirected_hits += 1
        return JSONResponse({"followed": True})

    def of_type(self, event_type: str) -> list[Received]:
        return [item for item in self.accepted.values() if item.body["type"] == event_type]


@contextlib.asynccontextmanager
async def running_receiver(**options: Any) -> AsyncIterator[Receiver]:
    """Serve a Receiver on a free port of this event loop until the block ends."""
    receiver = Receiver(**options)
    app = Starlette(
        routes=[
            Route("/hook", receiver.handle, methods=["POST"]),
            Route("/elsewhere", receiver.elsewhere, methods=["GET", "POST"]),
        ]
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="critical",  # not the tracebacks of handlers cut at shutdown
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()
