"""Input types: the shapes clients send. Range rules live in resolvers/train_model.py,
so that a broken rule comes back as a UserError with its path rather than a bare error."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.sweeps import parse_sweep_id
from resolvers.train_model import TrainRequest
from resolvers.training_runs import RunFilter, RunOrder, RunStatus
from schema.algorithms import (
    EvaluationInput,
    HyperparametersInput,
    ModelInput,
    chosen_model,
    parameter_values,
)
from schema.enums import OrderDirection, TrainingRunOrderField, TrainingRunStatus
from trainer.ml.algorithms import ALGORITHMS, Algorithm, ParameterValue


@strawberry.input
class TrainModelInput:
    dataset_path: str | None = strawberry.field(
        default=None,
        description="CSV relative to the datasets folder; default: the shipped dataset.",
    )
    test_split: float = strawberry.field(default=0.2, description="0.1 to 0.5.")
    hyperparameters: HyperparametersInput | None = strawberry.field(  # type: ignore[valid-type]
        default=strawberry.UNSET,
        description="RandomForest settings (absent: the REST original's defaults).",
        deprecation_reason=(
            "Use model: { randomForest: { ... } }. Still means RANDOM_FOREST; giving both "
            "model and hyperparameters is refused (a UserError on model)."
        ),
    )
    model: ModelInput | None = strawberry.field(  # type: ignore[valid-type]
        default=strawberry.UNSET,
        description=(
            "The algorithm and its settings (Query.trainingAlgorithms lists them); absent: "
            "RANDOM_FOREST with the REST original's defaults."
        ),
    )
    evaluation: EvaluationInput | None = strawberry.field(
        default=None, description="Optional k-fold cross-validation on the training split."
    )
    random_state: int = strawberry.field(default=42, description="0 or more.")
    model_version: str | None = strawberry.field(
        default=None,
        description="Unique; up to 64 letters, digits, '.', '_', '-'. Generated when absent.",
    )
    notes: str = ""
    wait: bool = strawberry.field(
        default=False,
        description="false: return at once with the run queued; true: return it finished.",
    )

    def to_request(self) -> TrainRequest:
        forest = ALGORITHMS[Algorithm.RANDOM_FOREST]
        has_model = self.model is not None and self.model is not strawberry.UNSET
        has_hyperparameters = (
            self.hyperparameters is not None and self.hyperparameters is not strawberry.UNSET
        )
        algorithm = Algorithm.RANDOM_FOREST
        path: tuple[str, ...] = ("hyperparameters",)
        parameters: dict[str, ParameterValue] = {}
        if has_model:
            algorithm, field_name, parameters = chosen_model(self.model)
            path = ("model", field_name)
        elif has_hyperparameters:
            parameters = parameter_values(forest, self.hyperparameters)
        return TrainRequest(
            algorithm=algorithm,
            parameters=parameters,
            parameters_path=path,
            model_given_twice=has_model and has_hyperparameters,
            folds=self.evaluation.folds if self.evaluation is not None else None,
            dataset_path=self.dataset_path,
            test_split=self.test_split,
            random_state=self.random_state,
            model_version=self.model_version,
            notes=self.notes,
            wait=self.wait,
        )


@strawberry.input(
    description=(
        "Runs by their tags, compared as stored (trimmed, lower case). An empty list "
        "is no condition; at most 20 tags each."
    )
)
class TagFilter:
    any: list[str] | None = strawberry.field(
        default=None, description="Runs holding at least one of these tags."
    )
    all: list[str] | None = strawberry.field(
        default=None, description="Runs holding every one of these tags."
    )


@strawberry.input(description="All given conditions must hold.")
class TrainingRunFilter:
    status: list[TrainingRunStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    trained_by: str | None = strawberry.field(default=None, description="A username.")
    model_version: str | None = None
    algorithm: Algorithm | None = strawberry.field(
        default=None, description="Runs that trained this algorithm."
    )
    run_date_from: datetime | None = strawberry.field(default=None, description="Inclusive.")
    run_date_to: datetime | None = strawberry.field(default=None, description="Inclusive.")
    search: str | None = strawberry.field(
        default=None,
        description=(
            "Runs whose modelVersion, trainedByUsername or notes contain this text, in any "
            "case; % _ \\ match themselves. 3 to 100 characters (shorter is BAD_USER_INPUT; "
            '"" filters nothing).'
        ),
    )
    tags: TagFilter | None = strawberry.field(default=None, description="Runs by their tags.")

    sweep_id: strawberry.ID | None = strawberry.field(
        default=None, description="The trials of this sweep (global or numeric id)."
    )

    def to_run_filter(self) -> RunFilter:
        """The filter as models/ reads it: what trainingRuns, trainingMetricsHistory and
        the CSV export (GET /runs/export.csv) all match."""
        return RunFilter(
            status=[RunStatus(s) for s in self.status] if self.status else None,
            trained_by=self.trained_by,
            model_version=self.model_version,
            algorithm=self.algorithm.value if self.algorithm is not None else None,
            run_date_from=self.run_date_from,
            run_date_to=self.run_date_to,
            search=self.search,
            tags_any=self.tags.any if self.tags else None,
            tags_all=self.tags.all if self.tags else None,
            sweep_id=self._sweep_key(),
        )

    def _sweep_key(self) -> int | None:
        """The sweep's number; an id naming no sweep matches no run (-1)."""
        if self.sweep_id is None:
            return None
        key = parse_sweep_id(str(self.sweep_id))
        return -1 if key is None else key


@strawberry.input(description="Ties are broken by id, in the same direction.")
class TrainingRunOrder:
    field: TrainingRunOrderField = TrainingRunOrderField.RUN_DATE
    direction: OrderDirection = OrderDirection.DESC

    def to_run_order(self) -> RunOrder:
        return RunOrder(column=self.field.value, descending=self.direction is OrderDirection.DESC)
