"""Query.trainingRuns: listing, filters, every order, keyset pagination both ways.

Runs are inserted straight into the database, then every page the API returns is
compared with the same table sorted in Python by the contract's rule: rows with a value
by (value, id) in the order's direction, then rows without one (NULL) by id in that
direction.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import timedelta, timezone
from typing import Any

import orjson
import pytest

from models.accounts import User
from models.training_runs import RunStatus, TrainingRun
from schema.enums import TrainingRunOrderField
from tests.conftest import Server
from tests.helpers import (
    BASE_DATE,
    ORDER_FIELDS,
    ORDERS,
    TRAINING_RUNS_QUERY,
    assert_cursors_match_edges,
    error_of,
    ids_of,
    insert,
    mixed_rows,
    order_by,
    ordered,
    role_users,
    run_row,
    trained_by,
    training_runs,
    walk_backwards,
    walk_forwards,
)

OBJECT_FIELDS = {
    "hyperparameters": "{ nEstimators maxDepth minSamplesSplit minSamplesLeaf classWeight }",
    "perClassMetrics": "{ label precision recall f1Score support }",
    "confusionMatrix": "{ labels matrix }",
    "featureImportance": "{ feature importance }",
    "trainedBy": "{ id username groups }",
    "schedule": "{ id name }",
    "evaluations": "{ totalCount }",
    "parameters": "{ name value }",
    "crossValidation": "{ folds metrics { metric mean std } }",
    "shapImportance": "{ feature importance }",
    "sweep": "{ databaseId }",
    "intermediateValues": "{ step value }",
}

TYPE_FIELDS_QUERY = """
query TypeFields {
  __type(name: "TrainingRun") {
    fields {
      name
    }
  }
}
"""


def forged_cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


# Listing


async def test_default_order_is_newest_first_in_pages_of_20(clean_runs: Server) -> None:
    # given
    rows = await insert(mixed_rows(25, await role_users()))

    # when
    connection = await training_runs(clean_runs)

    # then
    assert ids_of(connection) == ordered(rows, "run_date", "DESC")[:20]
    assert connection["pageInfo"]["hasNextPage"] is True
    assert connection["pageInfo"]["hasPreviousPage"] is False
    assert connection["totalCount"] == 25
    assert_cursors_match_edges(connection)


async def test_default_order_equals_explicit_run_date_desc(clean_runs: Server) -> None:
    # given
    await insert(mixed_rows(30, await role_users()))

    # when
    implicit = await training_runs(clean_runs, first=30)
    explicit = await training_runs(clean_runs, first=30, orderBy=order_by("RUN_DATE", "DESC"))
    defaults_only = await training_runs(clean_runs, first=30, orderBy={})

    # then
    assert ids_of(implicit) == ids_of(explicit) == ids_of(defaults_only)
    assert implicit["edges"] == explicit["edges"]


async def test_nodes_and_edges_list_the_same_runs(clean_runs: Server) -> None:
    # given
    await insert(mixed_rows(12, await role_users()))

    # when
    connection = await training_runs(clean_runs, first=10)

    # then
    assert len(connection["nodes"]) == 10
    assert [node["databaseId"] for node in connection["nodes"]] == ids_of(connection)


async def test_empty_table_gives_an_empty_connection(clean_runs: Server) -> None:
    # when
    connection = await training_runs(clean_runs)

    # then
    assert connection == {
        "edges": [],
        "nodes": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "totalCount": 0,
    }


async def test_a_page_of_100_is_allowed(clean_runs: Server) -> None:
    # given
    rows = await insert(mixed_rows(101, await role_users()))

    # when
    connection = await training_runs(clean_runs, first=100)

    # then
    assert ids_of(connection) == ordered(rows, "run_date", "DESC")[:100]
    assert connection["pageInfo"]["hasNextPage"] is True


async def test_first_zero_returns_no_edges(clean_runs: Server) -> None:
    # given
    await insert(mixed_rows(5, await role_users()))

    # when
    connection = await training_runs(clean_runs, first=0)

    # then
    assert connection["edges"] == []
    assert connection["nodes"] == []
    assert connection["pageInfo"]["startCursor"] is None
    assert connection["pageInfo"]["endCursor"] is None
    assert connection["pageInfo"]["hasNextPage"] is True
    assert connection["totalCount"] == 5


# Filters


@pytest.mark.parametrize(
    "statuses",
    [
        [RunStatus.COMPLETED],
        [RunStatus.QUEUED],
        [RunStatus.FAILED, RunStatus.CANCELLED],
        [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.COMPLETED],
        list(RunStatus),
    ],
    ids=lambda statuses: "+".join(statuses),
)
async def test_filter_by_status(clean_runs: Server, statuses: list[RunStatus]) -> None:
    # given
    rows = await insert(mixed_rows(40, await role_users()))
    matching = [row for row in rows if row.status in statuses]

    # when
    connection = await training_runs(
        clean_runs, first=100, filter={"status": [s.value for s in statuses]}
    )

    # then
    assert ids_of(connection) == ordered(matching, "run_date", "DESC")
    assert connection["totalCount"] == len(matching)


async def test_an_empty_status_list_does_not_filter(clean_runs: Server) -> None:
    # given
    rows = await insert(mixed_rows(10, await role_users()))

    # when
    connection = await training_runs(clean_runs, first=100, filter={"status": []})

    # then
    assert ids_of(connection) == ordered(rows, "run_date", "DESC")


@pytest.mark.parametrize("username", ["drh-user", "manager-user"])
async def test_filter_by_trained_by(clean_runs: Server, username: str) -> None:
    # given
    rows = await insert(mixed_rows(30, await role_users()))
    user = await User.get(username=username)
    matching = [row for row in rows if row.trained_by_id == user.id]
    assert 0 < len(matching) < len(rows)

    # when
    connection = await training_runs(clean_runs, first=100, filter={"trainedBy": username})

    # then
    assert ids_of(connection) == ordered(matching, "run_date", "DESC")
    assert connection["totalCount"] == len(matching)


async def test_filter_by_unknown_user_matches_nothing(clean_runs: Server) -> None:
    # given
    await insert(mixed_rows(10, await role_users()))

    # when
    connection = await training_runs(clean_runs, filter={"trainedBy": "nobody-by-that-name"})

    # then
    assert connection["edges"] == []
    assert connection["nodes"] == []
    assert connection["totalCount"] == 0
    assert connection["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


async def test_filter_by_model_version(clean_runs: Server) -> None:
    # given
    rows = await insert(mixed_rows(10, await role_users()))
    wanted = rows[3]

    # when
    found = await training_runs(clean_runs, filter={"modelVersion": wanted.model_version})
    missing = await training_runs(clean_runs, filter={"modelVersion": "no-such-version"})

    # then
    assert ids_of(found) == [wanted.id]
    assert found["totalCount"] == 1
    assert ids_of(missing) == []
    assert missing["totalCount"] == 0


async def test_filter_by_run_date_range_includes_both_bounds(clean_runs: Server) -> None:
    # given: one run an hour, from BASE_DATE + 0h to + 11h
    rows = await insert([run_row(number) for number in range(12)])

    # when
    connection = await training_runs(
        clean_runs,
        filter={
            "runDateFrom": (BASE_DATE + timedelta(hours=3)).isoformat(),
            "runDateTo": (BASE_DATE + timedelta(hours=7)).isoformat(),
        },
    )

    # then
    expected = [row for row in rows if 3 <= (row.run_date - BASE_DATE).total_seconds() / 3600 <= 7]
    assert ids_of(connection) == ordered(expected, "run_date", "DESC")
    assert connection["totalCount"] == 5


async def test_filter_by_run_date_bounds_with_microseconds(clean_runs: Server) -> None:
    # given
    instant = BASE_DATE + timedelta(microseconds=123_456)
    rows = await insert(
        [
            run_row(0, run_date=instant - timedelta(microseconds=1)),
            run_row(1, run_date=instant),
            run_row(2, run_date=instant + timedelta(microseconds=1)),
        ]
    )
    by_date = {row.run_date: row.id for row in rows}

    # when
    from_instant = await training_runs(clean_runs, filter={"runDateFrom": instant.isoformat()})
    to_instant = await training_runs(clean_runs, filter={"runDateTo": instant.isoformat()})
    exactly = await training_runs(
        clean_runs, filter={"runDateFrom": instant.isoformat(), "runDateTo": instant.isoformat()}
    )

    # then
    before, at, after = (by_date[instant + timedelta(microseconds=d)] for d in (-1, 0, 1))
    assert ids_of(from_instant) == [after, at]
    assert ids_of(to_instant) == [at, before]
    assert ids_of(exactly) == [at]


@pytest.mark.parametrize("bound", ["runDateFrom", "runDateTo"])
async def test_filter_by_one_run_date_bound(clean_runs: Server, bound: str) -> None:
    # given
    rows = await insert([run_row(number) for number in range(6)])
    pivot = BASE_DATE + timedelta(hours=2)

    # when
    connection = await training_runs(clean_runs, filter={bound: pivot.isoformat()})

    # then
    if bound == "runDateFrom":
        expected = [row for row in rows if row.run_date >= pivot]
    else:
        expected = [row for row in rows if row.run_date <= pivot]
    assert ids_of(connection) == ordered(expected, "run_date", "DESC")
    assert connection["totalCount"] == len(expected)


async def test_filter_by_run_date_in_another_time_zone(clean_runs: Server) -> None:
    # given: one run an hour; the bounds name the same instants as UTC+02:00 and UTC-05:00
    rows = await insert([run_row(number) for number in range(12)])
    date_from = (BASE_DATE + timedelta(hours=3)).astimezone(timezone(timedelta(hours=2)))
    date_to = (BASE_DATE + timedelta(hours=7)).astimezone(timezone(timedelta(hours=-5)))

    # when
    connection = await training_runs(
        clean_runs,
        filter={"runDateFrom": date_from.isoformat(), "runDateTo": date_to.isoformat()},
    )

    # then
    expected = [row for row in rows if date_from <= row.run_date <= date_to]
    assert len(expected) == 5
    assert ids_of(connection) == ordered(expected, "run_date", "DESC")
    assert connection["totalCount"] == 5


async def test_combined_filters_must_all_hold(clean_runs: Server) -> None:
    # given
    rows = await insert(mixed_rows(60, await role_users()))
    drh = await User.get(username="drh-user")
    date_from = BASE_DATE + timedelta(minutes=3)
    date_to = BASE_DATE + timedelta(minutes=15)
    statuses = {RunStatus.COMPLETED, RunStatus.FAILED}
    matching = [
        row
        for row in rows
        if row.status in statuses
        and row.trained_by_id == drh.id
        and date_from <= row.run_date <= date_to
    ]
    assert matching, "the data set should have rows matching every condition"

    # when
    connection = await training_runs(
        clean_runs,
        first=100,
        filter={
            "status": ["COMPLETED", "FAILED"],
            "trainedBy": "drh-user",
            "runDateFrom": date_from.isoformat(),
            "runDateTo": date_to.isoformat(),
        },
        orderBy=order_by("ACCURACY", "DESC"),
    )
    with_version = await training_runs(
        clean_runs,
        filter={"trainedBy": "drh-user", "modelVersion": matching[0].model_version},
    )
    other_user_version = await training_runs(
        clean_runs,
        filter={"trainedBy": "manager-user", "modelVersion": matching[0].model_version},
    )

    # then
    assert ids_of(connection) == ordered(matching, "accuracy", "DESC")
    assert connection["totalCount"] == len(matching)
    assert ids_of(with_version) == [matching[0].id]
    assert ids_of(other_user_version) == []
    assert other_user_version["totalCount"] == 0


# Orders


@pytest.mark.parametrize(("field", "direction"), ORDERS)
async def test_order_equals_the_table_sorted_by_value_then_id(
    clean_runs: Server, field: str, direction: str
) -> None:
    # given: ties among the values, and NULLs where the column allows them
    rows = await insert(mixed_rows(60, await role_users()))
    column = ORDER_FIELDS[field]
    values = [getattr(row, column) for row in rows if getattr(row, column) is not None]
    assert len(set(values)) < len(values)
    assert (len(values) < len(rows)) is (column != "run_date")

    # when
    connection = await training_runs(clean_runs, first=100, orderBy=order_by(field, direction))

    # then
    assert ids_of(connection) == ordered(rows, ORDER_FIELDS[field], direction)
    assert connection["pageInfo"]["hasNextPage"] is False
    assert connection["pageInfo"]["hasPreviousPage"] is False


# Pagination


@pytest.mark.parametrize(("field", "direction"), ORDERS)
async def test_paging_forwards_and_backwards_yields_the_ordered_table(
    clean_runs: Server, field: str, direction: str
) -> None:
    # given
    rows = await insert(mixed_rows(53, await role_users()))
    expected = ordered(rows, ORDER_FIELDS[field], direction)
    order = order_by(field, direction)

    # when
    forwards = await walk_forwards(clean_runs, 10, order=order)
    backwards = await walk_backwards(clean_runs, 10, order=order)

    # then
    assert [run_id for page in forwards for run_id in ids_of(page)] == expected
    assert [len(page["edges"]) for page in forwards] == [10, 10, 10, 10, 10, 3]
    assert [run_id for page in backwards for run_id in ids_of(page)] == expected
    assert [len(page["edges"]) for page in backwards] == [3, 10, 10, 10, 10, 10]
    for number, page in enumerate(forwards):
        assert page["pageInfo"]["hasPreviousPage"] is (number > 0)
        assert page["pageInfo"]["hasNextPage"] is (number < len(forwards) - 1)
        assert page["totalCount"] == 53
        assert_cursors_match_edges(page)
    for number, page in enumerate(backwards):
        assert page["pageInfo"]["hasPreviousPage"] is (number > 0)
        assert page["pageInfo"]["hasNextPage"] is (number < len(backwards) - 1)
        assert page["totalCount"] == 53
        assert_cursors_match_edges(page)


@pytest.mark.parametrize(("field", "direction"), ORDERS)
async def test_paging_a_filtered_list(clean_runs: Server, field: str, direction: str) -> None:
    # given
    rows = await insert(mixed_rows(60, await role_users()))
    statuses = {RunStatus.COMPLETED, RunStatus.QUEUED, RunStatus.FAILED}
    matching = [row for row in rows if row.status in statuses]
    run_filter = {"status": [status.value for status in statuses]}
    order = order_by(field, direction)

    # when
    forwards = await walk_forwards(clean_runs, 7, order=order, filter=run_filter)
    backwards = await walk_backwards(clean_runs, 7, order=order, filter=run_filter)

    # then
    expected = ordered(matching, ORDER_FIELDS[field], direction)
    assert [run_id for page in forwards for run_id in ids_of(page)] == expected
    assert [run_id for page in backwards for run_id in ids_of(page)] == expected
    assert {page["totalCount"] for page in forwards + backwards} == {len(matching)}


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_a_page_that_ends_where_the_null_values_begin(
    clean_runs: Server, direction: str
) -> None:
    # given: 10 scored runs, then 5 without accuracy
    await insert(
        [run_row(number, accuracy=number / 10) for number in range(10)]
        + [run_row(number, accuracy=None) for number in range(10, 15)]
    )
    rows = await TrainingRun.all()
    expected = ordered(rows, "accuracy", direction)
    order = order_by("ACCURACY", direction)

    # when
    scored = await training_runs(clean_runs, first=10, orderBy=order)
    unscored = await training_runs(
        clean_runs, first=10, after=scored["pageInfo"]["endCursor"], orderBy=order
    )
    last_five = await training_runs(clean_runs, last=5, orderBy=order)
    before_unscored = await training_runs(
        clean_runs, last=10, before=last_five["pageInfo"]["startCursor"], orderBy=order
    )

    # then
    assert ids_of(scored) == expected[:10]
    assert scored["pageInfo"]["hasNextPage"] is True
    assert ids_of(unscored) == expected[10:]
    assert unscored["pageInfo"]["hasNextPage"] is False
    assert ids_of(last_five) == expected[10:]
    assert last_five["pageInfo"]["hasPreviousPage"] is True
    assert ids_of(before_unscored) == expected[:10]
    assert before_unscored["pageInfo"]["hasPreviousPage"] is False


async def test_before_alone_pages_backwards_by_the_default_size(clean_runs: Server) -> None:
    # given
    rows = await insert(mixed_rows(45, await role_users()))
    expected = ordered(rows, "run_date", "DESC")
    all_rows = await training_runs(clean_runs, first=100)
    last_cursor = all_rows["edges"][-1]["cursor"]

    # when
    connection = await training_runs(clean_runs, before=last_cursor)

    # then
    assert ids_of(connection) == expected[-21:-1]
    assert connection["pageInfo"]["hasNextPage"] is True
    assert connection["pageInfo"]["hasPreviousPage"] is True


async def test_runs_inserted_between_pages_newest_first(clean_runs: Server) -> None:
    # given: a first page of the newest runs
    rows = await insert([run_row(number) for number in range(30)])
    expected_before = ordered(rows, "run_date", "DESC")
    first_page = await training_runs(clean_runs, first=10)
    cursor_row = next(row for row in rows if row.id == ids_of(first_page)[-1])

    # when: newer runs arrive (and one with the cursor's very run date), then paging goes on
    await TrainingRun.bulk_create(
        [run_row(number) for number in range(100, 105)]
        + [run_row(105, run_date=cursor_row.run_date)]
    )
    pages = [first_page]
    while pages[-1]["pageInfo"]["hasNextPage"]:
        pages.append(
            await training_runs(clean_runs, first=10, after=pages[-1]["pageInfo"]["endCursor"])
        )

    # then: every pre-existing run exactly once, in order; none of the newer ones
    seen = [run_id for page in pages for run_id in ids_of(page)]
    assert seen == expected_before
    assert ids_of(first_page) == expected_before[:10]


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_runs_inserted_between_pages_by_accuracy(clean_runs: Server, direction: str) -> None:
    # given: a first page by accuracy
    await insert(mixed_rows(40, await role_users()))
    before_insert = await TrainingRun.all()
    order = order_by("ACCURACY", direction)
    first_page = await training_runs(clean_runs, first=10, orderBy=order)
    assert ids_of(first_page) == ordered(before_insert, "accuracy", direction)[:10]
    cursor_row = next(row for row in before_insert if row.id == ids_of(first_page)[-1])
    assert cursor_row.accuracy is not None

    # when: runs arrive on both sides of the cursor, on it, and without accuracy
    value = cursor_row.accuracy
    await TrainingRun.bulk_create(
        [
            run_row(200, accuracy=value + 0.01),
            run_row(201, accuracy=value - 0.01),
            run_row(202, accuracy=value),
            run_row(203, accuracy=1.5),
            run_row(204, accuracy=-0.5),
            run_row(205, accuracy=None),
        ]
    )
    pages = [first_page]
    while pages[-1]["pageInfo"]["hasNextPage"]:
        pages.append(
            await training_runs(
                clean_runs, first=10, after=pages[-1]["pageInfo"]["endCursor"], orderBy=order
            )
        )

    # then: what follows the cursor is the new table after the cursor's position
    after_insert = ordered(await TrainingRun.all(), "accuracy", direction)
    rest = [run_id for page in pages[1:] for run_id in ids_of(page)]
    assert rest == after_insert[after_insert.index(cursor_row.id) + 1 :]
    seen = ids_of(first_page) + rest
    pre_existing = {row.id for row in before_insert}
    assert sorted(run_id for run_id in seen if run_id in pre_existing) == sorted(pre_existing)


# Refused arguments


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "eyJ",
        base64.urlsafe_b64encode(b"not json at all").decode(),
        forged_cursor(42),
        forged_cursor({"order": "run_date:desc", "value": None, "id": 1}),
        forged_cursor(["run_date:desc", 1]),
        forged_cursor(["run_date:desc", "2024-03-01T09:00:00+00:00", 1, "extra"]),
        forged_cursor(["run_date:desc", "not a date", 1]),
        forged_cursor(["run_date:desc", None, 1]),
        forged_cursor(["run_date:desc", 12, 1]),
        forged_cursor(["run_date:desc", "2024-03-01T09:00:00+00:00", "1"]),
        forged_cursor(["run_date:desc", "2024-03-01T09:00:00+00:00", 1.5]),
    ],
)
async def test_malformed_cursor_is_refused(clean_runs: Server, cursor: str) -> None:
    # given
    await insert(mixed_rows(5, await role_users()))

    # when
    forwards = await error_of(clean_runs, first=2, after=cursor)
    backwards = await error_of(clean_runs, last=2, before=cursor)

    # then
    assert forwards["extensions"]["code"] == "INVALID_CURSOR"
    assert backwards["extensions"]["code"] == "INVALID_CURSOR"


@pytest.mark.parametrize(
    ("order", "payload"),
    [
        (("ACCURACY", "DESC"), ["accuracy:desc", "high", 1]),
        (("ACCURACY", "DESC"), ["accuracy:desc", [0.5], 1]),
        (("F1_SCORE", "ASC"), ["f1_score:asc", {"value": 0.5}, 1]),
        (("RUN_DATE", "ASC"), ["run_date:asc", None, 1]),
    ],
    ids=["accuracy-text", "accuracy-list", "f1-object", "run-date-null"],
)
async def test_cursor_with_a_value_of_the_wrong_type_is_refused(
    clean_runs: Server, order: tuple[str, str], payload: list[Any]
) -> None:
    # given: a cursor naming the right order, with a value that column cannot hold
    await insert(mixed_rows(5, await role_users()))

    # when
    error = await error_of(
        clean_runs, first=2, after=forged_cursor(payload), orderBy=order_by(*order)
    )

    # then
    assert error["extensions"]["code"] == "INVALID_CURSOR"


@pytest.mark.parametrize(
    ("made_for", "used_with"),
    [
        (("RUN_DATE", "DESC"), ("RUN_DATE", "ASC")),
        (("RUN_DATE", "DESC"), ("ACCURACY", "DESC")),
        (("ACCURACY", "ASC"), ("F1_SCORE", "ASC")),
        (("F1_SCORE", "DESC"), ("TRAINING_DURATION", "DESC")),
        (("TRAINING_DURATION", "ASC"), ("RUN_DATE", "DESC")),
    ],
    ids=lambda order: "-".join(order),
)
async def test_cursor_of_another_order_is_refused(
    clean_runs: Server, made_for: tuple[str, str], used_with: tuple[str, str]
) -> None:
    # given
    await insert(mixed_rows(10, await role_users()))
    page = await training_runs(clean_runs, first=3, orderBy=order_by(*made_for))
    cursor = page["pageInfo"]["endCursor"]

    # when
    forwards = await error_of(clean_runs, first=3, after=cursor, orderBy=order_by(*used_with))
    backwards = await error_of(clean_runs, last=3, before=cursor, orderBy=order_by(*used_with))
    same_order = await training_runs(clean_runs, first=3, after=cursor, orderBy=order_by(*made_for))

    # then
    assert forwards["extensions"]["code"] == "INVALID_CURSOR"
    assert backwards["extensions"]["code"] == "INVALID_CURSOR"
    assert len(same_order["edges"]) == 3


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"first": 101}, "first"),
        ({"last": 101}, "last"),
        ({"first": -1}, "first"),
        ({"last": -1}, "last"),
        ({"first": 10_000_000}, "first"),
        ({"first": 5, "last": 5}, "first"),
    ],
    ids=["first-101", "last-101", "first-negative", "last-negative", "first-huge", "both"],
)
async def test_page_size_out_of_range_is_refused(
    clean_runs: Server, arguments: dict[str, int], argument: str
) -> None:
    # given
    await insert(mixed_rows(5, await role_users()))

    # when
    error = await error_of(clean_runs, **arguments)

    # then
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == argument


async def test_cursor_against_the_direction_of_paging_is_refused(clean_runs: Server) -> None:
    # given
    await insert(mixed_rows(10, await role_users()))
    cursor = (await training_runs(clean_runs, first=3))["pageInfo"]["endCursor"]

    # when
    after_with_last = await error_of(clean_runs, last=3, after=cursor)
    before_with_first = await error_of(clean_runs, first=3, before=cursor)

    # then
    assert after_with_last["extensions"]["code"] == "BAD_USER_INPUT"
    assert after_with_last["extensions"]["argument"] == "after"
    assert before_with_first["extensions"]["code"] == "BAD_USER_INPUT"
    assert before_with_first["extensions"]["argument"] == "before"


@pytest.mark.parametrize(
    ("order", "payload"),
    [
        (("RUN_DATE", "DESC"), ["run_date:desc", "2024-03-01T09:00:00", 1]),
        (("RUN_DATE", "DESC"), ["run_date:desc", "2024-03-01T11:00:00+02:00", 1]),
        (("RUN_DATE", "DESC"), ["run_date:desc", "0001-01-01T00:00:00+00:00", 1]),
        (("RUN_DATE", "ASC"), ["run_date:asc", "9999-12-31T23:59:59.999999+00:00", 1]),
        (("RUN_DATE", "DESC"), ["run_date:desc", "2024-03-01T09:00:00+00:00", -5]),
        (("RUN_DATE", "DESC"), ["run_date:desc", "2024-03-01T09:00:00+00:00", True]),
        (("ACCURACY", "DESC"), ["accuracy:desc", 1e308, 1]),
        (("ACCURACY", "ASC"), ["accuracy:asc", -1e308, 1]),
        (("ACCURACY", "ASC"), ["accuracy:asc", 1, 1]),
        (("TRAINING_DURATION", "DESC"), ["training_duration_seconds:desc", 2**62, 1]),
        (("F1_SCORE", "DESC"), ["f1_score:desc", None, 2**31 - 1]),
    ],
    ids=[
        "naive-date",
        "offset-date",
        "min-date",
        "max-date",
        "negative-id",
        "boolean-id",
        "huge-float",
        "tiny-float",
        "integer-accuracy",
        "huge-integer-duration",
        "null-segment",
    ],
)
async def test_forged_but_well_formed_cursor_never_breaks_the_server(
    clean_runs: Server, order: tuple[str, str], payload: list[Any]
) -> None:
    # given
    await insert(mixed_rows(5, await role_users()))

    # when
    body = await clean_runs.gql(
        TRAINING_RUNS_QUERY,
        {"first": 2, "after": forged_cursor(payload), "orderBy": order_by(*order)},
    )

    # then: refused as a bad cursor or answered; never an internal error
    codes = [error["extensions"]["code"] for error in body.get("errors", [])]
    assert codes in ([], ["INVALID_CURSOR"])


@pytest.mark.parametrize(
    "run_id",
    [
        2**31,
        2**63,
        -1,
    ],
    ids=["2**31", "2**63", "negative"],
)
async def test_cursor_with_an_out_of_range_id_is_refused(clean_runs: Server, run_id: int) -> None:
    # given: a well-formed cursor whose id no run can have
    await insert(mixed_rows(5, await role_users()))
    cursor = forged_cursor(["run_date:desc", "2024-03-01T09:00:00+00:00", run_id])

    # when
    body = await clean_runs.gql(TRAINING_RUNS_QUERY, {"first": 2, "after": cursor})

    # then: refused as a bad cursor or answered; never an internal error
    codes = [error["extensions"]["code"] for error in body.get("errors", [])]
    assert codes in ([], ["INVALID_CURSOR"])


def test_orders_cover_every_order_field() -> None:
    assert {field.name: field.value for field in TrainingRunOrderField} == ORDER_FIELDS


# Field selection: a page loads only the columns its selected fields read


def selection(names: Sequence[str]) -> str:
    return " ".join(f"{name} {OBJECT_FIELDS.get(name, '')}".strip() for name in names)


def complete_row(number: int, user: User | None, status: RunStatus) -> TrainingRun:
    """A run with every column filled in, as a finished training leaves it."""
    finished = status is RunStatus.COMPLETED
    return run_row(
        number,
        status=status,
        started_at=BASE_DATE + timedelta(hours=number, seconds=1),
        finished_at=BASE_DATE + timedelta(hours=number, seconds=4) if finished else None,
        stage="SAVING" if finished else "FITTING",
        progress=1.0 if finished else 0.5,
        error_message=None if finished else f"error {number}",
        cancel_requested=number % 2 == 0,
        model_path=f"models/list-{number:04d}.joblib",
        model_sha256=f"{number:064x}",
        dataset_sha256=f"{number + 1:064x}",
        accuracy=0.5 + number / 100,
        precision=0.4 + number / 100,
        recall=0.3 + number / 100,
        f1_score=0.2 + number / 100,
        training_duration_seconds=1.5 + number,
        total_samples=300 + number,
        train_samples=240 + number,
        test_samples=60,
        dropped_rows=number,
        test_split=0.25,
        random_state=number,
        n_estimators=10 + number,
        max_depth=5 + number,
        min_samples_split=2 + number,
        min_samples_leaf=1 + number,
        class_weight="balanced_subsample",
        per_class_metrics=[
            {"label": "HIGH", "precision": 0.9, "recall": 0.8, "f1_score": 0.85, "support": 20},
            {"label": "MEDIUM", "precision": 0.7, "recall": 0.6, "f1_score": 0.65, "support": 40},
        ],
        confusion_matrix={"labels": ["HIGH", "MEDIUM"], "matrix": [[16, 4], [16, 24]]},
        feature_importance={"trend_score": 0.7, "scarcity_index": 0.3},
        features_used=["trend_score", "scarcity_index"],
        notes=f"notes of run {number}",
        **trained_by(user),
    )


@pytest.mark.parametrize("shape", ["nodes", "edges", "fragment"])
async def test_each_field_selected_alone_reads_what_a_full_selection_reads(
    clean_runs: Server, shape: str
) -> None:
    # given: runs with every column filled in, in several states, by several users
    users = await role_users()
    statuses = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.RUNNING]
    await insert(
        [complete_row(number, users[number % 3], statuses[number % 3]) for number in range(6)]
    )
    type_fields = await clean_runs.data(TYPE_FIELDS_QUERY)
    names = sorted(field["name"] for field in type_fields["__type"]["fields"])
    # trainingRun(id:) loads whole rows: the reference for what each field shows
    by_id = {}
    for row in await TrainingRun.all():
        data = await clean_runs.data(
            f"query Run($id: ID!) {{ trainingRun(id: $id) {{ {selection(names)} }} }}",
            {"id": str(row.id)},
        )
        by_id[row.id] = data["trainingRun"]
    assert len(by_id) == 6

    for name in names:
        # when
        document = {
            "nodes": f"{{ trainingRuns {{ nodes {{ databaseId {selection([name])} }} }} }}",
            "edges": (
                "{ trainingRuns(orderBy: {field: ACCURACY, direction: ASC}) "
                f"{{ edges {{ cursor node {{ databaseId {selection([name])} }} }} }} }}"
            ),
            "fragment": (
                "{ trainingRuns { nodes { ...Run } } } "
                f"fragment Run on TrainingRun {{ databaseId ... on TrainingRun "
                f"{{ {selection([name])} }} }}"
            ),
        }[shape]
        data = await clean_runs.data(document)

        # then
        connection = data["trainingRuns"]
        nodes = (
            [edge["node"] for edge in connection["edges"]]
            if shape == "edges"
            else connection["nodes"]
        )
        assert len(nodes) == 6
        for node in nodes:
            assert node[name] == by_id[node["databaseId"]][name], name
