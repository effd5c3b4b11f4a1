"""One training run, end to end: load, split, fit, evaluate, save.

Built to be driven by a job runner in another process: it reports real progress (trees or
boosting iterations grown so far), stops between chunks when asked, and either leaves a
complete model file with its checksum or no file at all. Which model is fitted, and with
which settings, comes from the one table in trainer/ml/algorithms.py.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils import check_array
from threadpoolctl import threadpool_limits

from trainer.ml.algorithms import (
    ALGORITHMS,
    OBJECTIVES,
    Algorithm,
    AlgorithmSpec,
    ParameterValue,
    build_classifier,
)
from trainer.ml.dataset import TARGET_CLASSES, TARGET_COLUMN, Dataset, load_dataset
from trainer.ml.dataset_files import DEFAULT_CSV_LIMITS, CsvLimits
from trainer.ml.errors import (
    TrainerError,
    TrainingCancelled,
    TrainingError,
    UnexplainableModel,
    os_error_reason,
)
from trainer.ml.metrics import classification_metrics, confusion
from trainer.ml.stages import Stage
from trainer.model_files import (
    ModelFileChanged,
    ModelFileInvalid,
    ModelFileMissing,
    load_verified_model,
)

__all__ = [
    "OBJECTIVES",
    "ModelTrainer",
    "Stage",
    "TrainingConfig",
    "TrainingResult",
    "build_pipeline",
    "load_model",
]

_QUALITY_METRICS = ("accuracy", "precision", "recall", "f1_score")

# The job binds the run id to the log context, so these lines carry it (trainer.logs).
logger = logging.getLogger("trainer.ml.model_trainer")

# A chunk of trees should take about this long, so progress moves and cancelling is quick.
_TARGET_CHUNK_SECONDS = 0.5
# Each fit call also re-checks the labels and class weights (~0.07 s at 100,000 rows on a
# small machine); chunks hold enough trees to keep that under this share of the fit.
_MAX_CALL_OVERHEAD = 0.02
_MISSING_CATEGORY = "(missing)"
# HistGradientBoosting bins a categorical column's codes into at most 255 bins: rarer
# categories beyond that are grouped into one "infrequent" code.
_MAX_NATIVE_CATEGORIES = 255
# Permutation importance predicts its rows once per column and repeat (56 predictions of
# the sample for 11 columns). For a boosting model of a 100,000-row file, the shares over
# 1,000 rows differed from those over 20,000 by at most 0.013 (2,000 rows: 0.009; 5,000:
# 0.007), the four that matter in the same order, at 1/20 of the cost; the 5,000 rows
# used before cost a boosting run on a million rows 4.5 s of CPU beside its 20 s fit.
_PERMUTATION_ROWS = 1000
_PERMUTATION_REPEATS = 5


@dataclass(frozen=True)
class TrainingConfig:
    """Everything besides the data that decides the model; defaults match the REST original.

    `parameters` are completed with the algorithm's defaults (and checked against its
    table) on construction, so a config always holds every setting the model is built with.
    `folds` asks for k-fold cross-validation on the training split; `validation_fraction`
    carves that share of the training split (stratified, seeded) to measure `objective` on
    while the model grows: a sweep trial's score, never the test split's.
    """

    test_split: float = 0.2
    random_state: int = 42
    n_jobs: int = 1
    algorithm: Algorithm = Algorithm.RANDOM_FOREST
    parameters: Mapping[str, ParameterValue] = field(default_factory=dict)
    folds: int | None = None
    validation_fraction: float | None = None
    objective: str = "f1_score"

    def __post_init__(self) -> None:
        # The API validates input with friendly messages; these guard every other caller.
        if not 0.0 < self.test_split < 1.0:
            raise ValueError(f"test_split must be between 0 and 1, got {self.test_split}")
        if self.n_jobs == 0:
            raise ValueError("n_jobs must not be 0 (use 1, a worker count, or -1 for all cores)")
        spec = ALGORITHMS[Algorithm(self.algorithm)]
        problems = spec.problems(self.parameters)
        if problems:
            raise ValueError("; ".join(f"{name} {message}" for name, message in problems))
        object.__setattr__(self, "algorithm", spec.algorithm)
        object.__setattr__(self, "parameters", spec.complete(self.parameters))
        if self.folds is not None and not 2 <= self.folds <= 10:
            raise ValueError(f"folds must be between 2 and 10, got {self.folds}")
        if self.validation_fraction is not None and not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be between 0 and 1, got {self.validation_fraction}"
            )
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")

    @property
    def spec(self) -> AlgorithmSpec:
        return ALGORITHMS[self.algorithm]


@dataclass(frozen=True)
class TrainingResult:
    """What a finished run learnt and where its model is, in plain Python types only.

    Metrics are measured on the held-out test split; precision, recall and F1 are weighted
    by class support, with 0 where a class was never predicted. `cross_validation` holds the
    k-fold means and standard deviations when folds were asked; `objective_value` is the
    objective on the validation rows, or its cross-validation mean (None when neither).
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
    algorithm: Algorithm = Algorithm.RANDOM_FOREST
    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    objective_value: float | None = None
    cross_validation: dict[str, Any] | None = None
    importance_method: str = "impurity"
    # Mean |SHAP| per column over a sample of the test split, and its units; None when
    # the model cannot be explained (trainer.ml.explanations).
    shap_importance: dict[str, Any] | None = None


def build_pipeline(
    categorical: tuple[str, ...], numeric: tuple[str, ...], config: TrainingConfig
) -> Pipeline:
    """The unfitted model: the algorithm's preprocessing, then its classifier.

    Every column group gets an imputer because HR exports have blank cells; a blank category
    becomes its own "(missing)" value rather than pretending to be the most common one.
    Forests and the logistic regression take one-hot categories and scaled numbers;
    HistGradientBoosting takes category codes as they are (native categorical splits, no
    one-hot), its categorical columns first, and numbers unscaled (it bins them).
    """
    spec = config.spec
    transformers: list[tuple[str, Pipeline, list[str]]] = []
    if categorical:
        encoder = (
            OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                max_categories=_MAX_NATIVE_CATEGORIES,
            )
            if spec.native_categorical
            else OneHotEncoder(handle_unknown="ignore")
        )
        transformers.append(
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=_MISSING_CATEGORY), encoder
                ),
                list(categorical),
            )
        )
    if numeric:
        numeric_steps: list[Any] = [SimpleImputer(strategy="median", keep_empty_features=True)]
        if not spec.native_categorical:
            numeric_steps.append(StandardScaler())
        transformers.append(("numeric", make_pipeline(*numeric_steps), list(numeric)))
    classifier = build_classifier(
        config.algorithm,
        config.parameters,
        random_state=config.random_state,
        n_jobs=config.n_jobs,
    )
    if spec.native_categorical:
        # ColumnTransformer outputs its transformers' columns in the order declared.
        classifier.set_params(categorical_features=list(range(len(categorical))) or None)
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("classifier", classifier)])


class ModelTrainer:
    """Runs training with a fixed configuration, reporting to the callbacks it was given.

    on_progress(stage, fraction) is called at the start of each stage with 0.0, after every
    chunk of trees (or boosting iterations) during FITTING, and with (SAVING, 1.0) once the
    model file is in place. should_stop() is polled before each chunk and before saving.
    on_intermediate(step, value), when the config has a validation_fraction, is called
    after each chunk of the final model with the trees or iterations grown so far and the
    objective on the validation rows (once, at the end, for models fitted in one call).
    """

    def __init__(
        self,
        config: TrainingConfig,
        *,
        on_progress: Callable[[Stage, float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        max_model_bytes: int | None = None,
        on_intermediate: Callable[[int, float], None] | None = None,
    ) -> None:
        self._config = config
        self._on_progress = on_progress
        self._should_stop = should_stop
        self._max_model_bytes = max_model_bytes
        self._on_intermediate = on_intermediate

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
        # Boosting's OpenMP threads count as cores like a forest's workers: a run given one
        # core (TRAINING_N_JOBS=1 on the pool) must not take every core of the machine.
        cores = None if self._config.n_jobs < 0 else self._config.n_jobs
        with threadpool_limits(limits=cores):
            return self._train(dataset_path, model_path, display_name, limits)

    def _train(
        self, dataset_path: Path, model_path: Path, display_name: str | None, limits: CsvLimits
    ) -> TrainingResult:
        config = self._config
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
        present = set(dataset.frame[TARGET_COLUMN].unique())
        classes = [c for c in TARGET_CLASSES if c in present]
        x_train, x_test, y_train, y_test = self._split(dataset, classes)
        x_fit, y_fit = x_train, y_train
        validation: tuple[pd.DataFrame, pd.Series] | None = None
        if config.validation_fraction is not None:
            x_fit, x_val, y_fit, y_val = self._carve_validation(x_train, y_train, classes)
            validation = (x_val, y_val)

        self._report(Stage.FITTING, 0.0)
        fits = (config.folds or 0) + 1
        cross_validation = (
            self._cross_validate(dataset, classes, x_fit, y_fit, fits)
            if config.folds is not None
            else None
        )
        done = fits - 1
        fit_started = time.perf_counter()
        on_chunk: Callable[[Pipeline, int], None] | None = None
        if validation is not None and self._on_intermediate is not None:
            on_intermediate = self._on_intermediate
            x_val, y_val = validation

            def on_chunk(pipeline: Pipeline, step: int) -> None:
                value = _objective(pipeline, x_val, y_val, classes, config.objective, fit_started)
                on_intermediate(step, value)

        pipeline = self._grow(
            build_pipeline(dataset.categorical, dataset.numeric, config),
            x_fit,
            y_fit,
            functools.partial(self._report_fitting, done, fits),
            on_chunk,
        )
        fit_seconds = time.perf_counter() - fit_started
        logger.info(
            "fitted %s (%s) on %d rows in %.2f s",
            config.algorithm.value,
            ", ".join(f"{k}={v}" for k, v in config.parameters.items()),
            len(x_fit),
            fit_seconds,
        )
        objective_value: float | None = None
        if cross_validation is not None:
            objective_value = cross_validation["metrics"][config.objective]["mean"]
        elif validation is not None:
            objective_value = _objective(
                pipeline,
                validation[0],
                validation[1],
                classes,
                config.objective,
                fit_started,
                seconds=fit_seconds,
            )

        self._report(Stage.EVALUATING, 0.0)
        metrics = evaluate_pipeline(pipeline, x_test, y_test, classes)
        logger.info(
            "evaluated on %d rows: accuracy %.4f, f1 %.4f",
            len(x_test),
            metrics["accuracy"],
            metrics["f1_score"],
        )
        if config.spec.importance_method == "impurity":
            importance = _importance_by_column(pipeline, dataset)
        else:
            importance = _permutation_importance(pipeline, x_test, y_test, config.random_state)
        self._stop_if_asked()
        shap_importance = _shap_importance(pipeline, x_test, config.random_state)

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
            algorithm=config.algorithm,
            parameters=dict(config.parameters),
            objective_value=objective_value,
            cross_validation=cross_validation,
            importance_method=config.spec.importance_method,
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

    def _carve_validation(
        self, x_train: pd.DataFrame, y_train: pd.Series, classes: list[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
        """Validation rows from the training split (stratified, seeded); the test split is
        left untouched, so a sweep choosing on these rows never peeks at it."""
        fraction = self._config.validation_fraction
        counts = y_train.value_counts()
        rare = [f"{c} has {counts.get(c, 0)}" for c in classes if counts.get(c, 0) < 2]
        if rare:
            raise TrainingError(
                "too few training rows to set validation rows aside for every need level: "
                f"{', '.join(rare)}; each level needs at least 2 training rows"
            )
        try:
            x_fit, x_val, y_fit, y_val = train_test_split(
                x_train,
                y_train,
                test_size=fraction,
                random_state=self._config.random_state,
                stratify=y_train,
            )
        except ValueError as exc:
            raise TrainingError(f"validation rows could not be set aside: {exc}") from exc
        return x_fit, x_val, y_fit, y_val

    def _cross_validate(
        self,
        dataset: Dataset,
        classes: list[str],
        x: pd.DataFrame,
        y: pd.Series,
        fits: int,
    ) -> dict[str, Any]:
        """k stratified folds of the training split, each model grown like the final one
        (progress, cancel); the metrics' mean and standard deviation over the folds."""
        folds = fits - 1
        counts = y.value_counts()
        rare = [f"{c} has {counts.get(c, 0)}" for c in classes if counts.get(c, 0) < folds]
        if rare:
            raise TrainingError(
                f"too few training rows for {folds}-fold cross-validation: {', '.join(rare)} "
                f"row(s); each need level needs at least {folds} training rows (ask fewer folds)"
            )
        splitter = StratifiedKFold(
            n_splits=folds, shuffle=True, random_state=self._config.random_state
        )
        measured: dict[str, list[float]] = {name: [] for name in OBJECTIVES}
        for index, (fit_rows, held_rows) in enumerate(splitter.split(x, y)):
            fold_started = time.perf_counter()
            pipeline = self._grow(
                build_pipeline(dataset.categorical, dataset.numeric, self._config),
                x.iloc[fit_rows],
                y.iloc[fit_rows],
                functools.partial(self._report_fitting, index, fits),
                None,
            )
            seconds = time.perf_counter() - fold_started
            scores = evaluate_pipeline(pipeline, x.iloc[held_rows], y.iloc[held_rows], classes)
            for name in _QUALITY_METRICS:
                measured[name].append(scores[name])
            measured["training_duration_seconds"].append(seconds)
        summary = {
            name: {"mean": float(np.mean(values)), "std": float(np.std(values))}
            for name, values in measured.items()
        }
        logger.info(
            "%d-fold cross-validation: accuracy %.4f ± %.4f, f1 %.4f ± %.4f",
            folds,
            summary["accuracy"]["mean"],
            summary["accuracy"]["std"],
            summary["f1_score"]["mean"],
            summary["f1_score"]["std"],
        )
        return {"folds": folds, "metrics": summary}

    def _grow(
        self,
        pipeline: Pipeline,
        x_train: pd.DataFrame,
        y_train: pd.Series,
        on_fraction: Callable[[float], None],
        on_chunk: Callable[[Pipeline, int], None] | None,
    ) -> Pipeline:
        """Fit the preprocessor once, then grow the model with progress reports,
        cancellation points and (for a sweep trial) intermediate scores: a forest chunk by
        chunk with warm_start (each new tree draws its seed exactly as a one-shot fit
        would), boosting in one call hooked at every iteration. A model that does not grow
        (the logistic regression) is fitted in one call.
        """
        spec = self._config.spec
        classifier = pipeline.named_steps["classifier"]
        try:
            features = pipeline.named_steps["preprocess"].fit_transform(x_train)
            # Every fit call re-sorts the labels to find the classes: fixed-width strings
            # sort ~6x faster than Python objects, which matters at a million rows.
            labels = y_train.to_numpy(dtype=str)
            if spec.grows_by is None:
                self._stop_if_asked()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    classifier.fit(features, labels)
                if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                    logger.warning(
                        "the solver stopped at max_iter=%s before converging; a higher "
                        "max_iter (or a lower C) may fit better",
                        classifier.max_iter,
                    )
                on_fraction(1.0)
                if on_chunk is not None:
                    on_chunk(pipeline, 1)
            elif spec.native_categorical:
                self._grow_boosting(pipeline, classifier, features, labels, on_fraction, on_chunk)
            else:
                # The forest's own input format: converting once spares every chunk a copy.
                features = check_array(features, accept_sparse="csc", dtype=np.float32)
                self._grow_forest(pipeline, classifier, features, labels, on_fraction, on_chunk)
        except MemoryError:
            raise TrainingError(
                "not enough memory to train this model; try a smaller model (fewer trees or "
                "iterations, a smaller maximum depth) or a smaller dataset"
            ) from None
        except ValueError as exc:
            raise TrainingError(f"the model could not be trained: {exc}") from exc
        if spec.grows_by is not None:
            classifier.set_params(warm_start=False)
        return pipeline

    def _grow_forest(
        self,
        pipeline: Pipeline,
        forest: Any,
        features: Any,
        labels: Any,
        on_fraction: Callable[[float], None],
        on_chunk: Callable[[Pipeline, int], None] | None,
    ) -> None:
        total = forest.n_estimators
        workers = joblib.effective_n_jobs(forest.n_jobs)
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
            # A trial's scores come after 1, 2, 4, 8... trees and at the end, the steps of a
            # boosting trial's iterations: chunks end there, whatever their timing.
            next_score = 1
            while built < total:
                self._stop_if_asked()
                chunk_started = time.perf_counter()
                target = min(total, built + chunk)
                if on_chunk is not None:
                    target = min(target, next_score)
                forest.set_params(n_estimators=target)
                forest.fit(features, labels)
                seconds_per_tree = (time.perf_counter() - chunk_started) / (
                    forest.n_estimators - built
                )
                built = forest.n_estimators
                on_fraction(built / total)
                if on_chunk is not None and built in (next_score, total):
                    on_chunk(pipeline, built)
                    next_score = 2 * built
                if built < total:
                    if call_overhead is None:
                        call_overhead = _fit_call_overhead(forest, features, labels)
                    chunk = _next_chunk(seconds_per_tree, call_overhead, workers)

    def _grow_boosting(
        self,
        pipeline: Pipeline,
        model: Any,
        features: Any,
        labels: Any,
        on_fraction: Callable[[float], None],
        on_chunk: Callable[[Pipeline, int], None] | None,
    ) -> None:
        """Boosting iterations in one fit call; with early stopping, it may end before
        max_iter.

        Progress and the cancel check come at every iteration (_IterationHook). A sweep
        trial's intermediate scores (`on_chunk`) are taken the same way, mid-fit, from the
        iterations grown so far (_predicting_mid_fit): after 1, 2, 4, 8... of them and at
        the end, steps every trial shares (a pruner compares trials step by step). Growing
        by warm_start calls instead re-predicted every iteration grown so far on every
        training row at each call: 1.3x-1.8x the CPU of one fit (bench/results/algorithms.md).
        """
        total = model.max_iter
        next_score = 1

        def on_iteration(begun: int) -> None:
            # Called as iteration `begun` (0-based) starts: `begun` of them are complete.
            nonlocal next_score
            if begun:
                on_fraction(begun / total)
            if on_chunk is not None and begun >= next_score:
                with _predicting_mid_fit(model):
                    on_chunk(pipeline, begun)
                next_score = 2 * begun
            self._stop_if_asked()

        _IterationHook.fit(model, features, labels, on_iteration)
        if model.n_iter_ < total:
            logger.info("early stopping after %d of %d iterations", model.n_iter_, total)
        on_fraction(1.0)
        if on_chunk is not None:
            on_chunk(pipeline, model.n_iter_)

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

    def _report_fitting(self, done: int, fits: int, fraction: float) -> None:
        """FITTING progress over every fit of the run: `done` of `fits` finished."""
        self._report(Stage.FITTING, (done + fraction) / fits)

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


def evaluate_pipeline(
    pipeline: Pipeline, x_test: pd.DataFrame, y_test: pd.Series, classes: list[str]
) -> dict[str, Any]:
    return classification_metrics(confusion(y_test, pipeline.predict(x_test), classes), classes)


def _objective(
    pipeline: Pipeline,
    x: pd.DataFrame,
    y: pd.Series,
    classes: list[str],
    objective: str,
    fit_started: float,
    *,
    seconds: float | None = None,
) -> float:
    """The objective on the validation rows; the duration is the fit's so far."""
    if objective == "training_duration_seconds":
        return seconds if seconds is not None else time.perf_counter() - fit_started
    return float(evaluate_pipeline(pipeline, x, y, classes)[objective])


def _permutation_importance(
    pipeline: Pipeline, x_test: pd.DataFrame, y_test: pd.Series, random_state: int
) -> dict[str, float]:
    """For models without feature_importances_: how much the accuracy on the test split
    drops when one of the dataset's own columns is shuffled (never a one-hot part), as a
    share of the total drop, most important first. Columns whose shuffling does not hurt
    count 0. Measured on at most _PERMUTATION_ROWS test rows (a seeded sample), the
    unshuffled score included.

    When the preprocessing maps each column to one column of its own, value by value
    (imputers and ordinal codes: HistGradientBoosting's), the test rows are preprocessed
    once and the classifier alone scores the shuffles: shuffling a column before or after
    such a step gives the same matrix, and every column is shuffled with the same seeded
    draws whatever its position, so the figures are those of the whole pipeline without
    its ~60 repeated transforms. One-hot columns (forests, logistic regression) keep the
    pipeline."""
    from sklearn.inspection import permutation_importance

    # The rows are drawn here (seeded), not by permutation_importance's max_samples:
    # it would score the unshuffled baseline on the whole test split, a prediction
    # of every test row (200,000 of a million-row file) for figures measured on 5,000.
    x_rows, y_rows = x_test, y_test
    if len(x_test) > _PERMUTATION_ROWS:
        picked = np.sort(
            np.random.RandomState(random_state).choice(
                len(x_test), _PERMUTATION_ROWS, replace=False
            )
        )
        x_rows, y_rows = x_test.iloc[picked], y_test.iloc[picked]
    estimator: Any = pipeline
    x: Any = x_rows
    position = _column_positions(pipeline, list(x_test.columns))
    if position is not None:
        estimator, x = pipeline[-1], pipeline[:-1].transform(x_rows)
    measured = permutation_importance(
        estimator,
        x,
        y_rows,
        scoring=_accuracy,
        n_repeats=_PERMUTATION_REPEATS,
        random_state=random_state,
    )
    means = np.asarray(measured["importances_mean"], dtype=float)
    if position is not None:
        means = means[position]
    drops = np.clip(means, 0.0, None)
    total = float(drops.sum())
    shares = drops / total if total > 0 else drops
    by_column = {str(c): float(v) for c, v in zip(x_test.columns, shares, strict=True)}
    return dict(sorted(by_column.items(), key=lambda item: item[1], reverse=True))


def _accuracy(estimator: Any, x: Any, y: Any) -> float:
    """The accuracy scorer's figure without its label checks (np.unique over the string
    labels at each of the ~56 calls: a fifth of the permutation's time)."""
    return float(np.mean(estimator.predict(x) == np.asarray(y)))


def _column_positions(pipeline: Pipeline, columns: list[str]) -> list[int] | None:
    """Where each of `columns` is in the preprocessed matrix, when every preprocessing
    step maps a column to one column value by value (imputers, ordinal encoders); None
    otherwise (a one-hot encoder, a scaler, anything else)."""
    preprocess = pipeline[:-1][-1] if len(pipeline) > 1 else None
    if not isinstance(preprocess, ColumnTransformer):
        return None
    elementwise = (SimpleImputer, OrdinalEncoder)
    for _name, transformer, _selected in preprocess.transformers_:
        if isinstance(transformer, str):
            if transformer == "drop":
                continue
            return None
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("", transformer)]
        if not all(type(step) in elementwise for _, step in steps):
            return None
        if any(isinstance(step, SimpleImputer) and step.add_indicator for _, step in steps):
            return None
    names = [str(name).partition("__")[2] for name in preprocess.get_feature_names_out()]
    if sorted(names) != sorted(columns):
        return None
    return [names.index(column) for column in columns]


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


@contextlib.contextmanager
def _predicting_mid_fit(model: Any) -> Iterator[None]:
    """Let a boosting model predict while it fits, with the iterations grown so far.

    During fit scikit-learn sets `_in_fit`, which makes predict take its input for rows
    already binned (as its early-stopping scorer passes them); a trial's scores between
    iterations pass raw rows, as after fit. Like _IterationHook, this leans on a private
    attribute (scikit-learn 1.9): a test checks the scores against models fitted to each
    step alone.
    """
    was = getattr(model, "_in_fit", False)
    model._in_fit = False
    try:
        yield
    finally:
        model._in_fit = was


class _IterationHook:
    """HistGradientBoosting's loss, seen by its fit loop only, which calls the loss's
    gradient once at the start of every boosting iteration: there, `on_iteration(i)` reports
    progress and may raise to stop (TrainingCancelled), between two trees.

    scikit-learn offers no per-iteration callback; the estimator builds its loss with
    `_get_loss` at the start of a fresh fit, so an attribute of that name on the instance
    hands this wrapper to the loop. Both are removed once fit returns or raises: the model
    (and its file) holds the very loss object and state a plain fit gives. Should a later
    scikit-learn stop calling `_get_loss` or the gradient, the fit is unchanged and only
    the progress between its start and end is lost.
    """

    def __init__(self, loss: Any, on_iteration: Callable[[int], None]) -> None:
        self.loss = loss
        self._on_iteration = on_iteration
        self._iterations = 0

    @classmethod
    def fit(
        cls, model: Any, features: Any, labels: Any, on_iteration: Callable[[int], None]
    ) -> None:
        hooks: list[_IterationHook] = []
        own_get_loss = type(model)._get_loss

        def get_loss(*args: Any, **kwargs: Any) -> Any:
            hooks.append(cls(own_get_loss(model, *args, **kwargs), on_iteration))
            return hooks[-1]

        model._get_loss = get_loss
        try:
            model.fit(features, labels)
        finally:
            del model._get_loss
            if hooks and getattr(model, "_loss", None) is hooks[-1]:
                model._loss = hooks[-1].loss

    def _next(self) -> None:
        self._on_iteration(self._iterations)
        self._iterations += 1

    def gradient(self, *args: Any, **kwargs: Any) -> Any:
        self._next()
        return self.loss.gradient(*args, **kwargs)

    def gradient_hessian(self, *args: Any, **kwargs: Any) -> Any:
        self._next()
        return self.loss.gradient_hessian(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.loss(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loss, name)


def _next_chunk(seconds_per_tree: float, call_overhead: float, workers: int) -> int:
    """Trees for the next fit call: about _TARGET_CHUNK_SECONDS of work, but enough that
    the call's own overhead stays under _MAX_CALL_OVERHEAD; a multiple of `workers`."""
    chunk = max(
        1,
        int(_TARGET_CHUNK_SECONDS / seconds_per_tree),
        math.ceil(call_overhead / (_MAX_CALL_OVERHEAD * seconds_per_tree)),
    )
    return math.ceil(chunk / workers) * workers


def _fit_call_overhead(forest: Any, features: Any, labels: Any) -> float:
    """What one fit call costs besides its trees: a warm fit that adds no tree (the forest
    keeps its trees and draws nothing from its random state) costs exactly that."""
    started = time.perf_counter()
    forest.fit(features, labels)
    return time.perf_counter() - started
