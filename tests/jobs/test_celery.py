"""Training through Celery: real `main.py worker` processes and a `main.py serve` with
TRAINING_BACKEND=celery, sharing a fresh PostgreSQL database and a Redis broker.

Needs TEST_POSTGRES_URL and TEST_REDIS_URL (a Redis database of its own: it is flushed);
skipped without them, failed instead when REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, NoReturn

import asyncpg
import pytest
import redis
import redis.asyncio

from tests.conftest import (
    POSTGRES_URL,
    REQUIRE_SERVICES,
    _drop_postgres_database,
    _postgres_database,
)
from tests.helpers import ACTIVE_STATUSES, TRAINED_RUN_FIELDS, state_of, train, wait_for
from tests.processes import (
    Api,
    Deployment,
    Service,
    Services,
    first_server,
    parent_pid,
)
from trainer.jobs.celery_app import QUEUE, TASK_NAME, app

# The cluster flushes the Redis database: its tests run on one xdist worker, one at a time.
pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("redis")]

REDIS_URL = os.environ.get("TEST_REDIS_URL")

# The run read back whole, as trainModel returned it: a task delivered twice changes nothing.
RUN = f"""
query Run($id: ID!) {{
  trainingRun(id: $id) {{ {TRAINED_RUN_FIELDS} }}
}}
"""


def _unavailable(reason: str) -> NoReturn:
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Cluster:
    api: Api
    workers: list[Service]
    deployment: Deployment
    database_url: str
    broker: redis.asyncio.Redis

    async def worker_of(self, run_id: int) -> str:
        """The `worker` column, which the API does not show."""
        connection = await asyncpg.connect(
            self.database_url.replace("postgres://", "postgresql://")
        )
        try:
            worker = await connection.fetchval(
                "SELECT worker FROM training_run WHERE id = $1", run_id
            )
        finally:
            await connection.close()
        assert worker is not None
        return str(worker)


async def _reachable_broker() -> redis.asyncio.Redis:
    if not (REDIS_URL and POSTGRES_URL):
        _unavailable(
            "the Celery tests need TEST_REDIS_URL and TEST_POSTGRES_URL "
            "(e.g. redis://127.0.0.1:6379/15 and postgres://postgres@127.0.0.1:5432/test)"
        )
    broker = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        await broker.ping()
    except (redis.RedisError, OSError) as exc:
        await broker.aclose()
        _unavailable(f"Redis at {REDIS_URL} is unreachable: {exc}")
    return broker


async def _ready(worker: Service) -> bool | None:
    worker.assert_running()
    return True if "ready." in worker.output() else None


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    broker = await _reachable_broker()
    try:
        await broker.flushdb()
        database_url = await _postgres_database()
        directory = tmp_path_factory.mktemp("celery")
        services = Services(directory)
        try:
            deployment = Deployment.create(
                directory,
                database_url,
                TRAINING_BACKEND="celery",
                CELERY_BROKER_URL=str(REDIS_URL),
                PROGRESS_INTERVAL="0.2",
            )
            # Workers need no tables to start, so they boot while the database is set up.
            workers = [
                await services.start(name, "worker", "--concurrency", "1", env=deployment.env)
                for name in ("worker-1", "worker-2")
            ]
            api = await first_server(services, deployment)
            for worker in workers:
                await wait_for(
                    partial(_ready, worker),
                    timeout=120,
                    what=f"{worker.name} to be ready",
                    interval=0.2,
                )
            yield Cluster(api, workers, deployment, database_url, broker)
        finally:
            await services.kill_all()
            await _drop_postgres_database(database_url)
    finally:
        await broker.flushdb()
        await broker.aclose()


async def test_runs_trained_through_celery_complete_on_worker_processes(
    cluster: Cluster,
) -> None:
    # The server's first publish also opens its broker connection: measure it and the next.
    for attempt in ("first run", "second run"):
        # when
        requested_at = datetime.now(UTC)
        run = await train(cluster.api.data, 100, wait=True)

        # then
        latency = (datetime.fromisoformat(run["startedAt"]) - requested_at).total_seconds()
        print(f"\ntrainModel → a Celery worker starts the run ({attempt}): {latency:.3f} s")
        assert latency >= 0
        assert run["status"] == "COMPLETED"
        assert run["accuracy"] > 0
        assert run["f1Score"] > 0
        assert run["perClassMetrics"]
        host, _, pid = (await cluster.worker_of(run["databaseId"])).rpartition(":")
        assert host == socket.gethostname()
        assert int(pid) != cluster.api.service.pid
        # a pool child of one of the `main.py worker` processes
        assert parent_pid(int(pid)) in {worker.pid for worker in cluster.workers}
        model = cluster.deployment.model_file(run["modelVersion"])
        assert hashlib.sha256(model.read_bytes()).hexdigest() == run["modelSha256"]


def _send_task_again(run_id: int) -> str:
    """What a broker redelivery, or a second server submitting the same run, amounts to."""
    app.conf.broker_url = REDIS_URL
    return str(app.send_task(TASK_NAME, args=[run_id], queue=QUEUE).id)


async def test_a_redelivered_task_does_not_train_the_run_again(cluster: Cluster) -> None:
    # given: a completed run
    run = await train(cluster.api.data, 50, wait=True)
    assert run["status"] == "COMPLETED"
    worker = await cluster.worker_of(run["databaseId"])
    model = cluster.deployment.model_file(run["modelVersion"])
    model_mtime = model.stat().st_mtime_ns

    # when: its task is delivered once more, and a worker has handled it (acknowledged:
    # tasks are acknowledged late, once they have run)
    task_id = await asyncio.to_thread(_send_task_again, run["databaseId"])

    async def received() -> bool | None:
        return True if any(task_id in w.output() for w in cluster.workers) else None

    async def acknowledged() -> bool | None:
        return True if await cluster.broker.hlen("unacked") == 0 else None

    await wait_for(received, timeout=30, what="a worker to receive the task again")
    await wait_for(acknowledged, timeout=30, what="the worker to finish the task")

    # then: nothing about the run changed
    after = await state_of(cluster.api.data, run, RUN)
    assert after == run
    assert await cluster.worker_of(run["databaseId"]) == worker
    assert model.stat().st_mtime_ns == model_mtime


async def test_two_workers_share_the_queue_in_fifo_order(cluster: Cluster) -> None:
    # when: four runs queued at once for two workers of one process each
    runs = [await train(cluster.api.data, 300, wait=False) for _ in range(4)]

    async def all_ended() -> list[dict[str, Any]] | None:
        states = [await state_of(cluster.api.data, run, RUN) for run in runs]
        return states if all(s["status"] not in ACTIVE_STATUSES for s in states) else None

    finals = await wait_for(all_ended, timeout=120, what="the four runs to end", interval=0.2)

    # then
    assert [s["status"] for s in finals] == ["COMPLETED"] * 4
    workers = [await cluster.worker_of(run["databaseId"]) for run in runs]
    assert len(set(workers)) == 2
    started = sorted(finals, key=lambda s: datetime.fromisoformat(s["startedAt"]))
    start_order = [s["databaseId"] for s in started]
    print(f"\nqueued {[r['databaseId'] for r in runs]}, started {start_order}, on {workers}")
    ids = [run["databaseId"] for run in runs]
    # The first two go to the two idle workers at once; the next two wait for a free one.
    assert set(start_order[:2]) == set(ids[:2])
    assert set(start_order[2:]) == set(ids[2:])


async def test_the_worker_log_tells_which_runs_it_trained(cluster: Cluster) -> None:
    run = await train(cluster.api.data, 20, wait=True)
    assert run["status"] == "COMPLETED"

    async def logged() -> bool | None:
        return True if any(run["modelVersion"] in w.output() for w in cluster.workers) else None

    await wait_for(logged, timeout=3, what="a worker log line naming the run's model version")
