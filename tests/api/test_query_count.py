"""A page of runs costs a fixed number of SQL statements, whatever its size and authors.

The server runs in this process, so Tortoise's SQL log (logger `tortoise.db_client`, at
DEBUG) shows every statement a request makes. Only statements made on behalf of the
measured request are counted: the server's background tasks (the stale-run reaper) run
in contexts of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.accounts import User, create_user
from models.sweeps import Sweep, SweepStatus
from models.training_runs import RunStatus, TrainingRun
from models.training_schedules import TrainingSchedule
from tests.conftest import Server
from tests.helpers import RUN_ROW, SWEEP_ROW, measure

TRAINING_RUNS_PAGE_QUERY = """
query TrainingRunsPage($first: Int) {
  trainingRuns(first: $first) {
    totalCount
    pageInfo {
      hasNextPage
      hasPreviousPage
      startCursor
      endCursor
    }
    edges {
      cursor
      node {
        id
        databaseId
        runDate
        startedAt
        finishedAt
        modelVersion
        modelPath
        modelSha256
        datasetPath
        datasetSha256
        status
        stage
        progress
        errorMessage
        cancelRequested
        accuracy
        precision
        recall
        f1Score
        totalSamples
        trainSamples
        testSamples
        droppedRows
        testSplit
        nEstimators
        randomState
        trainingDurationSeconds
        featuresUsed
        notes
        hyperparameters {
          nEstimators
          maxDepth
          minSamplesSplit
          minSamplesLeaf
          classWeight
        }
        perClassMetrics {
          label
          precision
          recall
          f1Score
          support
        }
        confusionMatrix {
          labels
          matrix
        }
        featureImportance {
          feature
          importance
        }
        trainedBy {
          username
          groups
        }
        trainedByUsername
      }
    }
  }
}
"""

TRAINING_RUNS_COUNT_QUERY = """
query TrainingRunsCount($withCount: Boolean!) {
  trainingRuns(first: 5) {
    nodes {
      databaseId
    }
    totalCount @include(if: $withCount)
  }
}
"""

# The caller's token with user and groups (1), the page (1), totalCount (1), the authors
# with their groups (3: users, memberships, groups).
MAX_STATEMENTS_PER_PAGE = 6
GROUPS_BY_USER = [["MANAGER"], ["DRH", "RESPONSABLE_RH"], []]


@pytest.fixture(scope="module")
async def authors(server: Server) -> AsyncIterator[list[User]]:
    """100 users in various groups, made for this module and removed after it."""
    prefix = f"author-{uuid.uuid4().hex[:6]}"
    users = [
        await create_user(f"{prefix}-{number}", groups=GROUPS_BY_USER[number % 3])
        for number in range(100)
    ]
    yield users
    await TrainingRun.filter(trained_by_id__in=[user.id for user in users]).delete()
    await User.filter(id__in=[user.id for user in users]).delete()


def completed_run(number: int, author: User) -> TrainingRun:
    """A finished run with every list column filled in, JSON ones included."""
    return TrainingRun(
        model_version=f"count-{number:04d}",
        dataset_path="future_skills_dataset.csv",
        test_split=0.2,
        random_state=42,
        n_estimators=100,
        max_depth=15,
        min_samples_split=5,
        min_samples_leaf=1,
        class_weight="balanced",
        run_date=datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=number),
        started_at=datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=number, seconds=1),
        finished_at=datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=number, seconds=3),
        status=RunStatus.COMPLETED,
        stage="SAVING",
        progress=1.0,
        model_path=f"models/count-{number:04d}.joblib",
        model_sha256="0" * 64,
        dataset_sha256="1" * 64,
        accuracy=0.9,
        precision=0.9,
        recall=0.9,
        f1_score=0.9,
        training_duration_seconds=2.0,
        total_samples=357,
        train_samples=285,
        test_samples=72,
        dropped_rows=0,
        per_class_metrics=[
            {"label": "HIGH", "precision": 0.9, "recall": 0.9, "f1_score": 0.9, "support": 25},
            {"label": "MEDIUM", "precision": 0.9, "recall": 0.9, "f1_score": 0.9, "support": 47},
        ],
        confusion_matrix={"labels": ["HIGH", "MEDIUM"], "matrix": [[23, 2], [2, 45]]},
        feature_importance={"trend_score": 0.6, "scarcity_index": 0.4},
        features_used=["trend_score", "scarcity_index"],
        trained_by_id=author.id,
        trained_by_username=author.username,
        notes=f"run {number}",
    )


async def statements_for_a_page(
    server: Server, sql_log: pytest.LogCaptureFixture, runs: int
) -> tuple[int, list[dict[str, Any]]]:
    """The number of SQL statements a request for a page of 100 runs made, and its edges."""
    statements, data = await measure(server, sql_log, TRAINING_RUNS_PAGE_QUERY, {"first": 100})
    edges = data["trainingRuns"]["edges"]
    assert len(edges) == runs
    return len(statements), edges


async def test_a_page_costs_the_same_statements_for_10_or_100_runs_and_authors(
    clean_runs: Server, authors: list[User], sql_log: pytest.LogCaptureFixture
) -> None:
    # given: 10 runs by 10 users
    await TrainingRun.bulk_create([completed_run(number, authors[number]) for number in range(10)])

    # when
    for_ten, ten_edges = await statements_for_a_page(clean_runs, sql_log, 10)

    # given: 100 runs by 100 distinct users
    await TrainingRun.all().delete()
    await TrainingRun.bulk_create([completed_run(number, authors[number]) for number in range(100)])

    # when
    for_hundred, hundred_edges = await statements_for_a_page(clean_runs, sql_log, 100)

    # then
    assert for_ten == for_hundred
    assert 0 < for_hundred <= MAX_STATEMENTS_PER_PAGE
    # and the page is complete: every author with their groups
    by_username = {user.username: number for number, user in enumerate(authors)}
    for edge in hundred_edges:
        trained_by = edge["node"]["trainedBy"]
        number = by_username[trained_by["username"]]
        assert edge["node"]["trainedByUsername"] == trained_by["username"]
        assert trained_by["groups"] == sorted(GROUPS_BY_USER[number % 3])
    assert {edge["node"]["trainedByUsername"] for edge in hundred_edges} == set(by_username)
    assert len(ten_edges) == 10


async def test_a_page_of_runs_by_one_author_costs_no_more(
    clean_runs: Server, authors: list[User], sql_log: pytest.LogCaptureFixture
) -> None:
    # given: 100 runs by 100 users, then 100 runs by a single one
    await TrainingRun.bulk_create([completed_run(number, authors[number]) for number in range(100)])
    by_many, _ = await statements_for_a_page(clean_runs, sql_log, 100)
    await TrainingRun.all().delete()
    await TrainingRun.bulk_create([completed_run(number, authors[0]) for number in range(100)])

    # when
    by_one, edges = await statements_for_a_page(clean_runs, sql_log, 100)

    # then
    assert by_one == by_many
    assert {edge["node"]["trainedByUsername"] for edge in edges} == {authors[0].username}


async def test_total_count_is_counted_only_when_selected(
    clean_runs: Server, authors: list[User], sql_log: pytest.LogCaptureFixture
) -> None:
    # given
    await TrainingRun.bulk_create([completed_run(number, authors[number]) for number in range(8)])

    # when
    without, _ = await measure(clean_runs, sql_log, TRAINING_RUNS_COUNT_QUERY, {"withCount": False})
    with_count, data = await measure(
        clean_runs, sql_log, TRAINING_RUNS_COUNT_QUERY, {"withCount": True}
    )

    # then
    def counts(statements: list[str]) -> int:
        return sum("COUNT(" in sql.upper() for sql in statements)

    assert counts(without) == 0
    assert counts(with_count) == 1
    assert len(with_count) == len(without) + 1
    assert data["trainingRuns"]["totalCount"] == 8


RUNS_WITH_ORIGINS = """
query Origins($first: Int) {
  trainingRuns(first: $first) { nodes { databaseId schedule { name } sweep { name } } }
}
"""


async def runs_from_their_own_schedules_and_sweeps(count: int) -> None:
    """`count` runs, each started by a schedule and a trial of a sweep of its own."""
    tag = uuid.uuid4().hex[:6]
    schedules = [
        await TrainingSchedule.create(
            name=f"origin-{tag}-{n}", cron="0 2 * * *", time_zone="UTC", train={}
        )
        for n in range(count)
    ]
    sweeps = [
        await Sweep.create(**SWEEP_ROW, name=f"origin-{tag}-{n}", status=SweepStatus.COMPLETED)
        for n in range(count)
    ]
    await TrainingRun.bulk_create(
        [
            TrainingRun(
                **RUN_ROW,
                model_version=f"origin-{tag}-{n}",
                n_estimators=5,
                schedule_id=schedule.id,
                sweep_id=sweep.id,
            )
            for n, (schedule, sweep) in enumerate(zip(schedules, sweeps, strict=True))
        ]
    )


async def test_a_page_reads_its_runs_schedules_and_sweeps_in_one_statement_each(
    clean_runs: Server, sql_log: pytest.LogCaptureFixture
) -> None:
    # given: 10 runs, each from a schedule and a sweep of its own
    await runs_from_their_own_schedules_and_sweeps(10)
    # when
    for_ten, ten = await measure(clean_runs, sql_log, RUNS_WITH_ORIGINS, {"first": 100})

    # given: 100 such runs
    await TrainingRun.all().delete()
    await runs_from_their_own_schedules_and_sweeps(100)
    # when
    for_hundred, hundred = await measure(clean_runs, sql_log, RUNS_WITH_ORIGINS, {"first": 100})

    # then: the same statements whatever the page's size, and each run with its own
    assert len(for_ten) == len(for_hundred)
    nodes = hundred["trainingRuns"]["nodes"]
    assert len(nodes) == 100
    assert len(ten["trainingRuns"]["nodes"]) == 10
    for node in nodes:
        assert node["schedule"]["name"] == node["sweep"]["name"]
    assert len({node["schedule"]["name"] for node in nodes}) == 100
