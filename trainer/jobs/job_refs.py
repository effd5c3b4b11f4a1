"""What the runners carry: a job reference (its kind and its row's id), so training runs,
batch predictions and model evaluations share one pool, one fair queue, one broker
queue, one reaper and one re-queue at start-up."""

from __future__ import annotations

from typing import NamedTuple

from models.training_runs import RunStatus, TrainingRun
from models.trust_jobs import BatchPrediction, JobKind, ModelEvaluation

__all__ = ["JobKind", "JobRef", "job_owner", "job_table", "still_queued"]


class JobRef(NamedTuple):
    kind: JobKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind.value} {self.id}"


JobTable = type[TrainingRun] | type[BatchPrediction] | type[ModelEvaluation]
_TABLES: dict[JobKind, JobTable] = {
    JobKind.TRAINING: TrainingRun,
    JobKind.BATCH_PREDICTION: BatchPrediction,
    JobKind.EVALUATION: ModelEvaluation,
}
_OWNER_COLUMNS = {
    JobKind.TRAINING: "trained_by_id",
    JobKind.BATCH_PREDICTION: "created_by_id",
    JobKind.EVALUATION: "created_by_id",
}


def job_table(kind: JobKind) -> JobTable:
    return _TABLES[kind]


async def job_owner(ref: JobRef) -> int | None:
    """Whose job it is: the fair queue takes turns between owners."""
    owner = (
        await job_table(ref.kind)
        .filter(id=ref.id)
        .first()
        .values_list(_OWNER_COLUMNS[ref.kind], flat=True)
    )
    return owner if isinstance(owner, int) else None


async def still_queued(ref: JobRef) -> bool:
    return await job_table(ref.kind).filter(id=ref.id, status=RunStatus.QUEUED).exists()
