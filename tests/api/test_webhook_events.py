"""The events of the features built beside webhooks (issue 25, section 2): sweep.completed,
evaluation.completed and schedule.failed, each written in the transaction of the change
that caused it (models/webhook_outbox.update_announced and the schedule's slot records),
delivered signed to a receiver that verifies them with `standardwebhooks`, with the ids a
receiver needs to act without asking back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from models.training_schedules import TrainingSchedule
from models.webhooks import Webhook
from tests.api.test_model_evaluations import evaluate, finished
from tests.api.test_sweeps import start
from tests.api.test_training_schedules import (
    SMALL_TRAIN,
    create,
    fresh_name,
    history_when,
    one_slot_cron,
    soon,
)
from tests.api.test_webhooks import create_webhook, settled
from tests.conftest import Server
from tests.helpers import train_completed
from tests.webhook_receiver import Receiver, running_receiver


@pytest.fixture
async def receiver(server: Server) -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running
    # Later events are not sent to a closed receiver.
    await Webhook.all().delete()


async def test_a_completed_evaluation_is_announced_with_its_run_and_metrics(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["EVALUATION_COMPLETED"])
    run = await train_completed(server.data, trees=3)

    payload = await evaluate(server, model=run["modelVersion"], datasetPath="reference.csv")
    assert payload["errors"] == [], payload
    evaluation = await finished(server, payload["evaluation"])
    await settled(server, webhook)

    (event,) = receiver.of_type("evaluation.completed")
    data: dict[str, Any] = event.body["data"]
    assert evaluation["status"] == "COMPLETED"
    assert data["databaseId"] == evaluation["databaseId"]
    assert data["run"]["databaseId"] == run["databaseId"]
    assert data["datasetPath"] == "reference.csv"
    assert len(data["datasetSha256"]) == 64
    assert 0.0 <= data["metrics"]["accuracy"] <= 1.0
    assert 0.0 <= data["shareDrifted"] <= 1.0


async def test_a_completed_sweep_is_announced_with_its_best_run(
    server: Server, receiver: Receiver
) -> None:
    webhook = await create_webhook(server, receiver, ["SWEEP_COMPLETED"])

    sweep = await start(server, maxTrials=1, parallelism=1)
    await settled(server, webhook)

    (event,) = receiver.of_type("sweep.completed")
    data: dict[str, Any] = event.body["data"]
    assert (data["id"], data["databaseId"]) == (sweep["id"], sweep["databaseId"])
    assert data["status"] == "COMPLETED"
    assert data["bestRun"]["databaseId"] is not None
    assert data["bestValue"] is not None


async def test_a_scheduled_run_that_fails_is_announced_as_schedule_failed(
    server: Server, receiver: Receiver
) -> None:
    # given: a schedule promoting its run, whose dataset is gone when its slot comes
    await TrainingSchedule.all().delete()
    webhook = await create_webhook(server, receiver, ["SCHEDULE_FAILED"])
    datasets = server.settings.artifacts.datasets
    dataset = f"{fresh_name('gone')}.csv"
    (datasets / dataset).write_bytes((datasets / "reference.csv").read_bytes())
    train = {**SMALL_TRAIN, "datasetPath": dataset}
    alias = fresh_name("champion")
    schedule = (
        await create(server, cron=one_slot_cron(soon(4)), train=train, promote={"alias": alias})
    )["trainingSchedule"]
    (datasets / dataset).unlink()

    # when
    (slot,) = await history_when(
        server, schedule["name"], lambda h: bool(h) and h[0]["promotion"] == "NOT_PROMOTED"
    )
    await settled(server, webhook)
    await TrainingSchedule.all().delete()

    # then
    (event,) = receiver.of_type("schedule.failed")
    data: dict[str, Any] = event.body["data"]
    assert data["name"] == schedule["name"]
    assert data["run"]["databaseId"] == slot["run"]["databaseId"]
    assert data["reason"] == slot["promotionDetail"]
    assert "ended FAILED" in data["reason"]
