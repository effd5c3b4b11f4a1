"""Which operation of a document runs: the one named by operationName, and no guess.

strawberry runs the first operation of a document holding several when the request
names none; the GraphQL spec (GetOperation) makes that a request error, so a client that
forgot operationName learns it instead of silently getting another operation's result.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from resolvers.errors import ErrorCode

MULTIPLE_OPERATIONS_MESSAGE = "Must provide operation name if query contains multiple operations."


class OperationNameRequired(SchemaExtension):
    """Refuse a document of several operations sent without operationName.

    Runs as a validation step, after strawberry's ValidationCache has stored the
    document's own validation errors (it must come after it in the extension list):
    it only adds its error to a document that is otherwise valid, as graphql-js would.
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # strawberry keeps the name the request gave apart from the one it infers.
        provided_name = context._provided_operation_name
        if document is not None and provided_name is None and not context.pre_execution_errors:
            operations = [
                definition
                for definition in document.definitions
                if isinstance(definition, OperationDefinitionNode)
            ]
            if len(operations) > 1:
                context.pre_execution_errors = [
                    GraphQLError(
                        MULTIPLE_OPERATIONS_MESSAGE,
                        extensions={"code": ErrorCode.OPERATION_RESOLUTION_FAILURE},
                    )
                ]
        yield
