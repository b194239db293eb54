"""Unit tests for reading a batch with its suite's declared types, and for quarantining it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tasks import io
from tasks.config import load_params
from tasks.expectations import declared_types, profile_suite
from tasks.ingest import infer_schema
from tasks.io import ReadProblem, quarantine, read_batch

PARAMS_FILE = Path(__file__).parents[2] / "params.yaml"
DECLARED = {"amount": "float64", "device": "str", "y": "float64"}


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# --- read_batch: CSV -----------------------------------------------------------------------


def test_good_csv(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "batch.csv",
        "amount,device,y\n1.5,NA,0\n,null,1\n3,None,0\n-2e3,,1\n",
    )

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert list(frame.columns) == ["amount", "device", "y"]
    assert frame.dtypes.to_dict() == {
        "amount": np.dtype("float64"),
        "device": np.dtype("object"),
        "y": np.dtype("float64"),
    }
    assert frame["amount"].tolist()[:1] + frame["amount"].tolist()[2:] == [1.5, 3.0, -2000.0]
    assert np.isnan(frame["amount"].iloc[1])
    assert frame["device"].tolist()[:3] == ["NA", "null", "None"]
    assert pd.isna(frame["device"].iloc[3])
    assert frame["y"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert frame.index.tolist() == [0, 1, 2, 3]


def test_text_column_keeps_numbers_as_text(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,y\n1,007,0\n2,1.50,1\n")

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert frame["device"].tolist() == ["007", "1.50"]


def test_undeclared_columns_stay_text(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,extra,y\n1,2,0\n")

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert frame["extra"].tolist() == ["2"]
    assert "device" not in frame.columns


def test_missing_value_tokens_in_a_number_column_are_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "batch.csv",
        "amount,device,y\n1.5,a,0\nn/a,b,1\n2,c,0\n?,d,1\n--,e,0\n,f,1\n",
    )

    frame, problems = read_batch(path, DECLARED)

    assert problems == [
        ReadProblem(
            "numeric_type",
            "amount",
            "column 'amount': 3 value(s) (50.00%) are not numbers, e.g. ['n/a', '?', '--'] "
            "at rows [1, 3, 4]",
            count=3,
            sample=("n/a", "?", "--"),
            rows=(1, 3, 4),
        )
    ]
    assert frame is not None
    assert frame["amount"].dtype == np.float64
    assert frame["amount"].isna().tolist() == [False, True, False, True, True, True]


def test_sample_size_limits_the_evidence(tmp_path: Path) -> None:
    rows = "".join(f"x{i},d,0\n" for i in range(4))
    path = _write(tmp_path / "batch.csv", "amount,device,y\n" + rows)

    _, problems = read_batch(path, DECLARED, sample_size=2)

    assert problems == [
        ReadProblem(
            "numeric_type",
            "amount",
            "column 'amount': 4 value(s) (100.00%) are not numbers, e.g. ['x0', 'x1'] "
            "at rows [0, 1]",
            count=4,
            sample=("x0", "x1"),
            rows=(0, 1),
        )
    ]


def test_one_problem_per_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,y\nabc,d,yes\n1,d,0\n")

    _, problems = read_batch(path, DECLARED)

    assert [(p.column, p.count, p.sample, p.rows) for p in problems] == [
        ("amount", 1, ("abc",), (0,)),
        ("y", 1, ("yes",), (0,)),
    ]


def test_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", b"")

    assert read_batch(path, DECLARED) == (
        None,
        [ReadProblem("empty", None, "batch.csv: file is empty (0 bytes)")],
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"

    assert read_batch(path, DECLARED) == (
        None,
        [ReadProblem("exists", None, f"{path}: file not found")],
    )


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.txt", "amount,device,y\n1,a,0\n")

    assert read_batch(path, DECLARED) == (
        None,
        [ReadProblem("suffix", None, "batch.txt: unsupported type '.txt'")],
    )


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = _write(tmp_path / "BATCH.CSV", "amount,device,y\n1,a,0\n")

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert frame["amount"].tolist() == [1.0]


def test_duplicate_header_names(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,amount,y,y\n1,a,2,0,0\n")

    assert read_batch(path, DECLARED) == (
        None,
        [ReadProblem("duplicate_columns", None, "duplicate column names: ['amount', 'y']")],
    )


def test_truncated_last_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,y\n1,a,0\n2,b")

    assert read_batch(path, DECLARED) == (
        None,
        [
            ReadProblem(
                "truncated",
                None,
                "batch.csv: truncated: the last row has 2 of 3 fields and no line end "
                "(file cut mid-way?): '2,b'",
            )
        ],
    )


def test_complete_last_line_without_a_line_end_is_not_truncated(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,y\n1,a,0\n2,b,1")

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert frame["y"].tolist() == [0.0, 1.0]


def test_truncated_long_last_line_is_clipped(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,y\n1,a,0\n2," + "b" * 100)

    _, problems = read_batch(path, DECLARED)

    assert [p.message for p in problems] == [
        "batch.csv: truncated: the last row has 2 of 3 fields and no line end "
        f"(file cut mid-way?): '2,{'b' * 58}... (102 characters)'"
    ]


def test_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", b"amount,device,y\n1,caf\xe9,0\n")

    assert read_batch(path, DECLARED) == (
        None,
        [
            ReadProblem(
                "utf8",
                None,
                "batch.csv: not valid UTF-8: byte 0xe9 at line 2, byte offset 21 "
                "(invalid continuation byte); save the file as UTF-8",
            )
        ],
    )


def test_not_utf8_far_from_the_header(tmp_path: Path) -> None:
    """Past the first block the header reader decodes: found by the full read."""
    data = b"amount,device,y\n" + b"1,abc,0\n" * 3000 + b"2,\xff,1\n"
    path = _write(tmp_path / "batch.csv", data)

    assert read_batch(path, DECLARED) == (
        None,
        [
            ReadProblem(
                "utf8",
                None,
                "batch.csv: not valid UTF-8: byte 0xff at line 3002, byte offset 24018 "
                "(invalid start byte); save the file as UTF-8",
            )
        ],
    )


def test_wrong_delimiter_reads_one_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount;device;y\n1;a;0\n")

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert list(frame.columns) == ["amount;device;y"]


def test_trailing_commas_are_reported_not_shifted(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,y\n1.5,a,0,\n2.5,b,1,\n")

    frame, problems = read_batch(path, DECLARED)

    assert frame is None
    assert problems == [
        ReadProblem(
            "row_width",
            None,
            "batch.csv: the first row has 4 fields but the header has 3 (a trailing "
            "delimiter?); values would land in the wrong columns",
        )
    ]


def test_one_extra_field_per_row_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,y\n9,1.5,a,0\n8,2.5,b,1\n")

    frame, problems = read_batch(path, DECLARED)

    assert frame is None
    assert [p.message for p in problems] == [
        "batch.csv: the first row has 4 fields but the header has 3; values would land in "
        "the wrong columns"
    ]


# --- read_batch: Parquet -------------------------------------------------------------------


def test_parquet_with_text_where_a_number_is_declared(tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    pd.DataFrame({"amount": ["1.5", "n/a"], "device": ["a", "b"], "y": [0.0, 1.0]}).to_parquet(path)

    frame, problems = read_batch(path, DECLARED)

    assert problems == [
        ReadProblem(
            "numeric_type",
            "amount",
            "column 'amount' is stored as object (text) in the file; the suite declares a number",
        )
    ]
    assert frame is not None
    assert frame["amount"].tolist() == ["1.5", "n/a"]


def test_good_parquet(tmp_path: Path) -> None:
    path = tmp_path / "batch.pq"
    pd.DataFrame({"amount": [1.5, None], "device": ["a", None], "y": [0, 1]}).to_parquet(path)

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert frame["y"].tolist() == [0, 1]


def test_parquet_that_is_not_parquet(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.parquet", "amount,device,y\n1,a,0\n")

    frame, problems = read_batch(path, DECLARED)

    assert frame is None
    assert [(p.rule, p.column) for p in problems] == [("parse", None)]
    assert problems[0].message.startswith("batch.parquet: not readable Parquet: ")


# --- a reference file against the suite profiled from it ---------------------------------


def _profile_and_read(path: Path, target: str) -> list[ReadProblem]:
    params = load_params(PARAMS_FILE, [f"ingest.target={target}"])
    reference = io.read_table(path)
    schema, _ = infer_schema(reference, params.ingest)
    suite = profile_suite(reference, schema, "reference", params.validate_)
    _, problems = read_batch(path, declared_types(suite))
    return problems


def test_reference_file_reads_cleanly_against_its_own_suite(tmp_path: Path) -> None:
    path = tmp_path / "reference.csv"
    pd.DataFrame({"amount": [1.5, None, 3.0], "device": ["a", "b", None], "y": [0, 1, 0]}).to_csv(
        path, index=False
    )

    assert _profile_and_read(path, "y") == []


def test_reference_file_with_a_boolean_column_reads_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "reference.csv"
    pd.DataFrame({"amount": [1.5, 2.0, 3.0], "member": [True, False, True], "y": [0, 1, 0]}).to_csv(
        path, index=False
    )

    assert _profile_and_read(path, "y") == []


# --- quarantine ----------------------------------------------------------------------------

WHEN = "20240102T030405Z"


def test_quarantine(tmp_path: Path) -> None:
    (tmp_path / "incoming").mkdir()
    batch = _write(tmp_path / "incoming" / "batch.csv", "amount,device,y\n1,a,0\n")
    base = tmp_path / "quarantine"
    report = {"success": False, "failures": [{"message": "boom"}]}

    folder = quarantine(batch, report, "# Quarantined\n", base, WHEN)

    assert folder == base / f"{WHEN}-batch.csv"
    assert sorted(p.name for p in folder.iterdir()) == ["NOTE.md", "batch.csv", "validation.json"]
    assert (folder / "batch.csv").read_bytes() == b"amount,device,y\n1,a,0\n"
    assert batch.read_bytes() == b"amount,device,y\n1,a,0\n"
    assert json.loads((folder / "validation.json").read_text(encoding="utf-8")) == report
    assert (folder / "NOTE.md").read_text(encoding="utf-8") == "# Quarantined\n"


def test_quarantine_twice_at_the_same_time_gets_a_suffix(tmp_path: Path) -> None:
    batch = _write(tmp_path / "batch.csv", "amount,device,y\n1,a,0\n")
    base = tmp_path / "quarantine"

    first = quarantine(batch, {"n": 1}, "first\n", base, WHEN)
    second = quarantine(batch, {"n": 2}, "second\n", base, WHEN)
    third = quarantine(batch, {"n": 3}, "third\n", base, WHEN)

    assert first == base / f"{WHEN}-batch.csv"
    assert second == base / f"{WHEN}-batch.csv-2"
    assert third == base / f"{WHEN}-batch.csv-3"
    assert io.read_json(first / "validation.json") == {"n": 1}
    assert io.read_json(second / "validation.json") == {"n": 2}
    assert (second / "NOTE.md").read_text(encoding="utf-8") == "second\n"
    assert (second / "batch.csv").read_bytes() == batch.read_bytes()
    assert batch.is_file()


def test_quarantine_a_batch_that_does_not_exist(tmp_path: Path) -> None:
    base = tmp_path / "quarantine"

    folder = quarantine(tmp_path / "missing.csv", {"success": False}, "gone\n", base, WHEN)

    assert folder == base / f"{WHEN}-missing.csv"
    assert sorted(p.name for p in folder.iterdir()) == ["NOTE.md", "validation.json"]
