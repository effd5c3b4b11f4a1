"""trainer/ml/predictor.py and trainer/model_files.py without the server: rows cleaned as
training cleans CSV cells, model files unpickled only when their bytes are the recorded
ones (and the very bytes hashed), kept only when they hold a fitted Pipeline, and the
cache bounded in bytes."""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from tests.conftest import REFERENCE_DATASET
from trainer.ml.dataset import FEATURE_COLUMNS
from trainer.ml.errors import TrainerError
from trainer.ml.model_trainer import ModelTrainer, TrainingConfig, load_model
from trainer.ml.predictor import ModelCache, features_frame
from trainer.model_files import (
    ModelFileChanged,
    ModelFileInvalid,
    ModelFileMissing,
    ModelFileTooLarge,
    load_verified_model,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real model file (5 trees on the REST original's 357 rows) and its sha256."""
    path = tmp_path_factory.mktemp("models") / "model.joblib"
    config = TrainingConfig(parameters={"n_estimators": 5})
    result = ModelTrainer(config).train(REFERENCE_DATASET, path)
    return path, result.model_sha256


def test_rows_are_cleaned_as_csv_cells_are() -> None:
    rows: list[dict[str, Any]] = [
        {"job_role_name": "  Data Engineer ", "trend_score": 1},
        {"job_role_name": "   ", "skill_name": "", "trend_score": None},
        {"job_role_name": None, "trend_score": float("inf"), "unknown": "ignored"},
    ]
    frame = features_frame(rows, FEATURE_COLUMNS)
    assert list(frame.columns) == list(FEATURE_COLUMNS)
    assert frame["job_role_name"].iloc[0] == "Data Engineer"
    assert frame["job_role_name"].iloc[1:].isna().all()
    assert frame["skill_name"].isna().all()
    assert frame["trend_score"].dtype == np.float64
    assert frame["trend_score"].iloc[0] == 1.0
    assert frame["trend_score"].iloc[1:].isna().all()
    # only the columns the model was trained on, in its order
    assert list(features_frame(rows, ("trend_score", "skill_name")).columns) == [
        "trend_score",
        "skill_name",
    ]


class _Marker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def test_a_file_of_other_bytes_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    model = tmp_path / "model.joblib"
    model.write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(ModelFileChanged):
        load_verified_model(model, hashlib.sha256(b"the trained bytes").hexdigest())
    assert not marker.exists()
    # with its own hash it would be unpickled (then refused: not a Pipeline); the check is
    # what stood in the way
    with pytest.raises(ModelFileInvalid):
        load_verified_model(model, hashlib.sha256(model.read_bytes()).hexdigest().upper())
    assert marker.exists()


def _rewrite_when_joblib_loads(path: Path, planted: bytes) -> list[bool]:
    """Rewrite `path` in place (same inode, as `open(path, "r+b")` does) at the moment
    joblib.load is called: after the file was hashed, before anything is unpickled.

    A profile hook, not a mock: the real loading code runs, and the write lands exactly
    where the race window was (between the hash and the unpickling), every time.
    """
    fired: list[bool] = []

    def hook(frame: FrameType, event: str, _arg: object) -> None:
        if (
            not fired
            and event == "call"
            and frame.f_code.co_name == "load"
            and frame.f_globals.get("__name__") == "joblib.numpy_pickle"
        ):
            fired.append(True)
            with path.open("r+b") as handle:
                handle.write(planted)
                handle.truncate()

    sys.setprofile(hook)
    return fired


@pytest.mark.parametrize("loader", ["predictions", "load_model"])
def test_a_file_rewritten_in_place_after_its_hash_cannot_be_what_is_unpickled(
    trained: tuple[Path, str], tmp_path: Path, loader: str
) -> None:
    """Item 4 (third hardening pass): the hash used to be taken over the open file, which
    was then sought back to 0 and unpickled: a write in place in between had the
    attacker's bytes unpickled. Now the file is read once and the buffer hashed is the
    buffer unpickled, so the race is closed by construction; this test makes the write
    land in the old window deterministically and checks it changes nothing."""
    model = tmp_path / "model.joblib"
    model.write_bytes(trained[0].read_bytes())
    marker = tmp_path / "unpickled"
    planted = pickle.dumps(_Marker(marker))
    fired = _rewrite_when_joblib_loads(model, planted)
    try:
        if loader == "predictions":
            loaded: Any = load_verified_model(model, trained[1]).pipeline
        else:
            loaded = load_model(model, trained[1])
    finally:
        sys.setprofile(None)
    assert fired  # the file was rewritten mid-load...
    assert model.read_bytes() == planted
    assert not marker.exists()  # ...and the planted bytes were not unpickled
    assert isinstance(loaded, Pipeline)
    assert set(loaded.classes_) == {"HIGH", "MEDIUM"}  # the REST original's levels


@pytest.mark.parametrize(
    "content",
    [{"classes_": ["LOW"], "predict_proba": None}, Pipeline([("nothing", None)])],
    ids=["a dict", "an unfitted pipeline"],
)
def test_the_recorded_bytes_are_refused_unless_they_hold_a_fitted_pipeline(
    tmp_path: Path, content: object
) -> None:
    model = tmp_path / "model.joblib"
    joblib.dump(content, model)
    sha256 = hashlib.sha256(model.read_bytes()).hexdigest()
    with pytest.raises(ModelFileInvalid):
        load_verified_model(model, sha256)
    with pytest.raises(TrainerError):
        load_model(model, sha256)


def test_a_file_over_the_size_limit_is_never_read(
    trained: tuple[Path, str], tmp_path: Path
) -> None:
    size = trained[0].stat().st_size
    assert load_verified_model(trained[0], trained[1], max_bytes=size).size == size
    with pytest.raises(ModelFileTooLarge) as refused:
        load_verified_model(trained[0], trained[1], max_bytes=size - 1)
    assert (refused.value.size, refused.value.limit) == (size, size - 1)
    # not read at all: a planted pickle over the limit is not unpickled even with its hash
    marker = tmp_path / "unpickled"
    planted = tmp_path / "planted.joblib"
    planted.write_bytes(pickle.dumps(_Marker(marker)) + b"." * 100)
    with pytest.raises(ModelFileTooLarge):
        load_verified_model(planted, hashlib.sha256(planted.read_bytes()).hexdigest(), max_bytes=50)
    assert not marker.exists()


async def test_the_cache_keeps_models_within_its_bytes(
    trained: tuple[Path, str], tmp_path: Path
) -> None:
    """Each kept model weighs its file's size; the least recently used go first until the
    sum fits, and a model larger than the whole budget is answered from, not kept."""
    copies = []
    for name in ("a", "b", "c"):
        copy = tmp_path / f"{name}.joblib"
        copy.write_bytes(trained[0].read_bytes())
        copies.append(copy)
    size = trained[0].stat().st_size
    cache = ModelCache(max_models=10, max_bytes=2 * size)
    for copy in copies:
        await cache.model(copy, trained[1])
    assert (len(cache), cache.bytes, cache.loads) == (2, 2 * size, 3)
    assert (str(copies[0]), trained[1]) not in cache
    await cache.model(copies[2], trained[1])
    assert cache.loads == 3

    small = ModelCache(max_models=10, max_bytes=size - 1)
    rows = [{"trend_score": 0.5}]
    for _ in range(2):
        answer = await small.predict(copies[0], trained[1], rows, FEATURE_COLUMNS)
        assert len(answer) == 1
    assert (len(small), small.bytes, small.loads) == (0, 0, 2)


async def test_a_failed_load_keeps_nothing_and_the_next_good_one_works(
    trained: tuple[Path, str], tmp_path: Path
) -> None:
    model = tmp_path / "model.joblib"
    joblib.dump({"not": "a model"}, model)
    cache = ModelCache()
    results = await asyncio.gather(
        *(cache.model(model, hashlib.sha256(model.read_bytes()).hexdigest()) for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(result, ModelFileInvalid) for result in results)
    assert (len(cache), cache.bytes, cache.loads) == (0, 0, 1)
    assert isinstance(await cache.model(trained[0], trained[1]), Pipeline)
    assert len(cache) == 1


def test_no_regular_file_is_missing(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.joblib", tmp_path):
        with pytest.raises(ModelFileMissing):
            load_verified_model(path, "0" * 64)
