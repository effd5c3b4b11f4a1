"""The GraphQL surface: types, inputs, permissions, roots and the schema object."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from schema.audit_log import audit_mutations
from schema.datasets import OneDatasetListingPerOperation
from schema.errors import classify_errors
from schema.execution import LeafListExecutionContext
from schema.limits import QueryLimits, limit_extensions
from schema.mutation import Mutation
from schema.operations import OperationNameRequired
from schema.query import Query
from schema.scalars import JSON, JSON_SCALAR
from schema.subscription import Subscription
from schema.telemetry import OperationMetrics
from schema.types import TrainingRun, User


class Schema(strawberry.Schema):
    # The limits it was built with; the HTTP view needs them for what spans operations.
    query_limits: QueryLimits = QueryLimits()
    # Seconds a client is told to wait before retrying during a database outage.
    outage_retry_after: float = 5.0

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        """Code and mask errors; only unexpected ones are logged (with an id)."""
        classify_errors(errors, outage_retry_after=self.outage_retry_after)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """As strawberry's, minus subscriptions: `execute` serves single HTTP responses, where
        a subscription has no event to resolve (WebSockets go through `subscribe`)."""
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=allowed - {OperationType.SUBSCRIPTION},
            operation_extensions=operation_extensions,
        )


def build_schema(
    limits: QueryLimits | None = None,
    *,
    introspection: bool = True,
    max_batch_operations: int = 10,
    document_cache_size: int = 256,
    outage_retry_after: float = 5.0,
) -> Schema:
    limits = limits or QueryLimits()
    audit_mutations(Mutation)  # every mutation field recorded in the audit log
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[TrainingRun, User],
        execution_context_class=LeafListExecutionContext,
        extensions=[
            *limit_extensions(
                limits, introspection=introspection, cost_cache_size=document_cache_size
            ),
            lambda: ParserCache(maxsize=document_cache_size),
            lambda: ValidationCache(maxsize=document_cache_size),
            # After ValidationCache, whose validation errors it must not overwrite.
            OperationNameRequired,
            OperationMetrics,
            OneDatasetListingPerOperation,
        ],
        config=StrawberryConfig(
            batching_config={"max_operations": max_batch_operations},
            scalar_map={JSON: JSON_SCALAR},
        ),
    )
    built.query_limits = limits
    built.outage_retry_after = outage_retry_after
    return built


# No schema is built on import: the app builds its own from the settings
# (server/app.py), export-schema one with the defaults (the SDL is the same).
__all__ = ["QueryLimits", "Schema", "build_schema"]
