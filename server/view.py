"""The HTTP/WebSocket endpoint: strawberry's ASGI view, with the caller taken from the
Authorization header (HTTP) or the connection_init payload (WebSocket).

Over HTTP it also speaks GraphQL over HTTP as the spec has it (server/transport.py: the
response media type, 405/406/415), automatic persisted queries
(server/persisted_queries.py), and serves GraphiQL from the project's own files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from resolvers.context import RequestContext, Services, token_from_authorization
from resolvers.errors import ErrorCode
from resolvers.upload_spool import UploadSlots, UploadSpool, remove_stale_uploads
from schema import Schema
from schema.cost import batch_refusal
from schema.limits import checked_payload, remember_checked_body, unusable_value
from server import persisted_queries
from server.audit import audit_refused_upload
from server.persisted_queries import PersistedQueryStore
from server.transport import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    RequestRefused,
    is_request_error,
    negotiate_media_type,
)
from server.uploads import UploadRequestAdapter, upload_operations
from server.websockets import (
    ConnectionCounter,
    LegacyWSHandler,
    TransportWSHandler,
    WebSocketLimits,
)

logger = logging.getLogger("schema.http.view")  # the name these lines always had

# What a client refused for MAX_CONCURRENT_UPLOADS is told to wait (Retry-After).
UPLOAD_RETRY_AFTER_SECONDS = 5
# strawberry's GraphiQL page with its assets served from static/ (see README, GraphiQL).
GRAPHIQL_PAGE = Path(__file__).with_name("graphiql.html")


class GraphQLView(GraphQL[RequestContext, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    schema: Schema
    request_adapter_class = UploadRequestAdapter

    def __init__(
        self,
        schema: Schema,
        services: Services,
        *,
        graphiql: bool = True,
        allowed_origins: Sequence[str] = (),
        persisted_queries: PersistedQueryStore | None = None,
        websockets: WebSocketLimits | None = None,
        upload_field_max_bytes: int = 100_000,
        max_concurrent_uploads: int = 2,
    ) -> None:
        """`allowed_origins` are the other origins whose pages may open a WebSocket (the
        same list as CORS_ORIGINS: strawberry refuses cross-origin handshakes otherwise).
        Multipart requests (uploadDataset) are accepted from HR staff only, at most
        `max_concurrent_uploads` at once; their `operations` and `map` fields may hold
        `upload_field_max_bytes` each."""
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            allowed_origins=allowed_origins,
            multipart_uploads_enabled=True,
        )
        self.upload_field_max_bytes = upload_field_max_bytes
        self.upload_slots = UploadSlots(max_concurrent_uploads)
        self.services = services
        self.persisted_queries = (
            persisted_queries if persisted_queries is not None else PersistedQueryStore(0)
        )
        self._graphiql_html = GRAPHIQL_PAGE.read_text(encoding="utf-8") if graphiql else ""
        self._configure_websockets(websockets or WebSocketLimits())

    def _configure_websockets(self, limits: WebSocketLimits) -> None:
        """The limits server.websockets' handlers enforce, and strawberry's own two."""
        self.websocket_limits = limits
        self.websocket_connections = ConnectionCounter(limits.max_connections_per_address)
        self.connection_init_wait_timeout = timedelta(seconds=limits.init_timeout)
        self.max_subscriptions_per_connection = limits.max_subscriptions_per_connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As strawberry's, but transport errors (bad JSON, too many batched operations,
        GraphiQL disabled) answer as GraphQL errors with a code, not as plain text, in
        the media type the client accepts."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        media_type = APPLICATION_JSON
        spool: UploadSpool | None = None
        try:
            media_type = self._check_http_request(request)
            request.state.graphql_media_type = media_type
            if _is_multipart(request):
                await self._admit_upload(request)
                spool = request.state.upload_spool = UploadSpool(self.services.artifacts.datasets)
                request.state.upload_field_max_bytes = self.upload_field_max_bytes
            await _refuse_unusable_body(request)
            response = await self.run(request)
        except HTTPException as exc:
            response = _refusal_response(RequestRefused.from_http_exception(exc), media_type)
        except ClientDisconnect:
            if spool is None:
                raise
            # A cancelled upload: nobody is left to answer, nothing to report.
            logger.info("upload cancelled: the client went away mid-body")
            return
        finally:
            if spool is not None:
                spool.discard()
                self.upload_slots.give_back()
        await response(scope, receive, send)

    async def _admit_upload(self, request: Request) -> None:
        """Multipart requests carry files: only HR staff may send them, and this is
        checked before a byte of the body is read. Requiring the Authorization header
        also keeps cross-site form posts (CSRF) out: a browser form cannot set it."""
        challenge = {"WWW-Authenticate": 'Token realm="uploads", Bearer realm="uploads"'}
        token = token_from_authorization(request.headers.get("authorization"))
        if token is None:
            await audit_refused_upload(request, None, ErrorCode.UNAUTHENTICATED)
            raise RequestRefused(
                401,
                "multipart requests (uploads) need an 'Authorization: Token <key>' header",
                code=ErrorCode.UNAUTHENTICATED,
                headers=challenge,
            )
        identity = await self.services.identities.authenticate(token)
        if identity is None:
            await audit_refused_upload(request, None, ErrorCode.UNAUTHENTICATED)
            raise RequestRefused(
                401, "invalid or revoked token", code=ErrorCode.UNAUTHENTICATED, headers=challenge
            )
        if not identity.can_train:
            await audit_refused_upload(request, identity, ErrorCode.FORBIDDEN)
            raise RequestRefused(
                403,
                "uploading datasets is reserved to HR staff (DRH, RESPONSABLE_RH)",
                code=ErrorCode.FORBIDDEN,
            )
        # Files a killed server left behind; not done at start-up alone, since a
        # server may run for months.
        await asyncio.to_thread(remove_stale_uploads, self.services.artifacts.datasets)
        # Last: from here on the request's `finally` gives the slot back.
        if not self.upload_slots.take():
            logger.info("upload refused: %d uploads already in progress", self.upload_slots.limit)
            raise RequestRefused(
                503,
                f"this server takes {self.upload_slots.limit} uploads at once "
                "(MAX_CONCURRENT_UPLOADS); try again in a moment",
                code=ErrorCode.SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(UPLOAD_RETRY_AFTER_SECONDS)},
            )

    # --- GraphQL over HTTP: methods, media types -----------------------------------------
    def _check_http_request(self, request: Request) -> str:
        """Refuse what the spec says to refuse before reading the body, and choose the
        response media type: 405 for methods other than GET and POST, 406 when the
        client accepts neither JSON form, 415 for a POST body that is not JSON (or, when
        uploads are on, multipart)."""
        if request.method not in ("GET", "POST"):
            raise RequestRefused(
                405, "GraphQL only supports GET and POST requests.", headers={"Allow": "GET, POST"}
            )
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            return APPLICATION_JSON
        media_type = negotiate_media_type(request.headers.get("accept"))
        if media_type is None:
            raise RequestRefused(
                406, f"this endpoint answers in {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}"
            )
        if request.method == "POST" and not self._is_supported_body(request):
            raise RequestRefused(415, "POST bodies must be application/json")
        return media_type

    def _is_supported_body(self, request: Request) -> bool:
        content_type = _media_type(request)
        if content_type == APPLICATION_JSON:
            return True
        return self.multipart_uploads_enabled and content_type == "multipart/form-data"

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """As strawberry's, except that a GET naming a persisted query is a query."""
        return super().should_render_graphql_ide(request) and (
            request.query_params.get("extensions") is None
        )

    @property
    def graphql_ide_html(self) -> str:
        return self._graphiql_html

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = getattr(request.state, "graphql_media_type", APPLICATION_JSON)
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """A request error has no `data` entry in application/graphql-response+json."""
        response = await super().process_result(request, result)
        media_type = getattr(request.state, "graphql_media_type", APPLICATION_JSON)
        if media_type == GRAPHQL_RESPONSE_JSON and is_request_error(result.data, result.errors):
            response.pop("data", None)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """Written in the negotiated media type; in application/graphql-response+json a
        response without `data` (a request error) is a 400."""
        response = super().create_response(response_data, sub_response)
        media_type = sub_response.media_type or APPLICATION_JSON
        if media_type != APPLICATION_JSON:
            response.headers["content-type"] = media_type
            if isinstance(response_data, dict) and "data" not in response_data:
                response.status_code = 400
        return response

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: RequestContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """As strawberry's; a mutation over GET is a 405 naming POST, and a persisted
        query is remembered once its document has proved valid and only for a signed-in
        caller: the store is shared by every client of the process, and anonymous ones
        could otherwise evict everybody's queries (they still run theirs, sent in full)."""
        try:
            result = await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as exc:
            cause = exc.__cause__
            if (
                request_adapter.method == "GET"
                and isinstance(cause, InvalidOperationTypeError)
                and cause.operation_type == OperationType.MUTATION
            ):
                raise RequestRefused(
                    405, "mutations must be sent with POST", headers={"Allow": "POST"}
                ) from exc
            raise
        if await context.signed_in():
            self._remember_persisted_query(request_data, result)
        return result

    # --- request parameters and automatic persisted queries -------------------------------
    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, Any]:
        """The GraphQL multipart request spec, with `operations` and `map` checked so
        that a malformed one is a 400 naming the problem."""
        form = await request.get_form_data()
        return upload_operations(
            form,
            self.decode_json,
            _refuse_unusable_value,
            max_tokens=self.schema.query_limits.max_tokens,
        )

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = await super().parse_http_body(request)
        for request_data in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(request_data.operation_name, str | None):
                raise RequestRefused(
                    400,
                    "The GraphQL operation's `operationName` must be a string or null,"
                    " if provided.",
                )
            self._resolve_persisted_query(request_data)
        return parsed

    def _resolve_persisted_query(self, request_data: GraphQLRequestData) -> None:
        sha256_hash = persisted_queries.requested_hash(request_data.extensions)
        if sha256_hash is not None:
            request_data.query = persisted_queries.resolve_query(
                self.persisted_queries, sha256_hash, request_data.query
            )

    def _remember_persisted_query(
        self, request_data: GraphQLRequestData, result: ExecutionResult
    ) -> None:
        if request_data.query is None or is_request_error(result.data, result.errors):
            return
        try:
            sha256_hash = persisted_queries.requested_hash(request_data.extensions)
        except RequestRefused:
            return
        if sha256_hash is not None:
            self.persisted_queries.remember(sha256_hash, request_data.query)

    # orjson both ways: encoding a page of runs with the json module took as long as
    # reading it from the database. orjson's errors subclass json.JSONDecodeError, so
    # strawberry still answers malformed bodies with 400. Text, not bytes: strawberry
    # sends bytes over WebSockets as binary frames, which GraphQL clients do not read.
    def decode_json(self, data: str | bytes) -> object:
        # The body _refuse_unusable_body already decoded and checked: the same object.
        kept = checked_payload(data)
        return kept if kept is not None else orjson.loads(data)

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        """GET requests carry their variables in the query string: checked as bodies are."""
        parsed = super().parse_query_params(params)
        _refuse_unusable_value(parsed)
        return parsed

    async def execute_operation(
        self, request: Any, request_adapter: Any, request_data: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """A batch is one request: above the cost budget together, none of it runs."""
        if isinstance(request_data, list):
            limits = self.schema.query_limits
            refusal = batch_refusal(
                self.schema._schema,
                request_data,
                limits.cost,
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
        context.authenticate_as(token, recheck_after=self.services.websocket_recheck_seconds)
        if token is not None and await context.viewer() is None:
            raise ConnectionRejectionError({"code": ErrorCode.UNAUTHENTICATED})
        # strawberry types UNSET as Any (it is every field's "not given" default).
        return cast("UnsetType", UNSET)


async def _refuse_unusable_body(request: Request) -> None:
    """Refuse JSON bodies strawberry would choke on, before it sees them.

    A body that is valid JSON but not an operation (a number, a string, a list of those)
    would reach strawberry's parser as a non-object, and NUL characters cannot be stored
    or compared by PostgreSQL (NULs written in the document itself are refused by
    schema.limits.NoNulInStrings). The body is cached by Starlette, so it is read once.
    """
    if request.method != "POST" or _media_type(request) != APPLICATION_JSON:
        return
    body = await request.body()
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # strawberry answers malformed JSON itself
    operations = payload if isinstance(payload, list) else [payload]
    if not operations or not all(isinstance(op, dict) for op in operations):
        raise HTTPException(400, "the body must be a GraphQL request object (or a list of them)")
    _refuse_unusable_value(payload)
    remember_checked_body(body, payload)


def _is_multipart(request: Request) -> bool:
    return request.method == "POST" and _media_type(request) == "multipart/form-data"


def _media_type(request: Request) -> str:
    """The Content-Type's media type alone: its parameters (a multipart boundary may
    say "json") are no part of it."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _refusal_response(refusal: RequestRefused, media_type: str) -> Response:
    response = Response(
        refusal.body(media_type),
        status_code=refusal.status(media_type),
        media_type=media_type,
    )
    response.headers.update(refusal.headers)
    return response


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
