"""The Relay connection of training runs, and which run columns a selection needs."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from graphql import OperationDefinitionNode
from strawberry import relay
from strawberry.types.nodes import SelectedField, Selection

from resolvers.lru import LRU
from resolvers.training_runs import RunConnection, RunEdge, RunRecord
from schema.context import Info
from schema.types import TrainingRun, run_field_columns

# The run columns of the connection fields of recently parsed documents (see
# `run_columns`): as many again as strawberry's ParserCache keeps documents, for their
# several fields.
_columns_by_field: LRU[
    tuple[int, tuple[str | int, ...]], tuple[OperationDefinitionNode, set[str] | None]
] = LRU(1024)


@strawberry.type
class TrainingRunEdge:
    """Read from a resolvers.training_runs.RunEdge."""

    cursor: str
    node: TrainingRun


@strawberry.type
class TrainingRunConnection:
    """Read from a resolvers.training_runs.RunConnection. Each field's resolver says the
    type it really returns (records, edges) and `graphql_type` what the schema shows."""

    @strawberry.field(graphql_type=list[TrainingRunEdge])
    def edges(self, root: strawberry.Parent[RunConnection]) -> list[RunEdge]:
        return root.edges()

    @strawberry.field(
        description="The runs of this page, when cursors are not needed.",
        graphql_type=list[TrainingRun],
    )
    def nodes(self, root: strawberry.Parent[RunConnection]) -> list[RunRecord]:
        return root.page.rows

    @strawberry.field
    def page_info(self, root: strawberry.Parent[RunConnection]) -> relay.PageInfo:
        return relay.PageInfo(
            has_next_page=root.page.has_next_page,
            has_previous_page=root.page.has_previous_page,
            start_cursor=root.start_cursor,
            end_cursor=root.end_cursor,
        )

    @strawberry.field(description="Runs matching the filter; counted only when selected.")
    async def total_count(self, root: strawberry.Parent[RunConnection]) -> int:
        return await root.total_count()


def _fields(selections: list[Selection]) -> Iterator[SelectedField]:
    """Fields of a selection set, looking through fragments."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _fields(selection.selections)


def selected_run_columns(selected: list[Selection]) -> set[str] | None:
    """Columns the TrainingRun fields selected under a connection field read; None (all
    columns) if a selected field's columns are not known."""
    known = run_field_columns()
    columns: set[str] = set()
    for connection_field in _fields(selected):
        for part in _fields(connection_field.selections):
            if part.name == "nodes":
                runs = part.selections
            elif part.name == "edges":
                runs = [
                    s for e in _fields(part.selections) if e.name == "node" for s in e.selections
                ]
            else:
                continue
            for field in _fields(runs):
                if field.name not in known:
                    return None
                columns.update(known[field.name])
    return columns


def run_columns(info: Info) -> set[str] | None:
    """`selected_run_columns` of the connection field being resolved, worked out once per
    parsed document and field.

    strawberry rebuilds `info.selected_fields` from the document on every request
    (converting every argument and directive on the way), about a tenth of a page's
    time in the profile (bench/results/read-path-experiments.md). The columns depend on
    the document alone (fragments included; directives are not looked at), and
    ParserCache hands the same parsed operation to every request sending the same
    document, so they are remembered by that operation's identity and the field's
    path; the operation is kept with them, so its identity cannot be reused while
    remembered.
    """
    operation = info.operation
    key = (id(operation), tuple(info.path.as_list()))
    remembered = _columns_by_field.get(key)
    if remembered is None or remembered[0] is not operation:
        remembered = (operation, selected_run_columns(info.selected_fields))
        _columns_by_field.put(key, remembered)
    columns = remembered[1]
    return None if columns is None else set(columns)
