"""The one way to emit a webhook event: `record_event`, inside the caller's transaction.

An event written after the change commits can be lost to a crash in between; one written
before can announce a change that then rolls back. Written in the same transaction, the
event exists exactly when the change does (the transactional outbox). The deliveries to
every active webhook subscribed to it are written with it, so the dispatcher
(server/webhook_dispatcher.py) has one kind of row to look for.

Also here: the `data` of the events this service emits today (runs, aliases), with the ids
a receiver needs (global and database) and the fields it needs to act without asking back.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.training_runs import RunStatus, TrainingRun
from models.webhooks import Webhook, WebhookDelivery, WebhookEvent, WebhookEventType

__all__ = ["WebhookEventType", "alias_event_data", "record_event", "run_event_data"]

logger = logging.getLogger("models.webhook_outbox")


def global_id(type_name: str, database_id: int) -> str:
    """The Relay id the GraphQL API gives that object (strawberry's base64 "Type:id")."""
    return base64.b64encode(f"{type_name}:{database_id}".encode()).decode()


async def record_event(
    event_type: WebhookEventType, data: dict[str, Any], *, connection: BaseDBAsyncClient
) -> WebhookEvent:
    """Write the event and one pending delivery per active webhook subscribed to it,
    on `connection`: the caller's transaction, which commits or rolls back all of it."""
    now = datetime.now(UTC)
    event = await WebhookEvent.create(
        message_id=f"msg_{uuid.uuid4().hex}",
        event_type=event_type.value,
        data=data,
        created_at=now,
        using_db=connection,
    )
    webhooks = await Webhook.filter(active=True).using_db(connection).only("id", "events")
    subscribed = [webhook.id for webhook in webhooks if event_type.value in webhook.events]
    if subscribed:
        await WebhookDelivery.bulk_create(
            [
                WebhookDelivery(
                    event_id=event.id, webhook_id=webhook_id, next_attempt_at=now, created_at=now
                )
                for webhook_id in subscribed
            ],
            using_db=connection,
        )
    logger.info(
        "webhook event %s %s recorded (%s) for %d webhook(s)",
        event.id,
        event_type.value,
        event.message_id,
        len(subscribed),
    )
    return event


async def update_announced(
    model: type[Model],
    row_id: int,
    conditions: dict[str, Any],
    values: dict[str, Any],
    event: WebhookEventType | None,
    data_of: Callable[[Any], dict[str, Any]],
) -> bool:
    """UPDATE row `row_id` of `model` with `values` where `conditions` still hold; True if
    it changed. With an `event`, the change and its event (data_of(the updated row)) are
    one transaction: the one pattern behind every status move a webhook announces (runs,
    evaluations, sweeps)."""
    if event is None:
        return bool(await model.filter(id=row_id, **conditions).update(**values))
    async with in_transaction() as connection:
        moved = await model.filter(id=row_id, **conditions).using_db(connection).update(**values)
        if moved:
            row = await model.filter(id=row_id).using_db(connection).get()
            await record_event(event, data_of(row), connection=connection)
    return bool(moved)


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_reference(run: TrainingRun) -> dict[str, Any]:
    return {
        "id": global_id("TrainingRun", run.id),
        "databaseId": run.id,
        "modelVersion": run.model_version,
    }


def run_event_data(run: TrainingRun) -> dict[str, Any]:
    """run.completed / run.failed: the run as a receiver needs it (metrics, or the error)."""
    return {
        **run_reference(run),
        "status": run.status.value if isinstance(run.status, RunStatus) else str(run.status),
        "errorMessage": run.error_message,
        "datasetPath": run.dataset_path,
        "datasetSha256": run.dataset_sha256,
        "modelSha256": run.model_sha256,
        "accuracy": run.accuracy,
        "precision": run.precision,
        "recall": run.recall,
        "f1Score": run.f1_score,
        "trainingDurationSeconds": run.training_duration_seconds,
        "trainedByUsername": run.trained_by_username,
        "runDate": _when(run.run_date),
        "startedAt": _when(run.started_at),
        "finishedAt": _when(run.finished_at),
    }


def alias_event_data(
    alias: str,
    action: str,
    run: TrainingRun | None,
    previous_run: TrainingRun | None,
    username: str | None,
    at: datetime,
) -> dict[str, Any]:
    """alias.changed: which alias, set or deleted, the run it now names and the one before."""
    return {
        "alias": alias,
        "action": action,
        "run": run_reference(run) if run is not None else None,
        "previousRun": run_reference(previous_run) if previous_run is not None else None,
        "changedByUsername": username,
        "changedAt": at.isoformat(),
    }


def sweep_event_data(sweep: Any) -> dict[str, Any]:
    """sweep.completed: the sweep, its best run and value, so a receiver can promote it."""
    return {
        "id": global_id("Sweep", sweep.id),
        "databaseId": sweep.id,
        "name": sweep.name,
        "status": str(getattr(sweep.status, "value", sweep.status)),
        "objective": sweep.objective,
        "method": sweep.method,
        "maxTrials": sweep.max_trials,
        "bestValue": sweep.best_value,
        "bestRun": (
            {"id": global_id("TrainingRun", sweep.best_run_id), "databaseId": sweep.best_run_id}
            if sweep.best_run_id is not None
            else None
        ),
        "createdByUsername": sweep.created_by_username,
        "finishedAt": _when(sweep.finished_at),
    }


def evaluation_event_data(evaluation: Any) -> dict[str, Any]:
    """evaluation.completed: which model on which data, its metrics and the drift summary."""
    drift = evaluation.drift or {}
    return {
        "id": global_id("ModelEvaluation", evaluation.id),
        "databaseId": evaluation.id,
        "run": {"id": global_id("TrainingRun", evaluation.run_id), "databaseId": evaluation.run_id},
        "datasetPath": evaluation.dataset_path,
        "datasetSha256": evaluation.dataset_sha256,
        "metrics": evaluation.metrics,
        "shareDrifted": drift.get("share_drifted"),
        "datasetDrifted": drift.get("dataset_drifted"),
        "finishedAt": _when(evaluation.finished_at),
    }


def schedule_failed_data(
    schedule: Any, slot_at: datetime, reason: str, run_id: int | None = None
) -> dict[str, Any]:
    """schedule.failed: the schedule, the slot, and why it did not give a model."""
    return {
        "id": global_id("TrainingSchedule", schedule.id),
        "databaseId": schedule.id,
        "name": schedule.name,
        "slotAt": slot_at.isoformat(),
        "reason": reason,
        "run": (
            {"id": global_id("TrainingRun", run_id), "databaseId": run_id}
            if run_id is not None
            else None
        ),
        "createdByUsername": schedule.created_by_username,
    }
