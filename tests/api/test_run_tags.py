"""Notes and tags on runs (issue 25, section 4): updateTrainingRun, TrainingRun.tags,
TrainingRunFilter.tags { any all } on the keyset-paginated list, the export and the
history, and the search index following edited notes."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest

from models import run_tags
from models.run_tags import RunTag
from models.training_runs import TrainingRun
from tests.conftest import Server
from tests.helpers import RUN_ROW, auth, insert, run_row

UPDATE = """
mutation Update($id: ID!, $notes: String, $tags: [String!]) {
  updateTrainingRun(id: $id, notes: $notes, tags: $tags) {
    trainingRun { databaseId notes tags }
    errors { field code message }
  }
}
"""
UPDATE_NOTES_ONLY = """
mutation Update($id: ID!, $notes: String) {
  updateTrainingRun(id: $id, notes: $notes) {
    trainingRun { databaseId notes tags }
    errors { field code }
  }
}
"""
RUN = "query Run($id: ID!) { trainingRun(id: $id) { notes tags } }"
LIST = """
query List($first: Int, $after: String, $filter: TrainingRunFilter) {
  trainingRuns(first: $first, after: $after, filter: $filter) {
    totalCount
    edges { cursor node { databaseId tags } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
HISTORY = """
query History($filter: TrainingRunFilter) {
  trainingMetricsHistory(bucket: MONTH, filter: $filter) { runs }
}
"""


async def new_run(notes: str = "") -> TrainingRun:
    return await TrainingRun.create(
        **RUN_ROW, model_version=f"tag-{uuid.uuid4().hex[:10]}", n_estimators=5, notes=notes
    )


async def update(server: Server, as_: str = "drh", **variables: Any) -> dict[str, Any]:
    data = await server.data(UPDATE, variables, as_=as_)
    payload: dict[str, Any] = data["updateTrainingRun"]
    return payload


async def stored_tags(run_id: int) -> list[str]:
    rows = await RunTag.filter(run_id=run_id).order_by("tag").values_list("tag", flat=True)
    return [str(tag) for tag in rows]


# --- updateTrainingRun --------------------------------------------------------------------


@pytest.mark.parametrize("role", ["drh", "rrh", "root"])
async def test_hr_staff_set_notes_and_tags_normalised(server: Server, role: str) -> None:
    # given
    run = await new_run()

    # when: spaces, case and duplicates as people type them
    payload = await update(
        server,
        as_=role,
        id=str(run.id),
        notes="Baseline for Q3\nsee ticket 42",
        tags=["  Baseline ", "q3   review", "BASELINE", "prod-candidate"],
    )

    # then: trimmed, one space, lower case, once each, in name order
    assert payload["errors"] == []
    assert payload["trainingRun"] == {
        "databaseId": run.id,
        "notes": "Baseline for Q3\nsee ticket 42",
        "tags": ["baseline", "prod-candidate", "q3 review"],
    }
    assert await stored_tags(run.id) == ["baseline", "prod-candidate", "q3 review"]
    read = (await server.data(RUN, {"id": str(run.id)}, as_="manager"))["trainingRun"]
    assert read == {
        "notes": "Baseline for Q3\nsee ticket 42",
        "tags": payload["trainingRun"]["tags"],
    }


async def test_an_argument_left_out_is_left_as_is_and_empty_tags_clear(server: Server) -> None:
    # given
    run = await new_run(notes="first notes")
    await update(server, id=str(run.id), tags=["a", "b"])

    # when: notes only (tags not sent)
    notes_only = await server.data(UPDATE_NOTES_ONLY, {"id": str(run.id), "notes": "second"})

    # then
    assert notes_only["updateTrainingRun"]["trainingRun"]["tags"] == ["a", "b"]
    assert notes_only["updateTrainingRun"]["trainingRun"]["notes"] == "second"

    # when: tags only, then an empty list
    tags_only = await update(server, id=str(run.id), tags=["c"])
    cleared = await update(server, id=str(run.id), tags=[])

    # then
    assert tags_only["trainingRun"] == {"databaseId": run.id, "notes": "second", "tags": ["c"]}
    assert cleared["trainingRun"]["tags"] == []
    assert await stored_tags(run.id) == []
    assert (await TrainingRun.get(id=run.id)).notes == "second"


@pytest.mark.parametrize(
    ("variables", "errors"),
    [
        ({"tags": ["ok", "x" * 33]}, [(["tags", "1"], "OUT_OF_RANGE")]),
        ({"tags": ["   "]}, [(["tags", "0"], "INVALID")]),
        ({"tags": ["a,b"]}, [(["tags", "0"], "INVALID")]),
        ({"tags": ["tab\there", "bell\x07"]}, [(["tags", "1"], "INVALID")]),
        ({"tags": [f"t{i}" for i in range(21)]}, [(["tags"], "OUT_OF_RANGE")]),
        ({"notes": "n" * 5001}, [(["notes"], "INVALID")]),
        ({"notes": "n" * 5001, "tags": [""]}, [(["notes"], "INVALID"), (["tags", "0"], "INVALID")]),
    ],
    ids=["too-long", "empty", "comma", "control", "too-many", "notes-too-long", "both"],
)
async def test_refused_input_comes_back_in_errors_and_changes_nothing(
    server: Server, variables: dict[str, Any], errors: list[tuple[list[str], str]]
) -> None:
    # given
    run = await new_run(notes="kept")
    await update(server, id=str(run.id), tags=["kept"])

    # when
    payload = await update(server, id=str(run.id), **variables)

    # then
    assert payload["trainingRun"] is None
    assert [(error["field"], error["code"]) for error in payload["errors"]] == errors
    assert (await TrainingRun.get(id=run.id)).notes == "kept"
    assert await stored_tags(run.id) == ["kept"]


async def test_twenty_tags_are_accepted_and_duplicates_count_once(server: Server) -> None:
    run = await new_run()

    payload = await update(
        server, id=str(run.id), tags=[f"t{i:02d}" for i in range(20)] + ["T00", " t01 "]
    )

    assert payload["errors"] == []
    assert len(payload["trainingRun"]["tags"]) == 20


@pytest.mark.parametrize("run_id", ["999999999", "not-an-id", "VHJhaW5pbmdSdW46OTk5OTk5"])
async def test_an_unknown_run_is_not_found(server: Server, run_id: str) -> None:
    payload = await update(server, id=run_id, notes="x")

    assert payload == {
        "trainingRun": None,
        "errors": [{"field": ["id"], "code": "NOT_FOUND", "message": "no such training run"}],
    }


@pytest.mark.parametrize(("role", "code"), [("manager", "FORBIDDEN"), (None, "UNAUTHENTICATED")])
async def test_others_may_not_edit_a_run(server: Server, role: str | None, code: str) -> None:
    run = await new_run(notes="kept")

    body = await server.gql(UPDATE, {"id": str(run.id), "notes": "x", "tags": ["x"]}, as_=role)

    assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert (await TrainingRun.get(id=run.id)).notes == "kept"
    assert await stored_tags(run.id) == []


async def test_the_search_follows_edited_notes(server: Server) -> None:
    # given: a run found by its notes
    old, new = f"oldnote{uuid.uuid4().hex[:8]}", f"newnote{uuid.uuid4().hex[:8]}"
    run = await new_run(notes=f"about {old}")
    search = "query S($q: String) { trainingRuns(filter: {search: $q}) { nodes { databaseId } } }"
    assert (await server.data(search, {"q": old}))["trainingRuns"]["nodes"] == [
        {"databaseId": run.id}
    ]

    # when
    await update(server, id=str(run.id), notes=f"about {new}")

    # then: the index holds the new notes, not the old ones
    assert (await server.data(search, {"q": new}))["trainingRuns"]["nodes"] == [
        {"databaseId": run.id}
    ]
    assert (await server.data(search, {"q": old}))["trainingRuns"]["nodes"] == []


# --- the tag filter -----------------------------------------------------------------------


def expected_tags(number: int) -> list[str]:
    """Run `number`'s tags: "even" / "odd", "three" every third, "rare" on two runs."""
    tags = ["even" if number % 2 == 0 else "odd"]
    if number % 3 == 0:
        tags.append("three")
    if number in (5, 17):
        tags.append("rare")
    return tags


@pytest.fixture(params=["sparse", "dense"])
async def tagged(
    clean_runs: Server, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[Server, list[TrainingRun]]:
    """24 runs, one hour apart (newest last), tagged by `expected_tags`; read as SQLite
    reads few tagged runs (from the tag index) and many (the list's order, each tested):
    models/run_tags.py chooses by DENSE_TAGGED, lowered here to take the second way."""
    if request.param == "dense":
        monkeypatch.setattr(run_tags, "DENSE_TAGGED", 1)
    rows = await insert([run_row(number) for number in range(24)])
    rows.sort(key=lambda row: row.run_date)
    await RunTag.bulk_create(
        [
            RunTag(run_id=row.id, tag=tag)
            for number, row in enumerate(rows)
            for tag in expected_tags(number)
        ]
    )
    return clean_runs, rows


def newest_first(rows: list[TrainingRun], keep: Any) -> list[int]:
    return [row.id for number, row in reversed(list(enumerate(rows))) if keep(number)]


async def walk(server: Server, run_filter: dict[str, Any], size: int = 4) -> tuple[list[int], int]:
    """Every id the filter matches, page by page, and the totalCount."""
    ids: list[int] = []
    after = None
    total = -1
    for _ in range(50):
        data = await server.data(LIST, {"first": size, "after": after, "filter": run_filter})
        connection = data["trainingRuns"]
        total = connection["totalCount"]
        ids += [edge["node"]["databaseId"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return ids, total
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("pagination does not end")


@pytest.mark.parametrize(
    ("tag_filter", "keep"),
    [
        ({"any": ["three"]}, lambda n: n % 3 == 0),
        ({"any": ["rare", "three"]}, lambda n: n % 3 == 0 or n in (5, 17)),
        ({"all": ["even", "three"]}, lambda n: n % 6 == 0),
        ({"all": ["odd", "rare"]}, lambda n: n in (5, 17)),
        ({"any": ["even", "rare"], "all": ["three"]}, lambda n: n % 6 == 0),
        ({"all": ["even", "odd"]}, lambda n: False),
        ({"any": ["nobody-has-this"]}, lambda n: False),
        # As stored: trimmed and lower case.
        ({"any": ["  RARE "]}, lambda n: n in (5, 17)),
        # An empty list is no condition.
        ({"any": [], "all": ["rare"]}, lambda n: n in (5, 17)),
    ],
    ids=[
        "any",
        "any-two",
        "all",
        "all-rare",
        "any-and-all",
        "none",
        "unknown",
        "normalised",
        "empty",
    ],
)
async def test_the_tag_filter_pages_like_the_list(
    tagged: tuple[Server, list[TrainingRun]], tag_filter: dict[str, Any], keep: Any
) -> None:
    server, rows = tagged

    ids, total = await walk(server, {"tags": tag_filter})

    expected = newest_first(rows, keep)
    assert ids == expected
    assert total == len(expected)


async def test_tags_combine_with_the_other_conditions(
    tagged: tuple[Server, list[TrainingRun]],
) -> None:
    server, rows = tagged
    until = rows[11].run_date.isoformat()

    ids, total = await walk(server, {"tags": {"any": ["three"]}, "runDateTo": until}, size=2)

    assert ids == newest_first(rows, lambda n: n % 3 == 0 and n <= 11)
    assert total == 4


async def test_each_run_of_a_page_lists_its_tags(
    tagged: tuple[Server, list[TrainingRun]],
) -> None:
    server, rows = tagged

    data = await server.data(LIST, {"first": 24})

    by_id = {
        edge["node"]["databaseId"]: edge["node"]["tags"] for edge in data["trainingRuns"]["edges"]
    }
    assert by_id == {row.id: sorted(expected_tags(number)) for number, row in enumerate(rows)}


async def test_the_history_and_the_export_filter_by_tags(
    tagged: tuple[Server, list[TrainingRun]],
) -> None:
    server, rows = tagged
    tag_filter = {"tags": {"all": ["even", "three"]}}

    history = await server.data(HISTORY, {"filter": tag_filter})
    response = await server.client.get(
        "/runs/export.csv",
        params={"filter": '{"tags": {"all": ["even", "three"]}}'},
        headers=auth(server, "manager"),
    )

    assert sum(bucket["runs"] for bucket in history["trainingMetricsHistory"]) == 4
    assert response.status_code == 200, response.text
    exported = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    # each run's own tags, in name order, in one cell
    number_of = {row.id: number for number, row in enumerate(rows)}
    assert {int(run["databaseId"]): run["tags"] for run in exported} == {
        row.id: "; ".join(sorted(expected_tags(number_of[row.id])))
        for row in rows
        if {"even", "three"} <= set(expected_tags(number_of[row.id]))
    }
    assert len(exported) == 4


@pytest.mark.parametrize(
    ("tag_filter", "field"),
    [
        ({"any": ["x" * 33]}, ["filter", "tags", "any"]),
        ({"all": ["a,b"]}, ["filter", "tags", "all"]),
        ({"any": [f"t{i}" for i in range(21)]}, ["filter", "tags", "any"]),
    ],
    ids=["too-long", "comma", "too-many"],
)
async def test_a_tag_no_run_can_hold_is_refused(
    server: Server, tag_filter: dict[str, Any], field: list[str]
) -> None:
    body = await server.gql(LIST, {"filter": {"tags": tag_filter}})

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert error["extensions"]["argument"] == "filter"
