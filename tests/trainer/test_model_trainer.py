from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

import trainer.ml.model_trainer
from trainer.ml.algorithms import Algorithm
from trainer.ml.dataset import FEATURE_COLUMNS, TARGET_COLUMN, load_dataset
from trainer.ml.errors import DataLoadError, TrainerError, TrainingCancelled, TrainingError
from trainer.ml.generator import generate_dataset
from trainer.ml.model_trainer import (
    ModelTrainer,
    TrainingConfig,
    build_pipeline,
    load_model,
)
from trainer.ml.stages import Stage

REST_ORIGINAL = Path(__file__).parents[1] / "data" / "rest_original_future_skills_dataset.csv"
FAST = TrainingConfig(parameters=dict(n_estimators=20, max_depth=8))


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    generate_dataset(600, seed=7, out=path)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_rest_original_reaches_the_published_accuracy(tmp_path: Path) -> None:
    config = TrainingConfig(
        test_split=0.2,
        random_state=42,
        parameters=dict(
            n_estimators=100, max_depth=15, min_samples_split=5, class_weight="balanced"
        ),
    )

    result = ModelTrainer(config).train(REST_ORIGINAL, tmp_path / "model.joblib")

    print(f"REST original dataset accuracy: {result.accuracy:.4f}")
    assert (result.total_samples, result.train_samples, result.test_samples) == (357, 285, 72)
    assert result.accuracy >= 0.95
    assert result.confusion_matrix["labels"] == ["MEDIUM", "HIGH"]


@pytest.mark.parametrize("class_weight", ["balanced", "balanced_subsample", None])
def test_chunked_fit_predicts_exactly_like_a_one_shot_fit(
    tmp_path: Path,
    small_dataset: Path,
    monkeypatch: pytest.MonkeyPatch,
    class_weight: str | None,
) -> None:
    # Given chunks of one tree, so the forest grows in many steps
    monkeypatch.setattr(trainer.ml.model_trainer, "_TARGET_CHUNK_SECONDS", 0.0)
    monkeypatch.setattr(trainer.ml.model_trainer, "_MAX_CALL_OVERHEAD", float("inf"))
    config = TrainingConfig(
        random_state=3,
        parameters=dict(n_estimators=60, max_depth=10, class_weight=class_weight),
    )
    fitting: list[float] = []

    def on_progress(stage: Stage, fraction: float) -> None:
        if stage is Stage.FITTING:
            fitting.append(fraction)

    # When the trainer fits, and the same pipeline is fitted in one call
    result = ModelTrainer(config, on_progress=on_progress).train(
        small_dataset, tmp_path / "model.joblib"
    )
    chunked = load_model(tmp_path / "model.joblib", result.model_sha256)
    dataset = load_dataset(small_dataset)
    x_train, x_test, y_train, _ = train_test_split(
        dataset.frame[list(dataset.features)],
        dataset.frame[TARGET_COLUMN],
        test_size=config.test_split,
        random_state=config.random_state,
        stratify=dataset.frame[TARGET_COLUMN],
    )
    one_shot = build_pipeline(dataset.categorical, dataset.numeric, config).fit(x_train, y_train)

    # Then it was grown in chunks yet predicts exactly the same
    assert len(fitting) > 10
    assert np.array_equal(chunked.predict_proba(x_test), one_shot.predict_proba(x_test))
    assert chunked.named_steps["classifier"].warm_start is False
    assert chunked.named_steps["classifier"].n_estimators == 60


def test_progress_is_reported_stage_by_stage_and_fitting_in_bounded_steps(
    tmp_path: Path,
) -> None:
    config = TrainingConfig(parameters=dict(n_estimators=1000, max_depth=3))
    events: list[tuple[Stage, float]] = []

    ModelTrainer(config, on_progress=lambda s, f: events.append((s, f))).train(
        REST_ORIGINAL, tmp_path / "model.joblib"
    )

    fitting = [fraction for stage, fraction in events if stage is Stage.FITTING]
    assert [stage for stage, _ in events if stage is not Stage.FITTING] == [
        Stage.LOADING_DATA,
        Stage.EVALUATING,
        Stage.SAVING,
        Stage.SAVING,
    ]
    assert events[0] == (Stage.LOADING_DATA, 0.0)
    assert events[-2:] == [(Stage.SAVING, 0.0), (Stage.SAVING, 1.0)]
    assert fitting == sorted(fitting)
    assert fitting[0] == 0.0
    assert fitting[-1] == 1.0
    assert 3 <= len(fitting) <= 60


def test_stop_request_cancels_between_chunks_and_leaves_no_file(
    tmp_path: Path, small_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer.ml.model_trainer, "_TARGET_CHUNK_SECONDS", 0.0)
    monkeypatch.setattr(trainer.ml.model_trainer, "_MAX_CALL_OVERHEAD", float("inf"))
    models = tmp_path / "models"
    models.mkdir()
    fitting: list[float] = []
    trainer_ = ModelTrainer(
        TrainingConfig(parameters=dict(n_estimators=100, max_depth=4)),
        on_progress=lambda stage, fraction: fitting.append(fraction),
        should_stop=lambda: len(fitting) >= 4,
    )

    with pytest.raises(TrainingCancelled):
        trainer_.train(small_dataset, models / "model.joblib")

    assert 0.0 < fitting[-1] < 1.0
    assert leftovers(models) == []


def test_stop_request_after_fitting_still_saves_nothing(
    tmp_path: Path, small_dataset: Path
) -> None:
    stages: list[Stage] = []
    trainer_ = ModelTrainer(
        FAST,
        on_progress=lambda stage, fraction: stages.append(stage),
        should_stop=lambda: Stage.EVALUATING in stages,
    )

    with pytest.raises(TrainingCancelled):
        trainer_.train(small_dataset, tmp_path / "model.joblib")

    assert Stage.SAVING not in stages
    assert leftovers(tmp_path) == []


def test_model_dir_that_is_a_file_gives_a_training_error(
    tmp_path: Path, small_dataset: Path
) -> None:
    (tmp_path / "models").write_text("not a folder")

    with pytest.raises(TrainingError, match=r"^could not write the model file: ") as caught:
        ModelTrainer(FAST).train(small_dataset, tmp_path / "models" / "model.joblib")

    assert str(tmp_path) not in str(caught.value)


def test_something_already_at_the_model_path_is_left_untouched(
    tmp_path: Path, small_dataset: Path
) -> None:
    # Given something that is not a file already sits where the model must go
    (tmp_path / "model.joblib").mkdir()

    with pytest.raises(TrainingError, match=r"a model file named .model\.joblib. already exists"):
        ModelTrainer(FAST).train(small_dataset, tmp_path / "model.joblib")

    assert leftovers(tmp_path) == ["model.joblib"]
    assert (tmp_path / "model.joblib").is_dir()


def test_failed_placement_removes_the_partial_file(
    tmp_path: Path, small_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A models folder on a file system without hard links refuses link() with EPERM.
    def no_hard_links(source: object, target: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_hard_links)

    with pytest.raises(TrainingError, match=r"^could not write the model file: Operation not"):
        ModelTrainer(FAST).train(small_dataset, tmp_path / "model.joblib")

    assert leftovers(tmp_path) == []


def test_full_disk_gives_a_training_error_and_no_partial_file(
    tmp_path: Path, small_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk cannot be produced on demand; it surfaces as ENOSPC on write or fsync.
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)

    with pytest.raises(TrainingError, match=r"^could not write the model file: No space left"):
        ModelTrainer(FAST).train(small_dataset, tmp_path / "model.joblib")

    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes whatever the permissions")
def test_read_only_model_dir_gives_a_training_error(tmp_path: Path, small_dataset: Path) -> None:
    models = tmp_path / "models"
    models.mkdir(mode=0o555)

    with pytest.raises(TrainingError, match="could not write the model file: Permission denied"):
        ModelTrainer(FAST).train(small_dataset, models / "model.joblib")

    assert leftovers(models) == []


def test_dataset_problem_fails_before_any_file_is_made(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match=r"'upload\.csv' does not exist"):
        ModelTrainer(FAST).train(
            tmp_path / "nope.csv", tmp_path / "m" / "model.joblib", display_name="upload.csv"
        )

    assert leftovers(tmp_path) == []


def _csv(tmp_path: Path, levels: list[str]) -> Path:
    header = ",".join((*FEATURE_COLUMNS, TARGET_COLUMN))
    rows = [
        f"Role {i % 3},Skill {i % 5},Technique,IT,0.{i % 10},0.5,{i},0.3,0.4,50,0.5,{level}"
        for i, level in enumerate(levels)
    ]
    path = tmp_path / "data.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("levels", "reason"),
    [
        (["HIGH"] * 10, r"all 10 usable rows have the same need level \(HIGH\)"),
        (["LOW"] * 10 + ["HIGH"], "HIGH has 1 row; each level present needs at least 2"),
        (["LOW"] * 4 + ["MEDIUM"] * 2 + ["HIGH"] * 2, "8 usable rows are too few for a 20%"),
    ],
)
def test_data_too_thin_to_split_gives_a_clear_training_error(
    tmp_path: Path, levels: list[str], reason: str
) -> None:
    with pytest.raises(TrainingError, match=reason):
        ModelTrainer(FAST).train(_csv(tmp_path, levels), tmp_path / "model.joblib")

    assert not (tmp_path / "model.joblib").exists()


def test_result_is_plain_json_and_describes_the_saved_model(
    tmp_path: Path, small_dataset: Path
) -> None:
    model = tmp_path / "model.joblib"

    result = ModelTrainer(FAST).train(small_dataset, model)
    data = dataclasses.asdict(result)

    assert json.loads(json.dumps(data)) == data
    assert all(type(data[key]) is float for key in ("accuracy", "precision", "f1_score"))
    assert type(data["per_class_metrics"][0]["support"]) is int
    assert type(data["confusion_matrix"]["matrix"][0][0]) is int
    assert result.confusion_matrix["labels"] == ["LOW", "MEDIUM", "HIGH"]
    assert [m["label"] for m in result.per_class_metrics] == ["LOW", "MEDIUM", "HIGH"]
    assert sum(m["support"] for m in result.per_class_metrics) == result.test_samples
    assert np.sum(result.confusion_matrix["matrix"]) == result.test_samples
    assert result.train_samples + result.test_samples == result.total_samples == 600
    assert result.features_used == list(FEATURE_COLUMNS)
    assert set(result.feature_importance) == set(FEATURE_COLUMNS)
    importances = list(result.feature_importance.values())
    assert importances == sorted(importances, reverse=True)
    assert sum(importances) == pytest.approx(1.0)
    assert result.model_sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    assert result.dataset_sha256 == hashlib.sha256(small_dataset.read_bytes()).hexdigest()
    assert result.training_duration_seconds > 0


def test_missing_feature_columns_train_on_what_remains(tmp_path: Path, small_dataset: Path) -> None:
    dataset = load_dataset(small_dataset)
    kept = ["skill_name", "scarcity_index", "hiring_difficulty", TARGET_COLUMN]
    dataset.frame[kept].to_csv(tmp_path / "partial.csv", index=False)

    result = ModelTrainer(FAST).train(tmp_path / "partial.csv", tmp_path / "model.joblib")

    assert result.features_used == ["skill_name", "scarcity_index", "hiring_difficulty"]
    assert set(result.feature_importance) == set(result.features_used)


def test_load_model_refuses_a_file_whose_checksum_differs(
    tmp_path: Path, small_dataset: Path
) -> None:
    model = tmp_path / "model.joblib"
    result = ModelTrainer(FAST).train(small_dataset, model)
    assert load_model(model, result.model_sha256).predict(
        load_dataset(small_dataset).frame.head(3)
    ).shape == (3,)

    with pytest.raises(TrainerError, match="does not match the checksum"):
        load_model(model, "0" * 64)

    # A truncated (half-written) copy under the recorded checksum is refused too
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(TrainerError, match=r"'model\.joblib' does not match the checksum"):
        load_model(model, result.model_sha256)


def test_a_model_saved_over_the_size_limit_is_kept_and_warned_about(
    tmp_path: Path, small_dataset: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MAX_MODEL_BYTES: predictions will refuse the file, so training says so when it
    writes it (the job's log context adds the run id to the line); the run completes."""
    caplog.set_level("INFO", logger="trainer.ml.model_trainer")
    result = ModelTrainer(FAST, max_model_bytes=1_000).train(small_dataset, tmp_path / "big.joblib")
    size = (tmp_path / "big.joblib").stat().st_size
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0].args == (size, 1_000)
    assert load_model(tmp_path / "big.joblib", result.model_sha256) is not None

    caplog.clear()
    ModelTrainer(FAST, max_model_bytes=size).train(small_dataset, tmp_path / "fits.joblib")
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.parametrize(
    "bad",
    [
        {"n_estimators": 0},
        {"max_depth": 0},
        {"min_samples_split": 1},
        {"min_samples_leaf": 0},
        {"class_weight": "auto"},
    ],
)
def test_hyperparameters_refuse_values_the_forest_cannot_use(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrainingConfig(parameters=bad)  # type: ignore[arg-type]  # wrong values, on purpose


def test_defaults_match_the_rest_original() -> None:
    config = TrainingConfig()

    assert (config.test_split, config.random_state) == (0.2, 42)
    assert config.algorithm is Algorithm.RANDOM_FOREST
    assert config.parameters == {
        "n_estimators": 200,
        "max_depth": None,
        "min_samples_split": 2,
        "min_samples_leaf": 1,
        "class_weight": "balanced",
    }


@pytest.mark.parametrize(
    ("seconds_per_tree", "call_overhead", "workers", "expected"),
    [
        (0.001, 0.002, 1, 500),  # fast trees: ~0.5 s of them per call
        (1.0, 0.07, 1, 4),  # slow trees: enough that 0.07 s per call stays under 2 %
        (1.0, 0.07, 2, 4),  # rounded up to whole rounds of the workers
        (3.0, 0.001, 2, 2),
    ],
)
def test_a_chunk_is_half_a_second_of_trees_unless_the_call_overhead_needs_more(
    seconds_per_tree: float, call_overhead: float, workers: int, expected: int
) -> None:
    assert (
        trainer.ml.model_trainer._next_chunk(seconds_per_tree, call_overhead, workers) == expected
    )
