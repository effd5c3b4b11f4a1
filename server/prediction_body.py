"""Which request bodies may exceed MAX_BODY_BYTES: JSON predictions only.

A 1,000-row predictFutureNeed is ~330 kB of JSON, over the 100 kB every other request is
held to. schema.middleware.BodySizeLimit lets such a body through (up to
MAX_PREDICTION_BODY_BYTES) only when, once read and parsed, it asks for nothing else:
a POST to /graphql with a Content-Length and an Authorization header, whose every
operation is a query selecting only predictFutureNeed (and __typename) at its root.
Anything else above MAX_BODY_BYTES keeps its 413.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse

PREDICTION_FIELD = "predictFutureNeed"
_ALLOWED_ROOT_FIELDS = frozenset({PREDICTION_FIELD, "__typename"})
GRAPHQL_PATH = "/graphql"


def may_be_prediction(scope: Mapping[str, Any], headers: Mapping[bytes, bytes]) -> bool:
    """What can be told before reading the body: a JSON POST to /graphql by a caller who
    sent credentials (predictFutureNeed refuses anonymous callers anyway)."""
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return (
        scope.get("method") == "POST"
        and scope.get("path") == GRAPHQL_PATH
        and content_type == b"application/json"
        and bool(headers.get(b"authorization", b"").strip())
    )


def is_prediction_only(body: bytes, max_tokens: int) -> bool:
    """True when every operation of the JSON body (one, or a batch) is a query whose root
    selects predictFutureNeed and nothing but it (and __typename)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    operations = payload if isinstance(payload, list) else [payload]
    if not operations:
        return False
    return all(_asks_only_predictions(op, max_tokens) for op in operations)


def _asks_only_predictions(operation: object, max_tokens: int) -> bool:
    if not isinstance(operation, dict):
        return False
    query = operation.get("query")
    if not isinstance(query, str):
        return False  # a persisted query's hash alone says nothing of what it asks
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return False
    definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not definitions:
        return False
    for definition in definitions:
        if definition.operation is not OperationType.QUERY:
            return False
        selections = definition.selection_set.selections
        # Fragments at the root could hide any field: only plain fields are looked at.
        if not all(isinstance(s, FieldNode) for s in selections):
            return False
        names = {s.name.value for s in selections if isinstance(s, FieldNode)}
        if PREDICTION_FIELD not in names or not names <= _ALLOWED_ROOT_FIELDS:
            return False
    return True
