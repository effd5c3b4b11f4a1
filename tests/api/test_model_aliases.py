"""Promotion by alias (issue 10, section 1): setModelAlias, deleteModelAlias, modelAliases,
TrainingRun.aliases, the assignment history, and concurrent moves of one alias."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import (
    FINISHED_RUN,
    RUN_ROW,
    SET_ALIAS,
    set_alias,
    train_completed,
    train_payload,
)

ALIASES = """
{
  modelAliases {
    alias setAt setByUsername setBy { username }
    run { databaseId modelVersion aliases }
    history { setAt setByUsername setBy { username } run { databaseId } }
  }
}
"""
DELETE = """
mutation Delete($alias: String!) {
  deleteModelAlias(alias: $alias) { deletedAlias errors { field code message } }
}
"""
RUN_ALIASES = "query Run($id: ID!) { trainingRun(id: $id) { aliases } }"


def fresh_alias(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
async def runs(server: Server) -> list[dict[str, Any]]:
    """Three small COMPLETED runs the tests point aliases at."""
    return [await train_completed(server.data, trees=3) for _ in range(3)]


async def alias_entry(server: Server, alias: str, as_: str = "drh") -> dict[str, Any] | None:
    entries = (await server.data(ALIASES, as_=as_))["modelAliases"]
    return next((entry for entry in entries if entry["alias"] == alias), None)


# --- who may do what ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["drh", "rrh", "root"])
async def test_hr_staff_point_an_alias_at_a_run(
    server: Server, runs: list[dict[str, Any]], role: str
) -> None:
    alias = fresh_alias()
    payload = await set_alias(server, alias, runs[0]["id"], as_=role)
    assert payload["errors"] == []
    assert payload["modelAlias"]["alias"] == alias
    assert payload["modelAlias"]["run"]["databaseId"] == runs[0]["databaseId"]
    assert payload["modelAlias"]["setByUsername"] == f"{role}-user"

    entry = await alias_entry(server, alias)
    assert entry is not None
    assert entry["run"]["modelVersion"] == runs[0]["modelVersion"]
    assert alias in entry["run"]["aliases"]
    assert entry["setBy"] == {"username": f"{role}-user"}
    assert entry["history"] == []
    run = await server.data(RUN_ALIASES, {"id": str(runs[0]["databaseId"])})
    assert alias in run["trainingRun"]["aliases"]


async def test_managers_read_aliases_but_may_not_set_or_delete_them(
    server: Server, runs: list[dict[str, Any]]
) -> None:
    alias = fresh_alias()
    await set_alias(server, alias, runs[0]["id"])
    for document, variables in (
        (SET_ALIAS, {"alias": alias, "runId": str(runs[1]["id"])}),
        (DELETE, {"alias": alias}),
    ):
        body = await server.gql(document, variables, as_="manager")
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert body["data"] is None

    entry = await alias_entry(server, alias, as_="manager")
    assert entry is not None
    assert entry["run"]["databaseId"] == runs[0]["databaseId"]  # unchanged
    assert entry["setByUsername"] == "drh-user"
    assert entry["setBy"] is None  # other accounts are HR staff's to see


@pytest.mark.parametrize(("role", "code"), [(None, "UNAUTHENTICATED"), ("nogroup", "FORBIDDEN")])
async def test_anonymous_callers_and_accounts_without_a_group_are_refused(
    server: Server, runs: list[dict[str, Any]], role: str | None, code: str
) -> None:
    alias = fresh_alias()
    for document, variables in (
        (SET_ALIAS, {"alias": alias, "runId": str(runs[0]["id"])}),
        (DELETE, {"alias": alias}),
        (ALIASES, None),
        (RUN_ALIASES, {"id": str(runs[0]["databaseId"])}),
    ):
        body = await server.gql(document, variables, as_=role)
        assert body["errors"][0]["extensions"]["code"] == code, document
    assert await alias_entry(server, alias) is None


# --- refused input changes nothing -------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "Production", "a" * 33, "prod uction", "prod/uction", "../x", "prod.v1", "prodé", " p"],
)
async def test_bad_alias_names_are_refused(
    server: Server, runs: list[dict[str, Any]], name: str
) -> None:
    before = (await server.data(ALIASES))["modelAliases"]
    payload = await set_alias(server, name, runs[0]["id"])
    assert payload["modelAlias"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["alias"], "INVALID")]
    deleted = (await server.data(DELETE, {"alias": name}))["deleteModelAlias"]
    assert [(e["field"], e["code"]) for e in deleted["errors"]] == [(["alias"], "INVALID")]
    assert (await server.data(ALIASES))["modelAliases"] == before


async def test_a_name_is_an_alias_or_a_model_version_never_both(
    server: Server, runs: list[dict[str, Any]]
) -> None:
    # given: an alias, and a run whose model version is a valid alias name
    alias = fresh_alias()
    assert (await set_alias(server, alias, runs[0]["id"]))["errors"] == []
    version = fresh_alias("version")
    await TrainingRun.create(**RUN_ROW, **FINISHED_RUN, model_version=version)
    runs_before = await TrainingRun.all().count()

    # when: each name is asked for as the other kind
    trained = await train_payload(server.data, 1, modelVersion=alias)
    aliased = await set_alias(server, version, runs[0]["id"])

    # then: both refused (predictFutureNeed(model:) would not know which was meant)
    assert [(e["field"], e["code"]) for e in trained["errors"]] == [
        (["input", "modelVersion"], "DUPLICATE")
    ]
    assert [(e["field"], e["code"]) for e in aliased["errors"]] == [(["alias"], "DUPLICATE")]
    assert await TrainingRun.all().count() == runs_before
    assert await alias_entry(server, version) is None


async def test_thirty_two_characters_of_every_allowed_kind_make_an_alias(
    server: Server, runs: list[dict[str, Any]]
) -> None:
    alias = ("a-b_0-" + uuid.uuid4().hex)[:32]
    payload = await set_alias(server, alias, runs[0]["id"])
    assert payload["errors"] == []
    assert payload["modelAlias"]["alias"] == alias


async def test_only_completed_runs_with_a_model_file_can_be_promoted(
    server: Server, runs: list[dict[str, Any]]
) -> None:
    alias = fresh_alias()
    await set_alias(server, alias, runs[0]["id"])
    failed = await TrainingRun.create(
        **RUN_ROW, model_version=fresh_alias("f"), n_estimators=3, status=RunStatus.FAILED
    )
    queued = await TrainingRun.create(
        **RUN_ROW, model_version=fresh_alias("q"), n_estimators=3, status=RunStatus.QUEUED
    )
    no_file = await TrainingRun.create(
        **RUN_ROW, model_version=fresh_alias("c"), n_estimators=3, status=RunStatus.COMPLETED
    )
    for run_id, code in (
        (str(2**31 - 1), "NOT_FOUND"),
        ("not-an-id", "NOT_FOUND"),
        ("VXNlcjox", "NOT_FOUND"),  # a User's global id
        (str(failed.id), "INVALID_STATE"),
        (str(queued.id), "INVALID_STATE"),
        (str(no_file.id), "INVALID_STATE"),
    ):
        payload = await set_alias(server, alias, run_id)
        assert payload["modelAlias"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["runId"], code)], run_id
        # a new alias is not created either
        other = fresh_alias()
        assert (await set_alias(server, other, run_id))["modelAlias"] is None
        assert await alias_entry(server, other) is None

    entry = await alias_entry(server, alias)
    assert entry is not None
    assert entry["run"]["databaseId"] == runs[0]["databaseId"]
    assert entry["history"] == []


# --- moving, history, deleting -----------------------------------------------------------


async def test_moving_an_alias_keeps_every_earlier_assignment_newest_first(
    server: Server, runs: list[dict[str, Any]]
) -> None:
    alias = fresh_alias()
    await set_alias(server, alias, runs[0]["id"], as_="drh")
    await set_alias(server, alias, runs[1]["id"], as_="rrh")
    await set_alias(server, alias, runs[2]["databaseId"], as_="root")  # numeric ids work too

    entry = await alias_entry(server, alias)
    assert entry is not None
    assert entry["run"]["databaseId"] == runs[2]["databaseId"]
    assert entry["setByUsername"] == "root-user"
    assert [(h["run"]["databaseId"], h["setByUsername"]) for h in entry["history"]] == [
        (runs[1]["databaseId"], "rrh-user"),
        (runs[0]["databaseId"], "drh-user"),
    ]
    times = [entry["setAt"], *(h["setAt"] for h in entry["history"])]
    assert times == sorted(times, reverse=True)
    # the alias left the runs it no longer points at
    for run, expected in ((runs[0], False), (runs[2], True)):
        aliases = (await server.data(RUN_ALIASES, {"id": run["id"]}))["trainingRun"]["aliases"]
        assert (alias in aliases) is expected


async def test_deleting_an_alias_keeps_its_history(
    server: Server, runs: list[dict[str, Any]]
) -> None:
    alias = fresh_alias()
    await set_alias(server, alias, runs[0]["id"])
    await set_alias(server, alias, runs[1]["id"])

    deleted = (await server.data(DELETE, {"alias": alias}))["deleteModelAlias"]
    assert deleted == {"deletedAlias": alias, "errors": []}
    assert await alias_entry(server, alias) is None
    aliases = (await server.data(RUN_ALIASES, {"id": runs[1]["id"]}))["trainingRun"]["aliases"]
    assert alias not in aliases

    again = (await server.data(DELETE, {"alias": alias}))["deleteModelAlias"]
    assert again["deletedAlias"] is None
    assert [(e["field"], e["code"]) for e in again["errors"]] == [(["alias"], "NOT_FOUND")]

    await set_alias(server, alias, runs[2]["id"])
    entry = await alias_entry(server, alias)
    assert entry is not None
    assert [h["run"]["databaseId"] for h in entry["history"]] == [
        runs[1]["databaseId"],
        runs[0]["databaseId"],
    ]


async def test_concurrent_moves_of_one_alias_leave_one_winner_and_a_complete_history(
    server: Server, runs: list[dict[str, Any]]
) -> None:
    """On PostgreSQL (TEST_DATABASE=postgres) the calls run in parallel transactions: the
    first ones race to create the alias, the others to move it."""
    alias = fresh_alias("race")
    targets = [runs[i % 3] for i in range(12)]
    payloads = await asyncio.gather(*(set_alias(server, alias, run["id"]) for run in targets))

    for payload, run in zip(payloads, targets, strict=True):
        assert payload["errors"] == []
        assert payload["modelAlias"]["run"]["databaseId"] == run["databaseId"]
    entry = await alias_entry(server, alias)
    assert entry is not None
    assert len(entry["history"]) == len(targets) - 1
    # the winner is the last assignment applied; together with the history, every call
    assigned = [entry["run"]["databaseId"], *(h["run"]["databaseId"] for h in entry["history"])]
    assert sorted(assigned) == sorted(run["databaseId"] for run in targets)
    times = [entry["setAt"], *(h["setAt"] for h in entry["history"])]
    assert times == sorted(times, reverse=True)
    owners = [
        run["databaseId"]
        for run in runs
        if alias in (await server.data(RUN_ALIASES, {"id": run["id"]}))["trainingRun"]["aliases"]
    ]
    assert owners == [entry["run"]["databaseId"]]
