"""trainModel: validate the request, record a QUEUED run, hand it to a worker.

Every refusal is a UserError with the input path and a code, and creates nothing; every
accepted request leaves a run row, whatever happens to the training afterwards.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.fields import CharField

from models.accounts import Identity
from models.model_aliases import alias_exists
from models.run_lifecycle import move_run
from models.run_quota import TooManyActiveRuns, create_run_within_quota
from models.run_records import RunRecord
from models.training_runs import RunStatus, TrainingRun
from resolvers.errors import FieldError, FieldErrorCode, RunOutcome
from trainer.artifacts import ArtifactPaths, UnsafePath, canonical_path
from trainer.jobs.runners import JobRunner
from trainer.ml.algorithms import (
    ALGORITHMS,
    OBJECTIVES,
    Algorithm,
    ParameterKind,
    ParameterValue,
    graphql_name,
)

logger = logging.getLogger("resolvers.train_model")

DEFAULT_DATASET = "future_skills_dataset.csv"
MODEL_VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_NOTES_LENGTH = 5000
MAX_RANDOM_STATE = 2**32 - 1
# k-fold cross-validation: fewer than 2 folds is no cross-validation, more than 10 costs
# more fits than it teaches.
MIN_FOLDS = 2
MAX_FOLDS = 10
# The column's size: a longer path could not be recorded on the run.
_DATASET_PATH_FIELD = TrainingRun._meta.fields_map["dataset_path"]
assert isinstance(_DATASET_PATH_FIELD, CharField)
MAX_DATASET_PATH_LENGTH: int = _DATASET_PATH_FIELD.max_length


@dataclass(frozen=True)
class TrainRequest:
    """What trainModel was asked, as plain values; schema/inputs.py builds it from the
    GraphQL input, whose defaults are the only ones.

    `parameters` are the algorithm's settings under scikit-learn's names, as given (the
    table in trainer/ml/algorithms.py fills the rest); `parameters_path` is where they sat
    in the input, so a refused one is reported at its own field. `model_given_twice`: the
    deprecated `hyperparameters` and `model` were both sent.
    """

    dataset_path: str | None
    test_split: float
    random_state: int
    model_version: str | None
    notes: str
    wait: bool
    algorithm: Algorithm = Algorithm.RANDOM_FOREST
    parameters: Mapping[str, ParameterValue] = field(default_factory=dict)
    parameters_path: tuple[str, ...] = ("hyperparameters",)
    folds: int | None = None
    model_given_twice: bool = False


def _range_error(path: list[str], value: float, low: float, high: float | None) -> FieldError:
    bound = f"between {low} and {high}" if high is not None else f"at least {low}"
    return FieldError(
        ["input", *path], f"must be {bound}, got {value}", FieldErrorCode.OUT_OF_RANGE
    )


def parameter_errors(
    algorithm: Algorithm, parameters: Mapping[str, object], path: Sequence[str]
) -> list[FieldError]:
    """The table's verdict on each parameter, at `path` + the parameter's GraphQL name: a
    number outside its bounds is OUT_OF_RANGE, anything else refused is INVALID. Used by
    trainModel and by a sweep's search-space check."""
    spec = ALGORITHMS[algorithm]
    errors: list[FieldError] = []
    for name, message in spec.problems(parameters):
        parameter = spec.by_name.get(name)
        value = parameters[name]
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        out_of_range = (
            parameter is not None
            and parameter.kind in (ParameterKind.INT, ParameterKind.FLOAT)
            and numeric
            and parameter.problem(value) == parameter.range_problem(float(value))  # type: ignore[arg-type]
        )
        errors.append(
            FieldError(
                ["input", *path, graphql_name(name)],
                message,
                FieldErrorCode.OUT_OF_RANGE if out_of_range else FieldErrorCode.INVALID,
            )
        )
    return errors


# The deprecated TrainingRun.hyperparameters view: a forest's five settings.
LEGACY_SETTINGS = ("n_estimators", "max_depth", "min_samples_split", "min_samples_leaf")


def legacy_hyperparameters(parameters: Mapping[str, ParameterValue]) -> dict[str, object]:
    """The five RandomForest columns behind the deprecated `hyperparameters` field, from
    a run's complete parameters. A forest shows its own values. Another algorithm shows
    those it also has (maxDepth, minSamplesLeaf, classWeight) and 0 for the counts it
    lacks (nEstimators, minSamplesSplit; no forest has 0 trees), never a forest default
    it was not trained with."""
    values: dict[str, object] = {
        name: parameters.get(name, None if name == "max_depth" else 0) for name in LEGACY_SETTINGS
    }
    values["class_weight"] = parameters.get("class_weight")
    return values


def validate(
    data: TrainRequest,
    artifacts: ArtifactPaths,
    *,
    validation_fraction: float | None = None,
    objective: str | None = None,
) -> list[FieldError]:
    """Every rule broken by the input, each with its path; empty when it is acceptable."""
    errors: list[FieldError] = []
    if not 0.1 <= data.test_split <= 0.5:
        errors.append(_range_error(["testSplit"], data.test_split, 0.1, 0.5))
    if data.model_given_twice:
        errors.append(
            FieldError(
                ["input", "model"],
                "give either model or the deprecated hyperparameters, not both",
                FieldErrorCode.INVALID,
            )
        )
    else:
        errors += parameter_errors(data.algorithm, data.parameters, data.parameters_path)
    if data.folds is not None and not MIN_FOLDS <= data.folds <= MAX_FOLDS:
        errors.append(_range_error(["evaluation", "folds"], data.folds, MIN_FOLDS, MAX_FOLDS))
    if validation_fraction is not None and not 0.05 <= validation_fraction <= 0.5:
        errors.append(_range_error(["validationFraction"], validation_fraction, 0.05, 0.5))
    if objective is not None and objective not in OBJECTIVES:
        errors.append(
            FieldError(
                ["input", "objective"],
                f"must be one of {', '.join(OBJECTIVES)}",
                FieldErrorCode.INVALID,
            )
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
    schedule_id: int | None = None,
) -> RunOutcome:
    """trainModel: validate, record a QUEUED run within the caller's quota, hand it to `jobs`.

    `schedule_id`: the training schedule firing this run (resolvers/schedule_ticker.py),
    recorded with the run in the same INSERT.
    """
    return await queue_run(viewer, data, jobs, artifacts, schedule_id=schedule_id)


async def queue_run(
    viewer: Identity | None,
    data: TrainRequest,
    jobs: JobRunner,
    artifacts: ArtifactPaths,
    *,
    sweep_id: int | None = None,
    schedule_id: int | None = None,
    trial_number: int | None = None,
    validation_fraction: float | None = None,
    objective: str | None = None,
) -> RunOutcome:
    """Validate, record a QUEUED run within the caller's quota, hand it to `jobs`.

    The one way a run comes to be: trainModel, a schedule's slots and a sweep's trials all
    call it, so each is checked, stored and queued exactly like a run started by hand. A
    trial also names its sweep and is judged on `validation_fraction` of its training split
    by `objective` while it grows.
    """
    errors = validate(data, artifacts, validation_fraction=validation_fraction, objective=objective)
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

    parameters = ALGORITHMS[data.algorithm].complete(data.parameters)
    limit = jobs.max_active_runs_per_user
    # A sweep's trial: its sweep and its number there (unique per sweep, migration 0010).
    sweep: dict[str, int] = (
        {"sweep_id": sweep_id, "trial_number": trial_number or 0} if sweep_id is not None else {}
    )
    try:
        run = await create_run_within_quota(
            viewer.id if viewer else None,
            limit,
            model_version=version,
            dataset_path=dataset_of(data),
            test_split=data.test_split,
            random_state=data.random_state,
            algorithm=data.algorithm.value,
            parameters=parameters,
            **legacy_hyperparameters(parameters),
            cross_validation={"folds": data.folds} if data.folds is not None else None,
            validation_fraction=validation_fraction,
            objective=objective,
            **sweep,
            trained_by_username=viewer.username if viewer else None,
            notes=data.notes,
            schedule_id=schedule_id,
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
    logger.info(
        "run %s queued by %s (%s, %s%s)",
        run.id,
        viewer.username if viewer else "-",
        version,
        data.algorithm.value,
        f", sweep {sweep_id}" if sweep_id is not None else "",
    )
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
