"""The runs a filter matches, as CSV, for GET /runs/export.csv (server/run_export.py).

The same filter and order as trainingRuns (`checked_filter`, models/run_list.matching),
read in keyset chunks of CHUNK_ROWS, each written out before the next is read: memory
stays constant however many runs match, and each chunk is one indexed range read, as a
page of the list is. Runs that arrive during an export appear in it if the walk has not
passed their place in the order yet (as when paging).

A cell of text that starts with = + - @, TAB or CR is prefixed with a single quote: a
spreadsheet opening the file would otherwise run it as a formula (CSV injection, OWASP).
Numbers and dates are written by this module and never start a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from models.run_list import MatchingRuns, Position, RunFilter, RunOrder, matching
from models.run_records import RunRecord
from models.run_tags import tags_of_runs
from models.training_runs import parameters_of
from resolvers.training_runs import checked_filter
from trainer.ml.algorithms import graphql_name

__all__ = ["CHUNK_ROWS", "COLUMNS", "RunExport", "csv_cell", "start_export"]

# Large enough that a chunk's query costs little per row; small enough that a chunk's
# rows and its CSV text stay a few hundred kilobytes (bench/results/run-search-*.md).
CHUNK_ROWS = 1000

# (CSV header: the GraphQL field's name, run column); in this order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("databaseId", "id"),
    ("modelVersion", "model_version"),
    ("status", "status"),
    ("runDate", "run_date"),
    ("trainedByUsername", "trained_by_username"),
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1Score", "f1_score"),
    ("trainingDurationSeconds", "training_duration_seconds"),
    ("algorithm", "algorithm"),
    # Every parameter as name=value; name as in TrainingRun.parameters (see _parameters_cell).
    ("parameters", "parameters"),
    ("nEstimators", "n_estimators"),
    ("maxDepth", "max_depth"),
    ("minSamplesSplit", "min_samples_split"),
    ("minSamplesLeaf", "min_samples_leaf"),
    ("classWeight", "class_weight"),
    ("testSplit", "test_split"),
    ("randomState", "random_state"),
    ("datasetPath", "dataset_path"),
    ("notes", "notes"),
    # The run's tags in name order, "; "-separated (from run_tag, one query a chunk).
    ("tags", "tags"),
    ("errorMessage", "error_message"),
)
_RUN_COLUMNS = {column for _, column in COLUMNS} - {"tags"}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One cell: empty for null, dates in ISO 8601 UTC, text defused (see the module)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str):
        return f"'{value}" if value.startswith(_FORMULA_STARTS) else value
    return str(value)  # numbers (shortest round-tripping form); enums are str


def _parameters_cell(run: RunRecord) -> str:
    """ "nEstimators=200; maxDepth=null; ...": one cell a spreadsheet can filter on, the
    names as TrainingRun.parameters shows them."""
    parts = []
    for name, value in parameters_of(run).items():
        text = "null" if value is None else str(value).lower() if isinstance(value, bool) else value
        parts.append(f"{graphql_name(name)}={text}")
    return csv_cell("; ".join(parts))


def _cell(run: RunRecord, column: str, tags: list[str]) -> str:
    if column == "parameters":
        return _parameters_cell(run)
    if column == "tags":
        return csv_cell("; ".join(tags))
    return csv_cell(getattr(run, column))


@dataclass
class RunExport:
    """An export checked and ready to stream; `rows` counts those written so far."""

    runs: MatchingRuns
    order: RunOrder
    rows: int = 0
    finished: bool = False
    _buffer: io.StringIO = field(default_factory=io.StringIO)

    async def csv_chunks(self) -> AsyncIterator[bytes]:
        """The header, then one block of CSV lines (UTF-8) per chunk of runs.

        The file opens with a UTF-8 byte order mark: Excel, what HR people open a CSV
        with, reads a file without one in the machine's legacy code page, so a name such
        as "Inès" in the notes would show as "InÃ¨s". Python (utf-8-sig), pandas and
        spreadsheet imports skip it."""
        writer = csv.writer(self._buffer)
        self._buffer.write("\ufeff")
        writer.writerow([header for header, _ in COLUMNS])
        yield self._take()
        async for records in self._records():
            tags = await tags_of_runs([run.id for run in records])
            writer.writerows(
                [_cell(run, column, run_tags) for _, column in COLUMNS]
                for run, run_tags in zip(records, tags, strict=True)
            )
            self.rows += len(records)
            yield self._take()
        self.finished = True

    async def _records(self) -> AsyncIterator[list[RunRecord]]:
        after: Position | None = None
        while True:
            page = await self.runs.page(
                self.order, columns=_RUN_COLUMNS, limit=CHUNK_ROWS, after=after
            )
            if page.rows:
                yield page.rows
            if not page.has_next_page:
                return
            last = page.rows[-1]
            after = Position(getattr(last, self.order.column), last.id)

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


async def start_export(run_filter: RunFilter | None, order: RunOrder) -> RunExport:
    """The export of the runs `run_filter` matches in `order`; ApiError (before anything
    is sent) when the filter is refused, as trainingRuns refuses it."""
    return RunExport(await matching(checked_filter(run_filter)), order)
