"""trainer.ml.drift (issue 24, section 3): which test decides `drifted` (Evidently's
defaults), PSI over the reference's deciles, unseen categories counted, files drawn by
the generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer.ml.dataset import FEATURE_COLUMNS, load_dataset
from trainer.ml.drift import DriftReport, drift_report
from trainer.ml.generator import generate_dataset


def drawn(tmp_path: Path, rows: int, seed: int) -> pd.DataFrame:
    path = tmp_path / f"drawn-{rows}-{seed}.csv"
    generate_dataset(rows, seed, path)
    return load_dataset(path).frame


def shifted(frame: pd.DataFrame) -> pd.DataFrame:
    """One numeric column moved, one category's share changed; nothing else."""
    changed = frame.copy()
    changed["trend_score"] = changed["trend_score"] + 0.1
    picked = np.random.default_rng(0).random(len(changed)) < 0.25
    changed.loc[picked, "skill_category"] = "Management"
    return changed


def drifted(report: DriftReport) -> set[str]:
    return {f.feature for f in report.features if f.drifted}


def test_a_large_reference_is_judged_by_distances(tmp_path: Path) -> None:
    # given: references over 1,000 rows
    reference, current = drawn(tmp_path, 5000, 1), drawn(tmp_path, 5000, 2)

    # when
    same = drift_report(reference, current, FEATURE_COLUMNS)
    moved = drift_report(reference, shifted(current), FEATURE_COLUMNS)

    # then: Wasserstein (normed) for numbers, Jensen-Shannon for categories, at 0.1
    tests = {f.feature: f.test for f in same.features}
    assert tests["trend_score"] == "wasserstein"
    assert tests["skill_category"] == "jensen_shannon"
    assert {f.threshold for f in same.features} == {0.1}
    assert drifted(same) == set()
    assert drifted(moved) == {"trend_score", "skill_category"}
    assert moved.drifted_features == 2
    assert moved.share_drifted == pytest.approx(2 / 11)
    assert moved.dataset_drifted is False
    # drifted features come first
    assert {f.feature for f in moved.features[:2]} == {"trend_score", "skill_category"}


def test_a_small_reference_is_judged_by_p_values(tmp_path: Path) -> None:
    # given: references of at most 1,000 rows
    reference = drawn(tmp_path, 800, 3)
    current = shifted(drawn(tmp_path, 800, 4))

    # when
    report = drift_report(reference, current, FEATURE_COLUMNS)

    # then: KS for numbers, chi-squared for categories, p < 0.05
    by_name = {f.feature: f for f in report.features}
    assert by_name["trend_score"].test == "ks"
    assert by_name["trend_score"].value == by_name["trend_score"].ks_p_value
    assert by_name["skill_category"].test == "chi2"
    assert by_name["skill_category"].value == by_name["skill_category"].chi2_p_value
    assert {"trend_score", "skill_category"} <= drifted(report)
    assert all(f.threshold == 0.05 for f in report.features)


def test_psi_is_zero_for_the_same_sample_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(5)
    values = pd.DataFrame({"trend_score": rng.random(2000)})

    same = drift_report(values, values, ["trend_score"]).features[0]
    moved = drift_report(values, values + 0.3, ["trend_score"]).features[0]

    assert same.psi == pytest.approx(0.0)
    assert moved.psi is not None
    assert moved.psi > 1.0


def test_categories_unseen_in_the_reference_are_counted() -> None:
    reference = pd.DataFrame({"job_department": ["IT", "RH"] * 50})
    current = pd.DataFrame({"job_department": ["IT", "RH"] * 45 + ["Nouveau"] * 7 + ["Autre"] * 3})

    feature = drift_report(reference, current, ["job_department"]).features[0]

    assert (feature.unseen_categories, feature.unseen_rows) == (2, 10)
    assert feature.drifted is True  # chi-squared: 10% of rows in categories never seen


def test_half_the_features_drifted_is_dataset_drift() -> None:
    rng = np.random.default_rng(6)
    reference = pd.DataFrame({"trend_score": rng.random(500), "internal_usage": rng.random(500)})
    current = reference.assign(trend_score=reference["trend_score"] + 0.5)

    report = drift_report(reference, current, ["trend_score", "internal_usage"])

    assert report.share_drifted == 0.5
    assert report.dataset_drifted is True
