"""Training runs: one row per accepted trainModel request, telling its whole story."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from models.accounts import User
    from models.sweeps import Sweep
    from models.training_schedules import TrainingSchedule


class RunStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINAL_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)

# Columns the run list can be ordered by; each order has an index on (column, id), alone
# and behind each equality filter, so every keyset page is an index range scan.
ORDER_COLUMNS = ("run_date", "accuracy", "f1_score", "training_duration_seconds")


def _list_indexes() -> tuple[Index, ...]:
    indexes = []
    for column in ORDER_COLUMNS:
        indexes.append(Index(fields=(column, "id"), name=f"run_{column}_id"))
        indexes.append(Index(fields=("status", column, "id"), name=f"run_status_{column}_id"))
        indexes.append(Index(fields=("trained_by_id", column, "id"), name=f"run_user_{column}_id"))
    return tuple(indexes)


class TrainingRun(Model):
    id = fields.IntField(primary_key=True)
    run_date = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    # Written by the worker while it runs; a stale heartbeat means the worker died.
    heartbeat_at = fields.DatetimeField(null=True)
    worker = fields.CharField(max_length=255, null=True)
    cancel_requested = fields.BooleanField(default=False)

    model_version = fields.CharField(max_length=64, unique=True)
    model_path = fields.CharField(max_length=255, null=True)
    model_sha256 = fields.CharField(max_length=64, null=True)
    dataset_path = fields.CharField(max_length=255)
    dataset_sha256 = fields.CharField(max_length=64, null=True)

    status = fields.CharEnumField(RunStatus, max_length=16, default=RunStatus.QUEUED)
    stage = fields.CharField(max_length=32, null=True)
    progress = fields.FloatField(default=0.0)
    # Declared: Tortoise types every TextField as str, null=True or not.
    error_message: str | None = fields.TextField(null=True)

    accuracy = fields.FloatField(null=True)
    precision = fields.FloatField(null=True)
    recall = fields.FloatField(null=True)
    f1_score = fields.FloatField(null=True)
    training_duration_seconds = fields.FloatField(null=True)
    total_samples = fields.IntField(null=True)
    train_samples = fields.IntField(null=True)
    test_samples = fields.IntField(null=True)
    dropped_rows = fields.IntField(null=True)
    per_class_metrics: Any = fields.JSONField(null=True)
    confusion_matrix: Any = fields.JSONField(null=True)
    feature_importance: Any = fields.JSONField(null=True)
    # {"units": "probability" | "log-odds", "importance": {column: mean |SHAP|}}
    shap_importance: Any = fields.JSONField(null=True)
    features_used: Any = fields.JSONField(null=True)

    test_split = fields.FloatField()
    random_state = fields.IntField()
    # The deprecated view behind TrainingRun.hyperparameters (resolvers/train_model.py
    # legacy_hyperparameters): a forest's own values; `parameters` is what is trained.
    n_estimators = fields.IntField()
    max_depth = fields.IntField(null=True)
    min_samples_split = fields.IntField()
    min_samples_leaf = fields.IntField()
    class_weight = fields.CharField(max_length=32, null=True)
    # What was trained (trainer/ml/algorithms.py): the algorithm's name and every one of its
    # parameters, defaults filled in, keyed by scikit-learn's names.
    algorithm = fields.CharField(max_length=32, db_default="RANDOM_FOREST", db_index=True)
    # Never null once written (trainModel always sets it; 0008 filled the older runs): the
    # column is nullable only because SQLite cannot add a NOT NULL column without a default.
    parameters: Any = fields.JSONField(null=True)
    # k-fold cross-validation, when asked: {"folds": k, "metrics": {name: {"mean", "std"}}}.
    cross_validation: Any = fields.JSONField(null=True)
    # A sweep trial's judging (0009): this share of the training split is set aside as
    # validation rows, and `objective` (a metric's name) is measured on them as it grows.
    validation_fraction = fields.FloatField(null=True)
    objective = fields.CharField(max_length=32, null=True)
    # A sweep trial's score on validation rows carved from the training split (never the
    # test split): what the sweep maximises.
    objective_value = fields.FloatField(null=True)

    # A sweep's trial (issue 23): which sweep, its trial number there (unique per sweep, so
    # a driver taking over after a crash can never start a trial twice), the objective on
    # validation rows as the model grew ({step: value}, written by the worker with its
    # progress: what the pruner judges), and whether the sweep stopped it early (a pruned
    # trial ends CANCELLED with pruned set).
    sweep: fields.ForeignKeyNullableRelation[Sweep] = fields.ForeignKeyField(
        "models.Sweep", related_name="trials", null=True, on_delete=fields.SET_NULL
    )
    sweep_id: int | None
    trial_number = fields.IntField(null=True)
    intermediate_values: Any = fields.JSONField(null=True)
    pruned = fields.BooleanField(default=False, db_default=False)

    trained_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="training_runs", null=True, on_delete=fields.SET_NULL
    )
    trained_by_id: int | None
    # Copied from the user when the run is created (usernames never change) so that a
    # page of runs needs no second query to show who trained each one.
    trained_by_username = fields.CharField(max_length=150, null=True)
    notes = fields.TextField(default="")
    # The schedule whose slot started this run (issue 25); null for trainModel's runs.
    schedule: fields.ForeignKeyNullableRelation[TrainingSchedule] = fields.ForeignKeyField(
        "models.TrainingSchedule", related_name="runs", null=True, on_delete=fields.SET_NULL
    )
    schedule_id: int | None

    class Meta:
        table = "training_run"
        indexes = _list_indexes()

    @property
    def database_id(self) -> int:
        """The number the API shows as `databaseId` (the REST original's id)."""
        return self.id

    def __str__(self) -> str:
        return f"run {self.id} ({self.model_version}, {self.status})"


# The five RandomForest columns, in the order of the algorithm table's forest parameters.
FOREST_COLUMNS = (
    "n_estimators",
    "max_depth",
    "min_samples_split",
    "min_samples_leaf",
    "class_weight",
)


def parameters_of(run: Any) -> dict[str, Any]:
    """What a run (a TrainingRun or a RunRecord with these columns) was trained with, by
    scikit-learn's names. A row written without `parameters` (inserted directly, as tools
    and tests do) is the forest its five columns describe, as every run was before 0008."""
    if run.parameters is not None:
        return dict(run.parameters)
    return {column: getattr(run, column) for column in FOREST_COLUMNS}
