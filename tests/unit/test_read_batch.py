"""Unit tests for reading a batch with its suite's declared types, and for quarantining it."""

from __future__ import annotations

import gzip
import json
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.adapters import io
from tasks.adapters.io import quarantine, read_batch
from tasks.config import load_params
from tasks.pipeline.gate import profile_file
from tasks.steps.expectations import declared_types, missing_values
from tasks.types import ReadProblem

PARAMS_FILE = Path(__file__).parents[2] / "params.yaml"
DECLARED = {"amount": "float64", "device": "str", "y": "float64"}


def _gzip(data: bytes) -> bytes:
    """gzip bytes without a timestamp: the same bytes on every run (and in test ids)."""
    return gzip.compress(data, mtime=0)


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
        [
            ReadProblem(
                "suffix",
                None,
                "batch.txt: unsupported file type; name the file .csv, .tsv, .csv.gz, .tsv.gz "
                "or .parquet (Excel and JSON: export the table as CSV first)",
            )
        ],
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


# --- read_batch: TSV, gzip, byte-order mark, missing tokens -------------------------------


def test_good_tsv(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.tsv", "amount\tdevice\ty\n1.5\ta,b\t0\n\t\t1\n")

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert list(frame.columns) == ["amount", "device", "y"]
    assert frame["amount"].tolist()[0] == 1.5 and np.isnan(frame["amount"].iloc[1])
    assert frame["device"].tolist()[0] == "a,b" and pd.isna(frame["device"].iloc[1])
    assert frame["y"].tolist() == [0.0, 1.0]


def test_tsv_with_text_in_a_number_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.tsv", "amount\tdevice\ty\n1.5\ta\t0\nx\tb\t1\n")

    _, problems = read_batch(path, DECLARED)

    assert problems == [
        ReadProblem(
            "numeric_type",
            "amount",
            "column 'amount': 1 value(s) (50.00%) are not numbers, e.g. ['x'] at rows [1]",
            count=1,
            sample=("x",),
            rows=(1,),
        )
    ]


def test_tsv_trailing_tab_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.tsv", "amount\tdevice\ty\n1.5\ta\t0\t\n")

    assert read_batch(path, DECLARED) == (
        None,
        [
            ReadProblem(
                "row_width",
                None,
                "batch.tsv: the first row has 4 fields but the header has 3 (a trailing "
                "delimiter?); values would land in the wrong columns",
            )
        ],
    )


def test_good_csv_gz(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv.gz", _gzip(b"amount,device,y\n1.5,a,0\n,,1\n"))

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert frame["amount"].tolist()[0] == 1.5 and np.isnan(frame["amount"].iloc[1])
    assert frame["device"].tolist()[0] == "a" and pd.isna(frame["device"].iloc[1])
    assert frame["y"].tolist() == [0.0, 1.0]


def test_csv_gz_with_text_in_a_number_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv.gz", _gzip(b"amount,device,y\n1,a,0\n?,b,1\n"))

    _, problems = read_batch(path, DECLARED)

    assert [(p.rule, p.column, p.sample, p.rows) for p in problems] == [
        ("numeric_type", "amount", ("?",), (1,))
    ]


def test_cut_gzip_stream(tmp_path: Path) -> None:
    data = _gzip(b"amount,device,y\n" + b"1.5,abc,0\n" * 500)
    path = _write(tmp_path / "batch.csv.gz", data[:60])

    assert read_batch(path, DECLARED) == (
        None,
        [
            ReadProblem(
                "parse",
                None,
                "batch.csv.gz: cannot be read: Compressed file ended before the end-of-stream "
                "marker was reached",
            )
        ],
    )


def test_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    # what Excel's "CSV UTF-8" and R's write.csv(fileEncoding = "UTF-8-BOM") produce
    path = _write(
        tmp_path / "batch.csv",
        b'\xef\xbb\xbf"amount","device","y"\r\n"1.5","a","0"\r\n"","","1"\r\n',
    )

    frame, problems = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert list(frame.columns) == ["amount", "device", "y"]
    assert frame["amount"].tolist()[0] == 1.5 and np.isnan(frame["amount"].iloc[1])
    assert frame["device"].tolist()[0] == "a" and pd.isna(frame["device"].iloc[1])
    assert frame["y"].tolist() == [0.0, 1.0]


def test_byte_order_mark_header_names_are_checked_without_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", b"\xef\xbb\xbfamount,device,amount\r\n1,a,2\r\n")

    assert read_batch(path, DECLARED) == (
        None,
        [ReadProblem("duplicate_columns", None, "duplicate column names: ['amount']")],
    )


def test_missing_tokens_are_missing_in_number_and_text_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,y\n1.5,NA,0\nNA,a,1\n?,b,0\n")

    frame, problems = read_batch(path, DECLARED, missing=("NA",))

    # NA is missing everywhere; "?" is not a token of this data set: still not a number
    assert problems == [
        ReadProblem(
            "numeric_type",
            "amount",
            "column 'amount': 1 value(s) (33.33%) are not numbers, e.g. ['?'] at rows [2]",
            count=1,
            sample=("?",),
            rows=(2,),
        )
    ]
    assert frame is not None
    assert frame["amount"].tolist()[0] == 1.5
    assert frame["amount"].isna().tolist() == [False, True, True]
    assert frame["device"].isna().tolist() == [True, False, False]
    assert frame["device"].tolist()[1:] == ["a", "b"]


def test_missing_tokens_make_a_clean_batch(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.csv", "amount,device,y\n1.5,NA,0\nNA,a,1\n")

    frame, problems = read_batch(path, DECLARED, missing=("NA",))
    _, without = read_batch(path, DECLARED)

    assert problems == []
    assert frame is not None
    assert frame.dtypes.to_dict() == {
        "amount": np.dtype("float64"),
        "device": np.dtype("object"),
        "y": np.dtype("float64"),
    }
    assert frame["amount"].isna().tolist() == [False, True]
    assert frame["device"].isna().tolist() == [True, False]
    # without the data set's tokens NA is text in a number column
    assert [(p.rule, p.column, p.sample, p.rows) for p in without] == [
        ("numeric_type", "amount", ("NA",), (1,))
    ]


def _parquet_bytes() -> bytes:
    buffer = BytesIO()
    pd.DataFrame({"amount": [1.0]}).to_parquet(buffer)
    return buffer.getvalue()


def _zip_bytes() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "batch.csv",
            b'[{"amount": 1.5, "device": "a", "y": 0}]',
            "batch.csv: not a CSV file: it looks like JSON; export the table as CSV (or Parquet)",
        ),
        (
            "batch.csv",
            _gzip(b"amount,device,y\n1,a,0\n"),
            "batch.csv: not a CSV file: it looks like gzip-compressed data; name it batch.csv.gz",
        ),
        (
            "batch.csv",
            _parquet_bytes(),
            "batch.csv: not a CSV file: it looks like a Parquet file; name it batch.parquet",
        ),
        (
            "batch.csv",
            _zip_bytes(),
            "batch.csv: not a CSV file: it looks like a ZIP archive (an Excel .xlsx workbook?); "
            "export the table as CSV (or Parquet)",
        ),
        (
            "batch.csv",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
            "batch.csv: not a CSV file: it looks like an Excel 97-2003 .xls workbook; "
            "export the table as CSV (or Parquet)",
        ),
        (
            "batch.parquet",
            b"amount,device,y\n1,a,0\n",
            "batch.parquet: not a Parquet file: it looks like text; name it batch.csv if it is CSV",
        ),
        (
            "batch.csv.gz",
            b"amount,device,y\n1,a,0\n",
            "batch.csv.gz: named .gz but not gzip-compressed: it looks like text; name it "
            "batch.csv if it is not compressed",
        ),
    ],
    ids=[
        "json-as-csv",
        "gzip-as-csv",
        "parquet-as-csv",
        "xlsx-as-csv",
        "xls-as-csv",
        "text-as-parquet",
        "text-as-csv-gz",
    ],
)
def test_a_file_whose_bytes_are_another_format(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = _write(tmp_path / name, content)

    assert read_batch(path, DECLARED) == (None, [ReadProblem("format", None, message)])


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

    assert read_batch(path, DECLARED) == (
        None,
        [
            ReadProblem(
                "format",
                None,
                "batch.parquet: not a Parquet file: it looks like text; name it batch.csv if it "
                "is CSV",
            )
        ],
    )


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.parquet", b"PAR1 and then no footer")

    frame, problems = read_batch(path, DECLARED)

    assert frame is None
    assert [(p.rule, p.column) for p in problems] == [("parse", None)]
    assert problems[0].message.startswith(
        "batch.parquet: not readable Parquet: Could not open Parquet input source "
    )


def test_parquet_text_missing_tokens(tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    pd.DataFrame({"amount": [1.5, None], "device": ["NA", "a"], "y": [0, 1]}).to_parquet(path)

    plain, _ = read_batch(path, DECLARED)
    frame, problems = read_batch(path, DECLARED, missing=("NA",))

    assert problems == []
    assert plain is not None and plain["device"].tolist() == ["NA", "a"]
    assert frame is not None
    assert pd.isna(frame["device"][0]) and frame["device"][1] == "a"


# --- a reference file against the suite profiled from it ---------------------------------


def _profile_and_read(path: Path, target: str) -> list[ReadProblem]:
    """Profile ``path`` as `mlops suite init` does, then read it as the gate does."""
    params = load_params(
        PARAMS_FILE,
        [f"datasets.customer-purchase.target={target}", "datasets.customer-purchase.floors={}"],
    )
    suite = profile_file(path, params)
    _, problems = read_batch(path, declared_types(suite), missing=missing_values(suite))
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


def test_reference_file_with_missing_tokens_reads_cleanly(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "reference.csv",
        "amount,device,y\n1.5,a,0\nNA,NA,1\n3,b,0\n?,c,1\n",
    )

    suite = profile_file(
        path,
        load_params(
            PARAMS_FILE,
            ["datasets.customer-purchase.target=y", "datasets.customer-purchase.floors={}"],
        ),
    )

    assert suite["meta"]["missing_values"] == ["NA", "?"]
    assert suite["meta"]["columns"] == {"amount": "float64", "device": "str", "y": "float64"}
    assert _profile_and_read(path, "y") == []


def test_reference_tsv_gz_reads_cleanly_against_its_own_suite(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "reference.tsv.gz",
        _gzip(b"amount\tdevice\ty\n1.5\ta\t0\n\tb\t1\n3\t\t0\n"),
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
