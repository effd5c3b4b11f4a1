"""trainer/ml/explanations.py with scikit-learn's estimators themselves, so it holds for
the algorithms the API may train: tree ensembles through shap's TreeExplainer (additive:
the contributions and the base value make the model's own output for the predicted
level), linear models through their own terms; one-hot parts summed back to the
dataset's columns; the inputs the imputers fill named per row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from tests.conftest import REFERENCE_DATASET
from tests.helpers import SHIPPED_DATASET
from trainer.ml.dataset import CATEGORICAL_COLUMNS, TARGET_COLUMN, load_dataset
from trainer.ml.explanations import (
    LOG_ODDS,
    PROBABILITY,
    Reason,
    UnexplainableModel,
    contributions,
    explain_rows,
    global_importance,
    imputed_columns,
    units_of,
)
from trainer.ml.model_trainer import TrainingConfig, build_pipeline

Data = tuple[pd.DataFrame, pd.Series]


@pytest.fixture(scope="module")
def three_levels() -> Data:
    """600 rows of the shipped dataset: LOW, MEDIUM and HIGH."""
    dataset = load_dataset(SHIPPED_DATASET)
    frame = dataset.frame.iloc[:600]
    return frame[list(dataset.features)], frame[TARGET_COLUMN]


@pytest.fixture(scope="module")
def two_levels() -> Data:
    """The REST original's rows: MEDIUM and HIGH only."""
    dataset = load_dataset(REFERENCE_DATASET)
    return dataset.frame[list(dataset.features)], dataset.frame[TARGET_COLUMN]


def fitted(classifier: Any, data: Data) -> Pipeline:
    """The project's preprocessing (one-hot categories, scaled numbers) before `classifier`."""
    x, y = data
    categorical = tuple(c for c in x.columns if c in CATEGORICAL_COLUMNS)
    numeric = tuple(c for c in x.columns if c not in categorical)
    pipeline = build_pipeline(categorical, numeric, TrainingConfig())
    # a fresh copy: an explainer is kept per fitted classifier, which is never refitted
    classifier = clone(classifier)
    pipeline.steps[-1] = ("classifier", classifier)
    if isinstance(classifier, HistGradientBoostingClassifier):  # it takes no sparse matrix
        pipeline.set_params(preprocess__sparse_threshold=0.0)
    return pipeline.fit(x, y)


def base_and_output(pipeline: Pipeline, x: pd.DataFrame, chosen: Any) -> tuple[Any, Any]:
    """shap's base value and the model's raw output for each row's chosen class."""
    import shap

    matrix = pipeline[:-1].transform(x)
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else matrix
    explainer = shap.TreeExplainer(pipeline[-1])
    base = np.atleast_1d(explainer.expected_value)
    rows = np.arange(len(x))
    classifier = pipeline[-1]
    if hasattr(classifier, "decision_function") and not hasattr(classifier, "estimators_"):
        raw = classifier.decision_function(matrix)
        if raw.ndim == 1:  # binary margin of classes_[1]
            sign = np.where(chosen == 1, 1.0, -1.0)
            return sign * base[0], sign * raw
        return base[chosen], raw[rows, chosen]
    return base[chosen], classifier.predict_proba(matrix)[rows, chosen]


@pytest.mark.parametrize(
    ("classifier", "units"),
    [
        (RandomForestClassifier(n_estimators=10, random_state=0), PROBABILITY),
        (ExtraTreesClassifier(n_estimators=10, random_state=0), PROBABILITY),
        (HistGradientBoostingClassifier(max_iter=15, random_state=0), LOG_ODDS),
    ],
    ids=["random-forest", "extra-trees", "hist-gradient-boosting"],
)
@pytest.mark.parametrize("levels", ["three_levels", "two_levels"])
def test_tree_contributions_add_up_to_the_models_output_for_the_predicted_level(
    classifier: Any, units: str, levels: str, request: pytest.FixtureRequest
) -> None:
    data: Data = request.getfixturevalue(levels)
    pipeline = fitted(classifier, data)
    x = data[0].iloc[:40]
    explanation = contributions(pipeline, x)
    assert explanation.units == units == units_of(pipeline)
    # the dataset's own columns, each once, not one-hot parts
    assert explanation.columns == list(x.columns)
    assert explanation.values.shape == (40, len(x.columns))
    predicted = pipeline.predict(x)
    assert [pipeline.classes_[i] for i in explanation.predicted] == list(predicted)
    base, output = base_and_output(pipeline, x, explanation.predicted)
    np.testing.assert_allclose(base + explanation.values.sum(axis=1), output, atol=1e-5)


@pytest.mark.parametrize("levels", ["three_levels", "two_levels"])
def test_linear_contributions_are_coefficient_times_standardized_value(
    levels: str, request: pytest.FixtureRequest
) -> None:
    data: Data = request.getfixturevalue(levels)
    pipeline = fitted(LogisticRegression(max_iter=500), data)
    x = data[0].iloc[:30]
    explanation = contributions(pipeline, x)
    assert explanation.units == LOG_ODDS == units_of(pipeline)
    assert explanation.columns == list(x.columns)
    classifier = pipeline[-1]
    matrix = pipeline[:-1].transform(x)
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else matrix
    chosen = explanation.predicted
    assert list(classifier.classes_[chosen]) == list(pipeline.predict(x))
    # the terms add up to the decision function without its intercept
    _, output = base_and_output_linear(classifier, matrix, chosen)
    np.testing.assert_allclose(explanation.values.sum(axis=1), output, atol=1e-9)
    # a number's term: its coefficient times its value as the scaler standardized it
    scaler = pipeline[:-1][-1].named_transformers_["numeric"][-1]
    column = list(x.columns).index("trend_score")
    position = list(pipeline[:-1].get_feature_names_out()).index("numeric__trend_score")
    standardized = (x["trend_score"].to_numpy() - scaler.mean_[0]) / scaler.scale_[0]
    np.testing.assert_allclose(matrix[:, position], standardized)
    coef = classifier.coef_
    if coef.shape[0] == 1:
        terms = np.where(chosen == 1, 1.0, -1.0) * coef[0, position] * standardized
    else:
        terms = coef[chosen, position] * standardized
    np.testing.assert_allclose(explanation.values[:, column], terms, atol=1e-12)


def base_and_output_linear(classifier: Any, matrix: Any, chosen: Any) -> tuple[Any, Any]:
    raw = classifier.decision_function(matrix)
    intercept = classifier.intercept_
    if raw.ndim == 1:
        sign = np.where(chosen == 1, 1.0, -1.0)
        return None, sign * (raw - intercept[0])
    rows = np.arange(len(chosen))
    return None, raw[rows, chosen] - intercept[chosen]


def test_reasons_are_the_largest_contributions_with_the_rows_values(
    three_levels: Data,
) -> None:
    pipeline = fitted(RandomForestClassifier(n_estimators=10, random_state=0), three_levels)
    x = three_levels[0].iloc[:20].copy()
    x.loc[x.index[0], "trend_score"] = np.nan
    x.loc[x.index[0], "skill_name"] = np.nan
    explanation = contributions(pipeline, x)
    reasons = explain_rows(pipeline, x, 3)
    assert len(reasons) == 20
    for r, row in enumerate(reasons):
        assert len(row) == 3
        magnitudes = np.abs(explanation.values[r])
        expected = sorted(magnitudes, reverse=True)[:3]
        assert [abs(reason.contribution) for reason in row] == pytest.approx(expected)
        for reason in row:
            assert isinstance(reason, Reason)
            cell = x.iloc[r][reason.feature]
            assert reason.value == (None if pd.isna(cell) else cell)
            assert reason.contribution == explanation.values[r, x.columns.get_loc(reason.feature)]
    # every column, when asked for more than there are; none when asked for none
    assert len(explain_rows(pipeline, x, 50)[0]) == len(x.columns)
    assert explain_rows(pipeline, x, 0) == [[] for _ in range(20)]
    # a missing value is reported as missing, not as the median the imputer put there
    everything = {reason.feature: reason.value for reason in explain_rows(pipeline, x, 11)[0]}
    assert everything["trend_score"] is None
    assert everything["skill_name"] is None


def test_imputed_columns_name_each_rows_missing_inputs_in_feature_order() -> None:
    frame = pd.DataFrame(
        {
            "skill_name": ["Python", np.nan, None],
            "trend_score": [0.5, np.nan, 0.1],
            "avg_salary_k": [np.nan, 1.0, 2.0],
        }
    )
    features = ["skill_name", "trend_score", "avg_salary_k", "scarcity_index"]
    assert imputed_columns(frame, features) == [
        ["avg_salary_k", "scarcity_index"],
        ["skill_name", "trend_score", "scarcity_index"],
        ["skill_name", "scarcity_index"],
    ]


def test_global_importance_is_the_mean_absolute_contribution(three_levels: Data) -> None:
    pipeline = fitted(RandomForestClassifier(n_estimators=10, random_state=0), three_levels)
    x = three_levels[0].iloc[:50]
    importance, units = global_importance(pipeline, x)
    assert units == PROBABILITY
    expected = np.abs(contributions(pipeline, x).values).mean(axis=0)
    assert importance == pytest.approx(dict(zip(x.columns, expected, strict=True)))
    assert list(importance.values()) == sorted(importance.values(), reverse=True)
    # a sample when there are more rows than asked for
    sampled, _ = global_importance(pipeline, three_levels[0], max_rows=30)
    assert set(sampled) == set(x.columns)


def test_a_model_neither_tree_nor_linear_is_refused(two_levels: Data) -> None:
    pipeline = fitted(KNeighborsClassifier(), two_levels)
    with pytest.raises(UnexplainableModel, match="KNeighborsClassifier"):
        explain_rows(pipeline, two_levels[0].iloc[:3], 3)


def test_a_runs_shap_importance_rows_shrink_with_its_trees() -> None:
    from trainer.ml.model_trainer import shap_importance_rows

    def forest(trees: int) -> Pipeline:
        return Pipeline([("classifier", RandomForestClassifier(n_estimators=trees))])

    assert shap_importance_rows(forest(10)) == 100
    assert shap_importance_rows(forest(200)) == 25
    assert shap_importance_rows(forest(1000)) == 20
    assert shap_importance_rows(Pipeline([("classifier", LogisticRegression())])) == 100


def test_other_threads_run_while_rows_are_explained(three_levels: Data) -> None:
    """shap holds the GIL through each call: rows go to it a slice at a time, so the
    server's event loop (or a worker's heartbeat) is not frozen for the whole request."""
    import threading
    import time

    pipeline = fitted(RandomForestClassifier(n_estimators=60, random_state=0), three_levels)
    x = three_levels[0].iloc[:60]
    contributions(pipeline, x.iloc[:1])  # the explainer built beforehand
    ticks: list[float] = []
    done = threading.Event()

    def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    thread = threading.Thread(target=ticker)
    started = time.perf_counter()
    thread.start()
    contributions(pipeline, x)
    duration = time.perf_counter() - started
    done.set()
    thread.join()
    gaps = np.diff([started, *ticks])
    assert len(ticks) >= 5, (duration, len(ticks))
    assert gaps.max() < duration / 2, (duration, gaps.max())
