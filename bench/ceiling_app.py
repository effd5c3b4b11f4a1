"""The framework ceiling: the least a strawberry server can do to answer the list query.

One query field, `trainingRuns(first)`, answers the very document the benchmark sends
to the API (same 20 rows, same fields, same `nodes` + `pageInfo` shape) with one SQL
query through the bare driver (aiosqlite, or asyncpg for PostgreSQL), under strawberry's
ParserCache and ValidationCache. No authentication, no ORM, no limits: whatever the API
spends beyond this is what its own layers cost. Issue 5 measured this kind of app at
about 690 req/s on SQLite on this kind of machine.

Run: BENCH_CEILING_DATABASE=<sqlite path | postgres://...> \
     uvicorn bench.ceiling_app:create_app --factory --workers 1
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from enum import Enum
from typing import Any

import orjson
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

# The API's list query reads the same columns, newest first, ties by id.
_SQL = (
    "SELECT r.id, r.model_version, r.status, r.accuracy, r.precision, r.recall, r.f1_score, "
    "r.run_date, r.training_duration_seconds, u.username FROM training_run r "
    "LEFT JOIN auth_user u ON u.id = r.trained_by_id "
    "ORDER BY r.run_date DESC, r.id DESC LIMIT {limit}"
)


@strawberry.enum
class TrainingRunStatus(Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@strawberry.type
class TrainingRun:
    database_id: int
    model_version: str
    status: TrainingRunStatus
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1_score: float | None
    run_date: datetime
    training_duration_seconds: float | None
    trained_by_username: str | None


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TrainingRunConnection:
    nodes: list[TrainingRun]
    page_info: PageInfo


class _Database:
    """One shared connection (SQLite) or a small pool (PostgreSQL), like the API's ORM."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._sqlite: Any = None
        self._pool: Any = None

    async def open(self) -> None:
        if self.target.startswith("postgres"):
            import asyncpg

            url = self.target.replace("postgres://", "postgresql://", 1)
            self._pool = await asyncpg.create_pool(url, min_size=1, max_size=5)
        else:
            import aiosqlite

            self._sqlite = await aiosqlite.connect(self.target)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._sqlite is not None:
            await self._sqlite.close()

    async def rows(self, limit: int) -> list[tuple[Any, ...]]:
        sql = _SQL.format(limit=int(limit))
        if self._pool is not None:
            return [tuple(r) for r in await self._pool.fetch(sql)]
        async with self._sqlite.execute(sql) as cursor:
            return list(await cursor.fetchall())


_db = _Database(os.environ.get("BENCH_CEILING_DATABASE", ""))


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _cursor(run_date: datetime, run_id: int) -> str:
    raw = orjson.dumps(["run_date:desc", run_date.isoformat(), run_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@strawberry.type
class Query:
    @strawberry.field
    async def training_runs(self, first: int = 20) -> TrainingRunConnection:
        rows = await _db.rows(first + 1)
        nodes = [
            TrainingRun(
                database_id=row[0],
                model_version=row[1],
                status=TrainingRunStatus(row[2]),
                accuracy=row[3],
                precision=row[4],
                recall=row[5],
                f1_score=row[6],
                run_date=_as_datetime(row[7]),
                training_duration_seconds=row[8],
                trained_by_username=row[9],
            )
            for row in rows[:first]
        ]
        end = _cursor(nodes[-1].run_date, nodes[-1].database_id) if nodes else None
        return TrainingRunConnection(
            nodes=nodes, page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=end)
        )


schema = strawberry.Schema(
    query=Query, extensions=[lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256)]
)


def create_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await _db.open()
        try:
            yield
        finally:
            await _db.close()

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/healthz", health),
            Route("/graphql", GraphQL(schema, graphql_ide=None), methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )
