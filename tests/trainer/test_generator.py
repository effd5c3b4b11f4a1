from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from trainer.ml.dataset import FEATURE_COLUMNS, TARGET_COLUMN, load_dataset
from trainer.ml.generator import generate_dataset
from trainer.ml.model_trainer import ModelTrainer, TrainingConfig

SHIPPED = Path(__file__).parents[2] / "artifacts" / "datasets" / "future_skills_dataset.csv"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("gen") / "sample.csv"
    summary = generate_dataset(20_000, seed=11, out=path)
    frame = pd.read_csv(path)
    assert summary.class_counts == frame[TARGET_COLUMN].value_counts().to_dict()
    return frame


def test_same_seed_gives_the_same_bytes_and_another_seed_other_rows(tmp_path: Path) -> None:
    generate_dataset(500, seed=5, out=tmp_path / "a.csv")
    generate_dataset(500, seed=5, out=tmp_path / "b.csv")
    generate_dataset(500, seed=6, out=tmp_path / "c.csv")

    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["a.csv", "b.csv", "c.csv"]


def test_shipped_dataset_is_what_the_documented_command_makes(tmp_path: Path) -> None:
    summary = generate_dataset(2000, seed=42, out=tmp_path / "remade.csv")

    assert summary.rows == 2000
    assert (tmp_path / "remade.csv").read_bytes() == SHIPPED.read_bytes()


def test_file_has_exactly_the_design_columns_and_loads_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "out" / "data.csv"
    generate_dataset(1234, seed=1, out=path)

    header = path.read_text(encoding="utf-8").splitlines()[0]
    dataset = load_dataset(path)

    assert header.split(",") == [*FEATURE_COLUMNS, TARGET_COLUMN]
    assert dataset.total_rows_read == 1234
    assert dataset.dropped_rows == 0
    assert dataset.features == FEATURE_COLUMNS
    assert not dataset.frame.isna().any().any()


def test_class_balance_is_roughly_30_45_25(sample: pd.DataFrame) -> None:
    shares = sample[TARGET_COLUMN].value_counts(normalize=True)

    assert 0.26 < shares["LOW"] < 0.34
    assert 0.41 < shares["MEDIUM"] < 0.49
    assert 0.21 < shares["HIGH"] < 0.29


def test_values_stay_in_their_documented_ranges(sample: pd.DataFrame) -> None:
    for column in ("trend_score", "internal_usage", "scarcity_index", "hiring_difficulty"):
        assert sample[column].between(0.0, 1.0).all(), column
    assert sample["avg_salary_k"].between(30.0, 150.0).all()
    assert sample["economic_indicator"].between(0.3, 0.8).all()
    assert (sample["training_requests"] >= 0).all()
    assert sample["training_requests"].dtype.kind == "i"
    assert sample["job_role_name"].nunique() == 40
    assert sample["job_department"].nunique() == 8
    assert sample["skill_category"].nunique() == 6
    assert sample["skill_name"].nunique() > 70


def test_rows_are_fresh_draws_with_believable_relations(sample: pd.DataFrame) -> None:
    by_skill = sample.groupby("skill_name")["trend_score"].mean()
    by_level = sample.groupby(TARGET_COLUMN)["scarcity_index"].mean()

    assert sample.duplicated().mean() < 0.001
    assert by_skill["IA générative"] > by_skill["COBOL"] + 0.3
    assert by_level["LOW"] < by_level["MEDIUM"] < by_level["HIGH"]


def test_fewer_than_one_row_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows must be at least 1"):
        generate_dataset(0, seed=1, out=tmp_path / "data.csv")

    assert os.listdir(tmp_path) == []


def test_shipped_dataset_is_learnable_but_not_trivially(tmp_path: Path) -> None:
    result = ModelTrainer(TrainingConfig()).train(SHIPPED, tmp_path / "model.joblib")

    print(f"shipped dataset accuracy with default settings: {result.accuracy:.4f}")
    assert 0.6 < result.accuracy < 0.98
