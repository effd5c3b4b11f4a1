"""GET /runs/export.csv: the runs a filter matches, as a CSV file the server streams.

Query parameters, both optional, are JSON in the GraphQL shape a client already sends
to trainingRuns: `filter` a TrainingRunFilter (`{"status": ["COMPLETED"], "search":
"beta"}`), `orderBy` a TrainingRunOrder (`{"field": "ACCURACY", "direction": "DESC"}`).
They are coerced by the schema's own input types and converted as the GraphQL field's
arguments are (`TrainingRunFilter.to_run_filter`), so the export matches exactly what
the list shows. Rows and CSV are resolvers/run_export.py's.

Who may: as for reading runs (HR staff, managers, superusers). Refusals are JSON in the
API's error shape (server/refusals.py): 401 UNAUTHENTICATED, 403 FORBIDDEN, 400
BAD_USER_INPUT naming the parameter (`extensions.argument`), 405 for another method.
Everything is checked before the first byte is sent; one log line per export says who,
with which filter, how many rows, and whether the client took it all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from graphql import GraphQLInputObjectType
from graphql.utilities import coerce_input_value, validate_input_value
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from strawberry import Schema
from strawberry.types.arguments import convert_argument

from models.accounts import Scope as AccessScope
from resolvers.context import Services
from resolvers.errors import ApiError, ErrorCode
from resolvers.run_export import RunExport, start_export
from schema.inputs import TrainingRunFilter, TrainingRunOrder
from server.audit import audit_http
from server.refusals import admit, json_error

__all__ = ["RUN_EXPORT_ROUTE", "RunExportEndpoint"]

logger = logging.getLogger("schema.http.run_export")  # the name these lines always had

RUN_EXPORT_ROUTE = "/runs/export.csv"
_METHODS = ("GET",)


class _BadParameter(Exception):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class RunExportEndpoint:
    """An ASGI app (as ModelDownloads), so an unsupported method is refused in JSON."""

    def __init__(self, services: Services, api_schema: Schema) -> None:
        self.services = services
        self.schema = api_schema

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        """The answer, recorded in the audit log as it starts (served or refused)."""
        response = await self._respond(request)
        params = request.query_params
        return await audit_http(
            request,
            "exportRuns",
            response,
            {"filter": params.get("filter"), "orderBy": params.get("orderBy")},
        )

    async def _respond(self, request: Request) -> Response:
        caller = await admit(
            self.services,
            request,
            what="runs export",
            methods=_METHODS,
            allowed=lambda identity: AccessScope.READ_RUNS in identity.scopes,
            refused=(
                "Reading training runs is reserved to HR staff (DRH, RESPONSABLE_RH) and managers."
            ),
        )
        if isinstance(caller, Response):
            return caller
        try:
            run_filter = self._argument(request, "filter", TrainingRunFilter)
            run_order = self._argument(request, "orderBy", TrainingRunOrder)
            export = await start_export(
                run_filter.to_run_filter() if run_filter else None,
                (run_order or TrainingRunOrder()).to_run_order(),
            )
        except _BadParameter as error:
            return json_error(
                400,
                str(error),
                ErrorCode.BAD_USER_INPUT,
                extensions={"argument": error.parameter},
            )
        except ApiError as error:
            return json_error(
                400,
                str(error),
                error.code,
                extensions={"argument": error.argument, **error.details},
            )
        filename = f"training-runs-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv"
        return StreamingResponse(
            self._logged(export, caller.username, request.query_params.get("filter")),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="{filename}"',
                "cache-control": "no-store",
            },
        )

    def _argument(self, request: Request, name: str, input_type: type[Any]) -> Any:
        """The query parameter `name` as `input_type` (None when absent), coerced by the
        schema's type of that name as a GraphQL variable would be."""
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _BadParameter(name, f"`{name}` is not valid JSON") from None
        if value is None:
            return None
        graphql_type = self.schema._schema.get_type(input_type.__name__)
        assert isinstance(graphql_type, GraphQLInputObjectType), input_type
        problems: list[str] = []
        validate_input_value(
            value, graphql_type, lambda error, _path: problems.append(error.message), True
        )
        if problems:
            raise _BadParameter(name, f"`{name}`: {problems[0]}")
        coerced = coerce_input_value(value, graphql_type)
        return convert_argument(
            coerced, input_type, self.schema.schema_converter.scalar_registry, self.schema.config
        )

    async def _logged(
        self, export: RunExport, username: str, raw_filter: str | None
    ) -> AsyncIterator[bytes]:
        try:
            async for chunk in export.csv_chunks():
                yield chunk
        finally:
            logger.info(
                "runs export by %s: filter %r, %d rows%s",
                username,
                raw_filter[:500] if raw_filter else None,
                export.rows,
                "" if export.finished else " (stopped before the end)",
            )
