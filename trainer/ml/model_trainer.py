"""One training run, end to end: load, split, fit, evaluate, save.

Built to be driven by a job runner in another process: it reports real progress (trees
grown so far), stops between chunks of trees when asked, and either leaves a complete model
file with its checksum or no file at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import check_array

from trainer.ml.dataset import TARGET_CLASSES, TARGET_COLUMN, Dataset, load_dataset
from trainer.ml.dataset_files import DEFAULT_CSV_LIMITS, CsvLimits
from trainer.ml.errors import (
    TrainerError,
    TrainingCancelled,
    TrainingError,
    UnexplainableModel,
    os_error_reason,
)
from trainer.ml.stages import Stage
from trainer.model_files import (
    ModelFileChanged,
    ModelFileInvalid,
    ModelFileMissing,
    load_verified_model,
)

__all__ = [
    "CLASS_WEIGHTS",
    "Hyperparameters",
    "ModelTrainer",
    "Stage",
    "TrainingConfig",
    "TrainingResult",
    "build_pipeline",
    "load_model",
]

CLASS_WEIGHTS: tuple[str | None, ...] = ("balanced", "balanced_subsample", None)

# The job binds the run id to the log context, so these lines carry it (trainer.logs).
logger = logging.getLogger("trainer.ml.model_trainer")

# A chunk of trees should take about this long, so progress moves and cancelling is quick.
_TARGET_CHUNK_SECONDS = 0.5
# Each fit call also re-checks the labels and class weights (~0.07 s at 100,000 rows on a
# small machine); chunks hold enough trees to keep that under this share of the fit.
_MAX_CALL_OVERHEAD = 0.02
_MISSING_CATEGORY = "(missing)"


@dataclass(frozen=True)
class Hyperparameters:
    """The RandomForest settings a user may choose; defaults match the REST original."""

    n_estimators: int = 200
    max_depth: int | None = None
    min_samples_split: int = 2
    min_samples_leaf: int = 1
    class_weight: str | None = "balanced"

    def __post_init__(self) -> None:
        # The API validates input with friendly messages; these guard every other caller.
        if self.n_estimators < 1:
            raise ValueError(f"n_estimators must be at least 1, got {self.n_estimators}")
        if self.max_depth is not None and self.max_depth < 1:
            raise ValueError(f"max_depth must be at least 1 or None, got {self.max_depth}")
        if self.min_samples_split < 2:
            raise ValueError(f"min_samples_split must be at least 2, got {self.min_samples_split}")
        if self.min_samples_leaf < 1:
            raise ValueError(f"min_samples_leaf must be at least 1, got {self.min_samples_leaf}")
        if self.class_weight not in CLASS_WEIGHTS:
            raise ValueError(
                f"class_weight must be one of {CLASS_WEIGHTS}, got {self.class_weight!r}"
            )


@dataclass(frozen=True)
class TrainingConfig:
    """Everything besides the data that decides the model; defaults match the REST original."""

    test_split: float = 0.2
    random_state: int = 42
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    n_jobs: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.test_split < 1.0:
            raise ValueError(f"test_split must be between 0 and 1, got {self.test_split}")
        if self.n_jobs == 0:
            raise ValueError("n_jobs must not be 0 (use 1, a worker count, or -1 for all cores)")


@dataclass(frozen=True)
class TrainingResult:
    """What a finished run learnt and where its model is, in plain Python types only.

    Metrics are measured on the held-out test split; precision, recall and F1 are weighted
    by class support, with 0 where a class was never predicted.
    """

    accuracy: float
    precision: float
    recall: float
    f1_score: float
    per_class_metrics: list[dict[str, Any]]
    confusion_matrix: dict[str, list[Any]]
    feature_importance: dict[str, float]
    features_used: list[str]
    total_samples: int
    train_samples: int
    test_samples: int
    dropped_rows: int
    dataset_sha256: str
    model_sha256: str
    training_duration_seconds: float
    # Mean |SHAP| per column over a sample of the test split, and its units; None when
    # the model cannot be explained (trainer.ml.explanations).
    shap_importance: dict[str, Any] | None = None


def build_pipeline(
    categorical: tuple[str, ...], numeric: tuple[str, ...], config: TrainingConfig
) -> Pipeline:
    """The unfitted model: one-hot categories, scaled numbers, then the forest.

    Both column groups get an imputer because HR exports have blank cells; a blank category
    becomes its own "(missing)" value rather than pretending to be the most common one.
    """
    transformers: list[tuple[str, Pipeline, list[str]]] = []
    if categorical:
        transformers.append(
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=_MISSING_CATEGORY),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                list(categorical),
            )
        )
    if numeric:
        transformers.append(
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
                ),
                list(numeric),
            )
        )
    hp = config.hyperparameters
    forest = RandomForestClassifier(
        n_estimators=hp.n_estimators,
        max_depth=hp.max_depth,
        min_samples_split=hp.min_samples_split,
        min_samples_leaf=hp.min_samples_leaf,
        class_weight=hp.class_weight,
        random_state=config.random_state,
        n_jobs=config.n_jobs,
    )
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("classifier", forest)])


class ModelTrainer:
    """Runs training with a fixed configuration, reporting to the callbacks it was given.

    on_progress(stage, fraction) is called at the start of each stage with 0.0, after every
    chunk of trees during FITTING, and with (SAVING, 1.0) once the model file is in place.
    should_stop() is polled before each chunk of trees and before saving.
    """

    def __init__(
        self,
        config: TrainingConfig,
        *,
        on_progress: Callable[[Stage, float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        max_model_bytes: int | None = None,
    ) -> None:
        self._config = config
        self._on_progress = on_progress
        self._should_stop = should_stop
        self._max_model_bytes = max_model_bytes

    def train(
        self,
        dataset_path: Path,
        model_path: Path,
        *,
        display_name: str | None = None,
        limits: CsvLimits = DEFAULT_CSV_LIMITS,
    ) -> TrainingResult:
        """Train on the CSV at dataset_path and save the fitted Pipeline at model_path.

        Raises DataLoadError, TrainingError or TrainingCancelled; in every failure case no
        file is left at model_path nor beside it.
        """
        started = time.perf_counter()
        self._report(Stage.LOADING_DATA, 0.0)
        # Checked first so a long fit is not wasted; _save_model refuses it again atomically.
        _refuse_existing_model(model_path)
        dataset = load_dataset(dataset_path, display_name, limits)
        logger.info(
            "data loaded from %s: %d rows used, %d dropped, %d features",
            display_name or dataset_path.name,
            len(dataset.frame),
            dataset.dropped_rows,
            len(dataset.features),
        )
        classes = [c for c in TARGET_CLASSES if c in set(dataset.frame[TARGET_COLUMN])]
        x_train, x_test, y_train, y_test = self._split(dataset, classes)

        self._report(Stage.FITTING, 0.0)
        pipeline = self._fit(
            build_pipeline(dataset.categorical, dataset.numeric, self._config), x_train, y_train
        )

        logger.info(
            "fitted %d trees on %d rows in %.2f s",
            self._config.hyperparameters.n_estimators,
            len(x_train),
            time.perf_counter() - started,
        )
        self._report(Stage.EVALUATING, 0.0)
        metrics = _evaluate(pipeline, x_test, y_test, classes)
        logger.info(
            "evaluated on %d rows: accuracy %.4f, f1 %.4f",
            len(x_test),
            metrics["accuracy"],
            metrics["f1_score"],
        )
        importance = _importance_by_column(pipeline, dataset)
        self._stop_if_asked()
        shap_importance = _shap_importance(pipeline, x_test, self._config.random_state)

        self._stop_if_asked()
        self._report(Stage.SAVING, 0.0)
        model_sha256, model_size = _save_model(pipeline, model_path)
        logger.info("model saved to %s (%d bytes, sha256 %s)", model_path, model_size, model_sha256)
        self._warn_if_too_large(model_size)
        self._report(Stage.SAVING, 1.0)
        return TrainingResult(
            **metrics,
            feature_importance=importance,
            features_used=list(dataset.features),
            total_samples=len(dataset.frame),
            train_samples=len(x_train),
            test_samples=len(x_test),
            dropped_rows=dataset.dropped_rows,
            dataset_sha256=dataset.sha256,
            model_sha256=model_sha256,
            training_duration_seconds=time.perf_counter() - started,
            shap_importance=shap_importance,
        )

    def _split(
        self, dataset: Dataset, classes: list[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
        """Stratified split, refusing data where the split would lose a class."""
        target = dataset.frame[TARGET_COLUMN]
        rows = len(target)
        if len(classes) < 2:
            raise TrainingError(
                f"all {rows} usable rows have the same need level ({classes[0]}); training "
                "needs rows of at least two of the levels LOW, MEDIUM and HIGH"
            )
        counts = target.value_counts()
        too_rare = [f"{c} has {counts[c]}" for c in classes if counts[c] < 2]
        if too_rare:
            raise TrainingError(
                "too few rows to put every need level in both the training and the test set: "
                f"{', '.join(too_rare)} row; each level present needs at least 2 rows"
            )
        test_rows = math.ceil(self._config.test_split * rows)
        if min(test_rows, rows - test_rows) < len(classes):
            raise TrainingError(
                f"{rows} usable rows are too few for a {self._config.test_split:.0%} test split: "
                f"the training set ({rows - test_rows} rows) and the test set ({test_rows} rows) "
                f"each need at least one row of each of the {len(classes)} need levels"
            )
        try:
            x_train, x_test, y_train, y_test = train_test_split(
                dataset.frame[list(dataset.features)],
                target,
                test_size=self._config.test_split,
                random_state=self._config.random_state,
                stratify=target,
            )
        except ValueError as exc:
            raise TrainingError(f"the rows could not be split for training: {exc}") from exc
        return x_train, x_test, y_train, y_test

    def _fit(self, pipeline: Pipeline, x_train: pd.DataFrame, y_train: pd.Series) -> Pipeline:
        """Fit the preprocessor once, then grow the forest chunk by chunk with warm_start.

        Under warm_start the forest draws each new tree's seed exactly as a one-shot fit
        would, so the result predicts identically to pipeline.fit(); chunks only add
        progress reports and cancellation points.
        """
        forest: RandomForestClassifier = pipeline.named_steps["classifier"]
        total = forest.n_estimators
        workers = joblib.effective_n_jobs(forest.n_jobs)
        try:
            features = pipeline.named_steps["preprocess"].fit_transform(x_train)
            # The forest's own input format: converting once spares every chunk a copy.
            features = check_array(features, accept_sparse="csc", dtype=np.float32)
            # Every fit call re-sorts the labels to find the classes: fixed-width strings
            # sort ~6x faster than Python objects, which matters at a million rows.
            labels = y_train.to_numpy(dtype=str)
            forest.set_params(warm_start=True)
            built, chunk = 0, min(total, max(2, workers))
            call_overhead: float | None = None
            with warnings.catch_warnings():
                # The forest warns that "balanced" weights under warm_start may differ from
                # a full fit; ours is refitted on the very same rows, so they cannot.
                warnings.filterwarnings(
                    "ignore",
                    message='class_weight presets "balanced" or "balanced_subsample" are not '
                    "recommended for warm_start",
                    category=UserWarning,
                )
                warnings.filterwarnings(
                    "ignore", message="Warm-start fitting without increasing n_estimators"
                )
                while built < total:
                    self._stop_if_asked()
                    chunk_started = time.perf_counter()
                    forest.set_params(n_estimators=min(total, built + chunk))
                    forest.fit(features, labels)
                    seconds_per_tree = (time.perf_counter() - chunk_started) / (
                        forest.n_estimators - built
                    )
                    built = forest.n_estimators
                    self._report(Stage.FITTING, built / total)
                    if built < total:
                        if call_overhead is None:
                            call_overhead = _fit_call_overhead(forest, features, labels)
                        chunk = _next_chunk(seconds_per_tree, call_overhead, workers)
        except MemoryError:
            raise TrainingError(
                "not enough memory to train this model; try fewer trees, a smaller maximum "
                "depth or a smaller dataset"
            ) from None
        except ValueError as exc:
            raise TrainingError(f"the model could not be trained: {exc}") from exc
        forest.set_params(warm_start=False)
        return pipeline

    def _warn_if_too_large(self, model_size: int) -> None:
        """The run still completes (its metrics and file are sound, and can be downloaded),
        but predictFutureNeed will refuse to load the file (MODEL_TOO_LARGE): say so where
        the operator looks, rather than at the first prediction. Size is known only once the
        forest is written (trees grow with the data), hence a warning, not a refusal."""
        limit = self._max_model_bytes
        if limit is not None and model_size > limit:
            logger.warning(
                "the model file is %d bytes, over MAX_MODEL_BYTES (%d): predictions will "
                "refuse to load it; train fewer or shallower trees (nEstimators, maxDepth)",
                model_size,
                limit,
            )

    def _report(self, stage: Stage, fraction: float) -> None:
        if self._on_progress is not None:
            self._on_progress(stage, fraction)

    def _stop_if_asked(self) -> None:
        if self._should_stop is not None and self._should_stop():
            raise TrainingCancelled("training was cancelled before it finished")


def load_model(model_path: Path, expected_sha256: str) -> Pipeline:
    """Load a saved Pipeline, but only if its bytes are exactly those that were trained.

    trainer.model_files.load_verified_model does the work (as for predictions): the file is
    read once, and the very bytes hashed are those unpickled, so a file rewritten in the
    meantime cannot slip through; a half-written or altered model is never loaded, and a
    file that is not a fitted Pipeline is refused.
    """
    name = model_path.name
    try:
        pipeline: Pipeline = load_verified_model(model_path, expected_sha256).pipeline
        return pipeline
    except ModelFileChanged:
        raise TrainerError(
            f"the model file '{name}' does not match the checksum recorded when it was "
            "trained; it may be incomplete or altered, so it was not loaded"
        ) from None
    except ModelFileMissing:
        raise TrainerError(f"the model file '{name}' does not exist") from None
    except ModelFileInvalid as exc:
        raise TrainerError(f"the model file '{name}' holds a {exc.kind}, not a model") from None
    except OSError as exc:
        raise TrainerError(
            f"the model file '{name}' cannot be read: {os_error_reason(exc)}"
        ) from None


def _evaluate(
    pipeline: Pipeline, x_test: pd.DataFrame, y_test: pd.Series, classes: list[str]
) -> dict[str, Any]:
    predicted = pipeline.predict(x_test)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_test, predicted, labels=classes, average="weighted", zero_division=0
    )
    per_precision, per_recall, per_f1, support = precision_recall_fscore_support(
        y_test, predicted, labels=classes, average=None, zero_division=0
    )
    matrix = confusion_matrix(y_test, predicted, labels=classes)
    return {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "precision": float(precision),
        "recall": float(recall),
        "f1_score": float(f1),
        "per_class_metrics": [
            {
                "label": label,
                "precision": float(per_precision[i]),
                "recall": float(per_recall[i]),
                "f1_score": float(per_f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(classes)
        ],
        "confusion_matrix": {"labels": list(classes), "matrix": matrix.tolist()},
    }


def _importance_by_column(pipeline: Pipeline, dataset: Dataset) -> dict[str, float]:
    """Importances per input column, most important first.

    One-hot columns are summed back to the column they came from: users chose "skill_name",
    not "skill_name = Python".
    """
    preprocess: ColumnTransformer = pipeline.named_steps["preprocess"]
    importances = pipeline.named_steps["classifier"].feature_importances_
    widths: list[tuple[str, int]] = []
    if dataset.categorical:
        encoder: OneHotEncoder = preprocess.named_transformers_["categorical"][-1]
        widths += [
            (column, len(categories))
            for column, categories in zip(dataset.categorical, encoder.categories_, strict=True)
        ]
    widths += [(column, 1) for column in dataset.numeric]
    # ColumnTransformer outputs its transformers' columns in the order they were declared.
    assert sum(width for _, width in widths) == importances.size, "importance layout mismatch"
    totals: dict[str, float] = {}
    start = 0
    for column, width in widths:
        totals[column] = float(importances[start : start + width].sum())
        start += width
    return dict(sorted(totals.items(), key=lambda item: item[1], reverse=True))


# Test rows explained for a run's global SHAP importance: exact Shapley values of a deep
# forest cost about half a millisecond per row and tree on a small machine
# (bench/results/predictions.md), so a run explains at most SHAP_IMPORTANCE_ROWS rows and
# about SHAP_IMPORTANCE_TREE_ROWS rows x trees (a 200-tree forest: 25 rows, ~3 s), never
# fewer than SHAP_IMPORTANCE_MIN_ROWS; the ranking of eleven columns settles early.
SHAP_IMPORTANCE_ROWS = 100
SHAP_IMPORTANCE_MIN_ROWS = 20
SHAP_IMPORTANCE_TREE_ROWS = 5_000


def shap_importance_rows(pipeline: Pipeline) -> int:
    """How many test rows a run's SHAP importance is measured on, by its tree count."""
    trees = getattr(pipeline[-1], "n_estimators", None)
    if not isinstance(trees, int) or trees < 1:
        return SHAP_IMPORTANCE_ROWS
    return max(
        SHAP_IMPORTANCE_MIN_ROWS, min(SHAP_IMPORTANCE_ROWS, SHAP_IMPORTANCE_TREE_ROWS // trees)
    )


def _shap_importance(
    pipeline: Pipeline, x_test: pd.DataFrame, random_state: int
) -> dict[str, Any] | None:
    """Mean |SHAP| per dataset column over a seeded sample of the test split
    (shap_importance_rows), measured as predictFutureNeed's reasons are, so the run
    page's global view and a prediction's reasons agree. Measured once here, while the
    test split is at hand, rather than when a page asks (the dataset may have changed
    since, and the page would wait seconds). A model shap cannot explain still trains:
    its run just has none."""
    from trainer.ml.explanations import global_importance

    started = time.perf_counter()
    rows = shap_importance_rows(pipeline)
    try:
        values, units = global_importance(
            pipeline, x_test, max_rows=rows, random_state=random_state
        )
    except UnexplainableModel as exc:
        logger.warning("no SHAP importance for this model: %s", exc)
        return None
    logger.info(
        "SHAP importance over %d test rows in %.2f s",
        min(len(x_test), rows),
        time.perf_counter() - started,
    )
    return {"units": units, "importance": values, "rows": min(len(x_test), rows)}


def _existing_model_error(model_path: Path) -> TrainingError:
    return TrainingError(
        f"a model file named '{model_path.name}' already exists; it was left untouched "
        "(choose another modelVersion)"
    )


def _refuse_existing_model(model_path: Path) -> None:
    if os.path.lexists(model_path):
        raise _existing_model_error(model_path)


def partial_model_files(model_path: Path) -> list[Path]:
    """The temp files _save_model may have left beside `model_path` if its process was killed."""
    return list(model_path.parent.glob(f".{model_path.stem}.*.partial"))


def _save_model(pipeline: Pipeline, model_path: Path) -> tuple[str, int]:
    """Write atomically: a hidden temp file beside the target, fsync, then link it in place.

    Returns the file's sha256 and size. Any failure removes the temp file, so a crash or a
    full disk never leaves a partial model that could be taken for a good one. The final
    name is taken with link(), which fails if it exists: a file already there (put in the
    models folder by anything else) is never overwritten.
    """
    temp: Path | None = None
    try:
        model_path.parent.mkdir(parents=True, exist_ok=True)
        # Named after the model so whoever stops this process can find and remove it.
        fd, temp_name = tempfile.mkstemp(
            dir=model_path.parent, prefix=f".{model_path.stem}.", suffix=".partial"
        )
        temp = Path(temp_name)
        os.fchmod(fd, 0o644)  # readable by the web process and workers, like any model file
        with os.fdopen(fd, "w+b") as handle:
            joblib.dump(pipeline, handle)
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
            handle.seek(0)
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        try:
            os.link(temp, model_path)
        except FileExistsError:
            raise _existing_model_error(model_path) from None
    except OSError as exc:
        raise TrainingError(f"could not write the model file: {os_error_reason(exc)}") from exc
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
    # Make the new name itself durable; the model is complete either way, so this is best effort.
    with contextlib.suppress(OSError):
        directory = os.open(model_path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return sha256, size


def _next_chunk(seconds_per_tree: float, call_overhead: float, workers: int) -> int:
    """Trees for the next fit call: about _TARGET_CHUNK_SECONDS of work, but enough that
    the call's own overhead stays under _MAX_CALL_OVERHEAD; a multiple of `workers`."""
    chunk = max(
        1,
        int(_TARGET_CHUNK_SECONDS / seconds_per_tree),
        math.ceil(call_overhead / (_MAX_CALL_OVERHEAD * seconds_per_tree)),
    )
    return math.ceil(chunk / workers) * workers


def _fit_call_overhead(forest: RandomForestClassifier, features: Any, labels: Any) -> float:
    """What one fit call costs besides its trees: a warm fit that adds no tree (the forest
    keeps its trees and draws nothing from its random state) costs exactly that."""
    started = time.perf_counter()
    forest.fit(features, labels)
    return time.perf_counter() - started
