"""strawberry's two WebSocket protocol handlers, with this server's limits on sockets.

A socket costs the server a task and a little memory for as long as the client keeps it
open, so sockets that do nothing useful are not kept (issue 12): one that never sends
connection_init is closed (strawberry does this for graphql-transport-ws only; here the
legacy graphql-ws gets the same), an anonymous one that runs no operation is closed, one
address may hold only so many sockets, and one socket only so many operations.

Close codes: 4408 (no connection_init in time, or an anonymous socket left idle), 4429
(too many sockets from this address). A subscribe over the per-connection bound gets an
`error` message with code TOO_MANY_SUBSCRIPTIONS and the socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from graphql import GraphQLError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage

from resolvers.context import RequestContext
from resolvers.errors import ErrorCode

logger = logging.getLogger("schema.http.websockets")  # the name these lines always had

CLOSE_TIMEOUT = 4408
CLOSE_TOO_MANY_CONNECTIONS = 4429
TOO_MANY_SUBSCRIPTIONS = ErrorCode.TOO_MANY_SUBSCRIPTIONS


@dataclass(frozen=True)
class WebSocketLimits:
    """Settings WS_CONNECTION_INIT_TIMEOUT, WS_ANONYMOUS_IDLE_SECONDS,
    WS_MAX_CONNECTIONS_PER_ADDRESS and WS_MAX_SUBSCRIPTIONS_PER_CONNECTION."""

    init_timeout: float = 10.0
    anonymous_idle: float = 30.0
    max_connections_per_address: int = 20
    max_subscriptions_per_connection: int = 20


class ConnectionCounter:
    """Open sockets per client address, in this process."""

    def __init__(self, max_per_address: int) -> None:
        self.max_per_address = max_per_address
        self._open: dict[str, int] = {}

    def try_open(self, address: str) -> bool:
        held = self._open.get(address, 0)
        if held >= self.max_per_address:
            return False
        self._open[address] = held + 1
        return True

    def close(self, address: str) -> None:
        remaining = self._open.get(address, 1) - 1
        if remaining > 0:
            self._open[address] = remaining
        else:
            self._open.pop(address, None)

    def open_for(self, address: str) -> int:
        return self._open.get(address, 0)


class _Guarded:
    """What both protocols share: the per-address bound and the watchdog."""

    # Whether strawberry already closes a socket that never sends connection_init.
    times_out_init: ClassVar[bool] = False

    view: Any
    context: RequestContext
    websocket: Any
    connection_acknowledged: bool

    def _in_flight(self) -> int:
        raise NotImplementedError

    async def _guarded(self, handle: Any) -> None:
        address = self.context.client_address or "-"
        connections: ConnectionCounter = self.view.websocket_connections
        if not connections.try_open(address):
            logger.warning("websocket refused: too many connections from %s", address)
            await self._close(CLOSE_TOO_MANY_CONNECTIONS, "Too many connections from this address")
            return
        watchdog = asyncio.create_task(self._watchdog(), name="websocket-watchdog")
        try:
            await handle()
        finally:
            watchdog.cancel()
            connections.close(address)

    async def _watchdog(self) -> None:
        limits: WebSocketLimits = self.view.websocket_limits
        opened = time.monotonic()
        step = min(limits.init_timeout, limits.anonymous_idle) / 4
        idle_since: float | None = None
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            if not self.connection_acknowledged:
                if not self.times_out_init and now - opened >= limits.init_timeout:
                    await self._close(CLOSE_TIMEOUT, "Connection initialisation timeout")
                    return
                continue
            if not self.context.is_anonymous:
                return
            if idle_since is None or self._in_flight():
                idle_since = now
            elif now - idle_since >= limits.anonymous_idle:
                address = self.context.client_address
                logger.info("websocket closed: anonymous and idle, from %s", address)
                await self._close(CLOSE_TIMEOUT, "Anonymous connection without operation")
                return

    async def _close(self, code: int, reason: str) -> None:
        # The client may have gone, or strawberry closed the socket first.
        with contextlib.suppress(RuntimeError, WebSocketDisconnected):
            await self.websocket.close(code=code, reason=reason)

    def _too_many(self) -> GraphQLError:
        bound = self.view.websocket_limits.max_subscriptions_per_connection
        return GraphQLError(
            f"at most {bound} operations may run at once on one connection",
            extensions={"code": TOO_MANY_SUBSCRIPTIONS, "limit": bound},
        )


class TransportWSHandler(_Guarded, BaseGraphQLTransportWSHandler[RequestContext, None]):
    times_out_init = True

    def _in_flight(self) -> int:
        return len(self.operations)

    async def handle(self) -> None:
        await self._guarded(super().handle)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        bound = self.view.websocket_limits.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= bound
        ):
            error = self._too_many()
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


class LegacyWSHandler(_Guarded, BaseGraphQLWSHandler[RequestContext, None]):
    def _in_flight(self) -> int:
        return len(self.tasks)

    async def handle(self) -> None:
        await self._guarded(super().handle)

    async def handle_start(self, message: StartMessage) -> None:
        bound = self.view.websocket_limits.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.tasks
            and len(self.tasks) >= bound
        ):
            error = self._too_many()
            await self.send_message(
                {"type": "error", "id": message["id"], "payload": error.formatted}
            )
            return
        await super().handle_start(message)
