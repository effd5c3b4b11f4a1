"""TrainingRunFilter.search (issue 21): a case-insensitive substring of modelVersion,
trainedByUsername or notes, combined with the other conditions, paged like any list.

Runs are written straight into the table (and updated there), so these tests also check
that the search index (SQLite's FTS5 table and its triggers, PostgreSQL's trigram
indexes) follows inserts, updates and deletes. On SQLite a term held by many runs is
searched another way (models/run_search.py); the `strategy` fixture runs a test both ways
by moving the threshold (PostgreSQL has one way, so it runs the same test twice).
"""

from __future__ import annotations

from typing import Any

import pytest

import models.run_search
from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import (
    HISTORY,
    ORDER_FIELDS,
    ORDERS,
    error_of,
    ids_of,
    insert,
    order_by,
    ordered,
    run_row,
    training_runs,
    walk_backwards,
    walk_forwards,
)


@pytest.fixture(params=["trigram-index", "ordered-scan"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """SQLite: every term searched on the FTS5 table, or every term held by a run searched
    in the list's order (threshold 1)."""
    dense = 10**9 if request.param == "trigram-index" else 1
    monkeypatch.setattr(models.run_search, "DENSE_MATCHES", dense)
    return str(request.param)


def searched(rows: list[TrainingRun], term: str) -> list[TrainingRun]:
    """The rows the contract says `term` finds: a substring of one of the three, any case."""
    needle = term.casefold()
    return [
        row
        for row in rows
        if any(
            needle in (value or "").casefold()
            for value in (row.model_version, row.trained_by_username, row.notes)
        )
    ]


async def search(server: Server, term: str, **variables: Any) -> list[int]:
    connection = await training_runs(server, first=100, filter={"search": term}, **variables)
    return ids_of(connection)


def by_date(rows: list[TrainingRun]) -> list[int]:
    return ordered(rows, "run_date", "DESC")


@pytest.mark.parametrize(
    ("field", "value", "term"),
    [
        ("model_version", "q1rf-beta-5528", "beta"),
        ("trained_by_username", "ines.martin", "ines"),
        ("notes", "retrained after the v20261206 data fix", "v20261206"),
    ],
)
async def test_a_substring_of_each_field_finds_the_run(
    clean_runs: Server, strategy: str, field: str, value: str, term: str
) -> None:
    # given
    rows = await insert([run_row(1, **{field: value}), run_row(2), run_row(3, notes="other")])
    [wanted] = [row for row in rows if getattr(row, field) == value]

    # when
    found = await search(clean_runs, term)

    # then
    assert found == [wanted.id]


@pytest.mark.parametrize("term", ["BETA", "Ines.M", "V2026", "q1RF-bEtA-5528"])
async def test_search_ignores_case(clean_runs: Server, strategy: str, term: str) -> None:
    # given
    rows = await insert(
        [
            run_row(1, model_version="q1rf-beta-5528"),
            run_row(2, trained_by_username="ines.martin"),
            run_row(3, notes="fixed in v20261206"),
            run_row(4, notes="unrelated"),
        ]
    )

    # when
    found = await search(clean_runs, term)

    # then
    assert found == by_date(searched(rows, term))
    assert found


@pytest.mark.parametrize("term", ["a%b", "a_b", "a\\b", '"q"', "x*y", "c OR d"])
async def test_wildcards_and_query_syntax_match_themselves(
    clean_runs: Server, strategy: str, term: str
) -> None:
    # given: each term once literally, and look-alikes it would match as a pattern
    notes = ["a%b", "a_b", "a\\b", "axb", "aXXb", '"q"', "q", "x*y", "xzy", "c OR d", "c", "d"]
    rows = await insert([run_row(number, notes=f"[{text}]") for number, text in enumerate(notes)])

    # when
    found = await search(clean_runs, term)

    # then
    [wanted] = [row for row in rows if row.notes == f"[{term}]"]
    assert found == [wanted.id]


async def test_search_and_status_must_both_hold(clean_runs: Server, strategy: str) -> None:
    # given
    rows = await insert(
        [
            run_row(number, status=status, notes="beta" if number % 2 else "gamma")
            for number, status in enumerate(list(RunStatus) * 4)
        ]
    )
    wanted = [row for row in searched(rows, "beta") if row.status is RunStatus.COMPLETED]
    assert wanted

    # when
    connection = await training_runs(
        clean_runs, first=100, filter={"search": "beta", "status": ["COMPLETED"]}
    )

    # then
    assert ids_of(connection) == by_date(wanted)
    assert connection["totalCount"] == len(wanted)


@pytest.mark.parametrize(("field", "direction"), ORDERS)
async def test_paging_a_search_in_every_order(
    clean_runs: Server, strategy: str, field: str, direction: str
) -> None:
    # given: matches and misses interleaved, with ties and NULLs in every order column
    rows = await insert(
        [
            run_row(
                number,
                model_version=f"{'beta' if number % 3 else 'alpha'}-{number:03d}",
                accuracy=None if number % 5 == 0 else (number % 4) / 4,
                f1_score=None if number % 7 == 0 else (number % 3) / 3,
                training_duration_seconds=None if number % 6 == 0 else float(number % 5),
            )
            for number in range(45)
        ]
    )
    wanted = searched(rows, "beta")
    run_filter = {"search": "beta"}
    order = order_by(field, direction)

    # when
    forwards = await walk_forwards(clean_runs, 7, order=order, filter=run_filter)
    backwards = await walk_backwards(clean_runs, 7, order=order, filter=run_filter)

    # then
    expected = ordered(wanted, ORDER_FIELDS[field], direction)
    assert [run_id for page in forwards for run_id in ids_of(page)] == expected
    assert [run_id for page in backwards for run_id in ids_of(page)] == expected
    assert {page["totalCount"] for page in forwards + backwards} == {len(wanted)}


async def test_the_index_follows_updates_inserts_and_deletes(
    clean_runs: Server, strategy: str
) -> None:
    # given
    [run] = await insert([run_row(1, notes="first draft")])
    await TrainingRun.filter(id=run.id).update(notes="now about zebras")
    await TrainingRun.filter(id=run.id).update(model_version="renamed-okapi-1")
    later = run_row(2, notes="a later zebra")
    await later.save()

    # when
    zebra = await search(clean_runs, "zebra")
    draft = await search(clean_runs, "draft")
    old_version = await search(clean_runs, "list-0001")
    okapi = await search(clean_runs, "OKAPI")
    await TrainingRun.filter(id=later.id).delete()
    after_delete = await search(clean_runs, "zebra")

    # then
    assert zebra == [later.id, run.id]
    assert draft == []
    assert old_version == []
    assert okapi == [run.id]
    assert after_delete == [run.id]


async def test_an_empty_search_filters_nothing(clean_runs: Server) -> None:
    # given
    rows = await insert([run_row(number) for number in range(3)])

    # when
    found = await search(clean_runs, "")

    # then
    assert found == by_date(rows)


@pytest.mark.parametrize("term", ["a", "ab", "x" * 101])
async def test_a_search_too_short_or_too_long_is_refused(clean_runs: Server, term: str) -> None:
    # when
    error = await error_of(clean_runs, filter={"search": term})

    # then
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "filter"
    assert error["extensions"]["field"] == ["filter", "search"]


@pytest.mark.parametrize("length", [3, 100])
async def test_the_shortest_and_longest_searches_are_answered(
    clean_runs: Server, length: int
) -> None:
    # given
    term = ("abcdefghij" * 10)[:length]
    [wanted, _] = await insert([run_row(1, notes=f"<{term}>"), run_row(2, notes="nothing")])

    # when
    found = await search(clean_runs, term)

    # then
    assert found == [wanted.id]


async def test_the_metrics_history_counts_only_the_runs_searched(
    clean_runs: Server, strategy: str
) -> None:
    # given
    await insert([run_row(number, notes="beta" if number < 3 else "") for number in range(5)])

    # when
    data = await clean_runs.data(HISTORY, {"filter": {"search": "BETA"}, "bucket": "MONTH"})

    # then
    assert [bucket["runs"] for bucket in data["trainingMetricsHistory"]] == [3]
