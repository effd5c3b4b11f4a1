"""The GraphQL surface: types, inputs, permissions, roots and the schema object."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.errors import classify_errors
from schema.limits import QueryLimits, limit_extensions
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription
from schema.types import TrainingRun, User


class Schema(strawberry.Schema):
    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        """Code and mask errors; only unexpected ones are logged (with an id)."""
        classify_errors(errors)


def build_schema(
    limits: QueryLimits | None = None,
    *,
    introspection: bool = True,
    max_batch_operations: int = 10,
) -> Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[TrainingRun, User],
        extensions=[
            *limit_extensions(limits or QueryLimits(), introspection=introspection),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ],
        config=StrawberryConfig(batching_config={"max_operations": max_batch_operations}),
    )


# The schema with default settings: what export-schema prints and tests import.
schema = build_schema()

__all__ = ["QueryLimits", "build_schema", "schema"]
