"""Reading training runs with fixed SQL: the hot path of every list and detail request.

Tortoise builds each query anew through pypika and turns every row into a model
instance; for a page of 20 runs both cost more than running the query itself (see the
profile in bench/results). Reads of runs therefore go through `RunQuery`: SQL put
together from fixed fragments, with column names taken from the model and every value
passed as a parameter, returning `RunRecord`s that hold just the selected columns.
Writes still go through the Tortoise model (models/training_runs.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from tortoise import fields
from tortoise.fields.data import CharEnumFieldInstance

from models.training_runs import TrainingRun

Converter = Callable[[Any], Any]


class RunRecord:
    """A training run as read for the API: the selected columns as attributes.

    A column that was not selected is simply absent (AttributeError), as with Tortoise's
    `.only()`: a resolver reading a column its query did not load fails loudly.
    """

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    @property
    def database_id(self) -> int:
        return self.id  # type: ignore[attr-defined, no-any-return]

    def __repr__(self) -> str:
        return f"RunRecord({self.__dict__!r})"


@dataclass(frozen=True)
class RunQuery:
    """Conditions on training runs, joined with AND.

    Each clause is written by this project (never by a client) with `?` for its values;
    the values travel separately as parameters.
    """

    clauses: tuple[str, ...] = ()
    params: tuple[Any, ...] = ()

    def where(self, clause: str, *params: Any) -> RunQuery:
        return RunQuery((*self.clauses, clause), (*self.params, *params))

    def where_in(self, column: str, values: Sequence[Any]) -> RunQuery:
        marks = ", ".join("?" * len(values))
        return self.where(f"{_checked(column)} IN ({marks})", *values)

    async def fetch(
        self,
        columns: Iterable[str] | None = None,
        *,
        order_by: Sequence[tuple[str, bool]] = (),
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Rows with `columns` (all when None), ordered by (column, descending) pairs."""
        names = all_columns() if columns is None else tuple(_checked(c) for c in columns)
        sql = f"SELECT {', '.join(names)} FROM {TrainingRun._meta.db_table}{self._where()}"
        if order_by:
            terms = (f"{_checked(c)} {'DESC' if desc else 'ASC'}" for c, desc in order_by)
            sql += f" ORDER BY {', '.join(terms)}"
        if limit is not None:
            # Written in, not a parameter: PostgreSQL plans a parameterised LIMIT as if it
            # were a tenth of the table.
            sql += f" LIMIT {int(limit)}"
        rows, dialect = await self._execute(sql)
        converters = _converters(dialect, names)
        return [
            RunRecord(
                {
                    name: value if convert is None or value is None else convert(value)
                    for name, convert, value in zip(names, converters, row, strict=True)
                }
            )
            for row in rows
        ]

    async def count(self) -> int:
        rows, _ = await self._execute(
            f"SELECT COUNT(*) FROM {TrainingRun._meta.db_table}{self._where()}"
        )
        return int(rows[0][0])

    def _where(self) -> str:
        return f" WHERE {' AND '.join(self.clauses)}" if self.clauses else ""

    async def _execute(self, sql: str) -> tuple[Sequence[Sequence[Any]], str]:
        """The rows, and the dialect they came in (on the current connection, so inside
        a transaction too)."""
        db = TrainingRun._meta.db
        dialect = db.capabilities.dialect
        _, rows = await db.execute_query(_numbered(sql, dialect), list(self.params))
        return rows, dialect


async def get_run_record(run_id: int) -> RunRecord | None:
    records = await RunQuery().where("id = ?", run_id).fetch(limit=1)
    return records[0] if records else None


@cache
def all_columns() -> tuple[str, ...]:
    """Every column of the run table (read once Tortoise has set the model up)."""
    return tuple(sorted(TrainingRun._meta.db_fields))


def _checked(column: str) -> str:
    if column not in all_columns():
        raise ValueError(f"training_run has no column {column!r}")
    return column


def _numbered(sql: str, dialect: str) -> str:
    """`?` placeholders as the driver wants them: asyncpg numbers them ($1, $2...).
    Only this module writes the SQL, and it has no `?` other than placeholders."""
    if dialect != "postgres":
        return sql
    parts = sql.split("?")
    return parts[0] + "".join(f"${number}{part}" for number, part in enumerate(parts[1:], 1))


@cache
def _converters(dialect: str, columns: tuple[str, ...]) -> tuple[Converter | None, ...]:
    fields_by_column = {
        field.source_field or name: field for name, field in TrainingRun._meta.fields_map.items()
    }
    return tuple(_converter(dialect, fields_by_column[column]) for column in columns)


def _converter(dialect: str, field: fields.Field[Any]) -> Converter | None:
    """How a driver's value becomes what the model would hold (None: as it comes).

    asyncpg already returns datetimes and booleans; SQLite has text and integers.
    """
    sqlite = dialect == "sqlite"
    if isinstance(field, fields.DatetimeField):
        return _datetime_from_text if sqlite else None
    if isinstance(field, fields.BooleanField):
        return bool if sqlite else None
    if isinstance(field, fields.JSONField):
        return orjson.loads  # both drivers return JSON as text
    if isinstance(field, CharEnumFieldInstance):
        return field.enum_type
    return None


def _datetime_from_text(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
