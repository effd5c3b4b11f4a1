"""Trigram indexes behind TrainingRunFilter.search (issue 21): a substring of modelVersion,
trainedByUsername or notes found without reading every run (models/run_search.py).

PostgreSQL: the pg_trgm extension and a GIN index per column. pg_trgm is a trusted
extension (PostgreSQL 13+): a role with CREATE on the database may create it. Where the
migrating role may not, or the server lacks the contrib package, the migration stops
with a message saying what to run as a superuser, and changes nothing; it is not skipped,
since without the index every search would read the whole table. The indexes are built
inside the migration's transaction (CREATE INDEX, not CONCURRENTLY): on a large table,
writes to training_run wait for the build (about a minute per million runs).

SQLite: an FTS5 table with the trigram tokenizer, external content (it holds the index,
not a copy of the text), filled from the existing runs and kept in step by triggers on
insert, delete and on updates of the three columns.
"""

from typing import Any

from tortoise import migrations
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations import operations as ops

COLUMNS = ("model_version", "trained_by_username", "notes")

POSTGRES_INDEXES = [
    f"CREATE INDEX run_search_{column} ON training_run USING gin ({column} gin_trgm_ops)"
    for column in COLUMNS
]
POSTGRES_REVERSE = [f"DROP INDEX IF EXISTS run_search_{column}" for column in COLUMNS]

_NEW = ", ".join(f"new.{column}" for column in COLUMNS)
_OLD = ", ".join(f"old.{column}" for column in COLUMNS)
_LIST = ", ".join(COLUMNS)
_CHANGED = " OR ".join(f"old.{column} IS NOT new.{column}" for column in COLUMNS)
_INSERT_NEW = f"INSERT INTO training_run_search(rowid, {_LIST}) VALUES (new.id, {_NEW});"
_DELETE_OLD = (
    f"INSERT INTO training_run_search(training_run_search, rowid, {_LIST}) "
    f"VALUES ('delete', old.id, {_OLD});"
)
SQLITE = [
    f"CREATE VIRTUAL TABLE training_run_search USING fts5({_LIST}, "
    "content='training_run', content_rowid='id', tokenize='trigram')",
    "INSERT INTO training_run_search(training_run_search) VALUES ('rebuild')",
    "CREATE TRIGGER training_run_search_insert AFTER INSERT ON training_run "
    f"BEGIN {_INSERT_NEW} END",
    "CREATE TRIGGER training_run_search_delete AFTER DELETE ON training_run "
    f"BEGIN {_DELETE_OLD} END",
    # Only when one of the three changes: progress and heartbeat writes leave the index be.
    f"CREATE TRIGGER training_run_search_update AFTER UPDATE OF {_LIST} ON training_run "
    f"WHEN {_CHANGED} BEGIN {_DELETE_OLD} {_INSERT_NEW} END",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS training_run_search_insert",
    "DROP TRIGGER IF EXISTS training_run_search_delete",
    "DROP TRIGGER IF EXISTS training_run_search_update",
    "DROP TABLE IF EXISTS training_run_search",
]

EXTENSION_MISSING = (
    "migration 0007_run_search needs PostgreSQL's pg_trgm extension for the run search "
    "index, and this role could not create it ({error}). Run, as a superuser or the "
    "database's owner: CREATE EXTENSION IF NOT EXISTS pg_trgm; (Debian: the "
    "postgresql-contrib package), then migrate again."
)


async def _execute(client: BaseDBAsyncClient, statements: list[str]) -> None:
    # One statement at a time: sqlite3's executescript would commit the migration's
    # transaction first.
    for statement in statements:
        await client.execute_query(statement)


async def _ensure_pg_trgm(client: BaseDBAsyncClient) -> None:
    _, rows = await client.execute_query("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    if rows:
        return  # created by an administrator: this role need not be able to
    try:
        await client.execute_query("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as error:  # privileges, or no contrib package: say what to do
        raise RuntimeError(EXTENSION_MISSING.format(error=error)) from error


async def forwards(apps: Any, schema_editor: Any) -> None:
    client: BaseDBAsyncClient = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await _ensure_pg_trgm(client)
        await _execute(client, POSTGRES_INDEXES)
    else:
        await _execute(client, SQLITE)


async def backwards(apps: Any, schema_editor: Any) -> None:
    client: BaseDBAsyncClient = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await _execute(client, POSTGRES_REVERSE if postgres else SQLITE_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("models", "0006_dataset_uploaded_by")]

    initial = False

    operations = [ops.RunPython(forwards, backwards)]
