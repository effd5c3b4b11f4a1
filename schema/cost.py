"""What a request will cost, computed from its documents and variables before anything runs.

The depth, token and alias limits bound one document, but not what it asks the server
to produce: ten aliased pages of 100 runs with their metrics, in each of ten batched
operations, is a valid request of a few kB that used to build a response of 60 MB per
operation. So every operation gets a cost, an estimate of the values its response
holds (GitHub's node limit and Shopify's calculated query cost are the models):

- a leaf field costs 1, an object 1 plus its selections;
- a list multiplies what it holds: a connection by its page size (`first` / `last`,
  variables included, default 20, at most 100), other lists by an estimate of their
  length (a run's feature importance and features used: 50; per-class metrics: 3; a
  comparison's per-run lists: as many as it may compare, 10); predictFutureNeed's
  predictions (and its `columns`' lists) by the number of rows sent (its `rows`
  argument, variables included), a prediction's reasons by explain's maximum (10); a
  dataset's `columns` by its `first` (default 100, at most 1,000), never by the header's
  length, which a file put in the folder by hand could make a million;
- `totalCount` counts rows in the database and costs more; an introspection root field
  (`__schema`, `__type`) costs a flat amount, its own depth limits bounding its shape.

A request's cost is the sum of its operations' (a batch is one request), and a request
above the budget is refused with QUERY_TOO_COSTLY before any resolver runs.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from resolvers.compare_runs import MAX_COMPARED_RUNS
from resolvers.datasets import MAX_LISTED_COLUMNS
from resolvers.errors import ErrorCode
from resolvers.lru import LRU
from resolvers.webhooks import MAX_DELIVERIES_PAGE
from trainer.ml.algorithms import ALGORITHMS

COST_TOO_HIGH = ErrorCode.QUERY_TOO_COSTLY
# A header a client sends to get `extensions.cost` in the response (so does the request
# extension {"cost": true}).
COST_HEADER = "x-graphql-cost"

# Estimated entries of the lists whose length the client does not choose, by field.
LIST_SIZES: dict[tuple[str, str], int] = {
    ("TrainingRun", "featureImportance"): 50,
    ("TrainingRun", "shapImportance"): 50,
    ("TrainingRun", "featuresUsed"): 50,
    ("TrainingRun", "perClassMetrics"): 3,
    # A run's parameters: at most its algorithm's (the dashboard's runs page asks for them).
    ("TrainingRun", "parameters"): max(len(spec.parameters) for spec in ALGORITHMS.values()),
    ("Query", "trainingAlgorithms"): len(ALGORITHMS),
    ("ConfusionMatrix", "labels"): 3,
    ("ConfusionMatrix", "matrix"): 9,  # labels x labels
    ("User", "groups"): 3,
    # compareTrainingRuns: every per-run list holds one entry per compared run.
    ("TrainingRunComparison", "runs"): MAX_COMPARED_RUNS,
    ("TrainingRunComparison", "metrics"): 5,
    ("TrainingRunComparison", "perClass"): 3,
    ("TrainingRunComparison", "hyperparameterDifferences"): 9,
    ("TrainingRunComparison", "featureImportance"): 50,
    ("MetricComparison", "values"): MAX_COMPARED_RUNS,
    ("MetricComparison", "deltas"): MAX_COMPARED_RUNS,
    ("MetricValues", "values"): MAX_COMPARED_RUNS,
    ("MetricValues", "deltas"): MAX_COMPARED_RUNS,
    ("HyperparameterDifference", "values"): MAX_COMPARED_RUNS,
    ("FeatureImportanceComparison", "importances"): MAX_COMPARED_RUNS,
    ("FeatureImportanceComparison", "deltas"): MAX_COMPARED_RUNS,
    ("Query", "trainingMetricsHistory"): 1000,  # its maximum: more is refused
    ("Prediction", "probabilities"): 3,  # LOW, MEDIUM, HIGH
    ("Prediction", "reasons"): 10,  # explain's maximum
    ("Prediction", "imputed"): 11,  # the dataset's feature columns
    ("PredictionColumns", "labels"): 3,
    ("ModelAlias", "history"): 20,
    ("WebhookDelivery", "attemptLog"): 10,
}
# Fields whose list children hold one entry per item of an argument the client sends.
ROW_ARGUMENTS: dict[tuple[str, str], str] = {("Query", "predictFutureNeed"): "rows"}
# Objects (not lists) whose list children still hold one entry per row sent.
ROW_OBJECTS = frozenset({("PredictionResult", "columns")})
# Lists as long as an integer argument of their own says (its schema default when absent),
# at most the given maximum (the resolver refuses more).
LENGTH_ARGUMENTS: dict[tuple[str, str], tuple[str, int]] = {
    ("Dataset", "columns"): ("first", MAX_LISTED_COLUMNS),
    ("Query", "webhookDeliveries"): ("first", MAX_DELIVERIES_PAGE),
}
DEFAULT_LIST_SIZE = 10
# Work a field causes beyond the values it returns.
FIELD_WEIGHTS: dict[tuple[str, str], int] = {
    ("TrainingRunConnection", "totalCount"): 10,
    ("Query", "compareTrainingRuns"): 10,  # reads up to ten whole rows
    # A GROUP BY over every matching run, up to the whole table.
    ("Query", "trainingMetricsHistory"): 50,
    # Finds the run, and may load its model file.
    ("Query", "predictFutureNeed"): 10,
    # Walks the datasets folder and reads its table (once per operation, however many
    # aliases ask: counted for each all the same).
    ("Query", "datasets"): 10,
}
INTROSPECTION_COST = 1000
PAGE_ARGUMENTS = ("first", "last")
# Fragment spreads are the only way to nest deeper than the parser allows; a document
# nested this deep costs more than any budget.
MAX_WALK_DEPTH = 256


@dataclass(frozen=True)
class CostLimits:
    max_cost: int = 30_000
    default_page_size: int = 20
    max_page_size: int = 100


class _TooDeep(Exception):
    pass


class _Walk:
    """One operation's cost: a walk of its selections with the schema's types."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        defaults: Mapping[str, Any],
        limits: CostLimits,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.defaults = defaults
        self.limits = limits

    def selections(
        self,
        selections: Sequence[SelectionNode],
        parent: GraphQLNamedType | None,
        page: int | None,
        depth: int,
        spread: frozenset[str],
    ) -> int:
        if depth > MAX_WALK_DEPTH:
            raise _TooDeep
        total = 0
        for selection in selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page, depth, spread)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(
                    selection.selection_set.selections, inner, page, depth + 1, spread
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:
                    continue  # refused while validating
                inner = self.schema.get_type(fragment.type_condition.name.value)
                total += self.selections(
                    fragment.selection_set.selections, inner, page, depth + 1, spread | {name}
                )
        return total

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        page: int | None,
        depth: int,
        spread: frozenset[str],
    ) -> int:
        name = node.name.value
        if name in {"__schema", "__type"}:
            return INTROSPECTION_COST
        definition = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(name)
        field_type: GraphQLOutputType | None = definition.type if definition else None
        named = get_named_type(field_type) if field_type is not None else None
        coordinate = (parent.name if parent else "", name)
        own_page = self.page_size(node) if definition and _is_paginated(definition) else None
        if coordinate in ROW_ARGUMENTS:
            own_page = self.argument_length(node, ROW_ARGUMENTS[coordinate])
        elif coordinate in ROW_OBJECTS:
            own_page = page
        if node.selection_set is None:
            each = 1
        else:
            each = 1 + self.selections(
                node.selection_set.selections, named, own_page, depth + 1, spread
            )
        if coordinate in LENGTH_ARGUMENTS and definition is not None:
            size = self.length_argument(node, definition, *LENGTH_ARGUMENTS[coordinate])
        else:
            size = self.list_size(field_type, coordinate, page)
        return size * each + FIELD_WEIGHTS.get(coordinate, 0)

    def list_size(
        self, field_type: GraphQLOutputType | None, coordinate: tuple[str, str], page: int | None
    ) -> int:
        if not _is_list(field_type):
            return 1
        if coordinate in LIST_SIZES:
            return LIST_SIZES[coordinate]
        return page if page is not None else DEFAULT_LIST_SIZE

    def length_argument(self, node: FieldNode, definition: Any, name: str, maximum: int) -> int:
        """The integer argument `name` as sent (variables included) or, when absent, its
        default in the schema; at most `maximum`, which is also what anything else
        (a value the resolver will refuse) counts as."""
        value: object = definition.args[name].default_value
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            given = argument.value
            if isinstance(given, VariableNode):
                variable = given.name.value
                value = self.variables.get(variable, self.defaults.get(variable, value))
            elif isinstance(given, IntValueNode):
                value = int(given.value)
            else:
                value = None
        if not isinstance(value, int) or isinstance(value, bool):
            return maximum
        return max(0, min(value, maximum))

    def argument_length(self, node: FieldNode, name: str) -> int:
        """How many items the list argument `name` holds (a lone item counts as one, as
        GraphQL's input coercion makes it a list of one)."""
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                return len(given) if isinstance(given, list) else 1
            if isinstance(value, ListValueNode):
                return len(value.values)
            return 1
        return 0

    def page_size(self, node: FieldNode) -> int:
        size: object = None
        for argument in node.arguments or ():
            if argument.name.value not in PAGE_ARGUMENTS:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                variable = value.name.value
                size = self.variables.get(variable, self.defaults.get(variable))
            elif isinstance(value, IntValueNode):
                size = int(value.value)
            if size is not None:
                break
        if not isinstance(size, int) or isinstance(size, bool):
            return self.limits.default_page_size
        # Beyond the maximum the resolver refuses the page with its own message.
        return max(0, min(size, self.limits.max_page_size))


def _is_list(field_type: GraphQLOutputType | None) -> bool:
    while isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return isinstance(field_type, GraphQLList)


def _is_paginated(definition: Any) -> bool:
    return any(name in definition.args for name in PAGE_ARGUMENTS)


def _variable_defaults(operation: OperationDefinitionNode) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        if isinstance(definition.default_value, IntValueNode):
            defaults[definition.variable.name.value] = int(definition.default_value.value)
    return defaults


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    limits: CostLimits,
) -> int:
    """The cost of the operation `operation_name` of `document` (0 if there is none: the
    request is refused for that elsewhere)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    root = schema.get_root_type(operation.operation)
    walk = _Walk(schema, fragments, variables or {}, _variable_defaults(operation), limits)
    try:
        return walk.selections(operation.selection_set.selections, root, None, 0, frozenset())
    except _TooDeep:
        return limits.max_cost + 1


def _parsed(query: str, max_tokens: int) -> DocumentNode | None:
    # Not cached: a batch holds at most MAX_BATCH_OPERATIONS documents of at most
    # MAX_QUERY_TOKENS tokens, cheaper to parse again than to keep around.
    try:
        return parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return None  # answered with its syntax error when the operation runs


def request_cost(
    schema: GraphQLSchema,
    operations: Sequence[tuple[object, object, object]],
    limits: CostLimits,
    *,
    max_tokens: int,
) -> int:
    """The summed cost of the (query, operationName, variables) of one HTTP request, taken
    as sent: what is malformed costs nothing here and is refused when it runs."""
    total = 0
    for query, operation_name, variables in operations:
        if not isinstance(query, str):
            continue
        document = _parsed(query, max_tokens)
        if document is None:
            continue
        total += operation_cost(
            schema,
            document,
            operation_name if isinstance(operation_name, str) else None,
            variables if isinstance(variables, dict) else None,
            limits,
        )
    return total


def batch_refusal(
    schema: GraphQLSchema, operations: Sequence[Any], limits: CostLimits, *, max_tokens: int
) -> list[ExecutionResult] | None:
    """For a batch above the budget, the answer to each of its operations (none runs);
    None when the batch may run. `operations`: strawberry's parsed request data."""
    cost = request_cost(
        schema,
        [(op.query, op.operation_name, op.variables) for op in operations],
        limits,
        max_tokens=max_tokens,
    )
    if cost <= limits.max_cost:
        return None
    return [
        ExecutionResult(data=None, errors=[cost_error(cost, limits.max_cost, batch=True)])
        for _ in operations
    ]


def cost_error(cost: int, limit: int, *, batch: bool = False) -> GraphQLError:
    what = "the batch's operations together cost" if batch else "the operation costs"
    return GraphQLError(
        f"{what} {cost}, above the limit of {limit}; ask for smaller pages "
        "(first/last) or fewer fields, or split the request",
        extensions={"code": COST_TOO_HIGH, "cost": cost, "limit": limit},
    )


def _wants_cost(operation_extensions: Mapping[str, Any] | None, context: object) -> bool:
    if operation_extensions and operation_extensions.get("cost") is True:
        return True
    request = getattr(context, "request", None)
    headers = getattr(request, "headers", None)
    return headers is not None and headers.get(COST_HEADER, "").lower() in {"1", "true"}


def _shape(value: object) -> Hashable:
    """What of a variable's value a cost can depend on: an integer (a page size), a
    list's length (predictFutureNeed's rows), None, or else only its type."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return value
    if isinstance(value, list):
        return ("list", len(value))
    return type(value).__name__


class CostCache(LRU[Hashable, int]):
    """Costs already computed, keyed on what a cost depends on: the document's text, the
    operation's name and the shapes of the variables (`_shape`). A client sending the
    same document (with other ids, say) gets its cost without a walk of the document.
    At most `max_size`, the least recently used going first."""

    def key(
        self, query: str | None, operation_name: str | None, variables: Mapping[str, Any] | None
    ) -> Hashable | None:
        if query is None:
            return None
        shapes = tuple(sorted((name, _shape(v)) for name, v in (variables or {}).items()))
        return (query, operation_name, shapes)


class QueryCostLimiter(SchemaExtension):
    """Refuses an operation above the budget before it executes, on every transport
    (HTTP, WebSocket), and reports the cost in `extensions.cost` when asked to."""

    def __init__(self, limits: CostLimits, cache: CostCache | None = None) -> None:
        self.limits = limits
        self.cache = cache
        self.cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        key = (
            self.cache.key(context.query, context.operation_name, context.variables)
            if self.cache is not None
            else None
        )
        cached = self.cache.get(key) if self.cache is not None and key is not None else None
        if cached is not None:
            self.cost = cached
        else:
            self.cost = operation_cost(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables,
                self.limits,
            )
            if self.cache is not None and key is not None:
                self.cache.put(key, self.cost)
        if self.cost > self.limits.max_cost:
            raise cost_error(self.cost, self.limits.max_cost)
        yield

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context
        if self.cost is None or not _wants_cost(context.operation_extensions, context.context):
            return {}
        return {"cost": {"requested": self.cost, "limit": self.limits.max_cost}}
