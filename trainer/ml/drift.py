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

The current data comes a chunk at a time (DriftAccumulator.add) and is not kept: the
reference (the run's training data, which training held whole) fixes the bins, and each
chunk only adds counts. KS is exact that way (the current sample's counts at each distinct
reference value are all the two-sample statistic needs), so are PSI, chi-squared,
Jensen-Shannon and the unseen categories. The Wasserstein distance and the numeric
histogram's shares need the current values themselves: they come from a uniform sample
of at most SAMPLE_SIZE values per feature (the whole data below that, so exact there), the
same whatever the chunking. Categories beyond MAX_CATEGORIES distinct ones per feature are
pooled into one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, kstwo, wasserstein_distance

# ks_2samp's own exact distribution, given the statistic and the two sizes (the samples
# themselves are not kept); tests/trainer/test_drift.py checks it against ks_2samp.
from scipy.stats._stats_py import _attempt_exact_2kssamp

from trainer.ml.dataset import CATEGORICAL_COLUMNS

__all__ = ["DriftAccumulator", "DriftReport", "FeatureDrift", "drift_report"]

# Evidently's defaults (see the module docstring).
LARGE_REFERENCE_ROWS = 1000
P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
DATASET_DRIFT_SHARE = 0.5
# Shares below this count as this in PSI, so an empty bin does not make it infinite.
_PSI_FLOOR = 1e-4
_HISTOGRAM_BINS = 10
_TOP_CATEGORIES = 12
# Current values kept per numeric feature for Wasserstein and the histogram (a uniform
# sample beyond it), and distinct current categories counted per feature (the rest pooled).
SAMPLE_SIZE = 200_000
MAX_CATEGORIES = 10_000
POOLED_CATEGORY = "(other categories)"
_SAMPLE_SEED = 20240
# ks_2samp computes its p-value exactly up to this many rows in either sample (method
# "auto"), from Smirnov's asymptotic distribution beyond.
_KS_EXACT_ROWS = 10_000


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
    accumulator = DriftAccumulator(reference, features)
    accumulator.add(current)
    return accumulator.report()


class _Numeric:
    """A numeric feature: the reference's distinct values and deciles, and the current
    data's counts against them, plus a bounded sample of its values."""

    def __init__(self, ref: np.ndarray) -> None:
        self.ref_in_order = ref  # as the file has them: wasserstein_distance's sums
        self.ref = np.sort(ref)
        self.distinct = np.unique(self.ref)
        # Current values equal to distinct[k] (at[k]) and strictly between distinct[k-1]
        # and distinct[k] (below[k]; below[-1]: above the largest).
        self.at = np.zeros(len(self.distinct), np.int64)
        self.below = np.zeros(len(self.distinct) + 1, np.int64)
        self.deciles = np.unique(np.quantile(self.ref, np.linspace(0.1, 0.9, 9)))
        self.decile_counts = np.zeros(len(self.deciles) + 1, np.int64)
        self.rows = 0
        self.low = np.inf
        self.high = -np.inf
        self.sample = np.empty(0, np.float64)
        self.keys = np.empty(0, np.float64)
        self.positions = np.empty(0, np.int64)

    def add(self, values: np.ndarray, keys: np.ndarray, positions: np.ndarray) -> None:
        if len(values) == 0:
            return
        self.rows += len(values)
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))
        k = np.searchsorted(self.distinct, values, side="left")
        inside = k < len(self.distinct)
        equal = np.zeros(len(values), bool)
        equal[inside] = self.distinct[k[inside]] == values[inside]
        self.at += np.bincount(k[equal], minlength=len(self.at))
        self.below += np.bincount(k[~equal], minlength=len(self.below))
        self.decile_counts += np.bincount(
            np.searchsorted(self.deciles, values, side="right"),
            minlength=len(self.decile_counts),
        )
        # Bottom-k by a random key per row: a uniform sample, whatever the chunking.
        self.sample = np.concatenate([self.sample, values])
        self.keys = np.concatenate([self.keys, keys])
        self.positions = np.concatenate([self.positions, positions])
        if len(self.sample) > SAMPLE_SIZE:
            kept = np.sort(np.argpartition(self.keys, SAMPLE_SIZE - 1)[:SAMPLE_SIZE])
            self.sample, self.keys = self.sample[kept], self.keys[kept]
            self.positions = self.positions[kept]

    def ks(self) -> tuple[float, float]:
        """ks_2samp(reference, current) from the counts: the statistic, its p-value."""
        n, m = len(self.ref), self.rows
        ref_cdf = np.searchsorted(self.ref, self.distinct, side="right") / n
        at_or_below = np.cumsum(self.at + self.below[:-1])
        # At each distinct reference value, and at the largest current value below it
        # (where there is one): where the two step functions are furthest apart.
        differences = [ref_cdf - at_or_below / m]
        strictly_below = at_or_below - self.at
        gaps = self.below[:-1] > 0
        previous = np.concatenate([[0.0], ref_cdf[:-1]])
        differences.append(previous[gaps] - strictly_below[gaps] / m)
        all_differences = np.concatenate(differences)
        d = float(max(all_differences.max(), np.clip(-all_differences.min(), 0, 1)))
        if max(n, m) <= _KS_EXACT_ROWS:
            exact, d, p = _attempt_exact_2kssamp(n, m, math.gcd(n, m), d, "two-sided")
            if exact:
                return d, float(np.clip(p, 0, 1))
        big, small = sorted([float(n), float(m)], reverse=True)
        p = kstwo.sf(d, np.round(big * small / (big + small)))
        return d, float(np.clip(p, 0, 1))

    def psi(self) -> float:
        """Population stability index over the reference's deciles."""
        ref_share = np.bincount(
            np.searchsorted(self.deciles, self.ref, side="right"),
            minlength=len(self.deciles) + 1,
        )
        expected = np.maximum(ref_share / len(self.ref), _PSI_FLOOR)
        actual = np.maximum(self.decile_counts / self.rows, _PSI_FLOOR)
        return float(np.sum((actual - expected) * np.log(actual / expected)))

    def histogram(self) -> Histogram:
        """Equal-width bins over both data's whole range; the current shares from the
        sample (all the current values up to SAMPLE_SIZE)."""
        low = float(min(self.ref[0], self.low))
        high = float(max(self.ref[-1], self.high))
        if high <= low:
            high = low + 1.0
        edges = np.linspace(low, high, _HISTOGRAM_BINS + 1)
        ref_counts, _ = np.histogram(self.ref, edges)
        cur_counts, _ = np.histogram(self.sample, edges)
        return Histogram(
            labels=[f"{edges[i]:.3g} to {edges[i + 1]:.3g}" for i in range(_HISTOGRAM_BINS)],
            reference=[float(c) / len(self.ref) for c in ref_counts],
            current=[float(c) / len(self.sample) for c in cur_counts],
        )

    def result(self, feature: str, large: bool) -> FeatureDrift:
        ks_statistic, ks_p_value = self.ks()
        wasserstein = float(
            wasserstein_distance(self.ref_in_order, self.sample)
            / max(float(np.std(self.ref_in_order)), 0.001)
        )
        if large:
            test, value, threshold = "wasserstein", wasserstein, DISTANCE_THRESHOLD
            drifted = value >= threshold
        else:
            test, value, threshold = "ks", ks_p_value, P_VALUE_THRESHOLD
            drifted = value < threshold
        return FeatureDrift(
            feature=feature,
            kind="numeric",
            test=test,
            value=value,
            threshold=threshold,
            drifted=bool(drifted),
            reference_rows=len(self.ref),
            current_rows=self.rows,
            ks_statistic=ks_statistic,
            ks_p_value=ks_p_value,
            psi=self.psi(),
            wasserstein=wasserstein,
            histogram=self.histogram(),
        )


class _Categorical:
    """A categorical feature: the reference's counts, and the current data's, added up."""

    def __init__(self, ref: pd.Series) -> None:
        self.ref_counts: dict[str, int] = {str(k): int(v) for k, v in ref.value_counts().items()}
        self.ref_rows = len(ref)
        self.counts: dict[str, int] = {}
        self.rows = 0

    def add(self, values: pd.Series) -> None:
        self.rows += len(values)
        counts = values.value_counts()
        # In the order the file has them: the first MAX_CATEGORIES distinct ones are the
        # ones counted, however the rows are chunked.
        for category in pd.unique(values):
            count = counts[category]
            key = str(category)
            if key not in self.counts and len(self.counts) >= MAX_CATEGORIES:
                key = POOLED_CATEGORY
            self.counts[key] = self.counts.get(key, 0) + int(count)

    def result(self, feature: str, large: bool) -> FeatureDrift:
        categories = sorted(set(self.ref_counts) | set(self.counts))
        ref_vector = np.array([self.ref_counts.get(c, 0) for c in categories], np.float64)
        cur_vector = np.array([self.counts.get(c, 0) for c in categories], np.float64)
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
        unseen = {c: n for c, n in self.counts.items() if c not in self.ref_counts}
        shares = {
            c: self.ref_counts.get(c, 0) / self.ref_rows + self.counts.get(c, 0) / self.rows
            for c in categories
        }
        top = sorted(categories, key=lambda c: (-shares[c], c))[:_TOP_CATEGORIES]
        return FeatureDrift(
            feature=feature,
            kind="categorical",
            test=test,
            value=value,
            threshold=threshold,
            drifted=bool(drifted),
            reference_rows=self.ref_rows,
            current_rows=self.rows,
            chi2_statistic=chi2_statistic,
            chi2_p_value=chi2_p_value,
            jensen_shannon=js,
            unseen_categories=len(unseen),
            unseen_rows=sum(unseen.values()),
            histogram=Histogram(
                labels=top,
                reference=[self.ref_counts.get(c, 0) / self.ref_rows for c in top],
                current=[self.counts.get(c, 0) / self.rows for c in top],
            ),
        )


class DriftAccumulator:
    """The drift of data read a chunk at a time against a reference held whole: bins and
    counts fixed from `reference` at the start, each chunk's counts added by `add`, the
    report made by `report`; memory bounded whatever the current data's length."""

    def __init__(self, reference: pd.DataFrame, features: Sequence[str]) -> None:
        self.reference_rows = len(reference)
        self.large = len(reference) > LARGE_REFERENCE_ROWS
        self.current_rows = 0
        self.features: dict[str, _Numeric | _Categorical] = {}
        self.random = np.random.default_rng(_SAMPLE_SEED)
        for feature in features:
            if feature not in reference.columns:
                continue
            ref = reference[feature].dropna()
            if ref.empty:
                continue
            if feature in CATEGORICAL_COLUMNS:
                self.features[feature] = _Categorical(ref.astype(str))
            else:
                self.features[feature] = _Numeric(ref.to_numpy(np.float64))

    def add(self, chunk: pd.DataFrame) -> None:
        """Count one chunk of the current data (its rows are not kept)."""
        # One key per row, drawn in row order: the same sample however the rows come, and
        # kept in row order (the sums over it are then the same to the last bit).
        keys = self.random.random(len(chunk))
        positions = np.arange(self.current_rows, self.current_rows + len(chunk), dtype=np.int64)
        self.current_rows += len(chunk)
        for feature, state in self.features.items():
            if feature not in chunk.columns:
                continue
            column = chunk[feature]
            present = column.notna().to_numpy()
            if isinstance(state, _Categorical):
                state.add(column[present].astype(str))
            else:
                state.add(column[present].to_numpy(np.float64), keys[present], positions[present])

    def report(self) -> DriftReport:
        results = [
            state.result(feature, self.large)
            for feature, state in self.features.items()
            if state.rows > 0
        ]
        drifted = sum(result.drifted for result in results)
        share = drifted / len(results) if results else 0.0
        return DriftReport(
            reference_rows=self.reference_rows,
            current_rows=self.current_rows,
            features=sorted(results, key=lambda r: (not r.drifted, r.feature)),
            drifted_features=drifted,
            share_drifted=share,
            dataset_drifted=bool(results) and share >= DATASET_DRIFT_SHARE,
        )
