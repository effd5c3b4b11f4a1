from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import trainer.ml.dataset as dataset_module
from trainer.ml.dataset import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    NUMERIC_COLUMNS,
    TARGET_COLUMN,
    load_dataset,
)
from trainer.ml.dataset_files import CsvLimits
from trainer.ml.errors import DataLoadError

REST_ORIGINAL = Path(__file__).parents[1] / "data" / "rest_original_future_skills_dataset.csv"
HEADER = ",".join((*FEATURE_COLUMNS, TARGET_COLUMN))
ROW = "Data Scientist,Python,Technique,Data,0.9,0.5,12,0.7,0.8,70.5,0.5"


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rest_original_loads_every_row_and_feature() -> None:
    dataset = load_dataset(REST_ORIGINAL)

    assert len(dataset.frame) == 357
    assert dataset.total_rows_read == 357
    assert dataset.dropped_rows == 0
    assert dataset.features == FEATURE_COLUMNS
    assert dataset.categorical == CATEGORICAL_COLUMNS
    assert dataset.numeric == NUMERIC_COLUMNS
    assert dataset.frame[TARGET_COLUMN].value_counts().to_dict() == {"MEDIUM": 231, "HIGH": 126}
    assert dataset.sha256 == hashlib.sha256(REST_ORIGINAL.read_bytes()).hexdigest()


def test_levels_are_normalised_and_other_rows_dropped_and_counted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{HEADER}\n{ROW}, medium \n{ROW},high\n{ROW},UNKNOWN\n{ROW},\n{ROW},LOW\n",
    )

    dataset = load_dataset(path)

    assert dataset.total_rows_read == 5
    assert dataset.dropped_rows == 2
    assert dataset.frame[TARGET_COLUMN].tolist() == ["MEDIUM", "HIGH", "LOW"]


def test_missing_feature_columns_are_tolerated_and_order_follows_the_design(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, f"trend_score,{TARGET_COLUMN},extra,skill_name\n0.5,LOW,x,SQL\n")

    dataset = load_dataset(path)

    assert dataset.features == ("skill_name", "trend_score")
    assert dataset.categorical == ("skill_name",)
    assert dataset.numeric == ("trend_score",)
    assert list(dataset.frame.columns) == ["skill_name", "trend_score", TARGET_COLUMN]


def test_unreadable_numbers_become_missing_and_blank_categories_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"skill_name,trend_score,{TARGET_COLUMN}\n  SQL ,abc,LOW\n ,0.25,HIGH\nJava,inf,LOW\n",
    )

    dataset = load_dataset(path)

    assert dataset.frame["skill_name"].iloc[0] == "SQL"
    assert math.isnan(dataset.frame["skill_name"].iloc[1])
    assert dataset.frame["trend_score"].isna().tolist() == [True, False, True]


def test_a_column_with_no_value_at_all_is_not_used(tmp_path: Path) -> None:
    path = write(tmp_path, f"skill_name,trend_score,{TARGET_COLUMN}\nSQL,,LOW\nJava,n/a,HIGH\n")

    dataset = load_dataset(path)

    assert dataset.features == ("skill_name",)


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "absent.csv"


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "folder.csv").mkdir()
    return tmp_path / "folder.csv"


def _empty(tmp_path: Path) -> Path:
    return write(tmp_path, "")


def _header_only(tmp_path: Path) -> Path:
    return write(tmp_path, HEADER + "\n")


def _unparsable(tmp_path: Path) -> Path:
    return write(tmp_path, f"skill_name,{TARGET_COLUMN}\nSQL,LOW\nSQL,LOW,oops,more\n")


def _not_text(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_bytes(f"skill_name,{TARGET_COLUMN}\n".encode() + b"\xff\xfe\xfa,LOW\n")
    return path


def _no_target(tmp_path: Path) -> Path:
    return write(tmp_path, HEADER.replace(TARGET_COLUMN, "need") + f"\n{ROW},LOW\n")


def _no_feature(tmp_path: Path) -> Path:
    return write(tmp_path, f"employee,{TARGET_COLUMN}\nAlice,LOW\n")


def _no_valid_level(tmp_path: Path) -> Path:
    return write(tmp_path, f"{HEADER}\n{ROW},URGENT\n{ROW},\n{ROW},3\n")


@pytest.mark.parametrize(
    ("make_file", "reason"),
    [
        (_missing, "does not exist"),
        (_folder, "is a folder"),
        (_empty, "is empty"),
        (_header_only, "no data rows"),
        (_unparsable, "not a valid CSV file: Expected 2 fields in line 3, saw 4"),
        (_not_text, "not UTF-8"),
        (_no_target, f"has no '{TARGET_COLUMN}' column"),
        (_no_feature, "no usable feature column"),
        (
            _no_valid_level,
            f"none of the 3 rows of the dataset 'hr-export.csv' has a '{TARGET_COLUMN}'",
        ),
    ],
)
def test_unusable_dataset_says_why_without_revealing_paths(
    tmp_path: Path, make_file: Callable[[Path], Path], reason: str
) -> None:
    path = make_file(tmp_path)

    with pytest.raises(DataLoadError) as caught:
        load_dataset(path, display_name="hr-export.csv")

    message = str(caught.value)
    assert reason in message
    assert "'hr-export.csv'" in message
    assert str(tmp_path) not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_dataset_says_permission_denied(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}\n{ROW},LOW\n")
    path.chmod(0o000)

    with pytest.raises(DataLoadError, match="cannot be read: Permission denied"):
        load_dataset(path)


def test_a_bom_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\n{ROW},LOW\n{ROW},HIGH\n".encode())

    dataset = load_dataset(path)

    assert dataset.features == FEATURE_COLUMNS
    assert dataset.frame["job_role_name"].tolist() == ["Data Scientist", "Data Scientist"]


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        (f"{HEADER},a,b,c\n{ROW},LOW,1,2,3\n", "MAX_DATASET_COLUMNS"),
        (f"{HEADER}\n{ROW.replace('Python', 'P' * 21)},LOW\n", "MAX_DATASET_CELL_CHARS"),
        (f"{HEADER}\n{ROW},LOW\n" + "," * 14 + "\n", "MAX_DATASET_COLUMNS"),
    ],
    ids=["header", "value", "row"],
)
def test_a_file_beyond_the_limits_is_refused_naming_the_limit(
    tmp_path: Path, text: str, setting: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(DataLoadError) as caught:
        load_dataset(path, "wide.csv", CsvLimits(max_columns=13, max_cell_chars=20))

    assert setting in str(caught.value)
    assert "'wide.csv'" in str(caught.value)


def test_reading_in_chunks_gives_the_frame_read_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: rows whose values and levels differ from chunk to chunk (skill_name only
    # in the last rows, unusable levels in the first)
    rows = [f"{ROW.replace('Python', '')},URGENT"] * 5
    rows += [f"{ROW.replace('Python', '')},{level}" for level in ("low", "MEDIUM") * 10]
    rows += [f"{ROW},HIGH"] * 3
    path = write(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    whole = load_dataset(path)

    # when: read three rows at a time
    monkeypatch.setattr(dataset_module, "_CHUNK_CELLS", 3 * 12)
    chunked = load_dataset(path)

    # then
    assert chunked.features == whole.features == FEATURE_COLUMNS
    assert (chunked.total_rows_read, chunked.dropped_rows) == (28, 5)
    assert chunked.frame.equals(whole.frame)
    assert chunked.sha256 == whole.sha256
