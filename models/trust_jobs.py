"""Batch predictions and model evaluations (issue 24): the two jobs besides training.

Both run on the training runners (trainer/jobs), so they share a run's bookkeeping: a
status with the same values (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED), a worker and
heartbeat the reaper watches, a cancel flag, progress, who asked and when, and the model
resolved once at the start (the run and its modelVersion, recorded: an alias moved later
does not change what a job used). The columns they share live in one abstract model.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from models.training_runs import RunStatus, TrainingRun

if TYPE_CHECKING:
    from models.accounts import User

__all__ = ["BatchPrediction", "JobKind", "JobRow", "ModelEvaluation", "RunStatus"]


class JobKind(StrEnum):
    """What a job reference names: the runners carry (kind, id) pairs."""

    TRAINING = "training"
    BATCH_PREDICTION = "batch_prediction"
    EVALUATION = "evaluation"


class JobRow(Model):
    id = fields.IntField(primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    worker = fields.CharField(max_length=255, null=True)
    cancel_requested = fields.BooleanField(default=False)
    status = fields.CharEnumField(RunStatus, max_length=16, default=RunStatus.QUEUED)
    progress = fields.FloatField(default=0.0)
    error_message: str | None = fields.TextField(null=True)

    # What the client named (an alias, a modelVersion, a run id) and what it resolved to.
    model_requested = fields.CharField(max_length=64)
    model_version = fields.CharField(max_length=64)
    dataset_path = fields.CharField(max_length=255)
    dataset_sha256 = fields.CharField(max_length=64, null=True)
    created_by_username = fields.CharField(max_length=150, null=True)

    class Meta:
        abstract = True

    @property
    def database_id(self) -> int:
        return self.id


class BatchPrediction(JobRow):
    run: fields.ForeignKeyRelation[TrainingRun] = fields.ForeignKeyField(
        "models.TrainingRun", related_name="batch_predictions", on_delete=fields.CASCADE
    )
    run_id: int
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="batch_predictions", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    rows_total = fields.BigIntField(null=True)
    rows_done = fields.BigIntField(default=0)
    rows_scored = fields.BigIntField(null=True)
    rows_rejected = fields.BigIntField(null=True)
    # Reasons per row asked for (0: none); the output's reason_<i>_* columns, and the units
    # their contributions are in (trainer.ml.explanations: probability or log-odds), set
    # once the job COMPLETED with reasons.
    explain = fields.SmallIntField(default=0, db_default=0)
    reason_units = fields.CharField(max_length=16, null=True)
    # Set only when the job COMPLETED: the output file exists whole under this name.
    output_path = fields.CharField(max_length=255, null=True)
    output_sha256 = fields.CharField(max_length=64, null=True)
    rejects_path = fields.CharField(max_length=255, null=True)
    rejects_sha256 = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "batch_prediction"


class ModelEvaluation(JobRow):
    run: fields.ForeignKeyRelation[TrainingRun] = fields.ForeignKeyField(
        "models.TrainingRun", related_name="evaluations", on_delete=fields.CASCADE
    )
    run_id: int
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="model_evaluations", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    # {"accuracy", "precision", "recall", "f1_score", "samples", "dropped_rows",
    #  "per_class_metrics", "confusion_matrix"}, as a training run records them.
    metrics: Any = fields.JSONField(null=True)
    # trainer.ml.drift.DriftReport.as_dict()
    drift: Any = fields.JSONField(null=True)

    class Meta:
        table = "model_evaluation"
