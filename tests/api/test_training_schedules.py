"""Training schedules (issue 25, section 1) on the in-process server: create, refusals in
`errors` that create nothing, DST-correct slots, pause / resume, update, delete, firing
as the creator through trainModel's code path, the over-quota skip, and promotion; and
the same for schedules whose slots start a sweep (startSweep's checks and code path, its
best run promoted).

The multi-process rules (exactly once across servers, misfire across a restart) are in
tests/api/test_schedule_processes.py.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from models.accounts import User, create_token, create_user
from models.sweeps import ACTIVE_SWEEP_STATUSES, Sweep
from models.training_runs import RunStatus, TrainingRun
from models.training_schedules import ScheduleSlot, TrainingSchedule
from models.webhooks import WebhookEvent, WebhookEventType
from resolvers.schedule_ticker import model_version_for
from resolvers.sweeps import cancel_sweep
from resolvers.training_schedules import next_slot, slots_after
from tests.conftest import Server
from tests.helpers import RUN_ROW, set_alias, train_completed, wait_for

SCHEDULE_FIELDS = """
  id databaseId name cron timeZone misfire paused nextRunAt createdByUsername train
  promote { alias gate { datasetPath metric minImprovement } }
"""
CREATE = f"""
mutation Create($input: CreateTrainingScheduleInput!) {{
  createTrainingSchedule(input: $input) {{
    trainingSchedule {{ {SCHEDULE_FIELDS} }}
    errors {{ field code message }}
  }}
}}
"""
UPDATE = f"""
mutation Update($id: ID!, $input: UpdateTrainingScheduleInput!) {{
  updateTrainingSchedule(id: $id, input: $input) {{
    trainingSchedule {{ {SCHEDULE_FIELDS} }}
    errors {{ field code message }}
  }}
}}
"""
PAUSE = f"""
mutation Pause($id: ID!) {{
  pauseTrainingSchedule(id: $id) {{
    trainingSchedule {{ {SCHEDULE_FIELDS} }} errors {{ field code }}
  }}
}}
"""
RESUME = f"""
mutation Resume($id: ID!) {{
  resumeTrainingSchedule(id: $id) {{
    trainingSchedule {{ {SCHEDULE_FIELDS} }} errors {{ field code }}
  }}
}}
"""
DELETE = """
mutation Delete($id: ID!) {
  deleteTrainingSchedule(id: $id) { deletedId errors { field code } }
}
"""
SCHEDULES = f"""
query Schedules($first: Int, $after: String) {{
  trainingSchedules(first: $first, after: $after) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      {SCHEDULE_FIELDS}
      runs {{ totalCount nodes {{ databaseId modelVersion status }} }}
      history {{
        slotAt outcome reason firedAt promotion promotionDetail
        run {{ databaseId modelVersion status trainedByUsername schedule {{ name }} }}
      }}
    }}
  }}
}}
"""
RUN_SCHEDULE = "query Run($id: ID!) { trainingRun(id: $id) { schedule { name } } }"
SMALL_TRAIN: dict[str, Any] = {"hyperparameters": {"nEstimators": 3}, "notes": "nightly"}


@pytest.fixture
async def no_schedules(server: Server) -> AsyncIterator[Server]:
    """No schedule before or after the test: none fires into another test's runs."""
    await TrainingSchedule.all().delete()
    yield server
    await TrainingSchedule.all().delete()


def fresh_name(prefix: str = "sched") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def one_slot_cron(at: datetime) -> str:
    """A 6-field cron (seconds last) whose only slot this year is `at` (UTC)."""
    return f"{at.minute} {at.hour} {at.day} {at.month} * {at.second}"


def soon(seconds: float = 2.5) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0) + timedelta(
        seconds=1
    )


async def busy_hr_user(server: Server) -> User:
    """A new HR account that already has MAX_ACTIVE_RUNS_PER_USER runs queued (rows only:
    the test deletes them)."""
    user = await create_user(fresh_name("busy"), groups=["DRH"])
    server.tokens[user.username] = await create_token(user, "tests")
    for _ in range(server.settings.max_active_runs_per_user):
        await TrainingRun.create(
            **RUN_ROW,
            model_version=fresh_name("busy-run"),
            n_estimators=5,
            status=RunStatus.QUEUED,
            trained_by=user,
        )
    return user


async def aliased_run(server: Server) -> tuple[str, dict[str, Any]]:
    """A new alias and the freshly trained run it points at."""
    current = await train_completed(server.data, trees=3)
    alias = fresh_name("gated")
    assert (await set_alias(server, alias, current["id"]))["errors"] == []
    return alias, current


async def create(server: Server, as_: str = "drh", **fields: Any) -> dict[str, Any]:
    variables = {"name": fresh_name(), "cron": "0 2 * * *", "train": SMALL_TRAIN, **fields}
    payload: dict[str, Any] = (await server.data(CREATE, {"input": variables}, as_=as_))[
        "createTrainingSchedule"
    ]
    return payload


async def listed(server: Server, name: str, as_: str = "drh") -> dict[str, Any] | None:
    nodes = (await server.data(SCHEDULES, {"first": 100}, as_=as_))["trainingSchedules"]["nodes"]
    return next((node for node in nodes if node["name"] == name), None)


async def history_when(
    server: Server, name: str, done: Any, timeout: float = 60
) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        schedule = await listed(server, name)
        assert schedule is not None
        history: list[dict[str, Any]] = schedule["history"]
        return history if done(history) else None

    return await wait_for(check, timeout=timeout, what=f"the history of {name}")


def final(history: list[dict[str, Any]]) -> bool:
    run = history[0]["run"] if history else None
    return run is not None and run["status"] in {"COMPLETED", "FAILED", "CANCELLED"}


# --- create --------------------------------------------------------------------------


async def test_create_stores_the_schedule_and_its_next_slot(no_schedules: Server) -> None:
    # when
    payload = await create(
        no_schedules, cron="30 6 * * 1-5", timeZone="Europe/Paris", promote={"alias": "nightly"}
    )

    # then
    assert payload["errors"] == []
    schedule = payload["trainingSchedule"]
    assert schedule["paused"] is False
    assert schedule["misfire"] == "RUN_ONCE"
    assert schedule["createdByUsername"] == "drh-user"
    assert schedule["promote"] == {"alias": "nightly", "gate": None}
    # the input is kept as a client writes it, defaults filled, no modelVersion nor wait
    assert schedule["train"]["hyperparameters"]["nEstimators"] == 3
    assert schedule["train"]["hyperparameters"]["classWeight"] == "BALANCED"
    assert schedule["train"]["notes"] == "nightly"
    assert "modelVersion" not in schedule["train"]
    # the next slot is 06:30 on a weekday in Paris, whatever the offset that day
    next_run = datetime.fromisoformat(schedule["nextRunAt"])
    local = next_run.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute, local.second) == (6, 30, 0)
    assert local.weekday() < 5
    assert next_run > datetime.now(UTC)
    assert next_run - datetime.now(UTC) < timedelta(days=4)
    listed_schedule = await listed(no_schedules, schedule["name"], as_="manager")
    assert listed_schedule is not None
    assert listed_schedule["runs"] == {"totalCount": 0, "nodes": []}
    assert listed_schedule["history"] == []


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"cron": "61 * * * *"}, ["input", "cron"], "INVALID"),
        ({"cron": "* * *"}, ["input", "cron"], "INVALID"),
        ({"cron": "* * * * * * 2030"}, ["input", "cron"], "INVALID"),
        ({"cron": "every night"}, ["input", "cron"], "INVALID"),
        ({"timeZone": "Mars/Olympus"}, ["input", "timeZone"], "INVALID"),
        ({"timeZone": "../../etc/passwd"}, ["input", "timeZone"], "INVALID"),
        ({"name": "no spaces please"}, ["input", "name"], "INVALID"),
        ({"promote": {"alias": "Production"}}, ["input", "promote", "alias"], "INVALID"),
        (
            {"train": {"modelVersion": "fixed"}},
            ["input", "train", "modelVersion"],
            "INVALID",
        ),
        (
            {"train": {"hyperparameters": {"nEstimators": 0}}},
            ["input", "train", "hyperparameters", "nEstimators"],
            "OUT_OF_RANGE",
        ),
        (
            {"train": {"datasetPath": "../outside.csv"}},
            ["input", "train", "datasetPath"],
            "PATH_NOT_ALLOWED",
        ),
    ],
)
async def test_bad_input_names_its_field_and_creates_nothing(
    no_schedules: Server, fields: dict[str, Any], field: list[str], code: str
) -> None:
    # when
    payload = await create(no_schedules, **fields)

    # then
    assert payload["trainingSchedule"] is None
    assert [(error["field"], error["code"]) for error in payload["errors"]] == [(field, code)]
    assert await TrainingSchedule.all().count() == 0


async def test_a_name_is_taken_once(no_schedules: Server) -> None:
    name = fresh_name()
    assert (await create(no_schedules, name=name))["errors"] == []

    payload = await create(no_schedules, name=name)

    errors = [(e["field"], e["code"]) for e in payload["errors"]]
    assert errors == [(["input", "name"], "DUPLICATE")]
    assert await TrainingSchedule.all().count() == 1


# --- DST --------------------------------------------------------------------------------


def test_slots_keep_their_local_time_across_daylight_saving_changes() -> None:
    paris = ZoneInfo("Europe/Paris")
    # spring forward (2027-03-28): 09:00 local is 08:00 UTC before, 07:00 UTC after
    spring = slots_after("0 9 * * *", paris, datetime(2027, 3, 26, 12, tzinfo=UTC))
    assert [next(spring) for _ in range(3)] == [
        datetime(2027, 3, 27, 8, tzinfo=UTC),
        datetime(2027, 3, 28, 7, tzinfo=UTC),
        datetime(2027, 3, 29, 7, tzinfo=UTC),
    ]
    # 02:30 does not exist that night: the slot fires at the end of the gap (03:00 CEST)
    assert next_slot("30 2 * * *", paris, datetime(2027, 3, 27, 12, tzinfo=UTC)) == datetime(
        2027, 3, 28, 1, tzinfo=UTC
    )
    # fall back (2027-10-31): 02:30 happens twice and fires once, at its first occurrence
    fall = slots_after("30 2 * * *", paris, datetime(2027, 10, 30, 12, tzinfo=UTC))
    assert [next(fall) for _ in range(2)] == [
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
        datetime(2027, 11, 1, 1, 30, tzinfo=UTC),
    ]


async def test_next_run_at_is_computed_in_the_schedule_zone(no_schedules: Server) -> None:
    payload = await create(no_schedules, cron="0 9 * * *", timeZone="America/New_York")

    next_run = datetime.fromisoformat(payload["trainingSchedule"]["nextRunAt"])
    local = next_run.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)


# --- pause, resume, update, delete --------------------------------------------------------


async def test_pause_clears_next_run_at_and_resume_restores_it(no_schedules: Server) -> None:
    schedule = (await create(no_schedules, cron="*/5 * * * *"))["trainingSchedule"]

    paused = (await no_schedules.data(PAUSE, {"id": schedule["id"]}))["pauseTrainingSchedule"]
    assert paused["errors"] == []
    assert paused["trainingSchedule"]["paused"] is True
    assert paused["trainingSchedule"]["nextRunAt"] is None
    row = await TrainingSchedule.get(id=schedule["databaseId"])
    assert (row.paused, row.next_run_at) == (True, None)

    resumed = (await no_schedules.data(RESUME, {"id": schedule["id"]}))["resumeTrainingSchedule"]
    assert resumed["errors"] == []
    assert resumed["trainingSchedule"]["paused"] is False
    next_run = datetime.fromisoformat(resumed["trainingSchedule"]["nextRunAt"])
    assert datetime.now(UTC) < next_run <= datetime.now(UTC) + timedelta(minutes=5)
    assert next_run.minute % 5 == 0


async def test_a_paused_schedule_does_not_fire(no_schedules: Server) -> None:
    # given: a slot in a few seconds, paused before it comes
    at = soon(3)
    schedule = (await create(no_schedules, cron=one_slot_cron(at)))["trainingSchedule"]
    await no_schedules.data(PAUSE, {"id": schedule["id"]})

    # when: the slot passes
    await wait_for(
        _after(at + timedelta(seconds=2)), timeout=30, what="the slot to pass", interval=0.2
    )

    # then
    listed_schedule = await listed(no_schedules, schedule["name"])
    assert listed_schedule is not None
    assert listed_schedule["history"] == []
    assert await TrainingRun.filter(schedule_id=schedule["databaseId"]).count() == 0


def _after(moment: datetime) -> Any:
    async def check() -> bool | None:
        return True if datetime.now(UTC) >= moment else None

    return check


async def test_update_changes_what_is_given_and_recomputes_the_next_slot(
    no_schedules: Server,
) -> None:
    schedule = (await create(no_schedules, cron="0 2 * * *", promote={"alias": "champion"}))[
        "trainingSchedule"
    ]

    payload = (
        await no_schedules.data(
            UPDATE,
            {
                "id": schedule["id"],
                "input": {
                    "cron": "15 4 * * *",
                    "timeZone": "Asia/Tokyo",
                    "misfire": "SKIP",
                    "promote": None,
                    "train": {"hyperparameters": {"nEstimators": 9}},
                },
            },
        )
    )["updateTrainingSchedule"]

    assert payload["errors"] == []
    updated = payload["trainingSchedule"]
    assert updated["name"] == schedule["name"]
    assert (updated["cron"], updated["timeZone"], updated["misfire"]) == (
        "15 4 * * *",
        "Asia/Tokyo",
        "SKIP",
    )
    assert updated["promote"] is None
    assert updated["train"]["hyperparameters"]["nEstimators"] == 9
    local = datetime.fromisoformat(updated["nextRunAt"]).astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (4, 15)


async def test_a_refused_update_changes_nothing(no_schedules: Server) -> None:
    schedule = (await create(no_schedules))["trainingSchedule"]

    payload = (
        await no_schedules.data(
            UPDATE, {"id": schedule["id"], "input": {"cron": "0 2 * *", "name": "renamed"}}
        )
    )["updateTrainingSchedule"]

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["input", "cron"], "INVALID")]
    row = await TrainingSchedule.get(id=schedule["databaseId"])
    assert (row.name, row.cron) == (schedule["name"], "0 2 * * *")


@pytest.mark.parametrize("mutation", [UPDATE, PAUSE, RESUME, DELETE])
async def test_an_unknown_schedule_is_not_found(no_schedules: Server, mutation: str) -> None:
    variables: dict[str, Any] = {"id": "999999"}
    if mutation is UPDATE:
        variables["input"] = {"cron": "0 3 * * *"}
    body = await no_schedules.data(mutation, variables)
    (payload,) = body.values()
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["id"], "NOT_FOUND")]


async def test_delete_removes_the_schedule_and_keeps_its_runs(no_schedules: Server) -> None:
    # given: a schedule that fired once
    at = soon()
    schedule = (await create(no_schedules, cron=one_slot_cron(at)))["trainingSchedule"]
    history = await history_when(no_schedules, schedule["name"], final)
    run_id = history[0]["run"]["databaseId"]

    # when
    payload = (await no_schedules.data(DELETE, {"id": schedule["id"]}))["deleteTrainingSchedule"]

    # then
    assert payload == {"deletedId": schedule["id"], "errors": []}
    assert await listed(no_schedules, schedule["name"]) is None
    assert await TrainingSchedule.filter(id=schedule["databaseId"]).count() == 0
    run = (await no_schedules.data(RUN_SCHEDULE, {"id": str(run_id)}))["trainingRun"]
    assert run == {"schedule": None}


# --- firing -------------------------------------------------------------------------------


async def test_a_slot_fires_one_run_of_the_creator_through_train_model(
    no_schedules: Server,
) -> None:
    # given: a slot in a few seconds, created by the RESPONSABLE_RH account
    at = soon()
    schedule = (await create(no_schedules, as_="rrh", cron=one_slot_cron(at)))["trainingSchedule"]

    # when
    history = await history_when(no_schedules, schedule["name"], final)

    # then: one slot, fired within seconds, its run trained with the stored settings
    assert len(history) == 1
    (slot,) = history
    assert slot["outcome"] == "FIRED"
    assert datetime.fromisoformat(slot["slotAt"]) == at
    assert timedelta(0) <= datetime.fromisoformat(slot["firedAt"]) - at < timedelta(seconds=3)
    run = slot["run"]
    assert run["status"] == "COMPLETED"
    assert run["modelVersion"] == model_version_for(schedule["name"], at)
    assert run["trainedByUsername"] == "rrh-user"
    assert run["schedule"] == {"name": schedule["name"]}
    row = await TrainingRun.get(id=run["databaseId"])
    assert (row.n_estimators, row.notes, row.schedule_id) == (3, "nightly", schedule["databaseId"])
    listed_schedule = await listed(no_schedules, schedule["name"])
    assert listed_schedule is not None
    (listed_run,) = listed_schedule["runs"]["nodes"]
    assert listed_run == {
        "databaseId": run["databaseId"],
        "modelVersion": run["modelVersion"],
        "status": "COMPLETED",
    }
    assert slot["promotion"] is None
    assert datetime.fromisoformat(listed_schedule["nextRunAt"]) > at


async def test_a_slot_over_the_creator_quota_is_skipped_and_says_why(
    no_schedules: Server,
) -> None:
    # given: an HR account that already has MAX_ACTIVE_RUNS_PER_USER runs queued
    user = await busy_hr_user(no_schedules)
    limit = no_schedules.settings.max_active_runs_per_user
    at = soon()
    schedule = (await create(no_schedules, as_=user.username, cron=one_slot_cron(at)))[
        "trainingSchedule"
    ]

    try:
        # when
        history = await history_when(
            no_schedules, schedule["name"], lambda h: bool(h) and h[0]["outcome"] != "CLAIMED"
        )
    finally:
        await TrainingRun.filter(trained_by=user).delete()

    # then
    (slot,) = history
    assert slot["outcome"] == "SKIPPED"
    assert slot["run"] is None
    assert "TOO_MANY_ACTIVE_RUNS" in slot["reason"]
    assert f"already have {limit} training runs" in slot["reason"]
    assert await TrainingRun.filter(schedule_id=schedule["databaseId"]).count() == 0


async def test_a_completed_run_moves_the_alias(no_schedules: Server) -> None:
    alias = fresh_name("nightly")
    at = soon()
    schedule = (await create(no_schedules, cron=one_slot_cron(at), promote={"alias": alias}))[
        "trainingSchedule"
    ]

    history = await history_when(
        no_schedules, schedule["name"], lambda h: bool(h) and h[0]["promotion"] == "PROMOTED"
    )

    (slot,) = history
    run_id = slot["run"]["databaseId"]
    assert slot["promotionDetail"] == f"alias {alias!r} now points at run {run_id}"
    aliases = await no_schedules.data("{ modelAliases { alias run { databaseId } } }")
    assert {"alias": alias, "run": {"databaseId": run_id}} in aliases["modelAliases"]


async def test_a_failed_run_leaves_the_alias_and_the_history_says_why(
    no_schedules: Server,
) -> None:
    # given: the alias on a run, and a schedule whose dataset is gone when its slot comes
    alias = fresh_name("champion")
    datasets = no_schedules.settings.artifacts.datasets
    dataset = f"{fresh_name('gone')}.csv"
    (datasets / dataset).write_bytes((datasets / "future_skills_dataset.csv").read_bytes())
    at = soon(4)
    train = {**SMALL_TRAIN, "datasetPath": dataset}
    schedule = (
        await create(no_schedules, cron=one_slot_cron(at), train=train, promote={"alias": alias})
    )["trainingSchedule"]
    (datasets / dataset).unlink()

    # when
    history = await history_when(
        no_schedules, schedule["name"], lambda h: bool(h) and h[0]["promotion"] == "NOT_PROMOTED"
    )

    # then
    (slot,) = history
    assert slot["run"]["status"] == "FAILED"
    assert slot["promotionDetail"] == (
        f"run {slot['run']['databaseId']} ended FAILED: alias {alias!r} stays where it was"
    )
    aliases = await no_schedules.data("{ modelAliases { alias } }")
    assert {"alias": alias} not in aliases["modelAliases"]


async def test_a_gated_promotion_the_run_does_not_pass_leaves_the_alias(
    no_schedules: Server,
) -> None:
    # given: the alias on a trained run, and a schedule promoting through a gate no model
    # can pass (an accuracy above the current one by a whole 1.0)
    alias, current = await aliased_run(no_schedules)
    gate = {"datasetPath": "reference.csv", "metric": "ACCURACY", "minImprovement": 1.0}
    created = await create(
        no_schedules, cron=one_slot_cron(soon(4)), promote={"alias": alias, "gate": gate}
    )
    assert created["errors"] == [], created
    schedule = created["trainingSchedule"]

    # when
    history = await history_when(
        no_schedules, schedule["name"], lambda h: bool(h) and h[0]["promotion"] == "NOT_PROMOTED"
    )

    # then: the run completed, the gate kept the alias where it was, and the history says why
    (slot,) = history
    assert schedule["promote"] == {"alias": alias, "gate": gate}
    assert slot["run"]["status"] == "COMPLETED"
    assert slot["promotionDetail"].startswith(f"alias {alias!r} stays where it was: run ")
    assert "below the current model's" in slot["promotionDetail"]
    aliases = await no_schedules.data("{ modelAliases { alias run { databaseId } } }")
    assert {"alias": alias, "run": {"databaseId": current["databaseId"]}} in aliases["modelAliases"]


async def test_a_gated_promotion_that_passes_says_by_how_much(no_schedules: Server) -> None:
    # given: the alias on a trained run, and a gate any model passes (a whole 1.0 worse)
    alias, current = await aliased_run(no_schedules)
    gate = {"datasetPath": "reference.csv", "metric": "ACCURACY", "minImprovement": -1.0}
    created = await create(
        no_schedules, cron=one_slot_cron(soon(4)), promote={"alias": alias, "gate": gate}
    )
    schedule = created["trainingSchedule"]

    # when
    (slot,) = await history_when(
        no_schedules, schedule["name"], lambda h: bool(h) and h[0]["promotion"] == "PROMOTED"
    )

    # then: the history gives both models' values on the gate's file
    run_id = slot["run"]["databaseId"]
    assert re.fullmatch(
        rf"alias {alias!r} now points at run {run_id}; "
        r"gate passed: accuracy 0\.\d{4} >= 0\.\d{4} \+ -1",
        slot["promotionDetail"],
    ), slot["promotionDetail"]
    assert run_id != current["databaseId"]


async def test_a_gate_on_a_path_outside_the_datasets_is_refused(no_schedules: Server) -> None:
    gate = {"datasetPath": "../secret.csv", "metric": "ACCURACY"}
    payload = await create(no_schedules, promote={"alias": "prod", "gate": gate})
    assert payload["trainingSchedule"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        (["input", "promote", "gate", "datasetPath"], "PATH_NOT_ALLOWED")
    ]


async def test_schedules_page_by_cursor(no_schedules: Server) -> None:
    names = [(await create(no_schedules))["trainingSchedule"]["name"] for _ in range(3)]

    first = (await no_schedules.data(SCHEDULES, {"first": 2}))["trainingSchedules"]
    rest = (
        await no_schedules.data(SCHEDULES, {"first": 2, "after": first["pageInfo"]["endCursor"]})
    )["trainingSchedules"]

    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    assert [n["name"] for n in first["nodes"] + rest["nodes"]] == names
    assert rest["pageInfo"]["hasNextPage"] is False
    bad = await no_schedules.gql(SCHEDULES, {"after": "not-a-cursor"})
    assert [e["extensions"]["code"] for e in bad["errors"]] == ["INVALID_CURSOR"]


async def test_a_slot_whose_server_died_after_claiming_it_is_recorded(
    no_schedules: Server,
) -> None:
    # given: two slots claimed three minutes ago by a server that then died, one after
    # creating its run, the other before
    schedule = (await create(no_schedules))["trainingSchedule"]
    claimed_at = datetime.now(UTC) - timedelta(minutes=3)
    started, lost = (claimed_at.replace(microsecond=0) - timedelta(minutes=m) for m in (10, 5))
    run = await TrainingRun.create(
        **RUN_ROW,
        model_version=model_version_for(schedule["name"], started),
        n_estimators=5,
        status=RunStatus.FAILED,
        schedule_id=schedule["databaseId"],
    )
    for slot_at in (started, lost):
        await ScheduleSlot.create(
            schedule_id=schedule["databaseId"],
            slot_at=slot_at,
            claimed_at=claimed_at,
            claimed_by="gone:1",
        )

    # when: a tick of this server passes
    history = await history_when(
        no_schedules,
        schedule["name"],
        lambda h: len(h) == 2 and all(slot["outcome"] != "CLAIMED" for slot in h),
        timeout=30,
    )

    # then
    by_slot = {datetime.fromisoformat(slot["slotAt"]): slot for slot in history}
    assert by_slot[started]["outcome"] == "FIRED"
    assert by_slot[started]["run"]["databaseId"] == run.id
    assert by_slot[started]["reason"] == "recorded after the server that fired it stopped"
    assert by_slot[lost]["outcome"] == "SKIPPED"
    assert by_slot[lost]["run"] is None
    assert by_slot[lost]["reason"] == (
        "the server that claimed this slot stopped before starting its run"
    )


async def test_a_promotion_whose_server_died_mid_move_is_taken_again(no_schedules: Server) -> None:
    # given: two completed scheduled runs whose promotions a server claimed three minutes
    # ago and never recorded (it died): one before moving its alias, one after
    lapsed = datetime.now(UTC) - timedelta(minutes=3)
    cases = []
    for moved in (False, True):
        alias = fresh_name("lapsed")
        schedule = (await create(no_schedules, promote={"alias": alias}))["trainingSchedule"]
        run = await train_completed(no_schedules.data, trees=3)
        if moved:
            await set_alias(no_schedules, alias, run["databaseId"])
        await ScheduleSlot.create(
            schedule_id=schedule["databaseId"],
            slot_at=lapsed.replace(microsecond=0) - timedelta(minutes=5),
            claimed_at=lapsed,
            claimed_by="gone:1",
            outcome="FIRED",
            run_id=run["databaseId"],
            promotion="PROMOTING",
            promotion_claimed_at=lapsed,
        )
        cases.append((schedule["name"], alias, run["databaseId"], moved))

    for name, alias, run_id, moved in cases:
        # when: a tick of this server passes
        (slot,) = await history_when(
            no_schedules, name, lambda h: bool(h) and h[0]["promotion"] != "PROMOTING", timeout=30
        )

        # then: the alias is on the run, moved (and logged) once: no earlier assignment
        assert slot["promotion"] == "PROMOTED"
        assert slot["promotionDetail"] == (
            f"alias {alias!r} already points at run {run_id}"
            if moved
            else f"alias {alias!r} now points at run {run_id}"
        )
        aliases = await no_schedules.data(
            "{ modelAliases { alias run { databaseId } history { run { databaseId } } } }"
        )
        (row,) = [a for a in aliases["modelAliases"] if a["alias"] == alias]
        assert row["run"] == {"databaseId": run_id}
        assert row["history"] == []


# --- sweep schedules ------------------------------------------------------------------------

SWEEP_SLOTS = """
query SweepSlots($first: Int) {
  trainingSchedules(first: $first) {
    nodes {
      name kind train sweep paused
      runs { totalCount }
      history(first: 100) {
        slotAt outcome reason promotion promotionDetail run { databaseId }
        sweep {
          databaseId name status errorMessage createdByUsername maxTrials
          bestRun { databaseId }
          trialCounts { completed total }
          schedule { name kind }
        }
      }
    }
  }
}
"""
SWEEP_SCHEDULE = "query S($id: ID!) { sweep(id: $id) { schedule { name kind } } }"


async def schedule_failures(schedule_id: int) -> list[dict[str, Any]]:
    """The data of each schedule.failed event of the schedule, oldest first."""
    events = await WebhookEvent.filter(event_type=WebhookEventType.SCHEDULE_FAILED.value).order_by(
        "id"
    )
    return [event.data for event in events if event.data["databaseId"] == schedule_id]


def small_sweep(**fields: Any) -> dict[str, Any]:
    """Two trials of a few trees on the 357-row reference dataset."""
    return {
        "datasetPath": "reference.csv",
        "space": [
            {
                "algorithm": "RANDOM_FOREST",
                "parameters": [{"name": "nEstimators", "min": 2, "max": 4}],
            }
        ],
        "method": "RANDOM",
        "maxTrials": 2,
        "parallelism": 2,
        "seed": 3,
        **fields,
    }


async def create_sweep_schedule(server: Server, as_: str = "drh", **fields: Any) -> dict[str, Any]:
    variables = {
        "name": fresh_name("sweeps"),
        "cron": "0 2 * * *",
        "sweep": small_sweep(),
        **fields,
    }
    payload: dict[str, Any] = (await server.data(CREATE, {"input": variables}, as_=as_))[
        "createTrainingSchedule"
    ]
    return payload


@pytest.fixture
async def sweep_schedules(no_schedules: Server) -> AsyncIterator[Server]:
    """No schedule before or after, and the sweeps the test's schedules started ended
    after it (the driver would go on with them)."""
    yield no_schedules
    for sweep in await Sweep.filter(status__in=[s.value for s in ACTIVE_SWEEP_STATUSES]):
        await cancel_sweep(sweep.id, None)


async def sweep_history(server: Server, name: str, done: Any, as_: str = "drh") -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        nodes = (await server.data(SWEEP_SLOTS, {"first": 100}, as_=as_))["trainingSchedules"]
        found = next(node for node in nodes["nodes"] if node["name"] == name)
        return found if done(found["history"]) else None

    return await wait_for(check, timeout=60, what=f"the history of {name}")


def promotion_settled(history: list[dict[str, Any]]) -> bool:
    return any(slot["promotion"] in {"PROMOTED", "NOT_PROMOTED"} for slot in history)


async def test_a_sweep_schedule_stores_the_sweep_input(sweep_schedules: Server) -> None:
    payload = await create_sweep_schedule(sweep_schedules, promote={"alias": "best"})

    assert payload["errors"] == []
    schedule = payload["trainingSchedule"]
    listed_schedule = (await sweep_schedules.data(SWEEP_SLOTS, {"first": 100}, as_="manager"))[
        "trainingSchedules"
    ]["nodes"][0]
    assert listed_schedule["name"] == schedule["name"]
    assert listed_schedule["kind"] == "SWEEP"
    assert listed_schedule["train"] == {}
    # kept as a client writes it, defaults filled, without a name (generated per slot)
    stored = listed_schedule["sweep"]
    assert stored["maxTrials"] == 2
    assert stored["method"] == "RANDOM"
    assert stored["objective"] == "F1_SCORE"
    assert stored["space"][0]["algorithm"] == "RANDOM_FOREST"
    assert "name" not in stored
    row = await TrainingSchedule.get(id=schedule["databaseId"])
    assert (row.train, row.sweep) == ({}, stored)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"train": SMALL_TRAIN},
            [(["input", "train"], "INVALID"), (["input", "sweep"], "INVALID")],
        ),
        (
            {"sweep": None},
            [(["input", "train"], "INVALID"), (["input", "sweep"], "INVALID")],
        ),
        (
            {"sweep": small_sweep(name="fixed")},
            [(["input", "sweep", "name"], "INVALID")],
        ),
        (
            {"sweep": small_sweep(maxTrials=0)},
            [(["input", "sweep", "maxTrials"], "OUT_OF_RANGE")],
        ),
        (
            {"sweep": small_sweep(datasetPath="../outside.csv")},
            [(["input", "sweep", "datasetPath"], "PATH_NOT_ALLOWED")],
        ),
        (
            {
                "sweep": small_sweep(
                    space=[
                        {
                            "algorithm": "RANDOM_FOREST",
                            "parameters": [{"name": "nEstimators", "min": 8, "max": 2}],
                        }
                    ]
                )
            },
            [(["input", "sweep", "space", "0", "parameters", "0", "max"], "OUT_OF_RANGE")],
        ),
        (
            {
                "sweep": small_sweep(
                    space=[{"algorithm": "RANDOM_FOREST", "parameters": [{"name": "depth"}]}]
                )
            },
            [(["input", "sweep", "space", "0", "parameters", "0", "name"], "INVALID")],
        ),
    ],
)
async def test_a_bad_sweep_schedule_names_its_field_and_creates_nothing(
    sweep_schedules: Server, fields: dict[str, Any], expected: list[tuple[list[str], str]]
) -> None:
    payload = await create_sweep_schedule(sweep_schedules, **fields)

    assert payload["trainingSchedule"] is None
    assert [(error["field"], error["code"]) for error in payload["errors"]] == expected
    assert await TrainingSchedule.all().count() == 0


async def test_neither_train_nor_sweep_is_refused(sweep_schedules: Server) -> None:
    variables = {"name": fresh_name(), "cron": "0 2 * * *"}
    payload = (await sweep_schedules.data(CREATE, {"input": variables}))["createTrainingSchedule"]

    assert payload["trainingSchedule"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        (["input", "train"], "INVALID"),
        (["input", "sweep"], "INVALID"),
    ]
    assert "give train" in payload["errors"][0]["message"]
    assert await TrainingSchedule.all().count() == 0


async def test_update_switches_a_schedule_between_train_and_sweep(sweep_schedules: Server) -> None:
    schedule = (await create(sweep_schedules))["trainingSchedule"]
    kind = "query K { trainingSchedules { nodes { kind train sweep } } }"

    to_sweep = (
        await sweep_schedules.data(
            UPDATE, {"id": schedule["id"], "input": {"sweep": small_sweep(maxTrials=1)}}
        )
    )["updateTrainingSchedule"]
    assert to_sweep["errors"] == []
    (node,) = (await sweep_schedules.data(kind))["trainingSchedules"]["nodes"]
    assert (node["kind"], node["train"], node["sweep"]["maxTrials"]) == ("SWEEP", {}, 1)

    both = (
        await sweep_schedules.data(
            UPDATE, {"id": schedule["id"], "input": {"sweep": small_sweep(), "train": SMALL_TRAIN}}
        )
    )["updateTrainingSchedule"]
    assert [e["field"] for e in both["errors"]] == [["input", "train"], ["input", "sweep"]]
    bad = (
        await sweep_schedules.data(
            UPDATE, {"id": schedule["id"], "input": {"sweep": small_sweep(maxTrials=0)}}
        )
    )["updateTrainingSchedule"]
    assert [e["field"] for e in bad["errors"]] == [["input", "sweep", "maxTrials"]]
    (node,) = (await sweep_schedules.data(kind))["trainingSchedules"]["nodes"]
    assert node["sweep"]["maxTrials"] == 1  # the refused updates changed nothing

    to_train = (
        await sweep_schedules.data(UPDATE, {"id": schedule["id"], "input": {"train": SMALL_TRAIN}})
    )["updateTrainingSchedule"]
    assert to_train["errors"] == []
    (node,) = (await sweep_schedules.data(kind))["trainingSchedules"]["nodes"]
    assert (node["kind"], node["sweep"]) == ("TRAIN", None)
    assert node["train"]["hyperparameters"]["nEstimators"] == 3


async def test_managers_read_sweep_schedules_and_cannot_create_them(
    sweep_schedules: Server,
) -> None:
    refused = await sweep_schedules.gql(
        CREATE,
        {"input": {"name": fresh_name(), "cron": "0 2 * * *", "sweep": small_sweep()}},
        as_="manager",
    )
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    assert await TrainingSchedule.all().count() == 0
    schedule = (await create_sweep_schedule(sweep_schedules))["trainingSchedule"]

    nodes = (await sweep_schedules.data(SWEEP_SLOTS, {"first": 10}, as_="manager"))[
        "trainingSchedules"
    ]["nodes"]

    assert [(node["name"], node["kind"]) for node in nodes] == [(schedule["name"], "SWEEP")]


async def test_a_sweep_schedule_fires_a_sweep_and_promotes_its_best_run(
    sweep_schedules: Server,
) -> None:
    # given: a schedule firing every other second, starting a two-trial sweep as the
    # RESPONSABLE_RH account and promoting its best run
    alias = fresh_name("swept")
    schedule = (
        await create_sweep_schedule(
            sweep_schedules, as_="rrh", cron="* * * * * */2", promote={"alias": alias}
        )
    )["trainingSchedule"]

    # when: the first sweep ends and its promotion is settled
    found = await sweep_history(sweep_schedules, schedule["name"], promotion_settled)
    await sweep_schedules.data(PAUSE, {"id": schedule["id"]})

    # then: the slot started one sweep of the creator, named after the schedule and slot
    (slot,) = [s for s in found["history"] if s["promotion"] in {"PROMOTED", "NOT_PROMOTED"}]
    sweep = slot["sweep"]
    assert slot["outcome"] == "FIRED"
    assert slot["run"] is None
    assert sweep["status"] == "COMPLETED"
    assert sweep["name"] == model_version_for(
        schedule["name"], datetime.fromisoformat(slot["slotAt"])
    )
    assert sweep["createdByUsername"] == "rrh-user"
    assert sweep["trialCounts"] == {"completed": 2, "total": 2}
    assert sweep["schedule"] == {"name": schedule["name"], "kind": "SWEEP"}
    by_id = await sweep_schedules.data(SWEEP_SCHEDULE, {"id": str(sweep["databaseId"])})
    assert by_id["sweep"]["schedule"]["name"] == schedule["name"]
    # and: its best run took the alias
    best = sweep["bestRun"]["databaseId"]
    assert slot["promotion"] == "PROMOTED"
    assert slot["promotionDetail"] == (
        f"alias {alias!r} now points at run {best} (the best of sweep {sweep['databaseId']})"
    )
    aliases = await sweep_schedules.data("{ modelAliases { alias run { databaseId } } }")
    assert {"alias": alias, "run": {"databaseId": best}} in aliases["modelAliases"]
    # and: slots that came while that sweep ran were skipped, saying why
    for other in found["history"]:
        if other["outcome"] == "SKIPPED":
            assert other["sweep"] is None
            assert "a schedule runs one sweep at a time" in other["reason"]
    started = [s["sweep"]["databaseId"] for s in found["history"] if s["sweep"]]
    assert len(started) == len(set(started))
    assert await Sweep.filter(name__startswith=schedule["name"]).count() == len(started)


async def test_a_gated_sweep_promotion_that_fails_leaves_the_alias(
    sweep_schedules: Server,
) -> None:
    # given: the alias on a trained run, and a sweep schedule promoting through a gate no
    # model can pass
    alias, current = await aliased_run(sweep_schedules)
    gate = {"datasetPath": "reference.csv", "metric": "ACCURACY", "minImprovement": 1.0}
    schedule = (
        await create_sweep_schedule(
            sweep_schedules, cron=one_slot_cron(soon()), promote={"alias": alias, "gate": gate}
        )
    )["trainingSchedule"]

    # when
    found = await sweep_history(sweep_schedules, schedule["name"], promotion_settled)

    # then
    (slot,) = found["history"]
    assert slot["sweep"]["status"] == "COMPLETED"
    assert slot["promotion"] == "NOT_PROMOTED"
    best = slot["sweep"]["bestRun"]["databaseId"]
    assert slot["promotionDetail"].startswith(f"alias {alias!r} stays where it was: run {best}")
    assert "below the current model's" in slot["promotionDetail"]
    aliases = await sweep_schedules.data("{ modelAliases { alias run { databaseId } } }")
    assert {"alias": alias, "run": {"databaseId": current["databaseId"]}} in aliases["modelAliases"]


async def test_a_cancelled_sweep_leaves_the_alias_and_the_history_says_why(
    sweep_schedules: Server,
) -> None:
    # given: a sweep schedule whose sweep is cancelled as soon as it starts
    alias = fresh_name("kept")
    schedule = (
        await create_sweep_schedule(
            sweep_schedules,
            cron=one_slot_cron(soon()),
            sweep=small_sweep(maxTrials=20, parallelism=1),
            promote={"alias": alias},
        )
    )["trainingSchedule"]
    fired = await sweep_history(
        sweep_schedules, schedule["name"], lambda h: bool(h) and h[0]["sweep"] is not None
    )
    sweep_id = fired["history"][0]["sweep"]["databaseId"]
    await cancel_sweep(sweep_id, None)

    # when
    found = await sweep_history(sweep_schedules, schedule["name"], promotion_settled)

    # then
    (slot,) = found["history"]
    assert slot["sweep"]["status"] == "CANCELLED"
    assert slot["promotion"] == "NOT_PROMOTED"
    assert slot["promotionDetail"] == (
        f"sweep {sweep_id} ended CANCELLED (cancelled by -): alias {alias!r} stays where it was"
    )
    aliases = await sweep_schedules.data("{ modelAliases { alias } }")
    assert {"alias": alias} not in aliases["modelAliases"]
    # and: webhooks are told, in the promotion's transaction
    (failure,) = await schedule_failures(schedule["databaseId"])
    assert failure["reason"] == slot["promotionDetail"]


async def test_a_sweep_slot_over_the_creator_quota_is_skipped_and_says_why(
    sweep_schedules: Server,
) -> None:
    # given: an HR account that already has MAX_ACTIVE_RUNS_PER_USER runs queued
    user = await busy_hr_user(sweep_schedules)
    limit = sweep_schedules.settings.max_active_runs_per_user
    schedule = (
        await create_sweep_schedule(sweep_schedules, as_=user.username, cron=one_slot_cron(soon()))
    )["trainingSchedule"]

    try:
        # when
        found = await sweep_history(
            sweep_schedules, schedule["name"], lambda h: bool(h) and h[0]["outcome"] != "CLAIMED"
        )
    finally:
        await TrainingRun.filter(trained_by=user).delete()

    # then
    (slot,) = found["history"]
    assert slot["outcome"] == "SKIPPED"
    assert slot["sweep"] is None
    assert slot["reason"] == (
        f"TOO_MANY_ACTIVE_RUNS: {user.username} already has {limit} training runs queued or "
        f"running, the most allowed at once ({limit}); the sweep's trials could not start"
    )
    assert await Sweep.filter(created_by_id=user.id).count() == 0
    assert [f["reason"] for f in await schedule_failures(schedule["databaseId"])] == [
        slot["reason"]
    ]


async def test_a_schedule_runs_one_sweep_at_a_time(sweep_schedules: Server) -> None:
    # given: a schedule firing every second whose sweep takes longer than that
    schedule = (
        await create_sweep_schedule(
            sweep_schedules, cron="* * * * * *", sweep=small_sweep(maxTrials=50, parallelism=1)
        )
    )["trainingSchedule"]

    # when: a slot comes while its sweep still runs
    found = await sweep_history(
        sweep_schedules,
        schedule["name"],
        lambda h: (
            any(slot["outcome"] == "SKIPPED" for slot in h) and any(slot["sweep"] for slot in h)
        ),
    )
    await sweep_schedules.data(PAUSE, {"id": schedule["id"]})

    # then: that slot was skipped, naming the sweep still running; one sweep was started
    (started,) = [slot["sweep"] for slot in found["history"] if slot["sweep"]]
    skipped = next(slot for slot in found["history"] if slot["outcome"] == "SKIPPED")
    assert skipped["reason"].startswith(f"sweep {started['databaseId']} of this schedule is still ")
    assert skipped["reason"].endswith(": a schedule runs one sweep at a time")
    assert await Sweep.filter(name__startswith=schedule["name"]).count() == 1
    # the schedule's own policy, not a failure: webhooks are not told
    assert await schedule_failures(schedule["databaseId"]) == []


BY_ID = """
query ById($id: ID!) {
  trainingSchedule(id: $id) { id name }
  node(id: $id) { id ... on TrainingSchedule { name } }
}
"""


@pytest.mark.parametrize("role", ["drh", "manager"])
async def test_a_schedule_is_read_by_id_and_as_a_node(no_schedules: Server, role: str) -> None:
    # given
    schedule = (await create(no_schedules))["trainingSchedule"]

    # when: by its global id, then by its database id
    by_global = await no_schedules.data(BY_ID, {"id": schedule["id"]}, as_=role)
    by_number = await no_schedules.data(
        "query($id: ID!) { trainingSchedule(id: $id) { id } }",
        {"id": str(schedule["databaseId"])},
        as_=role,
    )
    missing = await no_schedules.data(
        "query($id: ID!) { trainingSchedule(id: $id) { id } }", {"id": "999999"}, as_=role
    )

    # then
    assert by_global["trainingSchedule"] == {"id": schedule["id"], "name": schedule["name"]}
    assert by_global["node"] == {"id": schedule["id"], "name": schedule["name"]}
    assert by_number["trainingSchedule"] == {"id": schedule["id"]}
    assert missing["trainingSchedule"] is None
