"""Tags on training runs, and the edit of a run's notes and tags (updateTrainingRun).

A tag is a row of `run_tag` (run_id, tag), unique per run, rather than a list in a JSON
column: "runs tagged x" is then an index lookup on both databases, with two indexes:
(run_id, tag) (the unique constraint: does this run hold x?) and (tag, run_id) (which
runs hold x?). Which one a filtered page should start from depends on how many runs
hold the tag, as for the text search (models/run_search.py):
- many (a tag on half the runs): walk the list's own index in order and test each run
  with an EXISTS on (run_id, tag); a page stops after about `page size / share` runs;
- few (a tag on a handful of runs): read them from (tag, run_id) and sort them; the walk
  would read the whole table to find them (0.6 s at 200,000 runs on SQLite).
PostgreSQL's planner makes that choice from its statistics when it plans the statement
with the tags themselves (`fresh_plan`, as the search). SQLite's cannot, so
`with_tags` counts the tag's index entries up to DENSE_TAGGED first (index-only, well
under a millisecond) and writes the page's condition the way that fits; a statement that
reads every match (a count, a history) always starts from the tags.
bench/results/audit-tags-<db>.md has the figures.

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


# From this many runs holding a tag on, SQLite's page walks the list in order (see above).
DENSE_TAGGED = 2_000


async def with_tags(
    query: RunQuery, any_of: Sequence[str], all_of: Sequence[str], *, in_order: bool
) -> RunQuery:
    """`query` narrowed to runs holding one of `any_of` (when given) and every one of
    `all_of`. Tags are compared as stored: the caller normalises them. `in_order`: the
    statement reads runs in the list's order and may stop early (a page, an export's
    chunk); otherwise it reads every match (a count, a history)."""
    all_of = list(dict.fromkeys(all_of))
    if TrainingRun._meta.db.capabilities.dialect == "postgres":
        return _exists(query, any_of, all_of).planned_per_value()
    if in_order and await _dense(any_of, all_of):
        return _exists(query, any_of, all_of)
    return _from_tags(query, any_of, all_of)


def _exists(query: RunQuery, any_of: Sequence[str], all_of: Sequence[str]) -> RunQuery:
    exists = f"EXISTS (SELECT 1 FROM {_TABLE} WHERE {_TABLE}.run_id = {_RUN}.id AND "
    if any_of:
        marks = ", ".join("?" * len(any_of))
        query = query.where(f"{exists}{_TABLE}.tag IN ({marks}))", *any_of)
    for tag in all_of:
        query = query.where(f"{exists}{_TABLE}.tag = ?)", tag)
    return query


def _from_tags(query: RunQuery, any_of: Sequence[str], all_of: Sequence[str]) -> RunQuery:
    select = f"id IN (SELECT run_id FROM {_TABLE} WHERE tag"
    if any_of:
        marks = ", ".join("?" * len(any_of))
        query = query.where(f"{select} IN ({marks}))", *any_of)
    for tag in all_of:
        query = query.where(f"{select} = ?)", tag)
    return query


async def _tagged_at_least(tags: Sequence[str], count: int) -> bool:
    marks = ", ".join("?" * len(tags))
    rows, _ = await read(
        f"SELECT count(*) FROM (SELECT 1 FROM {_TABLE} WHERE tag IN ({marks}) LIMIT {int(count)})",
        list(tags),
        short=True,
    )
    return int(rows[0][0]) >= count


async def _dense(any_of: Sequence[str], all_of: Sequence[str]) -> bool:
    """Whether the runs a page needs are many: `any_of` held by DENSE_TAGGED runs or
    more, and each tag of `all_of` too (the rarest one bounds the matches)."""
    if any_of and not await _tagged_at_least(any_of, DENSE_TAGGED):
        return False
    for tag in all_of:
        if not await _tagged_at_least([tag], DENSE_TAGGED):
            return False
    return True


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
