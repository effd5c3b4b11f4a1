"""The run list's text search: a case-insensitive substring of a run's modelVersion, its
trainer's username or its notes, answered from a trigram index on both databases.

A substring (`%term%`) cannot use a B-tree, so each database gets an index of trigrams
(every run of three characters), built by migration 0007_run_search:
- PostgreSQL: a pg_trgm GIN index per column, searched with `ILIKE '%term%'` (pg_trgm
  turns the pattern into trigrams, the index yields candidate rows, ILIKE rechecks them),
  the three combined by a BitmapOr;
- SQLite: an FTS5 table with the `trigram` tokenizer (external content: it stores the
  index only, kept in step with training_run by triggers), searched with a phrase query,
  which matches exactly the rows holding the term as a contiguous substring, case folded.

A term shorter than MIN_SEARCH_LENGTH characters has no trigram, so neither index can
answer it: it would be a scan of every run (seconds at a million runs), so it is refused
(resolvers/training_runs.py) rather than served slowly. An empty term is a substring of
every value and filters nothing.
"""

from __future__ import annotations

from models.run_records import RunQuery
from models.training_runs import TrainingRun

__all__ = ["MAX_SEARCH_LENGTH", "MIN_SEARCH_LENGTH", "SEARCHED_COLUMNS", "with_search"]

MIN_SEARCH_LENGTH = 3  # one trigram
MAX_SEARCH_LENGTH = 100  # longer than any modelVersion or username; bounds the trigrams
SEARCHED_COLUMNS = ("model_version", "trained_by_username", "notes")
SQLITE_SEARCH_TABLE = "training_run_search"  # created by migration 0007_run_search


def with_search(query: RunQuery, term: str) -> RunQuery:
    """`query` narrowed to runs with `term` in one of SEARCHED_COLUMNS, in any case."""
    if not term:
        return query
    if TrainingRun._meta.db.capabilities.dialect == "postgres":
        pattern = f"%{escape_like(term)}%"
        # Backslash is PostgreSQL's default LIKE escape: no ESCAPE clause, which would
        # wrap the parameter in like_escape() and hide it from the planner's estimate.
        clause = " OR ".join(f"{column} ILIKE ?" for column in SEARCHED_COLUMNS)
        return query.where(f"({clause})", *([pattern] * len(SEARCHED_COLUMNS)))
    return query.where(
        f"id IN (SELECT rowid FROM {SQLITE_SEARCH_TABLE} WHERE {SQLITE_SEARCH_TABLE} MATCH ?)",
        fts5_phrase(term),
    )


def escape_like(term: str) -> str:
    """`term` matched literally by LIKE: its wildcards and the escape character escaped."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fts5_phrase(term: str) -> str:
    """`term` as one FTS5 phrase: quoted, so that no character of it is query syntax
    (AND, *, ^, column filters); a double quote inside is written twice."""
    return '"' + term.replace('"', '""') + '"'
