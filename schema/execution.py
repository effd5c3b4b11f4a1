"""The executor's one shortcut: lists of scalars and enums completed in a single pass.

graphql-core completes a list item by item through its generic machinery (a path key,
an awaitable check, complete_value's dispatch, then the leaf's coercion): ~1.5 µs of
interpreter per item before the value itself is looked at. predictFutureNeed's compact
`columns` answer is 1,000 levels and 1,000 rows of probabilities, and that walk cost it
more than the prediction beside it (bench/predictions.py). For a list whose items are
non-null leaves (or lists of them), each item here goes straight to its type's own
coerce_output_value, as complete_leaf_value would send it, so the answer is the same.

Anything but the plain case takes graphql-core's own path, which then produces its own
answer and errors: a null item, a value the leaf refuses, an awaitable, a streamed
field (@stream), an item type that is an object, or a list nullable at any level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    specified_scalar_types,
)
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# How a list's items are completed in one pass: a leaf's coercion, or a list of them.
_Plan = Callable[[Any], Any]


class _NotPlain(Exception):  # a signal to fall back, never an error
    """A value the single pass does not complete: graphql-core's own path will."""


def _leaf(coerce: Callable[[Any], Any]) -> _Plan:
    def complete(items: Any) -> list[Any]:
        if type(items) is not list:
            raise _NotPlain
        completed = [coerce(item) for item in items]
        # The specified scalars and enums return a value or raise, never Undefined (whose
        # Python __eq__ would cost a call per item here); None only for a null item.
        if None in completed:
            raise _NotPlain
        return completed

    return complete


def _nested(inner: _Plan) -> _Plan:
    def complete(items: Any) -> list[Any]:
        if type(items) is not list:
            raise _NotPlain
        return [inner(item) for item in items]

    return complete


def _plan(item_type: GraphQLOutputType) -> _Plan | None:
    """The single pass for a list of `item_type`, or None when there is none."""
    if not isinstance(item_type, GraphQLNonNull):
        return None  # a null item completes to null (or an error) on the generic path
    named = item_type.of_type
    # The specified scalars and enums refuse (raise for) an awaitable or any value they
    # do not represent; a custom scalar (JSON) might pass one through.
    if isinstance(named, GraphQLEnumType) or (
        isinstance(named, GraphQLScalarType) and named.name in specified_scalar_types
    ):
        return _leaf(named.coerce_output_value)
    if isinstance(named, GraphQLList):
        inner = _plan(named.of_type)
        return None if inner is None else _nested(inner)
    return None


class LeafListExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution context, completing lists of leaves in one pass."""

    # Per list type of any schema built in this process: its single pass, or None.
    _plans: WeakKeyDictionary[GraphQLList[Any], _Plan | None] = WeakKeyDictionary()

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        try:
            plan = self._plans[return_type]
        except KeyError:
            plan = self._plans[return_type] = _plan(return_type.of_type)
        if (
            plan is not None
            and type(result) is list
            and self.get_stream_usage(field_details_list, path) is None
        ):
            try:
                return plan(result)  # type: ignore[no-any-return]
            except Exception:  # the generic path reports it, with its path
                pass
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )
