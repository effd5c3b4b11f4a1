"""Limits that refuse abusive documents during validation, before any resolver runs.

strawberry's own extensions do the work where they exist; schema.errors gives each
refusal a stable `extensions.code` so clients can tell which limit they hit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationRule,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 12
    max_tokens: int = 2000
    max_aliases: int = 15
    max_root_fields: int = 10


def _count_root_fields(selection_set: SelectionSetNode, context: object) -> int:
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += 1
        elif isinstance(selection, InlineFragmentNode):
            count += _count_root_fields(selection.selection_set, context)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = context.get_fragment(selection.name.value)  # type: ignore[attr-defined]
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
                        extensions={"code": "TOO_MANY_ROOT_FIELDS"},
                    )
                )

    return MaxRootFields


NUL_MESSAGE = "strings must not contain NUL characters"


class NoNulInStrings(ValidationRule):
    """Refuses string literals holding a NUL character, however it was escaped (\\u0000,
    \\u{0}...): PostgreSQL can neither store nor compare one. Variables are checked
    where they are decoded (schema/view.py)."""

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        if "\x00" in node.value:
            self.report_error(
                GraphQLError(
                    NUL_MESSAGE,
                    node,
                    extensions={"code": "BAD_USER_INPUT"},
                )
            )


def limit_extensions(limits: QueryLimits, *, introspection: bool) -> list[Callable[[], object]]:
    """Factories giving each operation its extensions, all sharing ONE set of rule classes.

    strawberry's limiters create a new rule class per instance, and ValidationCache keys
    its cache on the rule classes: fresh classes per request would mean no request ever
    hits the cache. So the limiters are built once here and only their rules are reused.
    """
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
        max_root_fields_rule(limits.max_root_fields),
        NoNulInStrings,
    ]
    if not introspection:
        rules += DisableIntrospection().validation_rules
    return [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
    ]
