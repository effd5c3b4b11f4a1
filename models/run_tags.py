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
`with_tags` counts each condition's index entries up to DENSE_TAGGED first (index-only,
well under a millisecond) and starts from the rarest one unless even that one is dense;
a statement that reads every match (a count, a history) always starts from the tags.
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
    # Each group is one condition: `any_of` as a whole, then each tag of `all_of`.
    groups = ([list(any_of)] if any_of else []) + [[tag] for tag in dict.fromkeys(all_of)]
    if TrainingRun._meta.db.capabilities.dialect == "postgres":
        return _exists(query, groups).planned_per_value()
    # SQLite: the group held by the fewest runs (counted up to DENSE_TAGGED) bounds the
    # matches; read from the tag index unless even that one is dense and the statement
    # may stop early. The other groups are tested on each of its runs.
    held = [await _tagged_at_most(group, DENSE_TAGGED) for group in groups]
    rarest = held.index(min(held))
    if in_order and held[rarest] >= DENSE_TAGGED:
        return _exists(query, groups)
    marks = ", ".join("?" * len(groups[rarest]))
    query = query.where(
        f"id IN (SELECT run_id FROM {_TABLE} WHERE tag IN ({marks}))", *groups[rarest]
    )
    return _exists(query, groups[:rarest] + groups[rarest + 1 :])


def _exists(query: RunQuery, groups: Sequence[Sequence[str]]) -> RunQuery:
    exists = f"EXISTS (SELECT 1 FROM {_TABLE} WHERE {_TABLE}.run_id = {_RUN}.id AND "
    for group in groups:
        marks = ", ".join("?" * len(group))
        query = query.where(f"{exists}{_TABLE}.tag IN ({marks}))", *group)
    return query


async def _tagged_at_most(tags: Sequence[str], count: int) -> int:
    """How many runs hold one of `tags`, counted up to `count` (index-only)."""
    marks = ", ".join("?" * len(tags))
    rows, _ = await read(
        f"SELECT count(*) FROM (SELECT 1 FROM {_TABLE} WHERE tag IN ({marks}) LIMIT {int(count)})",
        list(tags),
        short=True,
    )
    return int(rows[0][0])


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
