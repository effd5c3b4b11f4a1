"""Query.trainingMetricsHistory over HTTP: buckets, counts, summaries, zones, limits.

Every test runs unchanged on SQLite and on PostgreSQL (TEST_DATABASE=postgres): the same
fixture rows must give the same expected answer on both. Metric values are sums of powers
of two so that averages are exact on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from models.accounts import User
from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import HISTORY, RUN_ROW, measure

_numbers = count()


def run(
    at: datetime,
    status: RunStatus = RunStatus.COMPLETED,
    accuracy: float | None = 0.5,
    f1: float | None = 0.5,
    duration: float | None = 2.0,
    **extra: Any,
) -> TrainingRun:
    number = next(_numbers)
    completed = status is RunStatus.COMPLETED
    return TrainingRun(
        model_version=extra.pop("model_version", f"history-{number:05d}"),
        **RUN_ROW,
        n_estimators=10,
        run_date=at,
        status=status,
        # Failed and cancelled runs may hold partial numbers: they must not count.
        accuracy=accuracy if completed else 0.125,
        f1_score=f1 if completed else 0.125,
        training_duration_seconds=duration if completed else 99.0,
        **extra,
    )


async def insert(*runs: TrainingRun) -> None:
    await TrainingRun.bulk_create(list(runs))


async def history(server: Server, **variables: Any) -> list[dict[str, Any]]:
    data = await server.data(HISTORY, variables)
    points: list[dict[str, Any]] = data["trainingMetricsHistory"]
    return points


async def error_of(server: Server, as_: str | None = "drh", **variables: Any) -> dict[str, Any]:
    body = await server.gql(HISTORY, variables, as_=as_)
    assert body["data"] is None, body
    error: dict[str, Any] = body["errors"][0]
    return error


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def summary(low: float, mean: float, high: float) -> dict[str, float]:
    return {"min": low, "avg": mean, "max": high}


# --- who may read it -----------------------------------------------------------------
async def test_anonymous_is_unauthenticated_and_no_group_forbidden(clean_runs: Server) -> None:
    # given
    await insert(run(utc(2026, 1, 5, 10)))

    # when
    anonymous = await error_of(clean_runs, as_=None)
    no_group = await error_of(clean_runs, as_="nogroup")

    # then
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"
    assert no_group["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("role", ["manager", "drh", "rrh", "root"])
async def test_managers_and_hr_staff_read_it(clean_runs: Server, role: str) -> None:
    # given
    await insert(run(utc(2026, 1, 5, 10)))

    # when
    buckets = (await clean_runs.data(HISTORY, {}, as_=role))["trainingMetricsHistory"]

    # then
    assert [b["runs"] for b in buckets] == [1]


# --- buckets, counts and summaries ---------------------------------------------------
async def test_day_buckets_count_statuses_and_summarise_completed_runs(clean_runs: Server) -> None:
    # given: two busy days and one empty day between them
    await insert(
        run(utc(2026, 1, 5, 0, 0), accuracy=0.5, f1=0.25, duration=1.0),
        run(utc(2026, 1, 5, 12, 30), accuracy=0.75, f1=0.5, duration=3.0),
        run(utc(2026, 1, 5, 23, 59, 59), accuracy=1.0, f1=0.75, duration=8.0),
        run(utc(2026, 1, 5, 8), RunStatus.FAILED),
        run(utc(2026, 1, 5, 9), RunStatus.CANCELLED),
        run(utc(2026, 1, 5, 10), RunStatus.QUEUED),
        run(utc(2026, 1, 7, 0, 0, 0), RunStatus.FAILED),
        run(utc(2026, 1, 7, 1), RunStatus.RUNNING),
    )

    # when
    buckets = await history(clean_runs)

    # then: only the days holding runs, oldest first
    assert buckets == [
        {
            "start": "2026-01-05T00:00:00+00:00",
            "end": "2026-01-06T00:00:00+00:00",
            "runs": 6,
            "completed": 3,
            "failed": 1,
            "cancelled": 1,
            "accuracy": summary(0.5, 0.75, 1.0),
            "f1Score": summary(0.25, 0.5, 0.75),
            "trainingDurationSeconds": summary(1.0, 4.0, 8.0),
        },
        {
            "start": "2026-01-07T00:00:00+00:00",
            "end": "2026-01-08T00:00:00+00:00",
            "runs": 2,
            "completed": 0,
            "failed": 1,
            "cancelled": 0,
            "accuracy": None,
            "f1Score": None,
            "trainingDurationSeconds": None,
        },
    ]


async def test_a_metric_no_completed_run_has_is_null(clean_runs: Server) -> None:
    # given: an imported run with an accuracy but no F1 or duration
    await insert(run(utc(2026, 2, 1, 12), accuracy=0.5, f1=None, duration=None))

    # when
    (bucket,) = await history(clean_runs)

    # then
    assert bucket["accuracy"] == summary(0.5, 0.5, 0.5)
    assert bucket["f1Score"] is None
    assert bucket["trainingDurationSeconds"] is None


async def test_an_empty_table_has_no_buckets(clean_runs: Server) -> None:
    assert await history(clean_runs) == []


async def test_hour_buckets(clean_runs: Server) -> None:
    # given
    await insert(
        run(utc(2026, 1, 5, 10, 0), accuracy=0.5),
        run(utc(2026, 1, 5, 10, 59, 59), accuracy=1.0),
        run(utc(2026, 1, 5, 11, 0), RunStatus.FAILED),
        run(utc(2026, 1, 5, 14, 15), RunStatus.CANCELLED),
    )

    # when
    buckets = await history(clean_runs, bucket="HOUR")

    # then
    assert [(b["start"], b["end"], b["runs"]) for b in buckets] == [
        ("2026-01-05T10:00:00+00:00", "2026-01-05T11:00:00+00:00", 2),
        ("2026-01-05T11:00:00+00:00", "2026-01-05T12:00:00+00:00", 1),
        ("2026-01-05T14:00:00+00:00", "2026-01-05T15:00:00+00:00", 1),
    ]
    assert buckets[0]["accuracy"] == summary(0.5, 0.75, 1.0)
    assert [b["failed"] for b in buckets] == [0, 1, 0]
    assert [b["cancelled"] for b in buckets] == [0, 0, 1]


async def test_weeks_start_on_monday(clean_runs: Server) -> None:
    # given: Sunday 2026-03-01, Monday 2026-03-02, Sunday 2026-03-08 (ISO weeks 9 and 10)
    await insert(
        run(utc(2026, 3, 1, 23, 59)),
        run(utc(2026, 3, 2, 0, 0)),
        run(utc(2026, 3, 8, 12)),
    )

    # when
    buckets = await history(clean_runs, bucket="WEEK")

    # then
    assert [(b["start"], b["end"], b["runs"]) for b in buckets] == [
        ("2026-02-23T00:00:00+00:00", "2026-03-02T00:00:00+00:00", 1),
        ("2026-03-02T00:00:00+00:00", "2026-03-09T00:00:00+00:00", 2),
    ]


async def test_month_buckets(clean_runs: Server) -> None:
    # given
    await insert(
        run(utc(2025, 12, 31, 23, 59), accuracy=0.25),
        run(utc(2026, 1, 1, 0, 0), accuracy=0.5),
        run(utc(2026, 1, 31, 12), accuracy=1.0),
        run(utc(2026, 3, 15), RunStatus.FAILED),
    )

    # when
    buckets = await history(clean_runs, bucket="MONTH")

    # then
    assert [(b["start"], b["end"], b["runs"]) for b in buckets] == [
        ("2025-12-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", 1),
        ("2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00", 2),
        ("2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00", 1),
    ]
    assert buckets[1]["accuracy"] == summary(0.5, 0.75, 1.0)
    assert buckets[2]["accuracy"] is None


# --- the list's filter ---------------------------------------------------------------
async def test_the_filter_narrows_the_runs(clean_runs: Server) -> None:
    # given
    manager = await User.get(username="manager-user")
    drh = await User.get(username="drh-user")
    await insert(
        run(utc(2026, 1, 5, 1), trained_by_id=manager.id, trained_by_username=manager.username),
        run(utc(2026, 1, 5, 2), RunStatus.FAILED, trained_by_id=drh.id),
        run(utc(2026, 1, 6, 3), trained_by_id=drh.id, model_version="chosen-one"),
        run(utc(2026, 1, 7, 4), RunStatus.CANCELLED, trained_by_id=drh.id),
        run(utc(2026, 1, 8, 5), trained_by_id=drh.id),
    )

    async def runs_per_day(run_filter: dict[str, Any]) -> list[tuple[str, int]]:
        return [(b["start"][:10], b["runs"]) for b in await history(clean_runs, filter=run_filter)]

    # when / then
    assert await runs_per_day({"status": ["FAILED", "CANCELLED"]}) == [
        ("2026-01-05", 1),
        ("2026-01-07", 1),
    ]
    assert await runs_per_day({"trainedBy": "drh-user"}) == [
        ("2026-01-05", 1),
        ("2026-01-06", 1),
        ("2026-01-07", 1),
        ("2026-01-08", 1),
    ]
    assert await runs_per_day({"modelVersion": "chosen-one"}) == [("2026-01-06", 1)]
    assert await runs_per_day(
        {"runDateFrom": "2026-01-05T01:30:00+00:00", "runDateTo": "2026-01-07T04:00:00+00:00"}
    ) == [("2026-01-05", 1), ("2026-01-06", 1), ("2026-01-07", 1)]
    assert await runs_per_day({"trainedBy": "nobody-by-that-name"}) == []
    assert await runs_per_day({"runDateFrom": "2027-01-01T00:00:00Z"}) == []


# --- time zones ----------------------------------------------------------------------
async def test_paris_days_across_the_spring_dst_change(clean_runs: Server) -> None:
    # given: clocks go from 02:00 +01:00 to 03:00 +02:00 on 2026-03-29 (01:00 UTC)
    await insert(
        run(utc(2026, 3, 27, 23, 30)),  # 2026-03-28 00:30 +01:00
        run(utc(2026, 3, 28, 22, 59)),  # 2026-03-28 23:59 +01:00
        run(utc(2026, 3, 28, 23, 30)),  # 2026-03-29 00:30 +01:00
        run(utc(2026, 3, 29, 21, 59)),  # 2026-03-29 23:59 +02:00
        run(utc(2026, 3, 29, 22, 0)),  # 2026-03-30 00:00 +02:00
        run(utc(2026, 3, 29, 23, 30)),  # 2026-03-30 01:30 +02:00
    )

    # when
    buckets = await history(clean_runs, timeZone="Europe/Paris")

    # then
    assert [(b["start"], b["end"], b["runs"]) for b in buckets] == [
        ("2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", 2),
        ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 2),
        ("2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00", 2),
    ]
    # and in UTC the same runs fall on other days
    assert [(b["start"], b["runs"]) for b in await history(clean_runs)] == [
        ("2026-03-27T00:00:00+00:00", 1),
        ("2026-03-28T00:00:00+00:00", 2),
        ("2026-03-29T00:00:00+00:00", 3),
    ]


async def test_paris_days_and_hours_across_the_autumn_dst_change(clean_runs: Server) -> None:
    # given: clocks go from 03:00 +02:00 back to 02:00 +01:00 on 2026-10-25 (01:00 UTC)
    await insert(
        run(utc(2026, 10, 24, 21, 59)),  # 2026-10-24 23:59 +02:00
        run(utc(2026, 10, 24, 22, 30)),  # 2026-10-25 00:30 +02:00
        run(utc(2026, 10, 25, 0, 30)),  # 2026-10-25 02:30 +02:00
        run(utc(2026, 10, 25, 1, 30)),  # 2026-10-25 02:30 +01:00, the repeated hour
        run(utc(2026, 10, 25, 22, 59)),  # 2026-10-25 23:59 +01:00
        run(utc(2026, 10, 25, 23, 0)),  # 2026-10-26 00:00 +01:00
    )

    # when
    days = await history(clean_runs, timeZone="Europe/Paris")
    hours = await history(
        clean_runs,
        bucket="HOUR",
        timeZone="Europe/Paris",
        filter={"runDateFrom": "2026-10-25T00:00:00Z", "runDateTo": "2026-10-25T02:00:00Z"},
    )

    # then: the day of the change lasts 25 hours
    assert [(b["start"], b["end"], b["runs"]) for b in days] == [
        ("2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00", 1),
        ("2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", 4),
        ("2026-10-26T00:00:00+01:00", "2026-10-27T00:00:00+01:00", 1),
    ]
    # and the repeated hour 02:00 is two buckets, one per offset
    assert [(b["start"], b["end"], b["runs"]) for b in hours] == [
        ("2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", 1),
        ("2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00", 1),
    ]


async def test_a_day_whose_midnight_does_not_exist_starts_after_the_gap(
    clean_runs: Server,
) -> None:
    # given: in Santiago clocks go from 00:00 -04:00 to 01:00 -03:00 on 2026-09-06
    await insert(
        run(utc(2026, 9, 6, 3, 59)),  # 2026-09-05 23:59 -04:00
        run(utc(2026, 9, 6, 4, 0)),  # 2026-09-06 01:00 -03:00
    )

    # when
    days = await history(clean_runs, timeZone="America/Santiago")

    # then
    assert [(b["start"], b["end"], b["runs"]) for b in days] == [
        ("2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00", 1),
        ("2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00", 1),
    ]


async def test_weeks_and_months_in_a_zone_west_of_utc(clean_runs: Server) -> None:
    # given: New York is UTC-5 in winter
    await insert(
        run(utc(2026, 3, 2, 4, 59)),  # Sunday 2026-03-01 23:59 -05:00
        run(utc(2026, 3, 2, 5, 0)),  # Monday 2026-03-02 00:00 -05:00
        run(utc(2026, 2, 1, 3)),  # 2026-01-31 22:00 -05:00
    )

    # when
    weeks = await history(clean_runs, bucket="WEEK", timeZone="America/New_York")
    months = await history(clean_runs, bucket="MONTH", timeZone="America/New_York")

    # then
    assert [(b["start"], b["runs"]) for b in weeks] == [
        ("2026-01-26T00:00:00-05:00", 1),
        ("2026-02-23T00:00:00-05:00", 1),
        ("2026-03-02T00:00:00-05:00", 1),
    ]
    assert [(b["start"], b["end"], b["runs"]) for b in months] == [
        ("2026-01-01T00:00:00-05:00", "2026-02-01T00:00:00-05:00", 1),
        ("2026-03-01T00:00:00-05:00", "2026-04-01T00:00:00-04:00", 2),
    ]


async def test_a_half_hour_zone(clean_runs: Server) -> None:
    # given: Kolkata is UTC+05:30 all year
    await insert(
        run(utc(2026, 1, 5, 18, 29)),  # 23:59 local
        run(utc(2026, 1, 5, 18, 30)),  # 00:00 local, the next day
        run(utc(2026, 1, 5, 19, 0)),  # 00:30 local
    )

    # when
    days = await history(clean_runs, timeZone="Asia/Kolkata")
    hours = await history(clean_runs, bucket="HOUR", timeZone="Asia/Kolkata")

    # then
    assert [(b["start"], b["runs"]) for b in days] == [
        ("2026-01-05T00:00:00+05:30", 1),
        ("2026-01-06T00:00:00+05:30", 2),
    ]
    assert [(b["start"], b["runs"]) for b in hours] == [
        ("2026-01-05T23:00:00+05:30", 1),
        ("2026-01-06T00:00:00+05:30", 2),
    ]


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "utc", "../../etc/passwd", "", "x" * 500])
async def test_an_unknown_time_zone_is_bad_user_input(clean_runs: Server, zone: str) -> None:
    # given
    await insert(run(utc(2026, 1, 5, 10)))

    # when
    error = await error_of(clean_runs, timeZone=zone)

    # then
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert zone[:64] in error["message"]
    assert len(error["message"]) < 200


# --- bounds --------------------------------------------------------------------------
async def test_more_than_1000_buckets_are_refused(clean_runs: Server) -> None:
    # given: 1001 runs, each in an hour of its own
    start = utc(2026, 1, 1)
    await insert(*(run(start + timedelta(hours=hour)) for hour in range(1001)))

    # when
    error = await error_of(clean_runs, bucket="HOUR")
    days = await history(clean_runs, bucket="DAY")
    narrowed = await history(
        clean_runs,
        bucket="HOUR",
        filter={"runDateFrom": "2026-01-01T01:00:00Z"},
    )

    # then
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "narrow the range" in error["message"]
    assert "widen the bucket" in error["message"]
    assert len(days) == 42
    assert sum(b["runs"] for b in days) == 1001
    assert len(narrowed) == 1000


async def test_the_history_is_grouped_by_the_database(
    clean_runs: Server,
    sql_log: pytest.LogCaptureFixture,
) -> None:
    # given
    start = utc(2026, 1, 1)
    await insert(*(run(start + timedelta(minutes=37 * n)) for n in range(10)))

    # when
    few, _ = await measure(clean_runs, sql_log, HISTORY, {"timeZone": "Europe/Paris"})
    await insert(*(run(start + timedelta(minutes=37 * n)) for n in range(10, 400)))
    many, data = await measure(clean_runs, sql_log, HISTORY, {"timeZone": "Europe/Paris"})

    # then: the same statements whatever the number of runs, and none reads runs' rows
    assert len(few) == len(many) <= 4
    run_reads = [sql for sql in many if "training_run" in sql]
    assert len(run_reads) == 2
    assert all("GROUP BY" in sql or "MIN(run_date)" in sql for sql in run_reads)
    assert sum(b["runs"] for b in data["trainingMetricsHistory"]) == 400


async def test_the_request_cost_counts_up_to_1000_buckets(clean_runs: Server) -> None:
    # when
    response = await clean_runs.client.post(
        "/graphql",
        json={"query": HISTORY, "variables": {}},
        headers={"Authorization": f"Token {clean_runs.tokens['drh']}", "X-GraphQL-Cost": "1"},
    )

    # then
    cost = response.json()["extensions"]["cost"]["requested"]
    assert cost >= 1000 * 18
