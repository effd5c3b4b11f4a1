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


@strawberry.type
class TrainingRunConnection:
    @strawberry.field
    def edges(self, root: strawberry.Parent[RunConnection]) -> list[TrainingRunEdge]:
        return [TrainingRunEdge(cursor=root.cursor(run), node=run) for run in root.page.rows]

    @strawberry.field(description="The runs of this page, when cursors are not needed.")
    def nodes(self, root: strawberry.Parent[RunConnection]) -> list[TrainingRun]:
        return root.page.rows  # type: ignore[return-value]

    @strawberry.field
    def page_info(self, root: strawberry.Parent[RunConnection]) -> relay.PageInfo:
        rows = root.page.rows
        return relay.PageInfo(
            has_next_page=root.page.has_next_page,
            has_previous_page=root.page.has_previous_page,
            start_cursor=root.cursor(rows[0]) if rows else None,
            end_cursor=root.cursor(rows[-1]) if rows else None,
        )

    @strawberry.field(description="Runs matching the filter; counted only when selected.")
    async def total_count(self, root: strawberry.Parent[RunConnection]) -> int:
        return await root.total_count()
