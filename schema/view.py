"""The HTTP/WebSocket endpoint: strawberry's ASGI view, with the caller taken from the
Authorization header (HTTP) or the connection_init payload (WebSocket)."""

from __future__ import annotations

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
from schema.cost import CostLimits, batch_refusal
from schema.limits import unusable_value
from schema.middleware import graphql_error_body

# How long an open WebSocket may rely on an identity before looking it up again.
WEBSOCKET_RECHECK_SECONDS = 5.0

_HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class GraphQLView(GraphQL[RequestContext, None]):
    def __init__(self, schema: Any, services: Services, *, graphiql: bool = True) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.services = services

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
        """GET requests carry their variables in the query string: checked as bodies are."""
        parsed = super().parse_query_params(params)
        _refuse_unusable_value(parsed)
        return parsed

    async def execute_operation(  # type: ignore[override]
        self, request: Any, request_adapter: Any, request_data: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """A batch is one request: above the cost budget together, none of it runs."""
        if isinstance(request_data, list):
            limits = self.schema.query_limits
            refusal = batch_refusal(
                self.schema._schema,
                request_data,
                CostLimits(max_cost=limits.max_cost),
                max_tokens=limits.max_tokens,
            )
            if refusal is not None:
                return refusal
        return await super().execute_operation(
            request, request_adapter, request_data, *args, **kwargs
        )

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
        context.authenticate_as(token, recheck_after=WEBSOCKET_RECHECK_SECONDS)
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
    _refuse_unusable_value(payload)


def _refuse_unusable_value(value: object) -> None:
    """NUL characters (PostgreSQL can neither store nor compare them) and values nested
    past any input of the schema, anywhere in what the client sent."""
    problem = unusable_value(value)
    if problem is not None:
        raise HTTPException(400, problem)


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
