"""Training schedules across real server processes on one database (issue 25): each slot
fires exactly once with two servers ticking, and a slot missed while no server ran fires
once at start-up (misfire RUN_ONCE) or is recorded as skipped (SKIP); a train schedule
written before migration 0018 (sweep schedules) reads and fires as before after it.

SQLite by default, PostgreSQL with TEST_DATABASE=postgres (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATABASE
from tests.helpers import REPO, wait_for
from tests.processes import (
    DRH_USER,
    PYTHON,
    Api,
    Deployment,
    Services,
    first_server,
    postgres_database,
    provision,
)

CREATE = """
mutation Create($input: CreateTrainingScheduleInput!) {
  createTrainingSchedule(input: $input) {
    trainingSchedule { id name nextRunAt }
    errors { field code message }
  }
}
"""
PAUSE = """
mutation Pause($id: ID!) { pauseTrainingSchedule(id: $id) { errors { code } } }
"""
SCHEDULES = """
query Schedules {
  trainingSchedules(first: 5) {
    nodes {
      name
      runs(first: 100) { totalCount nodes { databaseId modelVersion } }
      history(first: 100) {
        slotAt outcome reason firedAt firedBy run { databaseId modelVersion }
      }
    }
  }
}
"""
ONE_TREE = {"hyperparameters": {"nEstimators": 1}}
# Ticks often and never refuses a slot for the quota.
SETTINGS = {
    "SCHEDULE_TICK_SECONDS": "0.2",
    "MAX_ACTIVE_RUNS_PER_USER": "1000",
    "TRAINING_WORKERS": "1",
    "TRAINING_WARM_UP": "false",
}


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    if DATABASE == "postgres":
        async with postgres_database() as url:
            yield url
    else:
        yield f"sqlite://{tmp_path}/schedules.sqlite3"


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Services(logs)
    try:
        yield started
    finally:
        await started.kill_all()


async def history_of(api: Api, name: str) -> dict[str, Any]:
    nodes = (await api.data(SCHEDULES))["trainingSchedules"]["nodes"]
    schedule: dict[str, Any] = next(node for node in nodes if node["name"] == name)
    return schedule


async def create(api: Api, **fields: Any) -> dict[str, Any]:
    payload = (await api.data(CREATE, {"input": {"train": ONE_TREE, **fields}}))[
        "createTrainingSchedule"
    ]
    assert payload["errors"] == []
    schedule: dict[str, Any] = payload["trainingSchedule"]
    return schedule


async def test_two_servers_fire_each_slot_exactly_once(
    tmp_path: Path, database_url: str, services: Services
) -> None:
    # given: two servers on one database, and a schedule firing every second
    deployment = Deployment.create(tmp_path, database_url, **SETTINGS)
    api = await first_server(services, deployment, "server-1")
    await services.serve("server-2", deployment)
    schedule = await create(api, name="every-second", cron="* * * * * *")

    # when: it runs for about eight seconds, then is paused
    await asyncio.sleep(8)
    await api.data(PAUSE, {"id": schedule["id"]})

    async def settled() -> dict[str, Any] | None:
        found = await history_of(api, "every-second")
        return found if all(s["outcome"] != "CLAIMED" for s in found["history"]) else None

    found = await wait_for(settled, timeout=60, what="every claimed slot to be recorded")

    # then: one row per second, no gap, each with a run of its own
    history = sorted(found["history"], key=lambda slot: slot["slotAt"])
    slots = [datetime.fromisoformat(slot["slotAt"]) for slot in history]
    assert len(slots) >= 5
    assert slots == [slots[0] + timedelta(seconds=i) for i in range(len(slots))]
    assert {slot["outcome"] for slot in history} == {"FIRED"}
    run_ids = [slot["run"]["databaseId"] for slot in history]
    assert len(set(run_ids)) == len(run_ids)
    assert found["runs"]["totalCount"] == len(slots)
    assert {run["databaseId"] for run in found["runs"]["nodes"]} == set(run_ids)
    # never before its slot (how soon after is bench/schedules.py's measure)
    lateness = [
        (datetime.fromisoformat(slot["firedAt"]) - datetime.fromisoformat(slot["slotAt"]))
        for slot in history
    ]
    assert min(lateness) >= timedelta(0)
    print(
        f"\n{len(slots)} slots, fired by {sorted({slot['firedBy'] for slot in history})}, "
        f"at most {max(lateness).total_seconds():.3f} s after the slot"
    )


def two_slots_soon() -> tuple[datetime, datetime, str]:
    """Two consecutive seconds a few seconds ahead, in one minute, and their cron."""
    first = (datetime.now(UTC) + timedelta(seconds=6)).replace(microsecond=0)
    if first.second >= 58:
        first += timedelta(seconds=3)
    second = first + timedelta(seconds=1)
    cron = f"{first.minute} {first.hour} {first.day} {first.month} * {first.second},{second.second}"
    return first, second, cron


async def test_missed_slots_fire_once_with_run_once_and_are_skipped_with_skip(
    tmp_path: Path, database_url: str, services: Services
) -> None:
    # given: two schedules whose two slots come while no server runs (a slot a second
    # late counts as missed)
    deployment = Deployment.create(
        tmp_path, database_url, **SETTINGS, SCHEDULE_MISFIRE_GRACE_SECONDS="1"
    )
    api = await first_server(services, deployment)
    first, second, cron = two_slots_soon()
    await create(api, name="catch-up", cron=cron)
    await create(api, name="skipper", cron=cron, misfire="SKIP")
    await api.service.kill()
    assert datetime.now(UTC) < first, "the server must be down before the first slot"

    # when: the slots pass, then a server starts again
    await asyncio.sleep((second + timedelta(seconds=2) - datetime.now(UTC)).total_seconds())
    restarted = Api(await services.serve("restarted", deployment), api.token)

    async def recorded(name: str) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            found = await history_of(restarted, name)
            history = found["history"]
            return found if history and history[0]["outcome"] != "CLAIMED" else None

        return await wait_for(check, timeout=60, what=f"the history of {name}")

    catch_up = await recorded("catch-up")
    skipper = await recorded("skipper")

    # then: RUN_ONCE fired the latest missed slot once; the earlier one is not made up
    (fired,) = catch_up["history"]
    assert datetime.fromisoformat(fired["slotAt"]) == second
    assert fired["outcome"] == "FIRED"
    assert fired["reason"] == (
        "missed while no server was running; fired once at start-up (misfire RUN_ONCE); "
        "1 earlier missed slot not run"
    )
    assert fired["run"]["modelVersion"] == f"catch-up-{second:%Y%m%dT%H%M%SZ}"
    assert catch_up["runs"]["totalCount"] == 1
    # and: SKIP recorded it as skipped, with no run
    (skipped,) = skipper["history"]
    assert datetime.fromisoformat(skipped["slotAt"]) == second
    assert skipped["outcome"] == "SKIPPED"
    assert skipped["reason"] == (
        "missed while no server was running (misfire SKIP); 1 earlier missed slot skipped too"
    )
    assert skipped["run"] is None
    assert skipper["runs"]["totalCount"] == 0


# `migrate`: the tables as they were before migration 0018 (sweep schedules); `insert`: a
# train schedule of the DRH account written into them.
BEFORE_0018 = """
import asyncio, sys
from main import Settings
from models.db import connected, tortoise_config
from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate

async def main() -> None:
    url = Settings().db_url
    if sys.argv[1] == "migrate":
        try:
            await migrate(config=tortoise_config(url), target="models.0017_schedule_gate")
        finally:  # else SQLite's thread keeps the process alive (models/db.py)
            await Tortoise.close_connections()
        return
    async with connected(url):
        try:
            await connections.get("default").execute_query("SELECT sweep FROM training_schedule")
        except Exception:
            pass
        else:
            raise AssertionError("the sweep column exists before migration 0018")
        await connections.get("default").execute_script(
            "INSERT INTO training_schedule (name, cron, time_zone, misfire, train, paused,"
            " created_by_id, created_by_username, created_at, updated_at)"
            " SELECT 'older', '0 2 * * *', 'UTC', 'SKIP',"
            " '{\\"hyperparameters\\": {\\"nEstimators\\": 2}, \\"notes\\": \\"before 0018\\"}',"
            " FALSE, id, username, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP"
            " FROM auth_user WHERE username = 'drh-user'"
        )

asyncio.run(main())
"""
UPDATE = """
mutation Update($id: ID!, $input: UpdateTrainingScheduleInput!) {
  updateTrainingSchedule(id: $id, input: $input) {
    trainingSchedule { kind sweep train } errors { field code }
  }
}
"""
OLDER = """
query Older {
  trainingSchedules(first: 5) {
    nodes {
      id name kind misfire train sweep createdByUsername
      history { outcome run { status modelVersion trainedByUsername } sweep { databaseId } }
    }
  }
}
"""


async def test_migration_0018_keeps_an_existing_train_schedule(
    tmp_path: Path, database_url: str, services: Services
) -> None:
    # given: a database at migration 0017 holding a train schedule
    deployment = Deployment.create(tmp_path, database_url, **SETTINGS)

    async def before_0018(step: str) -> None:
        process = await asyncio.create_subprocess_exec(
            PYTHON, "-c", BEFORE_0018, step, cwd=REPO, env=deployment.env
        )
        assert await asyncio.wait_for(process.wait(), 120) == 0

    await before_0018("migrate")
    token = await provision(deployment.env, migrate=False)
    await before_0018("insert")

    # when: the database is migrated again and a server starts on it
    await deployment.migrate()
    api = Api(await services.serve("server", deployment), token)

    # then: the schedule reads as it was, a train schedule, and still fires
    (older,) = (await api.data(OLDER))["trainingSchedules"]["nodes"]
    assert (older["name"], older["kind"], older["misfire"], older["sweep"]) == (
        "older",
        "TRAIN",
        "SKIP",
        None,
    )
    assert older["train"] == {"hyperparameters": {"nEstimators": 2}, "notes": "before 0018"}
    at = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    cron = f"{at.minute} {at.hour} {at.day} {at.month} * {at.second}"
    moved = await api.data(UPDATE, {"id": older["id"], "input": {"cron": cron}})
    assert moved["updateTrainingSchedule"]["errors"] == []

    async def fired() -> dict[str, Any] | None:
        (found,) = (await api.data(OLDER))["trainingSchedules"]["nodes"]
        run = found["history"][0]["run"] if found["history"] else None
        return found if run is not None and run["status"] == "COMPLETED" else None

    found = await wait_for(fired, timeout=60, what="the migrated schedule's slot")
    assert found["history"][0]["run"]["trainedByUsername"] == DRH_USER
    assert found["history"][0]["sweep"] is None
    # and: it may become a sweep schedule
    sweep = {"space": [{"algorithm": "LOGISTIC_REGRESSION"}], "maxTrials": 1}
    switched = (await api.data(UPDATE, {"id": older["id"], "input": {"sweep": sweep}}))[
        "updateTrainingSchedule"
    ]
    assert switched["errors"] == []
    assert switched["trainingSchedule"]["kind"] == "SWEEP"
    assert switched["trainingSchedule"]["train"] == {}
