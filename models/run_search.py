"""The run list's text search: a case-insensitive substring of a run's modelVersion, its
trainer's username or its notes, answered from a trigram index on both databases.

A substring (`%term%`) cannot use a B-tree, so each database gets an index of trigrams
(every run of three characters), built by migration 0007_run_search:
- PostgreSQL: a pg_trgm GIN index per column, searched with `ILIKE '%term%'` (pg_trgm
  turns the pattern into trigrams, the index yields candidate rows, ILIKE rechecks them;
  the three indexes combined by a BitmapOr);
- SQLite: an FTS5 table with the `trigram` tokenizer (external content: it stores the
  index only, kept in step with training_run by triggers), searched with a phrase query,
  which matches exactly the rows holding the term as a contiguous substring, case folded.

Which way is fast depends on how many runs hold the term. Few (one run's id, a day's
versions): the index yields them and the page sorts them, in time proportional to their
number. Many (a user's name in 5% of the runs): reading the list's own index in order and
testing each run stops after about `page size / share` runs, while the trigram index would
first have to yield every one of them (a term in every run: seconds). PostgreSQL's planner
makes that choice from its statistics, provided it plans the statement with the term
itself (run_records.read: `fresh_plan`). SQLite's cannot, so `with_search` asks the FTS5
table for up to DENSE_MATCHES matches first (a millisecond or so) and, when it has that
many, searches by `LIKE` in the list's order instead (ASCII terms only: SQLite's LIKE
folds ASCII case alone, FTS5 all of Unicode). Worst case either way: a term held by many
runs that all sit at the far end of the order, about a full read of the table
(bench/results/run-search-sqlite.md).

A term shorter than MIN_SEARCH_LENGTH characters has no trigram, so neither index can
answer it: it would be a scan of every run, so it is refused (resolvers/training_runs.py)
rather than served slowly. An empty term is a substring of every value and filters nothing.
"""

from __future__ import annotations

from models.run_records import RunQuery, read
from models.training_runs import TrainingRun

__all__ = ["MAX_SEARCH_LENGTH", "MIN_SEARCH_LENGTH", "SEARCHED_COLUMNS", "with_search"]

MIN_SEARCH_LENGTH = 3  # one trigram
MAX_SEARCH_LENGTH = 100  # bounds the trigrams one search reads (98)
SEARCHED_COLUMNS = ("model_version", "trained_by_username", "notes")
SQLITE_SEARCH_TABLE = "training_run_search"  # created by migration 0007_run_search
# From this many matches on, SQLite reads the list in order and tests each run: at a
# million runs about where both ways cost the same (sqrt(page size x runs), measured in
# bench/results/run-search-sqlite.md).
DENSE_MATCHES = 5_000
_FTS_MATCH = f"SELECT rowid FROM {SQLITE_SEARCH_TABLE} WHERE {SQLITE_SEARCH_TABLE} MATCH ?"


async def with_search(query: RunQuery, term: str, *, in_order: bool) -> RunQuery:
    """`query` narrowed to runs with `term` in one of SEARCHED_COLUMNS, in any case.

    `in_order`: the query reads runs in the list's order and may stop early (a page, an
    export's chunk); otherwise it reads every match (a count, a history), which on
    SQLite the FTS5 table always yields fastest."""
    if not term:
        return query
    if TrainingRun._meta.db.capabilities.dialect == "postgres":
        # Backslash is PostgreSQL's default LIKE escape: no ESCAPE clause, which would
        # wrap the parameter in like_escape() and hide it from the planner's estimate.
        return _like(query, "ILIKE", term, escape="").planned_per_value()
    if in_order and term.isascii() and await _sqlite_matches_at_least(term, DENSE_MATCHES):
        return _like(query, "LIKE", term, escape=" ESCAPE '\\'")
    return query.where(f"id IN ({_FTS_MATCH})", fts5_phrase(term))


def _like(query: RunQuery, operator: str, term: str, *, escape: str) -> RunQuery:
    pattern = f"%{escape_like(term)}%"
    clause = " OR ".join(f"{column} {operator} ?{escape}" for column in SEARCHED_COLUMNS)
    return query.where(f"({clause})", *([pattern] * len(SEARCHED_COLUMNS)))


async def _sqlite_matches_at_least(term: str, count: int) -> bool:
    rows, _ = await read(
        f"SELECT count(*) FROM ({_FTS_MATCH} LIMIT {int(count)})", (fts5_phrase(term),)
    )
    return int(rows[0][0]) >= count


def escape_like(term: str) -> str:
    """`term` matched literally by LIKE: its wildcards and the escape character escaped."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fts5_phrase(term: str) -> str:
    """`term` as one FTS5 phrase: quoted, so that no character of it is query syntax
    (AND, *, ^, column filters); a double quote inside is written twice."""
    return '"' + term.replace('"', '""') + '"'
