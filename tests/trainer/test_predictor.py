"""trainer/ml/predictor.py without the server: rows cleaned as training cleans CSV cells, and
model files unpickled only when their bytes are the recorded ones."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer.ml.dataset import FEATURE_COLUMNS
from trainer.ml.predictor import features_frame, load_verified_model
from trainer.model_files import ModelFileChanged, ModelFileMissing


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
    # with its own hash it would be loaded: the check is what stood in the way
    load_verified_model(model, hashlib.sha256(model.read_bytes()).hexdigest().upper())
    assert marker.exists()


def test_no_regular_file_is_missing(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.joblib", tmp_path):
        with pytest.raises(ModelFileMissing):
            load_verified_model(path, "0" * 64)
