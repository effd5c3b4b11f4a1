"""Seeded generator of realistic future-skills datasets, from a few rows to millions.

Each row is an independent draw from one fixed world (trainer.ml.catalogue): a job role, a skill
that role plausibly uses, the measurements an HR tool would export for the pair, and a need
level that follows those measurements with believable noise, so a model can learn it well
but not perfectly. Bigger files are more draws, never repeats, so benchmarks see real work.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from trainer.ml.catalogue import DEPARTMENT_CATEGORY_RELEVANCE, ROLES, SKILLS
from trainer.ml.dataset import FEATURE_COLUMNS, TARGET_CLASSES, TARGET_COLUMN

__all__ = ["GenerationSummary", "generate_dataset"]

# Rows drawn and formatted at a time: big enough for numpy to pay off, small enough that a
# million-row file never holds more than ~25 MB of text in memory.
_CHUNK_ROWS = 200_000
# Seeds the world itself (role/skill affinities, class thresholds), not the rows: every
# file shares these truths whatever seed it was made with.
_WORLD_SEED = 20_240_601
# Share of rows whose label is replaced by a random level: HR exports contain mistakes.
_LABEL_FLIP_RATE = 0.03
# Standard deviation of the unexplained part of the need score; the measured part spreads
# with a standard deviation of ~0.38, so this blurs the levels near their boundaries.
_SCORE_NOISE = 0.04
# Cumulative class shares targeted for LOW and LOW+MEDIUM.
_CLASS_QUANTILES = (0.30, 0.75)
_MAX_TRAINING_REQUESTS = 200


@dataclass(frozen=True)
class GenerationSummary:
    """What a generation produced, for the command line to report."""

    rows: int
    class_counts: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class _World:
    """The catalogue as arrays, so a whole chunk of rows is drawn with a few numpy calls."""

    affinity: np.ndarray  # (roles, skills): how much the role uses the skill, 0-1
    skill_cdf_by_role: np.ndarray  # flattened, offset by role index, for one searchsorted
    demand: np.ndarray
    supply: np.ndarray
    seniority: np.ndarray
    salary_k: np.ndarray
    row_prefix: np.ndarray  # (roles * skills) CSV text of the four categorical fields


@dataclass(frozen=True)
class _Sample:
    pair: np.ndarray
    trend_score: np.ndarray
    internal_usage: np.ndarray
    training_requests: np.ndarray
    scarcity_index: np.ndarray
    hiring_difficulty: np.ndarray
    avg_salary_k: np.ndarray
    economic_indicator: np.ndarray
    score: np.ndarray


def generate_dataset(rows: int, seed: int, out: Path) -> GenerationSummary:
    """Write `rows` fresh rows to `out`; the same seed always gives the same bytes.

    The file appears at `out` only once complete, so a reader never sees half a dataset.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    started = time.perf_counter()
    world = _world()
    low_max, medium_max = _thresholds()
    rng = np.random.default_rng(seed)
    counts = np.zeros(len(TARGET_CLASSES), dtype=np.int64)

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=out.parent, prefix=".", suffix=".partial")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the dataset from other users
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(",".join((*FEATURE_COLUMNS, TARGET_COLUMN)) + "\n")
            for start in range(0, rows, _CHUNK_ROWS):
                sample = _draw(rng, min(_CHUNK_ROWS, rows - start), world)
                labels = _labels(rng, sample.score, low_max, medium_max)
                counts += np.bincount(labels, minlength=len(TARGET_CLASSES))
                handle.write(_to_csv_text(sample, labels, world))
        os.replace(temp_name, out)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return GenerationSummary(
        rows=rows,
        class_counts={name: int(n) for name, n in zip(TARGET_CLASSES, counts, strict=True)},
        seconds=time.perf_counter() - started,
    )


@cache
def _world() -> _World:
    skill_index = {skill.name: i for i, skill in enumerate(SKILLS)}
    jitter = np.random.default_rng(_WORLD_SEED).uniform(0.0, 1.0, (len(ROLES), len(SKILLS)))
    relevance = np.array(
        [
            [DEPARTMENT_CATEGORY_RELEVANCE[role.department][skill.category] for skill in SKILLS]
            for role in ROLES
        ]
    )
    affinity = 0.75 * relevance + 0.25 * jitter
    for r, role in enumerate(ROLES):
        for name in role.core_skills:
            affinity[r, skill_index[name]] = max(affinity[r, skill_index[name]], 0.92)

    # Roles mostly appear with skills they use, as in a real skills inventory.
    weights = np.exp(3.0 * affinity)
    cdf = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    cdf[:, -1] = 1.0
    offset_cdf = (np.arange(len(ROLES))[:, None] + cdf).ravel()

    prefix = []
    for role in ROLES:
        for skill in SKILLS:
            line = io.StringIO()
            csv.writer(line, lineterminator="").writerow(
                (role.name, skill.name, skill.category, role.department, "")
            )
            prefix.append(line.getvalue())
    return _World(
        affinity=affinity,
        skill_cdf_by_role=offset_cdf,
        demand=np.array([skill.demand for skill in SKILLS]),
        supply=np.array([skill.supply for skill in SKILLS]),
        seniority=np.array([role.seniority for role in ROLES]),
        salary_k=np.array([role.salary_k for role in ROLES], dtype=float),
        row_prefix=np.array(prefix, dtype=object),
    )


@cache
def _thresholds() -> tuple[float, float]:
    """Score cut-offs giving ~30% LOW / 45% MEDIUM / 25% HIGH.

    Derived from a large fixed sample of this world rather than from each file, so that a
    row's label never depends on the other rows drawn with it.
    """
    sample = _draw(np.random.default_rng(_WORLD_SEED), 400_000, _world())
    low_max, medium_max = np.quantile(sample.score, _CLASS_QUANTILES)
    return float(low_max), float(medium_max)


def _draw(rng: np.random.Generator, n: int, world: _World) -> _Sample:
    n_skills = world.demand.size
    role = rng.integers(0, world.seniority.size, n)
    skill = np.searchsorted(world.skill_cdf_by_role, role + rng.random(n), side="right")
    skill = np.minimum(skill - role * n_skills, n_skills - 1)
    affinity = world.affinity[role, skill]
    demand = world.demand[skill]

    economic_indicator = 0.3 + 0.5 * rng.beta(4.0, 4.0, n)
    trend = _unit(0.5 + 0.38 * demand + 0.15 * (economic_indicator - 0.55), rng, 0.08)
    usage = _unit(0.05 + 0.8 * affinity, rng, 0.1)
    scarcity = _unit(0.5 + 0.35 * (demand - world.supply[skill]), rng, 0.08)
    hiring = _unit(0.15 + 0.55 * scarcity + 0.25 * world.seniority[role], rng, 0.08)
    salary = world.salary_k[role] * (0.85 + 0.35 * scarcity) * rng.lognormal(0.0, 0.08, n)
    requests = rng.poisson(1.0 + 40.0 * usage * (0.3 + trend) + 10.0 * economic_indicator)

    score = (
        1.2 * trend + 0.9 * scarcity + 0.6 * usage + 0.6 * hiring + rng.normal(0.0, _SCORE_NOISE, n)
    )
    return _Sample(
        pair=role * n_skills + skill,
        trend_score=trend,
        internal_usage=usage,
        training_requests=np.minimum(requests, _MAX_TRAINING_REQUESTS),
        scarcity_index=scarcity,
        hiring_difficulty=hiring,
        avg_salary_k=np.clip(salary, 30.0, 150.0),
        economic_indicator=economic_indicator,
        score=score,
    )


def _unit(center: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    return np.clip(center + rng.normal(0.0, noise, center.shape), 0.0, 1.0)


def _labels(
    rng: np.random.Generator, score: np.ndarray, low_max: float, medium_max: float
) -> np.ndarray:
    labels: np.ndarray = np.digitize(score, (low_max, medium_max))
    flipped = rng.random(score.size) < _LABEL_FLIP_RATE
    labels[flipped] = rng.integers(0, len(TARGET_CLASSES), int(flipped.sum()))
    return labels


@cache
def _cell_tables() -> dict[str, np.ndarray]:
    """Every value a numeric cell can take, already formatted with its trailing comma.

    Values are rounded to a few decimals within known ranges, so there are only a few
    thousand distinct cells: looking them up is ~10x faster than formatting floats.
    """

    def table(values: list[str]) -> np.ndarray:
        return np.array([value + "," for value in values], dtype=object)

    return {
        "thousandths": table([f"{i / 1000:.3f}" for i in range(1001)]),
        "salary_cents": table([f"{i / 100:.2f}" for i in range(15_001)]),
        "count": table([str(i) for i in range(_MAX_TRAINING_REQUESTS + 1)]),
        "label": np.array([name + "\n" for name in TARGET_CLASSES], dtype=object),
    }


def _to_csv_text(sample: _Sample, labels: np.ndarray, world: _World) -> str:
    tables = _cell_tables()

    def thousandths(values: np.ndarray) -> list[str]:
        cells: list[str] = tables["thousandths"][np.rint(values * 1000).astype(np.intp)].tolist()
        return cells

    columns = (
        world.row_prefix[sample.pair].tolist(),
        thousandths(sample.trend_score),
        thousandths(sample.internal_usage),
        tables["count"][sample.training_requests].tolist(),
        thousandths(sample.scarcity_index),
        thousandths(sample.hiring_difficulty),
        tables["salary_cents"][np.rint(sample.avg_salary_k * 100).astype(np.intp)].tolist(),
        thousandths(sample.economic_indicator),
        tables["label"][labels].tolist(),
    )
    return "".join(map("".join, zip(*columns, strict=True)))
