"""Training schedules as GraphQL types and inputs (issue 25, section 1), and the one
conversion between a TrainModelInput (or a StartSweepInput) and the JSON a schedule stores.

The JSON is the input as a client writes it (camelCase names, enum names), read back
through the schema's own input type: fields added to TrainModelInput or StartSweepInput
later pass through a stored schedule unchanged, and a stored input that no longer fits is
refused by the same coercion a request gets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, Protocol, TypeAlias, TypeVar

import strawberry
from graphql import GraphQLInputObjectType, coerce_input_value
from strawberry import relay
from strawberry.types.arguments import convert_argument
from strawberry.types.base import get_object_definition, has_object_definition
from strawberry.types.enum import has_enum_definition
from strawberry.utils.str_converters import to_camel_case

from resolvers import sweeps, training_schedules
from resolvers.model_aliases import GateRequest
from resolvers.sweeps import Sweep as SweepRow
from resolvers.sweeps import SweepRequest
from resolvers.train_model import TrainRequest
from resolvers.training_runs import RunConnection, RunRecord, get_run_record
from resolvers.training_schedules import (
    Misfire,
    Promotion,
    ScheduleChanges,
    ScheduleConnection,
    ScheduleKind,
    ScheduleSlot,
    SlotOutcome,
    stored_gate_request,
)
from resolvers.training_schedules import TrainingSchedule as TrainingScheduleRow
from schema.context import Info
from schema.enums import GateMetric
from schema.errors import UserError
from schema.inputs import TrainModelInput
from schema.model_aliases import PromotionGateInput
from schema.scalars import JSON
from schema.sweeps import StartSweepInput, Sweep
from schema.training_runs import TrainingRunConnection
from schema.types import TrainingRun

strawberry.enum(
    Misfire,
    name="ScheduleMisfire",
    description=(
        "A slot missed while no server was running: RUN_ONCE fires the latest one once at "
        "start-up, SKIP records it as skipped."
    ),
)
strawberry.enum(
    ScheduleKind,
    name="ScheduleKind",
    description="What each slot starts: TRAIN one training run, SWEEP one sweep.",
)
strawberry.enum(SlotOutcome, name="ScheduleSlotOutcome")
strawberry.enum(Promotion, name="SchedulePromotionOutcome")
ScheduleMisfire: TypeAlias = Misfire

# Not stored: generated for each run (<name>-<slot time>), and a run of a schedule never
# makes anyone wait for it.
_NOT_STORED = {"modelVersion", "wait"}
# A sweep's name is generated the same way (<name>-<slot time>).
_SWEEP_NOT_STORED = {"name"}


def input_json(value: Any) -> Any:
    """A strawberry input value as GraphQL JSON: camelCase names, enum names, unset
    fields left out (and the unchosen members of a oneOf input)."""
    if has_object_definition(value):
        definition = get_object_definition(value, strict=True)
        out: dict[str, Any] = {}
        for field in definition.fields:
            item = getattr(value, field.python_name)
            if item is strawberry.UNSET or (item is None and definition.is_one_of):
                continue
            out[field.graphql_name or to_camel_case(field.python_name)] = input_json(item)
        return out
    if isinstance(value, Enum):
        enum_type = type(value)
        if has_enum_definition(enum_type):
            values = enum_type.__strawberry_definition__.values
            return next(member.name for member in values if member.value == value.value)
        return value.name
    if isinstance(value, list):
        return [input_json(item) for item in value]
    return value


def stored_train_input(value: TrainModelInput) -> dict[str, Any]:
    stored: dict[str, Any] = input_json(value)
    return {name: item for name, item in stored.items() if name not in _NOT_STORED}


def stored_sweep_input(value: StartSweepInput) -> dict[str, Any]:
    stored: dict[str, Any] = input_json(value)
    return {name: item for name, item in stored.items() if name not in _SWEEP_NOT_STORED}


Request_co = TypeVar("Request_co", covariant=True)


class _ToRequest(Protocol[Request_co]):
    def to_request(self) -> Request_co: ...


def _reader(
    api_schema: strawberry.Schema, input_type: type[_ToRequest[Request_co]]
) -> Callable[[dict[str, Any]], Request_co]:
    """Stored JSON -> the request its mutation reads, through the schema's own input type
    (its defaults, enums and checks); raises GraphQLError when the JSON no longer fits."""
    # The schema's graphql-core type: strawberry offers no public way to coerce a value.
    graphql_type = api_schema._schema.get_type(input_type.__name__)
    assert isinstance(graphql_type, GraphQLInputObjectType)
    registry = api_schema.schema_converter.scalar_registry

    def read(stored: dict[str, Any]) -> Request_co:
        coerced = coerce_input_value(stored, graphql_type)
        value = convert_argument(coerced, input_type, registry, api_schema.config)
        assert isinstance(value, input_type)
        return value.to_request()

    return read


def request_reader(api_schema: strawberry.Schema) -> Callable[[dict[str, Any]], TrainRequest]:
    """A stored train input -> trainModel's request (TrainModelInput's coercion)."""
    return _reader(api_schema, TrainModelInput)


def sweep_reader(api_schema: strawberry.Schema) -> Callable[[dict[str, Any]], SweepRequest]:
    """A stored sweep input -> startSweep's request (StartSweepInput's coercion)."""
    return _reader(api_schema, StartSweepInput)


@strawberry.input(description="Move a model alias to each run of the schedule that ends COMPLETED.")
class SchedulePromoteInput:
    alias: str = strawberry.field(
        description="Lowercase letters, digits, '-', '_'; moved as setModelAlias moves it."
    )
    gate: PromotionGateInput | None = strawberry.field(
        default=None,
        description=(
            "setModelAlias's gate: the alias moves only if the run, evaluated on this "
            "dataset, reaches the alias's current model (the history says why otherwise)."
        ),
    )


@strawberry.input
class CreateTrainingScheduleInput:
    name: str = strawberry.field(
        description=(
            "Unique; 1-40 letters, digits, '.', '_', '-'. Each run's modelVersion is "
            "<name>-<slot time in UTC, e.g. 20261206T020000Z>."
        )
    )
    cron: str = strawberry.field(
        description=(
            "5 fields (minute hour day-of-month month day-of-week), or 6 with seconds as the "
            "sixth, read in `timeZone`."
        )
    )
    train: TrainModelInput | None = strawberry.field(
        default=None,
        description=(
            "What each run trains; modelVersion must be left out (generated). Give this "
            "or `sweep`, not both."
        ),
    )
    time_zone: str = strawberry.field(default="UTC", description="An IANA name.")
    misfire: Misfire = Misfire.RUN_ONCE
    promote: SchedulePromoteInput | None = strawberry.field(
        default=None,
        description="For a sweep schedule, the sweep's best run is promoted when it COMPLETES.",
    )
    sweep: StartSweepInput | None = strawberry.field(
        default=None,
        description=(
            "Start a sweep at each slot instead of one run, checked as startSweep checks "
            "it; name must be left out (generated as <name>-<slot time>). Give this or "
            "`train`, not both."
        ),
    )

    def to_changes(self) -> ScheduleChanges:
        return ScheduleChanges(
            name=self.name,
            cron=self.cron,
            time_zone=self.time_zone,
            misfire=self.misfire,
            train=self.train.to_request() if self.train is not None else None,
            train_json=stored_train_input(self.train) if self.train is not None else None,
            sweep=self.sweep.to_request() if self.sweep is not None else None,
            sweep_json=stored_sweep_input(self.sweep) if self.sweep is not None else None,
            promote_alias=self.promote.alias if self.promote else None,
            promote_gate=gate_of(self.promote),
            promote_given=True,
        )


@strawberry.input(description="Only the fields given change; `promote: null` stops promoting.")
class UpdateTrainingScheduleInput:
    name: str | None = None
    cron: str | None = strawberry.field(
        default=None, description="A new cron or timeZone recomputes nextRunAt from now."
    )
    time_zone: str | None = None
    misfire: Misfire | None = None
    train: TrainModelInput | None = strawberry.field(
        default=None,
        description="Replaces the whole train input (a sweep schedule becomes a train one).",
    )
    promote: SchedulePromoteInput | None = strawberry.UNSET
    sweep: StartSweepInput | None = strawberry.field(
        default=None,
        description="Replaces the whole sweep input (a train schedule becomes a sweep one).",
    )

    def to_changes(self) -> ScheduleChanges:
        promote_given = self.promote is not strawberry.UNSET
        return ScheduleChanges(
            name=self.name,
            cron=self.cron,
            time_zone=self.time_zone,
            misfire=self.misfire,
            train=self.train.to_request() if self.train is not None else None,
            train_json=stored_train_input(self.train) if self.train is not None else None,
            sweep=self.sweep.to_request() if self.sweep is not None else None,
            sweep_json=stored_sweep_input(self.sweep) if self.sweep is not None else None,
            promote_alias=self.promote.alias if promote_given and self.promote else None,
            promote_gate=gate_of(self.promote) if promote_given else None,
            promote_given=promote_given,
        )


def gate_of(promote: SchedulePromoteInput | None) -> GateRequest | None:
    return promote.gate.to_request() if promote is not None and promote.gate else None


@strawberry.type(description="The gate a schedule's promotions go through.")
class SchedulePromotionGate:
    dataset_path: str
    metric: GateMetric
    min_improvement: float


@strawberry.type(description="How a schedule promotes the models of its runs.")
class SchedulePromote:
    alias: str
    gate: SchedulePromotionGate | None = None


@strawberry.type(
    description="One slot of a schedule: the run or sweep it started, or why it did not."
)
class TrainingScheduleSlot:
    slot_at: datetime = strawberry.field(description="When the slot was due (UTC).")
    outcome: SlotOutcome = strawberry.field(
        description="CLAIMED: taken by a server that has not recorded its outcome (or died)."
    )
    reason: str | None = strawberry.field(
        description="Why it was skipped; for a late firing (misfire), how it fired."
    )
    promotion: Promotion | None = strawberry.field(
        description="Null when the schedule did not promote at that slot."
    )
    promotion_detail: str | None = strawberry.field(
        description="Where the alias went, or why it stayed."
    )

    @strawberry.field(name="firedAt", description="When a server took the slot.")
    def claimed_at(self, root: strawberry.Parent[ScheduleSlot]) -> datetime:
        return root.claimed_at

    @strawberry.field(name="firedBy", description="The server process that took it (host:pid).")
    def claimed_by(self, root: strawberry.Parent[ScheduleSlot]) -> str:
        return root.claimed_by

    @strawberry.field(
        graphql_type=TrainingRun | None, description="The run a train schedule's slot started."
    )
    async def run(self, root: strawberry.Parent[ScheduleSlot]) -> RunRecord | None:
        return None if root.run_id is None else await get_run_record(root.run_id)

    @strawberry.field(
        graphql_type=Sweep | None,
        description="The sweep a sweep schedule's slot started (its bestRun is promoted).",
    )
    async def sweep(self, root: strawberry.Parent[ScheduleSlot]) -> SweepRow | None:
        return None if root.sweep_id is None else await sweeps.get_sweep(str(root.sweep_id))


@strawberry.type(description="Retraining on a cron schedule, as its creator (issue 25).")
class TrainingSchedule(relay.Node):
    id: relay.NodeID[int]
    name: str
    cron: str
    time_zone: str
    misfire: Misfire
    paused: bool
    next_run_at: datetime | None = strawberry.field(
        description="The next slot (UTC); null while paused."
    )
    created_by_username: str | None = strawberry.field(
        description="Whose runs these are: they count against that user's active runs."
    )
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    def database_id(self, root: strawberry.Parent[TrainingScheduleRow]) -> int:
        return root.id

    @strawberry.field(description="TRAIN: each slot starts one run; SWEEP: one sweep.")
    def kind(self, root: strawberry.Parent[TrainingScheduleRow]) -> ScheduleKind:
        return root.kind

    @strawberry.field(
        description=(
            "The stored TrainModelInput of each run, as GraphQL JSON (camelCase); an empty "
            "object for a sweep schedule (see `sweep`)."
        )
    )
    def train(self, root: strawberry.Parent[TrainingScheduleRow]) -> JSON:
        stored: JSON = root.train
        return stored

    @strawberry.field(
        description=(
            "The stored StartSweepInput of each slot's sweep, as GraphQL JSON (camelCase); "
            "null for a train schedule."
        )
    )
    def sweep(self, root: strawberry.Parent[TrainingScheduleRow]) -> JSON | None:
        stored: JSON | None = root.sweep
        return stored

    @strawberry.field
    def promote(self, root: strawberry.Parent[TrainingScheduleRow]) -> SchedulePromote | None:
        if not root.promote_alias:
            return None
        gate = stored_gate_request(root.promote_gate)
        return SchedulePromote(
            alias=root.promote_alias,
            gate=SchedulePromotionGate(
                dataset_path=gate.dataset_path,
                metric=GateMetric(gate.metric),
                min_improvement=gate.min_improvement,
            )
            if gate is not None
            else None,
        )

    @strawberry.field(
        description=(
            "The runs this schedule started, newest first (a sweep schedule's trials are "
            "under each slot's sweep)."
        ),
        graphql_type=TrainingRunConnection,
    )
    async def runs(
        self,
        root: strawberry.Parent[TrainingScheduleRow],
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> RunConnection:
        return await training_schedules.schedule_runs(
            info.context.services.page_sizes, root.id, first, after
        )

    @strawberry.field(
        description="Its slots, newest first (at most 100): fired, skipped and why, promotion.",
        graphql_type=list[TrainingScheduleSlot],
    )
    async def history(
        self, root: strawberry.Parent[TrainingScheduleRow], first: int = 20
    ) -> list[ScheduleSlot]:
        return await training_schedules.schedule_history(root.id, first)

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, TrainingScheduleRow | cls)


@strawberry.type
class TrainingScheduleEdge:
    cursor: str
    node: TrainingScheduleRow = strawberry.field(graphql_type=TrainingSchedule)


@strawberry.type
class TrainingScheduleConnection:
    """Read from a resolvers.training_schedules.ScheduleConnection."""

    @strawberry.field(graphql_type=list[TrainingScheduleEdge])
    def edges(self, root: strawberry.Parent[ScheduleConnection]) -> list[TrainingScheduleEdge]:
        return [TrainingScheduleEdge(cursor=root.cursor(row), node=row) for row in root.schedules]

    @strawberry.field(graphql_type=list[TrainingSchedule])
    def nodes(self, root: strawberry.Parent[ScheduleConnection]) -> list[TrainingScheduleRow]:
        return root.schedules

    @strawberry.field
    def page_info(self, root: strawberry.Parent[ScheduleConnection]) -> relay.PageInfo:
        rows = root.schedules
        return relay.PageInfo(
            has_next_page=root.has_next_page,
            has_previous_page=root.has_previous_page,
            start_cursor=root.cursor(rows[0]) if rows else None,
            end_cursor=root.cursor(rows[-1]) if rows else None,
        )

    @strawberry.field(description="Every schedule; counted only when selected.")
    async def total_count(self, root: strawberry.Parent[ScheduleConnection]) -> int:
        return await root.total_count()


@strawberry.type
class TrainingSchedulePayload:
    training_schedule: TrainingScheduleRow | None = strawberry.field(
        graphql_type=TrainingSchedule | None
    )
    errors: list[UserError]


@strawberry.type
class DeleteTrainingSchedulePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        description="The global id of the schedule removed (its runs stay)."
    )
    errors: list[UserError]
