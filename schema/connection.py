"""The Relay connection of training runs."""

from __future__ import annotations

import strawberry
from strawberry import relay

from resolvers.training_runs import RunConnection
from schema.types import TrainingRun


@strawberry.type
class TrainingRunEdge:
    cursor: str
    node: TrainingRun


def _edges(root: strawberry.Parent[RunConnection]) -> list[TrainingRunEdge]:
    return [TrainingRunEdge(cursor=root.cursor(run), node=run) for run in root.page.rows]


@strawberry.type
class TrainingRunConnection:
    """Read from a resolvers.training_runs.RunConnection; `nodes` and `pageInfo` are its
    attributes (no resolver), which spares strawberry a resolver call for each."""

    edges: list[TrainingRunEdge] = strawberry.field(resolver=_edges)
    nodes: list[TrainingRun] = strawberry.field(
        description="The runs of this page, when cursors are not needed."
    )
    page_info: relay.PageInfo

    @strawberry.field(description="Runs matching the filter; counted only when selected.")
    async def total_count(self, root: strawberry.Parent[RunConnection]) -> int:
        return await root.total_count()
