"""Reading training runs with fixed SQL: the one read type of a run, and how it is read.

Tortoise builds each query anew through pypika and turns every row into a model
instance; for a page of 20 runs both cost more than running the query itself (see the
profile in bench/results). Reads of runs therefore go through `RunQuery`: SQL put
together from fixed fragments, with column names taken from the model and every value
passed as a parameter, returning `RunRecord`s that hold just the selected columns.
Writes still go through the Tortoise model (models/training_runs.py); what a write
returns to a client is turned into a `RunRecord` too (`RunRecord.of`), so every path of
the API (lists, by id, comparisons, mutations, subscriptions) serves the same type.

On SQLite, reads outside a transaction run on read-only connections of their own
(models/sqlite_readers.py) instead of queueing behind Tortoise's single connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, cast

import asyncpg
import orjson
from tortoise import fields
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.exceptions import OperationalError
from tortoise.fields.data import CharEnumFieldInstance

from models.sqlite_readers import readers_for
from models.training_runs import RunStatus, TrainingRun

Converter = Callable[[Any], Any]
# The statements are logged where Tortoise logs its own (tests count them there).
sql_log = logging.getLogger("tortoise.db_client")


class RunRecord:
    """A training run as read for the API: the selected columns as attributes.

    A column that was not selected is simply absent (AttributeError), as with Tortoise's
    `.only()`: a resolver reading a column its query did not load fails loudly. The
    annotations below are the run table's columns (tests/api/test_training_run.py checks
    they match the model); they declare types for the type checker and set nothing.
    """

    id: int
    run_date: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker: str | None
    cancel_requested: bool
    model_version: str
    model_path: str | None
    model_sha256: str | None
    dataset_path: str
    dataset_sha256: str | None
    status: RunStatus
    stage: str | None
    progress: float
    error_message: str | None
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1_score: float | None
    training_duration_seconds: float | None
    total_samples: int | None
    train_samples: int | None
    test_samples: int | None
    dropped_rows: int | None
    per_class_metrics: list[dict[str, Any]] | None
    confusion_matrix: dict[str, Any] | None
    feature_importance: dict[str, float] | None
    shap_importance: dict[str, Any] | None
    features_used: list[str] | None
    test_split: float
    random_state: int
    n_estimators: int
    max_depth: int | None
    min_samples_split: int
    min_samples_leaf: int
    class_weight: str | None
    algorithm: str
    parameters: dict[str, Any]
    cross_validation: dict[str, Any] | None
    validation_fraction: float | None
    objective: str | None
    objective_value: float | None
    sweep_id: int | None
    trial_number: int | None
    intermediate_values: dict[str, float] | None
    pruned: bool
    trained_by_id: int | None
    trained_by_username: str | None
    notes: str
    schedule_id: int | None

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    @classmethod
    def of(cls, run: TrainingRun) -> RunRecord:
        """The record of a model instance just written (no query): every column."""
        return cls(
            {
                column: getattr(run, name)
                for name, column in TrainingRun._meta.fields_db_projection.items()
            }
        )

    @property
    def database_id(self) -> int:
        """The number the API shows as `databaseId` (the REST original's id)."""
        return self.id

    def __repr__(self) -> str:
        return f"RunRecord({self.__dict__!r})"


@dataclass(frozen=True)
class RunQuery:
    """Conditions on training runs, joined with AND; built only inside models/.

    Each clause is written by this package (never by a client) with `?` for its values;
    the values travel separately as parameters.
    """

    clauses: tuple[str, ...] = ()
    params: tuple[Any, ...] = ()
    # PostgreSQL plans the statement with its values every time (see `read`): set by a
    # condition whose best plan depends on the value (models/run_search.py).
    fresh_plan: bool = False

    def where(self, clause: str, *params: Any) -> RunQuery:
        return replace(self, clauses=(*self.clauses, clause), params=(*self.params, *params))

    def planned_per_value(self) -> RunQuery:
        return replace(self, fresh_plan=True)

    def where_in(self, column: str, values: Sequence[Any]) -> RunQuery:
        marks = ", ".join("?" * len(values))
        return self.where(f"{checked(column)} IN ({marks})", *values)

    def where_sql(self) -> str:
        return f" WHERE {' AND '.join(self.clauses)}" if self.clauses else ""

    async def fetch(
        self,
        columns: Iterable[str] | None = None,
        *,
        order_by: Sequence[tuple[str, bool]] = (),
        limit: int | None = None,
        short: bool = False,
    ) -> list[RunRecord]:
        """Rows with `columns` (all when None), ordered by (column, descending) pairs.
        `short`: the caller knows the read for a bounded index read (see `read`)."""
        statement = _select(
            None if columns is None else tuple(sorted(columns)),
            self.clauses,
            tuple(order_by),
            limit,
        )
        rows, dialect = await read(
            statement.sql, self.params, short=short, fresh_plan=self.fresh_plan
        )
        names = statement.columns
        converted = _conversions(dialect, names)
        records = []
        for row in rows:
            values = dict(zip(names, row, strict=True))
            for name, convert in converted:
                value = values[name]
                if value is not None:
                    values[name] = convert(value)
            records.append(RunRecord(values))
        return records

    async def count(self) -> int:
        rows, _ = await read(
            f"SELECT COUNT(*) FROM {TrainingRun._meta.db_table}{self.where_sql()}",
            self.params,
            fresh_plan=self.fresh_plan,
        )
        return int(rows[0][0])


async def read(
    sql: str, params: Sequence[Any] = (), *, short: bool = False, fresh_plan: bool = False
) -> tuple[Sequence[Sequence[Any]], str]:
    """The rows of a read-only statement, and the dialect they came in.

    Inside a transaction it runs on the transaction's connection (so it sees its writes);
    otherwise, on PostgreSQL, on a connection of Tortoise's pool (`_pool_fetch`), and on
    SQLite, beside Tortoise's writer: on the event loop's thread when the
    caller says the read is `short` (a bounded index read: by id, or an unfiltered page
    with a LIMIT), else on a reader thread (models/sqlite_readers.py). Every read, long
    ones included, running on the loop was measured too: p99 rose from ~0.5 s to ~3.5 s
    under load (bench/results/read-path-experiments.md); only the short ones do.

    `fresh_plan` (PostgreSQL): the statement is planned with its values each time, as
    an unnamed statement, rather than cached: after five runs of a cached statement
    PostgreSQL may settle on a generic plan made without the values, which for a
    search's `ILIKE '%term%'` took 1-3 s instead of 1-20 ms at a million runs
    (bench/results/run-search-postgres.md). It costs one more round trip.
    """
    db = TrainingRun._meta.db
    dialect: str = db.capabilities.dialect
    readers = readers_for(db) if dialect == "sqlite" else None
    if readers is not None:
        sql_log.debug("%s: %s", sql, params)
        return await readers.fetch(sql, params, short=short), dialect
    if type(db) is AsyncpgDBClient and db._pool is not None:
        sql_log.debug("%s: %s", sql, params)
        return await _pool_fetch(db._pool, numbered(sql, dialect), params, fresh_plan), dialect
    _, rows = await db.execute_query(numbered(sql, dialect), list(params))
    # Tortoise types them as dicts; they are asyncpg Records / sqlite3 Rows, by position.
    return cast("Sequence[Sequence[Any]]", rows), dialect


# How a pooled connection the server has cut fails on its next statement.
_CUT_CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError,  # closed in the middle of an operation
    asyncpg.InterfaceError,  # closed before it
    asyncpg.exceptions.InternalClientError,  # the server's goodbye still being read
)


async def _pool_fetch(
    pool: asyncpg.Pool, sql: str, params: Sequence[Any], fresh_plan: bool = False
) -> list[Any]:
    """A read straight from the pool of Tortoise's PostgreSQL client, outside any
    transaction: its `execute_query` wraps the same `fetch` in a lock, a connection
    wrapper and three layers of exception translation, which cost more than the
    statement itself on a page or a run by id (bench/results/read-path-experiments.md).
    The statement text is stable, so asyncpg reuses its prepared statement. Errors are
    translated as `execute_query` would for a read (a read violates no constraint).

    A pooled connection the server has cut while it sat idle (a restart, an operator's
    pg_terminate_backend, an idle timeout) fails on its next use: as the closed
    connection it is, or, when the server's goodbye arrived just before the statement,
    as asyncpg's "cannot switch to state" InternalClientError (asyncpg issue #1069). A
    read is safe to repeat, so it is, once, on a new connection: what cut one idle
    connection has most likely cut them all, so the pool replaces every one it holds
    (`expire_connections`). A client then sees an error only when the database is
    really out of reach."""
    fetch = _fetch_planned_per_value if fresh_plan else _fetch_cached
    try:
        try:
            return await fetch(pool, sql, params)
        except _CUT_CONNECTION_ERRORS:
            await pool.expire_connections()
            return await fetch(pool, sql, params)
    except (asyncpg.SyntaxOrAccessError, asyncpg.exceptions.DataError) as error:
        raise OperationalError(error) from error


async def _fetch_cached(pool: asyncpg.Pool, sql: str, params: Sequence[Any]) -> list[Any]:
    rows: list[Any] = await pool.fetch(sql, *params)  # asyncpg Records (asyncpg is untyped)
    return rows


async def _fetch_planned_per_value(
    pool: asyncpg.Pool, sql: str, params: Sequence[Any]
) -> list[Any]:
    async with pool.acquire() as connection:
        statement = await connection.prepare(sql, name=False)  # unnamed: planned per bind
        rows: list[Any] = await statement.fetch(*params)
        return rows


async def get_run_record(run_id: int, columns: Iterable[str] | None = None) -> RunRecord | None:
    """The run with this id (`columns` only, or all of them), or None."""
    records = await RunQuery().where("id = ?", run_id).fetch(columns, limit=1, short=True)
    return records[0] if records else None


async def get_run_records(run_ids: Sequence[int]) -> dict[int, RunRecord]:
    """The runs among `run_ids` that exist, every column, by id (one query)."""
    if not run_ids:
        return {}
    # By primary key, and the callers bound how many ids (a comparison: at most 10).
    records = await RunQuery().where_in("id", run_ids).fetch(short=len(run_ids) <= 100)
    return {run.id: run for run in records}


def all_columns() -> tuple[str, ...]:
    """Every column of the run table (the foreign key's once Tortoise has set up the
    model: cached by count so an early call does not keep the list without it)."""
    return _columns(len(TrainingRun._meta.db_fields))


@cache
def _columns(count: int) -> tuple[str, ...]:
    return tuple(sorted(TrainingRun._meta.db_fields))


def checked(column: str) -> str:
    if column not in all_columns():
        raise ValueError(f"training_run has no column {column!r}")
    return column


@lru_cache(maxsize=1024)
def numbered(sql: str, dialect: str) -> str:
    """`?` placeholders as the driver wants them: asyncpg numbers them ($1, $2...).
    Only models/ writes the SQL, and it has no `?` other than placeholders; its texts
    come in a few shapes, each renumbered once."""
    if dialect != "postgres":
        return sql
    parts = sql.split("?")
    return parts[0] + "".join(f"${number}{part}" for number, part in enumerate(parts[1:], 1))


@dataclass(frozen=True)
class _Select:
    sql: str
    columns: tuple[str, ...]


@lru_cache(maxsize=1024)
def _select(
    columns: tuple[str, ...] | None,
    clauses: tuple[str, ...],
    order_by: tuple[tuple[str, bool], ...],
    limit: int | None,
) -> _Select:
    """The SELECT of `RunQuery.fetch`, written once per shape of query: a page or a run
    by id asks the same few shapes over and over, and checking and joining the column
    names cost more per request than reading the prepared statement back from asyncpg's
    cache (the profile in bench/results/read-path-experiments.md)."""
    names = all_columns() if columns is None else tuple(checked(c) for c in columns)
    where = RunQuery(clauses).where_sql()
    sql = f"SELECT {', '.join(names)} FROM {TrainingRun._meta.db_table}{where}"
    if order_by:
        terms = (f"{checked(c)} {'DESC' if desc else 'ASC'}" for c, desc in order_by)
        sql += f" ORDER BY {', '.join(terms)}"
    if limit is not None:
        # Written in, not a parameter: PostgreSQL plans a parameterised LIMIT as if it
        # were a tenth of the table.
        sql += f" LIMIT {int(limit)}"
    return _Select(sql, names)


@cache
def _conversions(dialect: str, columns: tuple[str, ...]) -> tuple[tuple[str, Converter], ...]:
    """The columns among `columns` whose driver value needs converting, with how."""
    fields_by_column = {
        field.source_field or name: field for name, field in TrainingRun._meta.fields_map.items()
    }
    pairs = ((column, _converter(dialect, fields_by_column[column])) for column in columns)
    return tuple((column, convert) for column, convert in pairs if convert is not None)


def _converter(dialect: str, field: fields.Field[Any]) -> Converter | None:
    """How a driver's value becomes what the model would hold (None: as it comes).

    asyncpg already returns datetimes and booleans; SQLite has text and integers.
    """
    sqlite = dialect == "sqlite"
    if isinstance(field, fields.DatetimeField):
        return datetime_from_db if sqlite else None
    if isinstance(field, fields.BooleanField):
        return bool if sqlite else None
    if isinstance(field, fields.JSONField):
        return orjson.loads  # both drivers return JSON as text
    if isinstance(field, CharEnumFieldInstance):
        enum_type: Converter = field.enum_type
        return enum_type
    return None


def datetime_from_db(value: str | datetime) -> datetime:
    """A stored date as an aware datetime (SQLite keeps text; naive means UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
