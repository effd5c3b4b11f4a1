"""scan_csv counts a plain file (no quotes, NUL or lone CR; UTF-8; within the limits) a block
of bytes at a time, and any other with the csv reader: on every file both give the same
summary, or the file is not plain and the reader's refusal is the answer."""

from __future__ import annotations

import io

from hypothesis import example, given, settings
from hypothesis import strategies as st

from trainer.ml import dataset_files
from trainer.ml.dataset_files import CsvLimits, CsvSummary, scan_csv
from trainer.ml.errors import DataLoadError

TIGHT = CsvLimits(max_columns=4, max_cell_chars=5)
PIECES = ["a", "b", "xyz", " ", "é", ",", ",,", "\n", "\r\n", "\r", '"', "\x00", "\ufeff"]


def by_records(data: bytes, limits: CsvLimits) -> CsvSummary | str:
    try:
        return dataset_files._scan_records(io.BytesIO(data), "x.csv", limits)
    except DataLoadError as exc:
        return str(exc)


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=40),
    bom=st.booleans(),
    tight=st.booleans(),
)
@example(pieces=["\r\n", "\r\n", ",", ",", ",", ","], bom=False, tight=True)  # a last line's comma
@example(pieces=["a", ",", "b", "\n", " ", "\n", "\n", "xyz"], bom=True, tight=False)
def test_the_block_count_agrees_with_the_csv_reader(
    pieces: list[str], bom: bool, tight: bool
) -> None:
    # given
    data = ("\ufeff" if bom else "").encode() + "".join(pieces).encode()
    limits = TIGHT if tight else CsvLimits()

    # when
    plain = dataset_files._scan_plain(io.BytesIO(data), limits)
    expected = by_records(data, limits)

    # then: a plain answer is the reader's, and scan_csv gives the reader's answer
    if plain is not None:
        assert plain == expected
    try:
        answer: CsvSummary | str = scan_csv(io.BytesIO(data), "x.csv", limits)
    except DataLoadError as exc:
        answer = str(exc)
    assert answer == expected


def test_a_plain_file_is_counted_in_blocks_across_block_boundaries() -> None:
    # given: more than one read block of short lines, CRLF line ends, a blank line
    line = "job_role_name,skill_name,trend_score\r\n"
    rows = (3 * dataset_files._READ_CHUNK_BYTES) // len(line)
    data = (line + "\r\n" + "Dev,Python,0.5\r\n" * rows).encode()

    # when
    plain = dataset_files._scan_plain(io.BytesIO(data), CsvLimits())

    # then
    assert plain is not None
    assert plain == by_records(data, CsvLimits())
    assert plain.rows == rows
    assert plain.columns == ("job_role_name", "skill_name", "trend_score")
