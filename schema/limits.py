"""Limits that refuse abusive documents during validation, before any resolver runs.

strawberry's own extensions do the work where they exist; schema.errors gives each
refusal a stable `extensions.code` so clients can tell which limit they hit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import graphql.execution.values as graphql_values
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
)
from graphql.language.parser import MAX_NESTING_DEPTH
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from resolvers.errors import ErrorCode
from schema.cost import CostCache, CostLimits, QueryCostLimiter


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 12
    max_tokens: int = 2000
    max_aliases: int = 15
    max_root_fields: int = 10
    max_cost: int = 30_000
    # graphql-core's get_introspection_query() is 14 deep (args -> type -> 9 x ofType);
    # GraphiQL 3's (graphql-js 16) is 12.
    max_introspection_depth: int = 14
    # A page's size as trainingRuns takes it, so that its cost counts the runs it returns.
    default_page_size: int = 20
    max_page_size: int = 100

    @property
    def cost(self) -> CostLimits:
        return CostLimits(
            max_cost=self.max_cost,
            default_page_size=self.default_page_size,
            max_page_size=self.max_page_size,
        )


def _count_root_fields(selection_set: SelectionSetNode, context: ValidationContext) -> int:
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += 1
        elif isinstance(selection, InlineFragmentNode):
            count += _count_root_fields(selection.selection_set, context)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = context.get_fragment(selection.name.value)
            if fragment is not None:
                count += _count_root_fields(fragment.selection_set, context)
    return count


def max_root_fields_rule(limit: int) -> type[ValidationRule]:
    class MaxRootFields(ValidationRule):
        """Bounds how many top-level fields one operation asks for."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> None:
            count = _count_root_fields(node.selection_set, self.context)
            if count > limit:
                self.report_error(
                    GraphQLError(
                        f"operation selects {count} root fields; at most {limit} are allowed",
                        node,
                        extensions={"code": ErrorCode.TOO_MANY_ROOT_FIELDS},
                    )
                )

    return MaxRootFields


def _depth(
    node: FieldNode | InlineFragmentNode | FragmentSpreadNode,
    context: ValidationContext,
    limit: int,
    spread: frozenset[str] = frozenset(),
) -> int:
    """Depth below `node` as strawberry's QueryDepthLimiter counts it (a field with a
    selection set is one level), but stopping once past `limit`."""
    if isinstance(node, FragmentSpreadNode):
        name = node.name.value
        fragment = context.get_fragment(name)
        if fragment is None or name in spread:
            return 0
        selections, spread = fragment.selection_set.selections, spread | {name}
        below = 0
    else:
        if node.selection_set is None:
            return 0
        selections = node.selection_set.selections
        below = 1 if isinstance(node, FieldNode) else 0
    if limit < 0:
        return below
    children = [
        _depth(child, context, limit - below, spread)
        for child in selections
        if isinstance(child, FieldNode | InlineFragmentNode | FragmentSpreadNode)
    ]
    return below + max(children, default=0)


def introspection_depth_rule(limit: int) -> type[ValidationRule]:
    class MaxIntrospectionFieldDepth(ValidationRule):
        """Bounds the depth of `__schema` and `__type` selections, which strawberry's
        depth limit does not count (graphql-core's MaxIntrospectionDepthRule bounds how
        often they nest lists of types, not how deep they go)."""

        def enter_field(self, node: FieldNode, *_: object) -> None:
            if node.name.value not in {"__schema", "__type"}:
                return
            depth = _depth(node, self.context, limit)
            if depth > limit:
                self.report_error(
                    GraphQLError(
                        f"introspection is {depth} deep or more; at most {limit} is allowed",
                        node,
                        extensions={"code": ErrorCode.QUERY_TOO_DEEP},
                    )
                )

    return MaxIntrospectionFieldDepth


NUL_MESSAGE = "strings must not contain NUL characters"


# JSON nested deeper than this is no GraphQL input of this schema (its deepest input,
# a list in a filter, is 3 deep); refusing it keeps every walk of a value shallow.
MAX_VALUE_DEPTH = 64


def unusable_value(value: object, max_depth: int = MAX_VALUE_DEPTH) -> str | None:
    """Why a decoded JSON value (a request body, an operation's variables) cannot be
    used, or None. Iterative, so that no nesting can exhaust the interpreter's stack, and
    one level at a time with plain list extends: a 1,000-row predictFutureNeed body is
    walked in about 2 ms (a stack of (item, depth) pairs took five times as long)."""
    level: list[object] = [value]
    depth = 0
    while level:
        below: list[object] = []
        for item in level:
            if isinstance(item, str):
                if "\x00" in item:
                    return NUL_MESSAGE
            elif isinstance(item, dict | list):
                if depth >= max_depth:
                    return f"values must not be nested more than {max_depth} levels deep"
                below.extend(item)
                if isinstance(item, dict):
                    below.extend(item.values())
        level = below
        depth += 1
    return None


# The request body this request's task decoded and found usable (unusable_value), set by
# server/view.py: strawberry decodes the very same object (not the bytes again), and its
# variables are walked neither again by OperationLimits nor by graphql-core. A 1,000-row
# predictFutureNeed spent a third of its time in these three walks (bench/predictions.py).
_checked_body: ContextVar[tuple[bytes, object] | None] = ContextVar("checked_body", default=None)


def remember_checked_body(body: bytes, payload: object) -> None:
    """`payload`, decoded from `body`, passed unusable_value: decode_json may hand it
    back for these very bytes, and its variables count as checked."""
    _checked_body.set((body, payload))


def checked_payload(body: object) -> object | None:
    """The payload already decoded from these very bytes in this request, or None."""
    kept = _checked_body.get()
    return kept[1] if kept is not None and kept[0] is body else None


def _checked_variables() -> list[object]:
    kept = _checked_body.get()
    if kept is None:
        return []
    payload = kept[1]
    operations = payload if isinstance(payload, list) else [payload]
    return [op.get("variables") for op in operations if isinstance(op, dict)]


def variables_checked(variables: object) -> bool:
    """Whether these variables (by identity) are part of a body found usable."""
    return variables is not None and any(variables is v for v in _checked_variables())


_graphql_nesting_walk = graphql_values.input_is_nested_too_deeply


def _input_is_nested_too_deeply(value: Any, type_: Any) -> bool:
    """graphql-core walks every variable's value before coercing it, to bound its
    nesting at 200 (its parser's limit). A value of a body unusable_value accepted is
    nested at most MAX_VALUE_DEPTH (64) deep: that walk cannot find one, and is skipped."""
    for variables in _checked_variables():
        if isinstance(variables, dict) and any(value is v for v in variables.values()):
            return False
    return _graphql_nesting_walk(value, type_)


assert MAX_VALUE_DEPTH < MAX_NESTING_DEPTH
# get_variable_values looks the function up in its module at each call.
graphql_values.input_is_nested_too_deeply = _input_is_nested_too_deeply


class OperationLimits(QueryCostLimiter):
    """Every per-operation limit in one extension: the token bound of the parser and
    the validation rules (as strawberry's MaxTokensLimiter and AddValidationRules set
    them), then, before execution, the variables and the cost (QueryCostLimiter).

    One extension rather than four: strawberry wraps each hook of each extension anew
    on every request, and four extensions with a hook each cost about as much as the
    list page's resolver (bench/results/read-path-experiments.md).

    The variables of every operation, whatever its transport (HTTP bodies and query
    strings are also checked whole by server/view.py, to answer 400): no NUL, no
    deep nesting. Checked before graphql-core coerces them, and before the cost is
    computed from them.
    """

    def __init__(
        self,
        max_tokens: int,
        rules: tuple[type[ValidationRule], ...],
        cost: CostLimits,
        costs: CostCache,
    ) -> None:
        super().__init__(cost, costs)
        self.max_tokens = max_tokens
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        context.validation_rules = context.validation_rules + self.rules
        yield

    def on_execute(self) -> Iterator[None]:
        variables = self.execution_context.variables
        problem = None if variables_checked(variables) else unusable_value(variables)
        if problem is not None:
            raise GraphQLError(problem, extensions={"code": ErrorCode.BAD_REQUEST})
        yield from super().on_execute()


class NoNulInStrings(ValidationRule):
    """Refuses string literals holding a NUL character, however it was escaped (\\u0000,
    \\u{0}...): PostgreSQL can neither store nor compare one. Variables are checked
    by OperationLimits."""

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        if "\x00" in node.value:
            self.report_error(
                GraphQLError(
                    NUL_MESSAGE,
                    node,
                    extensions={"code": ErrorCode.BAD_USER_INPUT},
                )
            )


def limit_extensions(
    limits: QueryLimits, *, introspection: bool, cost_cache_size: int
) -> list[Callable[[], SchemaExtension]]:
    """Factories giving each operation its extensions, all sharing ONE set of rule classes.

    strawberry's limiters create a new rule class per instance, and ValidationCache keys
    its cache on the rule classes: fresh classes per request would mean no request ever
    hits the cache. So the limiters are built once here and only their rules are reused.
    """
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
        max_root_fields_rule(limits.max_root_fields),
        introspection_depth_rule(limits.max_introspection_depth),
        MaxIntrospectionDepthRule,
        NoNulInStrings,
    ]
    if not introspection:
        rules += DisableIntrospection().validation_rules
    cost = limits.cost
    # Shared like the rules: one document's cost is computed once, not per request.
    costs = CostCache(cost_cache_size)
    shared_rules = tuple(rules)
    return [lambda: OperationLimits(limits.max_tokens, shared_rules, cost, costs)]
