"""The GraphQL surface: types, inputs, permissions, roots and the schema object."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from schema.errors import ErrorCodes
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription
from schema.types import TrainingRun, User


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """Errors are logged by ErrorCodes, once, and only the unexpected ones."""


def build_schema() -> Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[TrainingRun, User],
        extensions=[
            ErrorCodes,
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ],
    )


schema = build_schema()

__all__ = ["build_schema", "schema"]
