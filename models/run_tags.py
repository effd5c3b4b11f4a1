"""Tags on training runs, and the edit of a run's notes and tags (updateTrainingRun).

A tag is a row of `run_tag` (run_id, tag), unique per run, rather than a list in a JSON
column: "runs tagged x" is then an index lookup on both databases. The run list filters
with EXISTS subqueries (`with_tags`): `any` is one EXISTS over `tag IN (...)`, `all` one
EXISTS per tag, each answered by the unique (run_id, tag) index for the run at hand, so
the keyset page of models/run_list.py keeps reading the list's own index in order and
stops after a page of matches. A rare tag on a large table is the slow case of that
plan (it reads runs until it finds a page of them); the (tag, run_id) index lets
PostgreSQL's planner start from the tag instead when its statistics say so.

Notes live on the run row (the search index of migration 0007 follows them: the SQLite
trigger fires on UPDATE OF notes; PostgreSQL's trigram index is an ordinary index).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.run_records import RunQuery, read
from models.training_runs import TrainingRun

__all__ = ["MAX_TAG_LENGTH", "RunTag", "tags_of_runs", "update_run", "with_tags"]

MAX_TAG_LENGTH = 32


class RunTag(Model):
    id = fields.IntField(primary_key=True)
    run: fields.ForeignKeyRelation[TrainingRun] = fields.ForeignKeyField(
        "models.TrainingRun", related_name="tags", on_delete=fields.CASCADE
    )
    run_id: int
    tag = fields.CharField(max_length=MAX_TAG_LENGTH)

    class Meta:
        table = "run_tag"
        unique_together = (("run_id", "tag"),)
        indexes = (Index(fields=("tag", "run_id"), name="run_tag_tag_run"),)


_TABLE = "run_tag"
_RUN = TrainingRun._meta.db_table


def with_tags(query: RunQuery, any_of: Sequence[str], all_of: Sequence[str]) -> RunQuery:
    """`query` narrowed to runs holding one of `any_of` (when given) and every one of
    `all_of`. Tags are compared as stored: the caller normalises them."""
    exists = f"EXISTS (SELECT 1 FROM {_TABLE} WHERE {_TABLE}.run_id = {_RUN}.id AND "
    if any_of:
        marks = ", ".join("?" * len(any_of))
        query = query.where(f"{exists}{_TABLE}.tag IN ({marks}))", *any_of)
    for tag in dict.fromkeys(all_of):
        query = query.where(f"{exists}{_TABLE}.tag = ?)", tag)
    return query


async def tags_of_runs(run_ids: Sequence[int]) -> list[list[str]]:
    """The tags of each run, in name order: one query for a page of runs."""
    if not run_ids:
        return []
    found: dict[int, list[str]] = defaultdict(list)
    marks = ", ".join("?" * len(run_ids))
    rows, _ = await read(
        f"SELECT run_id, tag FROM {_TABLE} WHERE run_id IN ({marks}) ORDER BY tag",
        [int(run_id) for run_id in run_ids],
        short=len(run_ids) <= 100,
    )
    for run_id, tag in rows:
        found[run_id].append(tag)
    return [found.get(run_id, []) for run_id in run_ids]


async def update_run(
    run_id: int, *, notes: str | None, tags: Sequence[str] | None
) -> TrainingRun | None:
    """Set the run's notes and/or replace its tags (None: leave as is), in one
    transaction with the run's row locked, so concurrent edits apply one after the other
    and a reader never sees half of one. None when there is no such run.

    Only the `notes` column is written: the worker updates its own columns (status,
    progress, metrics) of the same row meanwhile, and neither overwrites the other's."""
    async with in_transaction() as connection:
        run = await TrainingRun.filter(id=run_id).select_for_update().using_db(connection).first()
        if run is None:
            return None
        if notes is not None and notes != run.notes:
            await TrainingRun.filter(id=run_id).using_db(connection).update(notes=notes)
            run.notes = notes
        if tags is not None:
            await RunTag.filter(run_id=run_id).using_db(connection).delete()
            if tags:
                await RunTag.bulk_create(
                    [RunTag(run_id=run_id, tag=tag) for tag in tags], using_db=connection
                )
    return run
