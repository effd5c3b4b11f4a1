"""Has new data moved away from what a model learnt? A drift report per feature.

Every feature gets all its statistics (numeric: Kolmogorov-Smirnov, PSI over the
reference's deciles, Wasserstein distance normed by the reference's standard deviation;
categorical: chi-squared on the two samples' counts, Jensen-Shannon distance), and one of
them decides `drifted`, as Evidently's defaults decide it (DataDriftPreset):

- numeric, reference of at most 1,000 rows: KS p-value < 0.05; larger: normed
  Wasserstein distance >= 0.1;
- categorical, reference of at most 1,000 rows: chi-squared p-value < 0.05; larger:
  Jensen-Shannon distance >= 0.1;
- the dataset drifted when at least half of its features did.

Small references get a hypothesis test (which a few hundred rows cannot over-power);
large ones a distance, since with many rows any test finds a "significant" trifle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from trainer.ml.dataset import CATEGORICAL_COLUMNS

__all__ = ["DriftReport", "FeatureDrift", "drift_report"]

# Evidently's defaults (see the module docstring).
LARGE_REFERENCE_ROWS = 1000
P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
DATASET_DRIFT_SHARE = 0.5
# Shares below this count as this in PSI, so an empty bin does not make it infinite.
_PSI_FLOOR = 1e-4
_HISTOGRAM_BINS = 10
_TOP_CATEGORIES = 12


@dataclass(frozen=True)
class Histogram:
    """Reference and current shares per bin (numeric: equal-width bins over both samples'
    range; categorical: the most frequent categories), for a chart."""

    labels: list[str]
    reference: list[float]
    current: list[float]


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # "numeric" or "categorical"
    # The statistic that decided `drifted` and its value: "ks" and "chi2" are p-values,
    # "wasserstein" and "jensen_shannon" distances.
    test: str
    value: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    ks_statistic: float | None = None
    ks_p_value: float | None = None
    psi: float | None = None
    wasserstein: float | None = None
    chi2_statistic: float | None = None
    chi2_p_value: float | None = None
    jensen_shannon: float | None = None
    # Categories of the current data the reference never had: how many, in how many rows.
    unseen_categories: int = 0
    unseen_rows: int = 0
    histogram: Histogram = field(default_factory=lambda: Histogram([], [], []))


@dataclass(frozen=True)
class DriftReport:
    reference_rows: int
    current_rows: int
    features: list[FeatureDrift]
    drifted_features: int
    share_drifted: float
    dataset_drifted: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def drift_report(
    reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str]
) -> DriftReport:
    """Compare `current` to `reference` on `features` (columns missing from either are
    left out; missing values are left out of each feature's samples)."""
    large = len(reference) > LARGE_REFERENCE_ROWS
    results = []
    for feature in features:
        if feature not in reference.columns or feature not in current.columns:
            continue
        ref = reference[feature].dropna()
        cur = current[feature].dropna()
        if ref.empty or cur.empty:
            continue
        if feature in CATEGORICAL_COLUMNS:
            results.append(_categorical(feature, ref.astype(str), cur.astype(str), large))
        else:
            results.append(
                _numeric(feature, ref.to_numpy(np.float64), cur.to_numpy(np.float64), large)
            )
    drifted = sum(result.drifted for result in results)
    share = drifted / len(results) if results else 0.0
    return DriftReport(
        reference_rows=len(reference),
        current_rows=len(current),
        features=sorted(results, key=lambda r: (not r.drifted, r.feature)),
        drifted_features=drifted,
        share_drifted=share,
        dataset_drifted=bool(results) and share >= DATASET_DRIFT_SHARE,
    )


def _numeric(feature: str, ref: np.ndarray, cur: np.ndarray, large: bool) -> FeatureDrift:
    ks = ks_2samp(ref, cur)
    wasserstein = float(wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001))
    if large:
        test, value, threshold = "wasserstein", wasserstein, DISTANCE_THRESHOLD
        drifted = value >= threshold
    else:
        test, value, threshold = "ks", float(ks.pvalue), P_VALUE_THRESHOLD
        drifted = value < threshold
    return FeatureDrift(
        feature=feature,
        kind="numeric",
        test=test,
        value=value,
        threshold=threshold,
        drifted=bool(drifted),
        reference_rows=len(ref),
        current_rows=len(cur),
        ks_statistic=float(ks.statistic),
        ks_p_value=float(ks.pvalue),
        psi=_psi(ref, cur),
        wasserstein=wasserstein,
        histogram=_numeric_histogram(ref, cur),
    )


def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """Population stability index over the reference's deciles."""
    edges = np.unique(np.quantile(ref, np.linspace(0.1, 0.9, 9)))
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    expected = np.maximum(ref_share / len(ref), _PSI_FLOOR)
    actual = np.maximum(cur_share / len(cur), _PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _numeric_histogram(ref: np.ndarray, cur: np.ndarray) -> Histogram:
    low = float(min(ref.min(), cur.min()))
    high = float(max(ref.max(), cur.max()))
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, _HISTOGRAM_BINS + 1)
    ref_counts, _ = np.histogram(ref, edges)
    cur_counts, _ = np.histogram(cur, edges)
    return Histogram(
        labels=[f"{edges[i]:.3g} to {edges[i + 1]:.3g}" for i in range(_HISTOGRAM_BINS)],
        reference=[float(c) / len(ref) for c in ref_counts],
        current=[float(c) / len(cur) for c in cur_counts],
    )


def _categorical(feature: str, ref: pd.Series, cur: pd.Series, large: bool) -> FeatureDrift:
    ref_counts = ref.value_counts()
    cur_counts = cur.value_counts()
    categories = list(ref_counts.index.union(cur_counts.index))
    ref_vector = ref_counts.reindex(categories, fill_value=0).to_numpy(np.float64)
    cur_vector = cur_counts.reindex(categories, fill_value=0).to_numpy(np.float64)
    if len(categories) > 1:
        chi2 = chi2_contingency(np.vstack([ref_vector, cur_vector]))
        chi2_statistic, chi2_p_value = float(chi2.statistic), float(chi2.pvalue)
    else:  # one category in both: nothing can have moved
        chi2_statistic, chi2_p_value = 0.0, 1.0
    js = float(jensenshannon(ref_vector / ref_vector.sum(), cur_vector / cur_vector.sum()))
    if large:
        test, value, threshold = "jensen_shannon", js, DISTANCE_THRESHOLD
        drifted = value >= threshold
    else:
        test, value, threshold = "chi2", chi2_p_value, P_VALUE_THRESHOLD
        drifted = value < threshold
    unseen = cur_counts[~cur_counts.index.isin(ref_counts.index)]
    top = list(
        (ref_counts / len(ref))
        .add(cur_counts / len(cur), fill_value=0)
        .nlargest(_TOP_CATEGORIES)
        .index
    )
    return FeatureDrift(
        feature=feature,
        kind="categorical",
        test=test,
        value=value,
        threshold=threshold,
        drifted=bool(drifted),
        reference_rows=len(ref),
        current_rows=len(cur),
        chi2_statistic=chi2_statistic,
        chi2_p_value=chi2_p_value,
        jensen_shannon=js,
        unseen_categories=len(unseen),
        unseen_rows=int(unseen.sum()),
        histogram=Histogram(
            labels=[str(c) for c in top],
            reference=[float(ref_counts.get(c, 0)) / len(ref) for c in top],
            current=[float(cur_counts.get(c, 0)) / len(cur) for c in top],
        ),
    )
