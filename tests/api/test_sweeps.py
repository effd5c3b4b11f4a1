"""Sweeps over HTTP (issue 23): startSweep's refusals name the field and create nothing;
a sweep runs exactly maxTrials trials, each an ordinary training run judged on validation
rows, and reports the best; GRID visits distinct points; cancelSweep and the time budget
stop it; the lease lets one driver at a time advance a sweep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.accounts import User
from models.sweeps import ACTIVE_SWEEP_STATUSES, Sweep, claim_sweep
from models.training_runs import TrainingRun
from resolvers.sweeps import cancel_sweep
from tests.conftest import Server
from tests.helpers import follow_subscription, train, wait_for

START = """
mutation Start($input: StartSweepInput!) {
  startSweep(input: $input) {
    sweep { id databaseId status name maxTrials parallelism method pruning objective }
    errors { field code message }
  }
}
"""

SWEEP = """
query Sweep($id: ID!) {
  sweep(id: $id) {
    id databaseId status errorMessage bestValue startedAt finishedAt createdByUsername
    trialCounts { queued running completed pruned failed cancelled finished total }
    bestRun { databaseId objectiveValue }
    bestValueHistory { trial runId value }
    parameterImportance { parameter importance }
    trials(first: 100) {
      totalCount
      nodes {
        databaseId status objectiveValue trialNumber pruned accuracy f1Score
        nEstimators hyperparameters { maxDepth } sweep { databaseId }
        intermediateValues { step value }
      }
    }
  }
}
"""

CANCEL = """
mutation Cancel($id: ID!) {
  cancelSweep(id: $id) { sweep { status cancelRequested } errors { field code } }
}
"""

TRIAL_RUNS = """
query Trials($sweepId: ID!) {
  trainingRuns(first: 100, filter: { sweepId: $sweepId }) { totalCount nodes { databaseId } }
}
"""

SWEEPS = """
query Sweeps($first: Int, $after: String, $status: [SweepStatus!]) {
  sweeps(first: $first, after: $after, filter: { status: $status }) {
    totalCount nodes { databaseId status } pageInfo { hasNextPage endCursor }
  }
}
"""

FINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def forest_space(**parameters: dict[str, Any]) -> list[dict[str, Any]]:
    listed = parameters or {
        "nEstimators": {"min": 2, "max": 8},
        "maxDepth": {"min": 2, "max": 6},
    }
    return [
        {
            "algorithm": "RANDOM_FOREST",
            "parameters": [{"name": name, **bounds} for name, bounds in listed.items()],
        }
    ]


def sweep_input(**fields: Any) -> dict[str, Any]:
    return {
        "datasetPath": "reference.csv",
        "space": forest_space(),
        "maxTrials": 3,
        "parallelism": 2,
        "seed": 7,
        **fields,
    }


@pytest.fixture
async def sweeps(server: Server) -> AsyncIterator[Server]:
    """The session server, its sweeps ended after the test (the driver would go on)."""
    yield server
    for sweep_id in await Sweep.filter(
        status__in=[s.value for s in ACTIVE_SWEEP_STATUSES]
    ).values_list("id", flat=True):
        await cancel_sweep(int(sweep_id), None)  # type: ignore[call-overload]


async def start(server: Server, **fields: Any) -> dict[str, Any]:
    payload = (await server.data(START, {"input": sweep_input(**fields)}))["startSweep"]
    assert payload["errors"] == [], payload["errors"]
    sweep: dict[str, Any] = payload["sweep"]
    return sweep


async def read(server: Server, sweep_id: object, as_: str = "drh") -> dict[str, Any]:
    sweep: dict[str, Any] = (await server.data(SWEEP, {"id": str(sweep_id)}, as_=as_))["sweep"]
    return sweep


async def until_final(server: Server, sweep_id: object, timeout: float = 240) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        sweep = await read(server, sweep_id)
        return sweep if sweep["status"] in FINAL else None

    return await wait_for(ended, timeout=timeout, what=f"sweep {sweep_id} to end", interval=0.3)


@pytest.mark.parametrize(
    ("fields", "path", "code"),
    [
        (
            {"space": forest_space(nEstimators={"min": 5, "max": 4000})},
            ["input", "space", "0", "parameters", "0", "max"],
            "OUT_OF_RANGE",
        ),
        (
            {
                "space": forest_space(
                    nEstimators={"min": 5, "max": 10}, maxDepth={"min": 0, "max": 3}
                )
            },
            ["input", "space", "0", "parameters", "1", "min"],
            "OUT_OF_RANGE",
        ),
        (
            {"space": forest_space(learningRate={"min": 0.01, "max": 0.1})},
            ["input", "space", "0", "parameters", "0", "name"],
            "INVALID",
        ),
        (
            {"space": forest_space(nEstimators={"min": 9, "max": 3})},
            ["input", "space", "0", "parameters", "0", "max"],
            "OUT_OF_RANGE",
        ),
        (
            {"space": forest_space(classWeight={"choices": ["balanced", "heavy"]})},
            ["input", "space", "0", "parameters", "0", "choices", "1"],
            "INVALID",
        ),
        (
            {"space": forest_space(classWeight={"min": 1, "max": 2})},
            ["input", "space", "0", "parameters", "0", "choices"],
            "INVALID",
        ),
        (
            {"space": [*forest_space(), *forest_space()]},
            ["input", "space", "1", "algorithm"],
            "DUPLICATE",
        ),
        ({"space": []}, ["input", "space"], "INVALID"),
        ({"maxTrials": 0}, ["input", "maxTrials"], "OUT_OF_RANGE"),
        ({"maxTrials": 501}, ["input", "maxTrials"], "OUT_OF_RANGE"),
        ({"parallelism": 0}, ["input", "parallelism"], "OUT_OF_RANGE"),
        ({"timeBudgetSeconds": 0}, ["input", "timeBudgetSeconds"], "OUT_OF_RANGE"),
        ({"testSplit": 0.9}, ["input", "testSplit"], "OUT_OF_RANGE"),
        ({"validationFraction": 0.9}, ["input", "validationFraction"], "OUT_OF_RANGE"),
        ({"folds": 3, "pruning": "MEDIAN"}, ["input", "pruning"], "INVALID"),
        ({"datasetPath": "../etc/passwd"}, ["input", "datasetPath"], "PATH_NOT_ALLOWED"),
        (
            {
                "method": "GRID",
                "maxTrials": 5,
                "space": forest_space(nEstimators={"choices": ["2", "3"]}),
            },
            ["input", "maxTrials"],
            "OUT_OF_RANGE",
        ),
    ],
)
async def test_start_sweep_refuses_bad_input_naming_the_field(
    sweeps: Server, fields: dict[str, Any], path: list[str], code: str
) -> None:
    # given
    sweeps_before = await Sweep.all().count()
    runs_before = await TrainingRun.all().count()

    # when
    payload = (await sweeps.data(START, {"input": sweep_input(**fields)}))["startSweep"]

    # then: refused, naming the field, and nothing was created
    assert payload["sweep"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(path, code)]
    assert await Sweep.all().count() == sweeps_before
    assert await TrainingRun.all().count() == runs_before


@pytest.mark.parametrize("pruning", ["MEDIAN", "NONE"])
async def test_sweep_runs_exactly_max_trials_and_reports_the_best(
    sweeps: Server, pruning: str
) -> None:
    # when (MEDIAN's pruner judges no trial before its fifth: all three complete)
    started = await start(sweeps, maxTrials=3, parallelism=2, method="TPE", pruning=pruning)
    sweep = await until_final(sweeps, started["id"])

    # then: three finished trials, each an ordinary run of this sweep, judged on validation rows
    assert started["status"] == "QUEUED"
    assert sweep["status"] == "COMPLETED", sweep["errorMessage"]
    counts = sweep["trialCounts"]
    assert (counts["finished"], counts["total"], counts["queued"], counts["running"]) == (
        3,
        3,
        0,
        0,
    )
    trials = sweep["trials"]["nodes"]
    assert sorted(t["trialNumber"] for t in trials) == [0, 1, 2]
    assert {t["sweep"]["databaseId"] for t in trials} == {sweep["databaseId"]}
    completed = [t for t in trials if t["status"] == "COMPLETED"]
    assert len(completed) == counts["completed"] >= 1
    for trial in completed:
        assert trial["objectiveValue"] is not None
        # for a pruner, the worker reported its validation score as the forest grew, up to
        # its size; without one, the trial is fitted as any run and reports none
        steps = [entry["step"] for entry in trial["intermediateValues"]]
        if pruning == "NONE":
            assert steps == []
        else:
            assert steps
            assert steps == sorted(steps)
            assert steps[-1] == trial["nEstimators"]
        assert 2 <= trial["nEstimators"] <= 8
        assert 2 <= trial["hyperparameters"]["maxDepth"] <= 6
    best = max(completed, key=lambda t: t["objectiveValue"])
    assert sweep["bestValue"] == best["objectiveValue"]
    assert sweep["bestRun"]["objectiveValue"] == best["objectiveValue"]
    history = sweep["bestValueHistory"]
    assert sorted(h["trial"] for h in history) == [0, 1, 2]
    values = [h["value"] for h in history if h["value"] is not None]
    assert values == sorted(values)
    assert values[-1] == sweep["bestValue"]
    assert sweep["createdByUsername"] == "drh-user"
    listed = (await sweeps.data(TRIAL_RUNS, {"sweepId": started["id"]}))["trainingRuns"]
    assert listed["totalCount"] == 3
    assert sorted(n["databaseId"] for n in listed["nodes"]) == sorted(
        t["databaseId"] for t in trials
    )
    # the numeric id filters the same runs; an unknown sweep none
    by_number = await sweeps.data(TRIAL_RUNS, {"sweepId": str(started["databaseId"])})
    assert by_number["trainingRuns"]["totalCount"] == 3
    unknown = await sweeps.data(TRIAL_RUNS, {"sweepId": "999999"})
    assert unknown["trainingRuns"]["totalCount"] == 0


async def test_grid_sweep_visits_distinct_points(sweeps: Server) -> None:
    # when: a 2 x 2 grid, every point asked for
    space = forest_space(nEstimators={"choices": ["2", "3"]}, maxDepth={"choices": ["2", "4"]})
    started = await start(sweeps, method="GRID", maxTrials=4, parallelism=2, space=space)
    sweep = await until_final(sweeps, started["id"])

    # then
    assert sweep["status"] == "COMPLETED", sweep["errorMessage"]
    points = {
        (t["nEstimators"], t["hyperparameters"]["maxDepth"]) for t in sweep["trials"]["nodes"]
    }
    assert points == {(2, 2), (2, 4), (3, 2), (3, 4)}
    # named as everywhere else in the API (the input's names, not scikit-learn's)
    importance = sweep["parameterImportance"]
    assert importance is not None
    assert {p["parameter"] for p in importance} <= {"nEstimators", "maxDepth"}


async def test_cancel_sweep_cancels_its_trials_and_starts_none_after(sweeps: Server) -> None:
    # given: a sweep of slow trials, one running
    started = await start(
        sweeps,
        datasetPath="future_skills_dataset.csv",
        maxTrials=6,
        parallelism=1,
        space=forest_space(nEstimators={"min": 400, "max": 500}),
    )

    async def running() -> dict[str, Any] | None:
        sweep = await read(sweeps, started["id"])
        return sweep if sweep["trialCounts"]["running"] else None

    await wait_for(running, timeout=120, what="a trial to run")

    # when
    payload = (await sweeps.data(CANCEL, {"id": started["id"]}))["cancelSweep"]

    # then: the sweep is cancelled at once, its trial stops, and no trial starts after
    assert payload == {"sweep": {"status": "CANCELLED", "cancelRequested": True}, "errors": []}

    async def settled() -> dict[str, Any] | None:
        sweep = await read(sweeps, started["id"])
        counts = sweep["trialCounts"]
        return sweep if counts["queued"] == counts["running"] == 0 else None

    sweep = await wait_for(settled, timeout=60, what="the trials to stop")
    total = sweep["trialCounts"]["total"]
    assert total < 6
    await asyncio.sleep(1.0)  # five driver ticks
    sweep = await read(sweeps, started["id"])
    assert sweep["trialCounts"]["total"] == total
    assert sweep["status"] == "CANCELLED"
    again = (await sweeps.data(CANCEL, {"id": started["id"]}))["cancelSweep"]
    assert again["errors"] == [{"field": ["id"], "code": "INVALID_STATE"}]
    missing = (await sweeps.data(CANCEL, {"id": "999999"}))["cancelSweep"]
    assert missing == {"sweep": None, "errors": [{"field": ["id"], "code": "NOT_FOUND"}]}


async def test_time_budget_ends_the_sweep_early(sweeps: Server) -> None:
    # when: fifty trials asked for, one second allowed
    started = await start(sweeps, maxTrials=50, parallelism=1, timeBudgetSeconds=1)
    sweep = await until_final(sweeps, started["id"])

    # then: it ended with fewer trials, none left running
    counts = sweep["trialCounts"]
    assert sweep["status"] in {"COMPLETED", "FAILED"}
    assert counts["queued"] == counts["running"] == 0
    assert 1 <= counts["total"] < 50


async def test_sweeps_list_and_global_ids(sweeps: Server) -> None:
    # given
    first = await start(sweeps, maxTrials=1)
    second = await start(sweeps, maxTrials=1)

    # when
    page = (await sweeps.data(SWEEPS, {"first": 1}))["sweeps"]
    rest = await sweeps.data(SWEEPS, {"first": 1, "after": page["pageInfo"]["endCursor"]})

    # then: newest first, a page at a time, readable by managers
    assert page["nodes"][0]["databaseId"] == second["databaseId"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert rest["sweeps"]["nodes"][0]["databaseId"] == first["databaseId"]
    by_global = await read(sweeps, first["id"], as_="manager")
    by_number = await read(sweeps, first["databaseId"], as_="manager")
    assert by_global["databaseId"] == by_number["databaseId"] == first["databaseId"]
    node = await sweeps.data(
        "query N($id: ID!) { node(id: $id) { ... on Sweep { databaseId } } }", {"id": first["id"]}
    )
    assert node["node"] == {"databaseId": first["databaseId"]}
    assert (await sweeps.data(SWEEP, {"id": "999999"}))["sweep"] is None


async def test_one_driver_holds_a_sweep_at_a_time(sweeps: Server) -> None:
    # given: a queued sweep whose lease another process holds
    space = [{"algorithm": "RANDOM_FOREST", "parameters": []}]
    sweep = await Sweep.create(
        name="lease",
        input={"space": space, "testSplit": 0.2, "validationFraction": 0.2},
        objective="f1_score",
        method="RANDOM",
        pruning="NONE",
        max_trials=1,
        parallelism=1,
        seed=1,
        dataset_path="reference.csv",
        driver="elsewhere",
        lease_expires_at=datetime.now(UTC) + timedelta(seconds=60),
    )
    try:
        # when: ten drivers ask while it is held, then once it has expired
        held = await asyncio.gather(*(claim_sweep(sweep.id, f"d{i}", 60) for i in range(10)))
        await Sweep.filter(id=sweep.id).update(lease_expires_at=datetime.now(UTC))
        claims = await asyncio.gather(*(claim_sweep(sweep.id, f"d{i}", 60) for i in range(10)))

        # then: none took a held lease; of the ten (and the server's own driver, which
        # may have asked meanwhile) exactly one holds it; it renews, the others cannot
        assert not any(held)
        row = await Sweep.get(id=sweep.id)
        ours = row.driver is not None and row.driver in {f"d{i}" for i in range(10)}
        assert sum(claims) == (1 if ours else 0)
        if ours:
            assert row.driver == f"d{claims.index(True)}"
            assert await claim_sweep(sweep.id, row.driver, 60)
            assert not await claim_sweep(sweep.id, "another", 60)
    finally:
        await cancel_sweep(sweep.id, None)


FOLLOW_SWEEP = """
subscription Follow($id: ID!) {
  sweepUpdated(id: $id) { status trialCounts { finished total } bestValue }
}
"""


async def follow_sweep(server: Server, sweep_id: str, role: str) -> list[dict[str, Any]]:
    return await follow_subscription(server, FOLLOW_SWEEP, {"id": sweep_id}, role, timeout=120)


async def test_sweep_updated_follows_the_sweep_to_its_end(sweeps: Server) -> None:
    # given
    started = await start(sweeps, maxTrials=2, parallelism=1)

    # when: a manager follows it; a user without a group is refused
    messages = await follow_sweep(sweeps, started["id"], "manager")
    refused = await follow_sweep(sweeps, started["id"], "nogroup")

    # then: every change, ending with the final state, then complete
    states = [m["payload"]["data"]["sweepUpdated"] for m in messages if m["type"] == "next"]
    assert messages[-1]["type"] == "complete"
    assert states[-1]["status"] in FINAL
    assert states[-1]["trialCounts"] == {"finished": 2, "total": 2}
    finished = [s["trialCounts"]["finished"] for s in states]
    assert finished == sorted(finished)
    assert len(states) >= 2
    assert refused[-1]["type"] == "error" or any(
        m["payload"].get("errors") for m in refused if m["type"] == "next"
    )
    codes = [
        e["extensions"]["code"]
        for m in refused
        for e in (m["payload"] if m["type"] == "error" else m["payload"].get("errors", []))
    ]
    assert codes == ["FORBIDDEN"]


async def test_a_sweep_waits_at_the_user_limit_and_other_users_still_train(
    sweeps: Server,
) -> None:
    # given: a sweep asking for more trials in flight than its owner may have active
    limit = sweeps.settings.max_active_runs_per_user
    owner = await User.get(username="rrh-user")
    payload = (
        await sweeps.data(
            START,
            {
                "input": sweep_input(
                    datasetPath="future_skills_dataset.csv",
                    maxTrials=limit + 3,
                    parallelism=limit + 3,
                    space=forest_space(nEstimators={"min": 40, "max": 60}),
                )
            },
            as_="rrh",
        )
    )["startSweep"]
    assert payload["errors"] == []
    sweep_id = payload["sweep"]["id"]

    # when: another user trains meanwhile, and the owner's active runs are watched
    most_active = 0

    async def watch() -> None:
        nonlocal most_active
        while True:
            active = await TrainingRun.filter(
                trained_by_id=owner.id, status__in=["QUEUED", "RUNNING"]
            ).count()
            most_active = max(most_active, active)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        await wait_for(
            lambda: _some_running(sweeps, sweep_id), timeout=120, what="the sweep's first trials"
        )
        other = await train(sweeps.data, 5, datasetPath="reference.csv", wait=True)
        during = await read(sweeps, sweep_id)
        sweep = await until_final(sweeps, sweep_id)
    finally:
        watcher.cancel()

    # then: the other user's run went through while the sweep ran; the sweep never held
    # more than the limit, yet finished every trial (none refused)
    assert other["status"] == "COMPLETED"
    assert during["status"] == "RUNNING"
    assert most_active <= limit
    assert sweep["status"] == "COMPLETED"
    assert sweep["trialCounts"]["total"] == limit + 3
    assert sweep["trialCounts"]["completed"] == limit + 3


async def _some_running(server: Server, sweep_id: str) -> bool | None:
    sweep = await read(server, sweep_id)
    return True if sweep["trialCounts"]["running"] else None
