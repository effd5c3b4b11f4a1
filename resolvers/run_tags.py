"""updateTrainingRun: a run's notes and tags, edited by HR staff; and the tag rules the
run filter (`TrainingRunFilter.tags`) shares, so a filter finds what an edit stored.

Tag rules (README, "Notes and tags"): surrounding spaces trimmed, runs of whitespace made
one space, lower case (a tag is a label people type: "Baseline" and "baseline" are one
tag), 1 to MAX_TAG_LENGTH characters, no control character and no comma (the dashboard
edits tags as comma-separated text); at most MAX_TAGS per run; duplicates after that
normalisation count once. A refused tag comes back in `errors` with its index
(["tags", "2"]) and nothing changes. The SQL is in models/run_tags.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from models.accounts import Identity
from models.run_records import RunRecord
from models.run_tags import MAX_TAG_LENGTH, tags_of_runs, update_run
from resolvers.errors import ApiError, FieldError, FieldErrorCode, RunOutcome
from resolvers.train_model import MAX_NOTES_LENGTH

__all__ = [
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "filter_tags",
    "normalise_tag",
    "tags_of_runs",
    "update_training_run",
]

logger = logging.getLogger("resolvers.run_tags")

MAX_TAGS = 20
_WHITESPACE = re.compile(r"\s+")
_REFUSED_CHARACTERS = re.compile(r"[\x00-\x1f\x7f,]")


def normalise_tag(raw: str) -> str:
    return _WHITESPACE.sub(" ", raw.strip()).lower()


def _tag_problem(tag: str) -> tuple[str, FieldErrorCode] | None:
    if not tag:
        return "a tag cannot be empty", FieldErrorCode.INVALID
    if len(tag) > MAX_TAG_LENGTH:
        return f"a tag is at most {MAX_TAG_LENGTH} characters", FieldErrorCode.OUT_OF_RANGE
    if _REFUSED_CHARACTERS.search(tag):
        return "a tag cannot hold a comma or a control character", FieldErrorCode.INVALID
    return None


def checked_tags(raw_tags: Sequence[str], path: list[str]) -> tuple[list[str], list[FieldError]]:
    """The normalised tags, in first-seen order without duplicates, and what was refused."""
    tags: dict[str, None] = {}
    errors: list[FieldError] = []
    for index, raw in enumerate(raw_tags):
        tag = normalise_tag(raw)
        problem = _tag_problem(tag)
        if problem is not None:
            errors.append(FieldError([*path, str(index)], problem[0], problem[1]))
        else:
            tags[tag] = None
    if len(tags) > MAX_TAGS:
        errors.append(
            FieldError(
                path,
                f"a run holds at most {MAX_TAGS} tags, got {len(tags)}",
                FieldErrorCode.OUT_OF_RANGE,
            )
        )
    return list(tags), errors


def filter_tags(raw_tags: Sequence[str] | None, name: str) -> list[str] | None:
    """The tags of a filter's `any` / `all`, normalised as stored; BAD_USER_INPUT naming
    the filter field for one no run can hold. An empty list is no condition."""
    if not raw_tags:
        return None
    path = ["filter", "tags", name]
    if len(raw_tags) > MAX_TAGS:
        raise ApiError(
            f"filter `tags.{name}` takes at most {MAX_TAGS} tags",
            argument="filter",
            field=path,
        )
    tags, errors = checked_tags(raw_tags, path)
    if errors:
        raise ApiError(f"filter `tags.{name}`: {errors[0].message}", argument="filter", field=path)
    return tags


async def update_training_run(
    viewer: Identity | None,
    run_id: int | None,
    *,
    notes: str | None,
    tags: Sequence[str] | None,
) -> RunOutcome:
    """Set the notes and/or replace the tags of a run (an argument left out: unchanged)."""
    errors: list[FieldError] = []
    if notes is not None and len(notes) > MAX_NOTES_LENGTH:
        errors.append(
            FieldError(
                ["notes"], f"must be at most {MAX_NOTES_LENGTH} characters", FieldErrorCode.INVALID
            )
        )
    normalised: list[str] | None = None
    if tags is not None:
        normalised, tag_errors = checked_tags(tags, ["tags"])
        errors += tag_errors
    if errors:
        return RunOutcome(errors=errors)
    run = None if run_id is None else await update_run(run_id, notes=notes, tags=normalised)
    if run is None:
        return RunOutcome(
            errors=[FieldError(["id"], "no such training run", FieldErrorCode.NOT_FOUND)]
        )
    logger.info(
        "run %s edited by %s:%s%s",
        run.id,
        viewer.username if viewer else "-",
        " notes" if notes is not None else "",
        f" tags {normalised}" if normalised is not None else "",
    )
    return RunOutcome(training_run=RunRecord.of(run))
