"""trainModel: validate the request, record a QUEUED run, hand it to a worker.

Every refusal is a UserError with the input path and a code, and creates nothing; every
accepted request leaves a run row, whatever happens to the training afterwards.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.fields import CharField

from models.credentials import Identity
from models.model_aliases import alias_exists
from models.run_lifecycle import move_run
from models.run_quota import TooManyActiveRuns, create_run_within_quota
from models.run_records import RunRecord
from models.training_runs import RunStatus, TrainingRun
from resolvers.errors import FieldError, FieldErrorCode, RunOutcome
from trainer.artifacts import ArtifactPaths, UnsafePath, canonical_path
from trainer.jobs.runners import JobRunner
from trainer.ml.algorithms import ALGORITHMS, Algorithm

logger = logging.getLogger("resolvers.train_model")

DEFAULT_DATASET = "future_skills_dataset.csv"
MODEL_VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_NOTES_LENGTH = 5000
MAX_RANDOM_STATE = 2**32 - 1
# The column's size: a longer path could not be recorded on the run.
_DATASET_PATH_FIELD = TrainingRun._meta.fields_map["dataset_path"]
assert isinstance(_DATASET_PATH_FIELD, CharField)
MAX_DATASET_PATH_LENGTH: int = _DATASET_PATH_FIELD.max_length


@dataclass(frozen=True)
class Hyperparameters:
    n_estimators: int
    max_depth: int | None
    min_samples_split: int
    min_samples_leaf: int
    # scikit-learn's value ("balanced", "balanced_subsample") or None
    class_weight: str | None


@dataclass(frozen=True)
class TrainRequest:
    """What trainModel was asked, as plain values; schema/inputs.py builds it from the
    GraphQL input, whose defaults are the only ones."""

    hyperparameters: Hyperparameters
    dataset_path: str | None
    test_split: float
    random_state: int
    model_version: str | None
    notes: str
    wait: bool


def _range_error(path: list[str], value: float, low: float, high: float | None) -> FieldError:
    bound = f"between {low} and {high}" if high is not None else f"at least {low}"
    return FieldError(
        ["input", *path], f"must be {bound}, got {value}", FieldErrorCode.OUT_OF_RANGE
    )


def validate(data: TrainRequest, artifacts: ArtifactPaths) -> list[FieldError]:
    """Every rule broken by the input, each with its path; empty when it is acceptable."""
    errors: list[FieldError] = []
    hp = data.hyperparameters
    if not 0.1 <= data.test_split <= 0.5:
        errors.append(_range_error(["testSplit"], data.test_split, 0.1, 0.5))
    if not 1 <= hp.n_estimators <= 1000:
        errors.append(_range_error(["hyperparameters", "nEstimators"], hp.n_estimators, 1, 1000))
    if hp.max_depth is not None and not 1 <= hp.max_depth <= 100:
        errors.append(_range_error(["hyperparameters", "maxDepth"], hp.max_depth, 1, 100))
    if hp.min_samples_split < 2:
        errors.append(
            _range_error(["hyperparameters", "minSamplesSplit"], hp.min_samples_split, 2, None)
        )
    if hp.min_samples_leaf < 1:
        errors.append(
            _range_error(["hyperparameters", "minSamplesLeaf"], hp.min_samples_leaf, 1, None)
        )
    if not 0 <= data.random_state <= MAX_RANDOM_STATE:
        errors.append(_range_error(["randomState"], data.random_state, 0, MAX_RANDOM_STATE))
    if data.model_version is not None and not MODEL_VERSION_PATTERN.fullmatch(data.model_version):
        errors.append(
            FieldError(
                ["input", "modelVersion"],
                "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                FieldErrorCode.INVALID,
            )
        )
    if len(data.notes) > MAX_NOTES_LENGTH:
        errors.append(
            FieldError(
                ["input", "notes"],
                f"must be at most {MAX_NOTES_LENGTH} characters",
                FieldErrorCode.INVALID,
            )
        )
    errors += _dataset_errors(dataset_of(data), artifacts)
    return errors


def _dataset_errors(dataset: str, artifacts: ArtifactPaths) -> list[FieldError]:
    if len(dataset) > MAX_DATASET_PATH_LENGTH:
        message = f"dataset path must be at most {MAX_DATASET_PATH_LENGTH} characters"
    else:
        try:
            artifacts.dataset(dataset)
            return []
        except UnsafePath as exc:
            message = f"dataset path {exc}"
    return [FieldError(["input", "datasetPath"], message, FieldErrorCode.PATH_NOT_ALLOWED)]


def dataset_of(data: TrainRequest) -> str:
    """The dataset asked for, in its canonical spelling (`./x.csv` is `x.csv`); only an
    absent path means the default (\"\" is refused)."""
    path = DEFAULT_DATASET if data.dataset_path is None else data.dataset_path
    try:
        return canonical_path(path)
    except UnsafePath:
        return path  # refused by _dataset_errors, never stored


def generated_model_version() -> str:
    return f"v{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _duplicate(version: str) -> FieldError:
    return FieldError(
        ["input", "modelVersion"],
        f"model version {version!r} is already used",
        FieldErrorCode.DUPLICATE,
    )


def _names_an_alias(version: str) -> FieldError:
    """predictFutureNeed(model:) takes an alias or a modelVersion: one name must not be both."""
    return FieldError(
        ["input", "modelVersion"],
        f"{version!r} is the name of a model alias; choose another model version",
        FieldErrorCode.DUPLICATE,
    )


def _model_file_exists(version: str) -> FieldError:
    return FieldError(
        ["input", "modelVersion"],
        f"a model file for version {version!r} already exists in the models folder",
        FieldErrorCode.DUPLICATE,
    )


def _model_file_taken(artifacts: ArtifactPaths, version: str) -> bool:
    # One lstat, as cheap as validate()'s path checks: not worth a thread.
    return os.path.lexists(artifacts.model_file(version))


def _too_many_active(limit: int) -> FieldError:
    return FieldError(
        ["input"],
        f"you already have {limit} training runs queued or running, the most allowed at once; "
        "wait for one to end (or cancel one) and try again",
        FieldErrorCode.TOO_MANY_ACTIVE_RUNS,
    )


async def train_model(
    data: TrainRequest,
    *,
    viewer: Identity | None,
    artifacts: ArtifactPaths,
    jobs: JobRunner,
    sweep_id: int | None = None,
    trial_number: int | None = None,
) -> RunOutcome:
    """Validate, record a QUEUED run within the caller's quota, hand it to `jobs`."""
    errors = validate(data, artifacts)
    version = data.model_version or generated_model_version()
    version_is_valid = not any(e.field == ["input", "modelVersion"] for e in errors)
    if version_is_valid and await TrainingRun.filter(model_version=version).exists():
        errors.append(_duplicate(version))
    elif version_is_valid and await alias_exists(version):
        errors.append(_names_an_alias(version))
    elif version_is_valid and _model_file_taken(artifacts, version):
        # Not a run's (the database has none): a file put there by other means, which
        # training must not overwrite. The worker refuses it again when it saves.
        errors.append(_model_file_exists(version))
    if errors:
        return RunOutcome(errors=errors)

    hp = data.hyperparameters
    limit = jobs.max_active_runs_per_user
    try:
        run = await create_run_within_quota(
            viewer.id if viewer else None,
            limit,
            model_version=version,
            dataset_path=dataset_of(data),
            test_split=data.test_split,
            random_state=data.random_state,
            n_estimators=hp.n_estimators,
            max_depth=hp.max_depth,
            min_samples_split=hp.min_samples_split,
            min_samples_leaf=hp.min_samples_leaf,
            class_weight=hp.class_weight,
            algorithm=Algorithm.RANDOM_FOREST.value,
            parameters=ALGORITHMS[Algorithm.RANDOM_FOREST].complete(asdict(hp)),
            trained_by_username=viewer.username if viewer else None,
            notes=data.notes,
            sweep_id=sweep_id,
            trial_number=trial_number,
        )
    except TooManyActiveRuns as exc:
        logger.info(
            "trainModel refused for %s: %d runs active (limit %d)",
            viewer.username if viewer else "-",
            exc.active,
            exc.limit,
        )
        return RunOutcome(errors=[_too_many_active(exc.limit)])
    except IntegrityError:
        # Two requests raced for the same version; the unique index let one through.
        return RunOutcome(errors=[_duplicate(version)])
    logger.info("run %s queued by %s (%s)", run.id, viewer.username if viewer else "-", version)
    try:
        await jobs.submit(run.id)
    except Exception as exc:
        # The row exists, so the request is not lost: it tells why it never ran.
        logger.exception("run %s failed: could not be handed to a worker", run.id)
        await move_run(
            run.id,
            RunStatus.QUEUED,
            RunStatus.FAILED,
            error_message=f"could not be handed to a training worker: {type(exc).__name__}",
        )
        await run.refresh_from_db()
        return RunOutcome(training_run=RunRecord.of(run))
    if data.wait:
        await jobs.wait(run.id)
        await run.refresh_from_db()
    return RunOutcome(training_run=RunRecord.of(run))
