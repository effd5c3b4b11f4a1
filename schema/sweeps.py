"""Sweeps as GraphQL types: the start input, the Sweep node and its trials, the payloads."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from resolvers import accounts, sweeps, training_runs, training_schedules
from resolvers.accounts import Identity
from resolvers.sweeps import Sweep as SweepRow
from resolvers.sweeps import SweepConnection as SweepPage
from resolvers.sweeps import SweepCounts, SweepRequest, SweepStatus
from resolvers.training_runs import RunConnection, RunFilter, RunOrder, RunRecord
from schema.context import Info
from schema.enums import ComparedMetric
from schema.errors import UserError
from schema.scalars import JSON
from schema.training_runs import TrainingRunConnection, run_columns
from schema.types import TrainingRun, User
from trainer.ml.algorithms import Algorithm, graphql_name

if TYPE_CHECKING:
    # named lazily: schema.training_schedules imports this module
    from schema.training_schedules import TrainingSchedule

strawberry.enum(
    SweepStatus,
    name="SweepStatus",
    description="QUEUED until a driver takes it; RUNNING; then COMPLETED, FAILED (no trial "
    "completed) or CANCELLED.",
)


@strawberry.enum(description="How a sweep picks each trial's parameters (Optuna's samplers).")
class SweepMethod(Enum):
    GRID = "GRID"
    RANDOM = "RANDOM"
    TPE = "TPE"


@strawberry.enum(description="When a sweep stops a trial early on its intermediate scores.")
class SweepPruning(Enum):
    NONE = "NONE"
    MEDIAN = "MEDIAN"
    HYPERBAND = "HYPERBAND"


@strawberry.input(
    description=(
        "One searched parameter: a range (min, max; logScale defaults to the parameter's "
        "own) or a list of choices (as strings; null for null). Names as trainingAlgorithms "
        "gives them (camelCase or scikit-learn's)."
    )
)
class SweepParameterInput:
    name: str
    min: float | None = None
    max: float | None = None
    log_scale: bool | None = None
    choices: list[str | None] | None = None
    steps: int | None = strawberry.field(
        default=None, description="GRID only: points of the range (1 to 20, default 3)."
    )


@strawberry.input(description="One algorithm searched; parameters not listed keep their defaults.")
class SweepSpaceInput:
    algorithm: Algorithm
    parameters: list[SweepParameterInput] = strawberry.field(default_factory=list)


@strawberry.input
class StartSweepInput:
    space: list[SweepSpaceInput]
    dataset_path: str | None = strawberry.field(
        default=None,
        description="CSV relative to the datasets folder; default: the shipped dataset.",
    )
    test_split: float = strawberry.field(default=0.2, description="0.1 to 0.5.")
    name: str | None = None
    notes: str = ""
    objective: ComparedMetric = strawberry.field(
        default=ComparedMetric.F1_SCORE,
        description="Maximised; TRAINING_DURATION_SECONDS is minimised.",
    )
    method: SweepMethod = SweepMethod.TPE
    max_trials: int = strawberry.field(default=20, description="1 to 500.")
    time_budget_seconds: float | None = strawberry.field(
        default=None,
        description="Stop starting trials and cancel running ones once spent.",
    )
    parallelism: int = strawberry.field(default=2, description="Trials in flight, 1 to 32.")
    pruning: SweepPruning = SweepPruning.NONE
    seed: int = 42
    validation_fraction: float = strawberry.field(
        default=0.2,
        description=(
            "Share of the training split each trial is judged on (0.05 to 0.5); the test "
            "split is never seen by the search."
        ),
    )
    folds: int | None = strawberry.field(
        default=None,
        description="Judge trials by k-fold cross-validation mean instead (2 to 10).",
    )

    def to_request(self) -> SweepRequest:
        return SweepRequest(
            space=[
                (
                    entry.algorithm.value,
                    [
                        {
                            "name": p.name,
                            "min": p.min,
                            "max": p.max,
                            "logScale": p.log_scale,
                            "choices": p.choices,
                            "steps": p.steps,
                        }
                        for p in entry.parameters
                    ],
                )
                for entry in self.space
            ],
            dataset_path=self.dataset_path,
            test_split=self.test_split,
            name=self.name,
            notes=self.notes,
            objective=self.objective.value,
            method=self.method.value,
            max_trials=self.max_trials,
            time_budget_seconds=self.time_budget_seconds,
            parallelism=self.parallelism,
            pruning=self.pruning.value,
            seed=self.seed,
            validation_fraction=self.validation_fraction,
            folds=self.folds,
        )


@strawberry.type(description="A sweep's trials by outcome.")
class SweepTrialCounts:
    queued: int
    running: int
    completed: int
    pruned: int
    failed: int
    cancelled: int
    finished: int = strawberry.field(description="completed + pruned + failed + cancelled.")
    total: int


@strawberry.type(description="The best objective value after one more trial finished.")
class SweepBestValue:
    trial: int = strawberry.field(description="The trial number that finished.")
    run_id: int | None = strawberry.field(description="Its run's databaseId.")
    value: float | None = strawberry.field(description="The running best (null: none yet).")


@strawberry.type(description="Optuna's importance of one parameter for the objective.")
class ParameterImportance:
    parameter: str
    importance: float


@strawberry.type(description="A search for the best model: its trials are training runs.")
class Sweep(relay.Node):
    id: relay.NodeID[int]
    name: str
    notes: str
    status: SweepStatus
    max_trials: int
    parallelism: int
    time_budget_seconds: float | None
    seed: int
    dataset_path: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error_message: str | None
    cancel_requested: bool
    best_value: float | None = strawberry.field(
        description="The best objectiveValue among completed trials."
    )
    created_by_username: str | None

    @strawberry.field
    def database_id(self, root: strawberry.Parent[SweepRow]) -> int:
        return root.id

    @strawberry.field
    def objective(self, root: strawberry.Parent[SweepRow]) -> ComparedMetric:
        return ComparedMetric(root.objective)

    @strawberry.field
    def method(self, root: strawberry.Parent[SweepRow]) -> SweepMethod:
        return SweepMethod(root.method)

    @strawberry.field
    def pruning(self, root: strawberry.Parent[SweepRow]) -> SweepPruning:
        return SweepPruning(root.pruning)

    @strawberry.field(description="The request as checked: space, splits, folds, seed.")
    def input(self, root: strawberry.Parent[SweepRow]) -> JSON:
        value: Any = root.input
        return value  # type: ignore[no-any-return]

    @strawberry.field(graphql_type=SweepTrialCounts)
    async def trial_counts(self, root: strawberry.Parent[SweepRow]) -> SweepCounts:
        return await sweeps.sweep_counts(root.id)

    @strawberry.field(graphql_type=TrainingRun | None)
    async def best_run(self, root: strawberry.Parent[SweepRow]) -> RunRecord | None:
        if root.best_run_id is None:
            return None
        return await training_runs.get_run_record(root.best_run_id)

    @strawberry.field
    def best_value_history(self, root: strawberry.Parent[SweepRow]) -> list[SweepBestValue]:
        return [
            SweepBestValue(trial=e["trial"], run_id=e["runId"], value=e["value"])
            for e in root.best_value_history or []
        ]

    @strawberry.field(
        description="Most important first; null until two trials completed. Parameters are "
        "named as in the algorithm's input type (learningRate), after the algorithm's name "
        "when the sweep searched several (HIST_GRADIENT_BOOSTING.learningRate); `algorithm` "
        "is the choice of algorithm itself."
    )
    def parameter_importance(
        self, root: strawberry.Parent[SweepRow]
    ) -> list[ParameterImportance] | None:
        if root.parameter_importance is None:
            return None
        ranked = sorted(root.parameter_importance.items(), key=lambda item: -item[1])
        return [ParameterImportance(parameter=_api_name(k), importance=v) for k, v in ranked]

    @strawberry.field(
        description="Visible to HR staff and to that user; null for others.",
        graphql_type=User | None,
    )
    async def created_by(self, root: strawberry.Parent[SweepRow], info: Info) -> Identity | None:
        if root.created_by_id is None:
            return None
        return await accounts.visible_user(info.context, root.created_by_id)

    @strawberry.field(
        description="Its trial runs, in the order they were started.",
        graphql_type=TrainingRunConnection,
    )
    async def trials(
        self,
        root: strawberry.Parent[SweepRow],
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> RunConnection:
        return await training_runs.list_training_runs(
            info.context.services.page_sizes,
            order=RunOrder(column="run_date", descending=False),
            first=first,
            after=after,
            run_filter=RunFilter(sweep_id=root.id),
            columns=run_columns(info),
        )

    @strawberry.field(
        description="The training schedule whose slot started this sweep; null for startSweep's.",
        graphql_type=Annotated["TrainingSchedule", strawberry.lazy("schema.training_schedules")]
        | None,
    )
    async def schedule(
        self, root: strawberry.Parent[SweepRow]
    ) -> training_schedules.TrainingSchedule | None:
        return await training_schedules.schedule_of_sweep(root.id)

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, SweepRow | cls)


@strawberry.type
class SweepEdge:
    cursor: str
    node: Sweep


@strawberry.type
class SweepConnection:
    @strawberry.field(graphql_type=list[SweepEdge])
    def edges(self, root: strawberry.Parent[SweepPage]) -> list[SweepEdge]:
        return [
            SweepEdge(cursor=sweeps.sweep_cursor(s), node=s)  # type: ignore[arg-type]
            for s in root.sweeps
        ]

    @strawberry.field(graphql_type=list[Sweep])
    def nodes(self, root: strawberry.Parent[SweepPage]) -> list[SweepRow]:
        return root.sweeps

    @strawberry.field
    def page_info(self, root: strawberry.Parent[SweepPage]) -> relay.PageInfo:
        rows = root.sweeps
        return relay.PageInfo(
            has_next_page=root.has_next_page,
            has_previous_page=root.has_previous_page,
            start_cursor=sweeps.sweep_cursor(rows[0]) if rows else None,
            end_cursor=sweeps.sweep_cursor(rows[-1]) if rows else None,
        )

    @strawberry.field
    async def total_count(self, root: strawberry.Parent[SweepPage]) -> int:
        return await root.total_count()


@strawberry.input
class SweepFilter:
    status: list[SweepStatus] | None = None


@strawberry.type
class StartSweepPayload:
    sweep: SweepRow | None = strawberry.field(graphql_type=Sweep | None)
    errors: list[UserError]


@strawberry.type
class CancelSweepPayload:
    sweep: SweepRow | None = strawberry.field(graphql_type=Sweep | None)
    errors: list[UserError]


def _api_name(optuna_name: str) -> str:
    """Optuna's name of a searched parameter (scikit-learn's, after the algorithm's when
    several are searched: resolvers/sweep_search.SearchSpace.optuna_name) as the API names it."""
    algorithm, dot, parameter = optuna_name.rpartition(".")
    return algorithm + dot + graphql_name(parameter)
