"""The HTTP/WebSocket endpoint: strawberry's ASGI view, with the caller taken from the
Authorization header (HTTP) or the connection_init payload (WebSocket)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from resolvers.context import RequestContext, Services, token_from_authorization
from schema.limits import NUL_MESSAGE
from schema.middleware import graphql_error_body
from schema.websockets import (
    ConnectionCounter,
    LegacyWSHandler,
    TransportWSHandler,
    WebSocketLimits,
)

_HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class GraphQLView(GraphQL[RequestContext, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        schema: Any,
        services: Services,
        *,
        graphiql: bool = True,
        websockets: WebSocketLimits | None = None,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.services = services
        self._configure_websockets(websockets or WebSocketLimits())

    def _configure_websockets(self, limits: WebSocketLimits) -> None:
        """The limits schema.websockets' handlers enforce, and strawberry's own two."""
        self.websocket_limits = limits
        self.websocket_connections = ConnectionCounter(limits.max_connections_per_address)
        self.connection_init_wait_timeout = timedelta(seconds=limits.init_timeout)
        self.max_subscriptions_per_connection = limits.max_subscriptions_per_connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As strawberry's, but transport errors (bad JSON, too many batched operations,
        GraphiQL disabled) answer as GraphQL errors with a code, not as plain text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            await _refuse_unusable_body(request)
            response = await self.run(request)
        except HTTPException as exc:
            code = _HTTP_ERROR_CODES.get(exc.status_code, "BAD_REQUEST")
            response = Response(
                graphql_error_body(exc.reason, code),
                status_code=exc.status_code,
                media_type="application/json",
            )
        await response(scope, receive, send)

    # orjson both ways: encoding a page of runs with the json module took as long as
    # reading it from the database. orjson's errors subclass json.JSONDecodeError, so
    # strawberry still answers malformed bodies with 400. Text, not bytes: strawberry
    # sends bytes over WebSockets as binary frames, which GraphQL clients do not read.
    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        """GET requests carry their variables in the query string: no NUL there either."""
        parsed = super().parse_query_params(params)
        if _has_nul(parsed):
            raise HTTPException(400, NUL_MESSAGE)
        return parsed

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        client = request.client
        return RequestContext(
            services=self.services,
            request=request,
            response=response,
            token=token_from_authorization(request.headers.get("authorization")),
            client_address=client.host if client else None,
        )

    async def on_ws_connect(self, context: RequestContext) -> UnsetType | dict[str, object] | None:
        """Authenticate a WebSocket from its connection_init payload.

        Accepts {"Authorization": "Token <key>"} (any case) or {"token": "<key>"}. Bad
        credentials close the connection (4403); none at all leave it anonymous, and each
        subscription then checks its own permission, as a query would.
        """
        token = _token_from_payload(context.connection_params)
        context.authenticate_as(token, recheck_after=self.services.websocket_recheck_seconds)
        if token is not None and await context.viewer() is None:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        return UNSET


async def _refuse_unusable_body(request: Request) -> None:
    """Refuse JSON bodies strawberry would choke on, before it sees them.

    A body that is valid JSON but not an operation (a number, a string, a list of those)
    would reach strawberry's parser as a non-object, and NUL characters cannot be stored
    or compared by PostgreSQL (NULs written in the document itself are refused by
    schema.limits.NoNulInStrings). The body is cached by Starlette, so it is read once.
    """
    if request.method != "POST" or "json" not in request.headers.get("content-type", ""):
        return
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return  # strawberry answers malformed JSON itself
    operations = payload if isinstance(payload, list) else [payload]
    if not operations or not all(isinstance(op, dict) for op in operations):
        raise HTTPException(400, "the body must be a GraphQL request object (or a list of them)")
    if _has_nul(payload):
        raise HTTPException(400, NUL_MESSAGE)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _token_from_payload(payload: object) -> str | None:
    if not isinstance(payload, dict):
        return None
    for key, value in payload.items():
        if not isinstance(value, str):
            continue
        if key.lower() == "authorization":
            return token_from_authorization(value)
        if key.lower() == "token":
            return value.strip() or None
    return None
