"""trainer.ml.evaluation (issue 24, section 3): the new file is read a chunk at a time,
and the result is the same as over the whole file at once: metrics as
evaluate_pipeline gives them on every row, drift as in one chunk; a cancel between two
chunks stops it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from trainer.ml.dataset import TARGET_CLASSES, TARGET_COLUMN, load_dataset
from trainer.ml.drift import drift_report
from trainer.ml.errors import TrainingCancelled
from trainer.ml.evaluation import evaluate_model
from trainer.ml.generator import generate_dataset
from trainer.ml.model_trainer import TrainingConfig, build_pipeline, evaluate_pipeline


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Pipeline]:
    folder = tmp_path_factory.mktemp("evaluation")
    reference, current = folder / "reference.csv", folder / "current.csv"
    generate_dataset(1500, 1, reference)
    generate_dataset(4000, 2, current)
    # a few unusable rows, and a shifted column, so dropped rows and drift are non-trivial
    lines = current.read_text().splitlines()
    lines[5] = lines[5].rpartition(",")[0] + ",UNKNOWN"
    current.write_text("\n".join(lines) + "\n")
    data = load_dataset(reference)
    pipeline = build_pipeline(data.categorical, data.numeric, TrainingConfig())
    pipeline.steps[-1] = ("classifier", RandomForestClassifier(n_estimators=5, random_state=0))
    pipeline.fit(data.frame[list(data.features)], data.frame[TARGET_COLUMN])
    return reference, current, pipeline


def run(files: Any, rows_per_chunk: int | None, **kwargs: Any) -> Any:
    reference, current, pipeline = files
    features = list(load_dataset(reference).features)
    return evaluate_model(
        pipeline,
        features,
        current,
        "current.csv",
        reference,
        "reference.csv",
        None,
        rows_per_chunk=rows_per_chunk,
        **kwargs,
    )


def test_chunks_give_the_same_result_as_one_chunk_and_as_the_whole_file(files: Any) -> None:
    # when
    progress: list[float] = []
    chunked = run(files, 333, on_progress=progress.append)
    whole = run(files, 1_000_000)

    # then: the same to the last bit, chunked or not
    assert chunked == whole
    assert len(progress) > 10
    assert progress == sorted(progress)
    # and: the same as today's whole-file computation
    reference, current, pipeline = files
    features = list(load_dataset(reference).features)
    data = load_dataset(current)
    frame = data.frame.reindex(columns=[*features, TARGET_COLUMN])
    classes = [c for c in TARGET_CLASSES if c in set(frame[TARGET_COLUMN])]
    expected = evaluate_pipeline(pipeline, frame[features], frame[TARGET_COLUMN], classes)
    expected.update(samples=len(frame), dropped_rows=data.dropped_rows)
    assert chunked.metrics == expected
    assert data.dropped_rows == 1
    assert chunked.dataset_sha256 == data.sha256
    assert chunked.drift == drift_report(load_dataset(reference).frame, frame, features).as_dict()


def test_a_cancel_is_honoured_between_chunks(files: Any) -> None:
    seen: list[float] = []

    def stop() -> bool:
        return len(seen) >= 3

    with pytest.raises(TrainingCancelled):
        run(files, 500, on_progress=seen.append, should_stop=stop)
    assert len(seen) == 3


def test_drift_counted_in_chunks_equals_scipy_on_the_whole_samples() -> None:
    from scipy.stats import ks_2samp, wasserstein_distance

    reference = pd.DataFrame({"trend_score": [round(x * 0.37 % 1, 2) for x in range(900)]})
    current = pd.DataFrame({"trend_score": [round(x * 0.53 % 1.2, 2) for x in range(700)]})
    feature = drift_report(reference, current, ["trend_score"]).features[0]
    ks = ks_2samp(reference["trend_score"], current["trend_score"])
    assert (feature.ks_statistic, feature.ks_p_value) == (float(ks.statistic), float(ks.pvalue))
    assert feature.wasserstein == float(
        wasserstein_distance(reference["trend_score"], current["trend_score"])
        / reference["trend_score"].std(ddof=0)
    )


def test_beyond_the_sample_size_the_result_does_not_depend_on_the_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a sample smaller than the data, and categories beyond the counted ones
    from trainer.ml import drift

    monkeypatch.setattr(drift, "SAMPLE_SIZE", 300)
    monkeypatch.setattr(drift, "MAX_CATEGORIES", 5)
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {"trend_score": rng.random(2000), "skill_name": [f"s{i % 4}" for i in range(2000)]}
    )
    current = pd.DataFrame(
        {"trend_score": rng.random(5000) + 0.2, "skill_name": [f"s{i % 9}" for i in range(5000)]}
    )

    # when
    reports = []
    for size in (5000, 701, 64):
        accumulator = drift.DriftAccumulator(reference, ["trend_score", "skill_name"])
        for start in range(0, len(current), size):
            accumulator.add(current.iloc[start : start + size])
        reports.append(accumulator.report())

    # then: the same report, KS still over every row; s4 unseen, s5 to s8 pooled into one
    assert reports[0] == reports[1] == reports[2]
    by_name = {f.feature: f for f in reports[0].features}
    ks = ks_2samp(reference["trend_score"], current["trend_score"])
    assert by_name["trend_score"].ks_statistic == float(ks.statistic)
    assert by_name["trend_score"].current_rows == 5000
    assert sum(by_name["trend_score"].histogram.current) == pytest.approx(1.0)
    skills = by_name["skill_name"]
    assert (skills.unseen_categories, skills.unseen_rows) == (2, 556 + 4 * 555)
