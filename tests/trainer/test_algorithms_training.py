"""Every algorithm of trainer/ml/algorithms.py trained end to end (issue 23): native
categories for boosting, growth with progress and cancel (boosting in one fit call, or in
chunks for a trial with validation rows), permutation importance where the model has no
impurity importance, k-fold cross-validation and validation rows."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

import trainer.ml.model_trainer
from trainer.ml.algorithms import Algorithm
from trainer.ml.dataset import TARGET_COLUMN, Dataset, load_dataset
from trainer.ml.errors import TrainingCancelled, TrainingError
from trainer.ml.generator import generate_dataset
from trainer.ml.model_trainer import ModelTrainer, TrainingConfig, build_pipeline, load_model
from trainer.ml.stages import Stage

SMALL = {
    Algorithm.RANDOM_FOREST: {"n_estimators": 12, "max_depth": 6},
    Algorithm.EXTRA_TREES: {"n_estimators": 12, "max_depth": 6},
    Algorithm.HIST_GRADIENT_BOOSTING: {"max_iter": 20},
    Algorithm.LOGISTIC_REGRESSION: {},
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    generate_dataset(600, seed=11, out=path)
    return path


def one_chunk_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trainer.ml.model_trainer, "_TARGET_CHUNK_SECONDS", 0.0)
    monkeypatch.setattr(trainer.ml.model_trainer, "_MAX_CALL_OVERHEAD", float("inf"))


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_every_algorithm_trains_and_labels_its_importance(
    tmp_path: Path, dataset: Path, algorithm: Algorithm
) -> None:
    config = TrainingConfig(algorithm=algorithm, parameters=SMALL[algorithm])

    result = ModelTrainer(config).train(dataset, tmp_path / "model.joblib")

    expected = (
        "impurity"
        if algorithm in (Algorithm.RANDOM_FOREST, Algorithm.EXTRA_TREES)
        else ("permutation")
    )
    assert result.algorithm is algorithm
    assert result.importance_method == expected
    assert result.parameters == config.parameters
    assert result.accuracy > 0.5
    # importance per column of the dataset, never per one-hot part
    assert set(result.feature_importance) == set(result.features_used)
    assert sum(result.feature_importance.values()) == pytest.approx(1.0)
    model = load_model(tmp_path / "model.joblib", result.model_sha256)
    assert (
        type(model.named_steps["classifier"]).__name__
        == {
            Algorithm.RANDOM_FOREST: "RandomForestClassifier",
            Algorithm.EXTRA_TREES: "ExtraTreesClassifier",
            Algorithm.HIST_GRADIENT_BOOSTING: "HistGradientBoostingClassifier",
            Algorithm.LOGISTIC_REGRESSION: "LogisticRegression",
        }[algorithm]
    )


def test_boosting_uses_native_categories_not_one_hot(dataset: Path) -> None:
    data = load_dataset(dataset)
    config = TrainingConfig(algorithm=Algorithm.HIST_GRADIENT_BOOSTING)

    pipeline = build_pipeline(data.categorical, data.numeric, config)

    encoder = pipeline.named_steps["preprocess"].transformers[0][1][-1]
    assert isinstance(encoder, OrdinalEncoder)
    assert not any(
        isinstance(step, OneHotEncoder)
        for _, transformer, _ in pipeline.named_steps["preprocess"].transformers
        for step in transformer
    )
    classifier = pipeline.named_steps["classifier"]
    assert classifier.categorical_features == list(range(len(data.categorical)))
    assert encoder.max_categories <= 255  # what boosting's binning can hold


def test_boosting_progress_only_grows_and_predicts_like_a_one_shot_fit(
    tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_chunk_at_a_time(monkeypatch)
    config = TrainingConfig(algorithm=Algorithm.HIST_GRADIENT_BOOSTING, parameters={"max_iter": 15})
    fitting: list[float] = []

    result = ModelTrainer(
        config, on_progress=lambda s, f: fitting.append(f) if s is Stage.FITTING else None
    ).train(dataset, tmp_path / "model.joblib")

    chunked = load_model(tmp_path / "model.joblib", result.model_sha256)
    data = load_dataset(dataset)
    x_train, x_test, y_train, _ = train_test_split(
        data.frame[list(data.features)],
        data.frame[TARGET_COLUMN],
        test_size=config.test_split,
        random_state=config.random_state,
        stratify=data.frame[TARGET_COLUMN],
    )
    one_shot = build_pipeline(data.categorical, data.numeric, config).fit(x_train, y_train)
    assert len(fitting) >= 8  # 0.0, then one report per chunk
    assert fitting == sorted(fitting)
    assert fitting[-1] == 1.0
    assert chunked.named_steps["classifier"].n_iter_ == 15
    assert np.allclose(chunked.predict_proba(x_test), one_shot.predict_proba(x_test), atol=1e-6)


def test_a_boosting_run_fits_in_one_call_reporting_every_iteration(
    tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No warm_start chunks (each re-bins every row): one fit, progress after each
    iteration from the hook on the loss, and a model file as a plain fit writes it."""
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.ensemble import HistGradientBoostingClassifier

    fits: list[int] = []
    plain_fit = HistGradientBoostingClassifier.fit

    def counted_fit(self: HistGradientBoostingClassifier, *args: object) -> object:
        fits.append(self.max_iter)
        return plain_fit(self, *args)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", counted_fit)
    config = TrainingConfig(algorithm=Algorithm.HIST_GRADIENT_BOOSTING, parameters={"max_iter": 12})
    fitting: list[float] = []

    result = ModelTrainer(
        config, on_progress=lambda s, f: fitting.append(f) if s is Stage.FITTING else None
    ).train(dataset, tmp_path / "model.joblib")

    assert fits == [12]
    assert fitting == [0.0, *(i / 12 for i in range(1, 12)), 1.0]
    saved = load_model(tmp_path / "model.joblib", result.model_sha256)
    classifier = saved.named_steps["classifier"]
    assert type(classifier._loss) is HalfMultinomialLoss
    assert "_get_loss" not in vars(classifier)
    assert classifier.get_params()["warm_start"] is False
    data = load_dataset(dataset)
    x_train, x_test, y_train, _ = train_test_split(
        data.frame[list(data.features)],
        data.frame[TARGET_COLUMN],
        test_size=config.test_split,
        random_state=config.random_state,
        stratify=data.frame[TARGET_COLUMN],
    )
    bare = build_pipeline(data.categorical, data.numeric, config).fit(x_train, y_train)
    assert np.array_equal(saved.predict_proba(x_test), bare.predict_proba(x_test))


def test_a_boosting_run_stops_at_the_next_iteration_when_asked(
    tmp_path: Path, dataset: Path
) -> None:
    fitting: list[float] = []
    trainer_ = ModelTrainer(
        TrainingConfig(algorithm=Algorithm.HIST_GRADIENT_BOOSTING, parameters={"max_iter": 500}),
        on_progress=lambda stage, fraction: (
            fitting.append(fraction) if stage is Stage.FITTING else None
        ),
        should_stop=lambda: len(fitting) >= 6,
    )

    with pytest.raises(TrainingCancelled):
        trainer_.train(dataset, tmp_path / "model.joblib")

    assert not (tmp_path / "model.joblib").exists()
    # 0.0, then iterations 1 to 5: the stop was seen as the sixth iteration began
    assert fitting == [0.0, *(i / 500 for i in range(1, 6))]


def test_boosting_stops_when_asked(
    tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_chunk_at_a_time(monkeypatch)
    fitting: list[float] = []
    trainer_ = ModelTrainer(
        TrainingConfig(algorithm=Algorithm.HIST_GRADIENT_BOOSTING, parameters={"max_iter": 200}),
        on_progress=lambda stage, fraction: fitting.append(fraction),
        should_stop=lambda: len(fitting) >= 4,
    )

    with pytest.raises(TrainingCancelled):
        trainer_.train(dataset, tmp_path / "model.joblib")

    assert not (tmp_path / "model.joblib").exists()
    assert max(fitting) < 0.1


def test_a_trial_reporting_scores_stops_at_the_next_iteration_when_asked(
    tmp_path: Path, dataset: Path
) -> None:
    """A sweep trial scores its model as it grows; a cancel (the pruner's) arriving between
    two scores stops it at the next iteration."""
    # given: a trial whose cancel comes at iteration 50, after its scores at 1 to 32
    total = 400
    fitting: list[float] = []
    scored: list[int] = []
    trainer_ = ModelTrainer(
        TrainingConfig(
            algorithm=Algorithm.HIST_GRADIENT_BOOSTING,
            parameters={"max_iter": total, "early_stopping": False},
            validation_fraction=0.25,
        ),
        on_progress=lambda stage, fraction: (
            fitting.append(fraction) if stage is Stage.FITTING else None
        ),
        on_intermediate=lambda step, _value: scored.append(step),
        should_stop=lambda: bool(fitting) and fitting[-1] * total >= 50,
    )

    # when
    with pytest.raises(TrainingCancelled):
        trainer_.train(dataset, tmp_path / "model.joblib")

    # then: progress at every iteration, nothing after the cancel
    assert scored == [1, 2, 4, 8, 16, 32]
    assert round(fitting[-1] * total) == 50
    assert not (tmp_path / "model.joblib").exists()


def test_boosting_early_stopping_is_a_parameter(tmp_path: Path, dataset: Path) -> None:
    config = TrainingConfig(
        algorithm=Algorithm.HIST_GRADIENT_BOOSTING,
        parameters={"max_iter": 1000, "early_stopping": True, "n_iter_no_change": 3},
    )

    result = ModelTrainer(config).train(dataset, tmp_path / "model.joblib")

    model = load_model(tmp_path / "model.joblib", result.model_sha256)
    assert model.named_steps["classifier"].n_iter_ < 1000


def test_cross_validation_reports_mean_and_std_and_keeps_the_test_split(
    tmp_path: Path, dataset: Path
) -> None:
    plain = TrainingConfig(parameters=SMALL[Algorithm.RANDOM_FOREST])
    folded = TrainingConfig(parameters=SMALL[Algorithm.RANDOM_FOREST], folds=3)
    fitting: list[float] = []

    alone = ModelTrainer(plain).train(dataset, tmp_path / "plain.joblib")
    result = ModelTrainer(
        folded, on_progress=lambda s, f: fitting.append(f) if s is Stage.FITTING else None
    ).train(dataset, tmp_path / "folded.joblib")

    assert alone.cross_validation is None
    assert result.cross_validation is not None
    assert result.cross_validation["folds"] == 3
    metrics = result.cross_validation["metrics"]
    assert set(metrics) >= {"accuracy", "precision", "recall", "f1_score"}
    assert all(0.0 <= metrics[m]["mean"] <= 1.0 for m in ("accuracy", "f1_score"))
    assert all(metrics[m]["std"] >= 0.0 for m in metrics)
    assert result.objective_value == metrics["f1_score"]["mean"]
    # the final model is fitted on the whole training split: the test split reads the same
    assert (result.train_samples, result.test_samples) == (alone.train_samples, alone.test_samples)
    assert result.accuracy == alone.accuracy
    assert result.model_sha256 != ""
    assert fitting == sorted(fitting)


def test_cross_validation_refuses_too_few_rows_per_level(tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    generate_dataset(40, seed=3, out=path)

    with pytest.raises(TrainingError, match="cross-validation"):
        ModelTrainer(TrainingConfig(parameters={"n_estimators": 3}, folds=10)).train(
            path, tmp_path / "model.joblib"
        )


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_validation_rows_give_intermediate_values_as_the_model_grows(
    tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch, algorithm: Algorithm
) -> None:
    one_chunk_at_a_time(monkeypatch)
    seen: list[tuple[int, float]] = []
    config = TrainingConfig(
        algorithm=algorithm,
        parameters=SMALL[algorithm],
        validation_fraction=0.25,
        objective="accuracy",
    )

    result = ModelTrainer(config, on_intermediate=lambda s, v: seen.append((s, v))).train(
        dataset, tmp_path / "model.joblib"
    )
    alone = ModelTrainer(TrainingConfig(algorithm=algorithm, parameters=SMALL[algorithm])).train(
        dataset, tmp_path / "alone.joblib"
    )

    # after 1, 2, 4, 8... trees or iterations and at the end: the same steps in every trial
    steps = [step for step, _ in seen]
    expected = {
        Algorithm.RANDOM_FOREST: [1, 2, 4, 8, 12],
        Algorithm.EXTRA_TREES: [1, 2, 4, 8, 12],
        Algorithm.HIST_GRADIENT_BOOSTING: [1, 2, 4, 8, 16, 20],
        Algorithm.LOGISTIC_REGRESSION: [1],
    }
    assert steps == expected[algorithm]
    assert all(0.0 <= value <= 1.0 for _, value in seen)
    assert result.objective_value == pytest.approx(seen[-1][1])
    # the test split is untouched: the same rows, whatever was set aside for validation
    assert result.test_samples == alone.test_samples
    assert result.confusion_matrix["labels"] == alone.confusion_matrix["labels"]


def split(dataset: Path) -> tuple[Dataset, list[Any]]:
    """The dataset and a 70/30 stratified split of it, as the permutation tests use."""
    data = load_dataset(dataset)
    parts = train_test_split(
        data.frame[list(data.features)],
        data.frame[TARGET_COLUMN],
        test_size=0.3,
        random_state=3,
        stratify=data.frame[TARGET_COLUMN],
    )
    return data, parts


def test_boosting_permutation_importance_is_the_whole_pipelines(dataset: Path) -> None:
    """Shuffling the preprocessed columns (the trainer's shortcut for boosting, whose
    preprocessing is value by value) gives exactly the pipeline's own figures."""
    from sklearn.inspection import permutation_importance

    from trainer.ml.model_trainer import _column_positions, _permutation_importance

    data, (x_train, x_test, y_train, y_test) = split(dataset)
    config = TrainingConfig(algorithm=Algorithm.HIST_GRADIENT_BOOSTING, parameters={"max_iter": 20})
    pipeline = build_pipeline(data.categorical, data.numeric, config).fit(x_train, y_train)

    positions = _column_positions(pipeline, list(x_test.columns))
    shortcut = _permutation_importance(pipeline, x_test, y_test, random_state=7)

    whole = permutation_importance(
        pipeline, x_test, y_test, n_repeats=5, random_state=7, max_samples=len(x_test)
    )
    drops = np.clip(whole["importances_mean"], 0.0, None)
    expected = dict(zip(x_test.columns, drops / drops.sum(), strict=True))
    assert shortcut.keys() == expected.keys()
    assert all(shortcut[column] == expected[column] for column in expected)
    assert sum(shortcut.values()) == pytest.approx(1.0)
    assert positions is not None  # the shortcut was taken
    forest = build_pipeline(
        data.categorical, data.numeric, TrainingConfig(parameters=SMALL[Algorithm.RANDOM_FOREST])
    )
    assert _column_positions(forest.fit(x_train, y_train), list(x_test.columns)) is None


def test_permutation_importance_scores_only_its_sample_of_rows(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unshuffled score too: sklearn's own max_samples would predict the whole test
    split for it (200,000 rows of a million-row file)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from trainer.ml.model_trainer import _permutation_importance

    data, (x_train, x_test, y_train, y_test) = split(dataset)
    config = TrainingConfig(algorithm=Algorithm.HIST_GRADIENT_BOOSTING, parameters={"max_iter": 10})
    pipeline = build_pipeline(data.categorical, data.numeric, config).fit(x_train, y_train)
    scored: list[int] = []
    plain_predict = HistGradientBoostingClassifier.predict

    def counted(self: HistGradientBoostingClassifier, x: object) -> object:
        scored.append(len(x))  # type: ignore[arg-type]
        return plain_predict(self, x)

    monkeypatch.setattr(HistGradientBoostingClassifier, "predict", counted)
    monkeypatch.setattr(trainer.ml.model_trainer, "_PERMUTATION_ROWS", 50)

    importance = _permutation_importance(pipeline, x_test, y_test, random_state=7)

    assert len(x_test) > 50
    assert scored == [50] * (1 + 5 * len(data.features))
    assert set(importance) == set(data.features)
    assert importance == _permutation_importance(pipeline, x_test, y_test, random_state=7)


def test_a_trials_scores_are_those_of_the_model_grown_to_each_step(
    tmp_path: Path, dataset: Path
) -> None:
    """A boosting trial's intermediate scores are taken mid-fit (_predicting_mid_fit): each
    must be the score of a model fitted to that many iterations alone."""
    # given: a boosting trial that reports scores as it grows (as a pruning sweep's does)
    parameters = {"max_iter": 12, "early_stopping": False}
    config = TrainingConfig(
        algorithm=Algorithm.HIST_GRADIENT_BOOSTING,
        parameters=parameters,
        validation_fraction=0.25,
        objective="accuracy",
    )
    seen: list[tuple[int, float]] = []

    def record(into: list[tuple[int, float]], step: int, value: float) -> None:
        into.append((step, value))

    # when
    ModelTrainer(config, on_intermediate=functools.partial(record, seen)).train(
        dataset, tmp_path / "trial.joblib"
    )

    # then: after 1, 2, 4 and 8 iterations and at the end, each the score of its own model
    assert [step for step, _ in seen] == [1, 2, 4, 8, 12]
    for step, value in seen:
        alone: list[tuple[int, float]] = []
        fitted = TrainingConfig(
            algorithm=Algorithm.HIST_GRADIENT_BOOSTING,
            parameters={**parameters, "max_iter": step},
            validation_fraction=0.25,
            objective="accuracy",
        )
        ModelTrainer(fitted, on_intermediate=functools.partial(record, alone)).train(
            dataset, tmp_path / f"alone-{step}.joblib"
        )
        assert alone[-1] == (step, value)
