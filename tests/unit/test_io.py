"""Unit tests for the file IO helpers: table reading errors, round trips, atomic writes."""

from __future__ import annotations

import gzip
import re
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.adapters import io
from tasks.adapters.io import TableReadError


def _gzip(data: bytes) -> bytes:
    """gzip bytes without a timestamp: the same bytes on every run (and in test ids)."""
    return gzip.compress(data, mtime=0)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3],
            "amount": [1.5, np.nan, 3.25],
            "device": ["mobile", None, "tablet"],
            "purchased": [0, 1, 0],
        }
    )


def test_read_table_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"

    with pytest.raises(TableReadError, match=f"^{re.escape(f'{path}: file not found')}$"):
        io.read_table(path)


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet"])
def test_read_table_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")

    message = f"{path}: file is empty (0 bytes)"
    with pytest.raises(TableReadError, match=f"^{re.escape(message)}$"):
        io.read_table(path)


def test_read_table_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("a,b\n1,2\n", encoding="utf-8")

    message = (
        "data.txt: unsupported file type; name the file .csv, .tsv, .csv.gz, .tsv.gz "
        "or .parquet (Excel and JSON: export the table as CSV first)"
    )
    with pytest.raises(TableReadError, match=f"^{re.escape(message)}$"):
        io.read_table(path)


def test_read_table_parquet_that_is_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_text("a,b\n1,2\n", encoding="utf-8")

    message = "data.parquet: not a Parquet file: it looks like text; name it data.csv if it is CSV"
    with pytest.raises(TableReadError, match=f"^{re.escape(message)}$"):
        io.read_table(path)


def test_read_table_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1 and then no footer")

    message = f"{path}: cannot be read as Parquet: Could not open Parquet input source "
    with pytest.raises(TableReadError, match=f"^{re.escape(message)}"):
        io.read_table(path)


def test_read_table_csv_without_columns(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n", encoding="utf-8")

    message = f"{path}: cannot be read as CSV: No columns to parse from file"
    with pytest.raises(TableReadError, match=f"^{re.escape(message)}$"):
        io.read_table(path)


def test_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "plots" / "table.csv"

    io.write_csv(_frame(), path)
    back = io.read_table(path)

    assert path.read_text(encoding="utf-8").splitlines()[0] == "id,amount,device,purchased"
    expected = _frame().assign(device=["mobile", np.nan, "tablet"])
    pd.testing.assert_frame_equal(back, expected)


def test_read_table_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "TABLE.CSV"
    path.write_text("a,b\n1,x\n", encoding="utf-8")

    pd.testing.assert_frame_equal(io.read_table(path), pd.DataFrame({"a": [1], "b": ["x"]}))


# --- table formats, by name and by content -----------------------------------------------

UNSUPPORTED = (
    "unsupported file type; name the file .csv, .tsv, .csv.gz, .tsv.gz or .parquet "
    "(Excel and JSON: export the table as CSV first)"
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", io.TableFormat("csv", ",", None)),
        ("A.CSV", io.TableFormat("csv", ",", None)),
        ("a.tsv", io.TableFormat("csv", "\t", None)),
        ("a.tab", io.TableFormat("csv", "\t", None)),
        ("a.csv.gz", io.TableFormat("csv", ",", "gzip")),
        ("a.TSV.GZ", io.TableFormat("csv", "\t", "gzip")),
        ("a.tab.gz", io.TableFormat("csv", "\t", "gzip")),
        ("a.parquet", io.TableFormat("parquet")),
        ("a.pq", io.TableFormat("parquet")),
    ],
)
def test_table_format_by_name(name: str, expected: io.TableFormat) -> None:
    assert io.table_format(Path("data") / name) == expected


@pytest.mark.parametrize(
    ("fmt", "label"),
    [
        (io.TableFormat("csv"), "CSV"),
        (io.TableFormat("csv", "\t"), "TSV"),
        (io.TableFormat("csv", ",", "gzip"), "gzip-compressed CSV"),
        (io.TableFormat("csv", "\t", "gzip"), "gzip-compressed TSV"),
        (io.TableFormat("parquet"), "Parquet"),
    ],
)
def test_table_format_label(fmt: io.TableFormat, label: str) -> None:
    assert fmt.label == label


@pytest.mark.parametrize(
    "name", ["a.txt", "a.xlsx", "a.json", "a.parquet.gz", "a.csv.bz2", "a.gz", "noext"]
)
def test_table_format_refuses_other_names_with_one_message(name: str) -> None:
    with pytest.raises(TableReadError, match=f"^{re.escape(f'{name}: {UNSUPPORTED}')}$"):
        io.table_format(Path("data") / name)


def _parquet_bytes() -> bytes:
    buffer = BytesIO()
    pd.DataFrame({"a": [1]}).to_parquet(buffer)
    return buffer.getvalue()


def _zip_bytes() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "data.csv",
            b'[{"amount": 1, "device": "a"}]\n',
            "data.csv: not a CSV file: it looks like JSON; export the table as CSV (or Parquet)",
        ),
        (
            "data.csv",
            b'\xef\xbb\xbf  {"amount": 1}\n',
            "data.csv: not a CSV file: it looks like JSON; export the table as CSV (or Parquet)",
        ),
        (
            "data.csv",
            _gzip(b"a,b\n1,2\n"),
            "data.csv: not a CSV file: it looks like gzip-compressed data; name it data.csv.gz",
        ),
        (
            "data.tsv",
            _gzip(b"a\tb\n1\t2\n"),
            "data.tsv: not a TSV file: it looks like gzip-compressed data; name it data.tsv.gz",
        ),
        (
            "data.csv",
            _parquet_bytes(),
            "data.csv: not a CSV file: it looks like a Parquet file; name it data.parquet",
        ),
        (
            "data.csv",
            _zip_bytes(),
            "data.csv: not a CSV file: it looks like a ZIP archive (an Excel .xlsx workbook?); "
            "export the table as CSV (or Parquet)",
        ),
        (
            "data.csv",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(56),
            "data.csv: not a CSV file: it looks like an Excel 97-2003 .xls workbook; "
            "export the table as CSV (or Parquet)",
        ),
        (
            "data.parquet",
            b"a,b\n1,2\n",
            "data.parquet: not a Parquet file: it looks like text; name it data.csv if it is CSV",
        ),
        (
            "data.parquet",
            _gzip(_parquet_bytes()),
            "data.parquet: not a Parquet file: it looks like gzip-compressed data",
        ),
        (
            "data.csv.gz",
            b"a,b\n1,2\n",
            "data.csv.gz: named .gz but not gzip-compressed: it looks like text; name it data.csv "
            "if it is not compressed",
        ),
        (
            "data.csv.gz",
            _parquet_bytes(),
            "data.csv.gz: named .gz but not gzip-compressed: it looks like a Parquet file",
        ),
    ],
    ids=[
        "json-list-as-csv",
        "json-object-with-bom-as-csv",
        "gzip-as-csv",
        "gzip-as-tsv",
        "parquet-as-csv",
        "xlsx-as-csv",
        "xls-as-csv",
        "text-as-parquet",
        "gzip-as-parquet",
        "text-as-csv-gz",
        "parquet-as-csv-gz",
    ],
)
def test_sniff_names_what_the_bytes_look_like(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    assert io.sniff(path, io.table_format(path)) == message
    with pytest.raises(TableReadError, match=f"^{re.escape(message)}$"):
        io.read_table(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("data.csv", b"a,b\n1,2\n"),
        ("data.csv", b"[a],b\n1,2\n"),  # a bracket that does not open JSON
        ("data.csv", b"\xef\xbb\xbfa,b\r\n1,2\r\n"),
        ("data.tsv", b"a\tb\n1\t2\n"),
        ("data.csv.gz", _gzip(b"a,b\n1,2\n")),
        ("data.parquet", _parquet_bytes()),
    ],
    ids=["csv", "csv-bracket-header", "csv-bom-crlf", "tsv", "csv-gz", "parquet"],
)
def test_sniff_accepts_bytes_that_match_the_name(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    assert io.sniff(path, io.table_format(path)) is None


def test_read_table_tsv(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv"
    path.write_text("a\tb\n1\tx,y\n\t\n", encoding="utf-8")

    expected = pd.DataFrame({"a": [1.0, np.nan], "b": ["x,y", np.nan]})
    pd.testing.assert_frame_equal(io.read_table(path), expected)


def test_read_table_csv_gz(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(_gzip(b"a,b\n1,x\n2,\n"))

    expected = pd.DataFrame({"a": [1, 2], "b": ["x", np.nan]})
    pd.testing.assert_frame_equal(io.read_table(path), expected)


def test_read_table_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b'\xef\xbb\xbf"a","b"\r\n"1","x"\r\n"2",""\r\n')

    back = io.read_table(path)

    assert list(back.columns) == ["a", "b"]  # no byte-order mark in the first name
    pd.testing.assert_frame_equal(back, pd.DataFrame({"a": [1, 2], "b": ["x", np.nan]}))


def test_read_table_missing_tokens(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,NA\nNA,x\n?,y\n", encoding="utf-8")

    plain = io.read_table(path)
    with_tokens = io.read_table(path, missing=("NA",))

    assert plain.to_dict("list") == {"a": ["1", "NA", "?"], "b": ["NA", "x", "y"]}
    assert with_tokens["a"].tolist()[::2] == ["1", "?"] and pd.isna(with_tokens["a"][1])
    assert pd.isna(with_tokens["b"][0]) and with_tokens["b"].tolist()[1:] == ["x", "y"]


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.csv.gz", "t.tsv.gz", "t.parquet"])
def test_write_table_round_trip_in_each_format(tmp_path: Path, name: str) -> None:
    path = tmp_path / name

    io.write_table(_frame(), path)

    expected = _frame().assign(device=["mobile", np.nan, "tablet"])
    back = io.read_table(path)
    if name.endswith(".parquet"):
        expected = _frame()
    pd.testing.assert_frame_equal(back, expected)
    assert io.sniff(path, io.table_format(path)) is None


@pytest.mark.parametrize("name", ["table.parquet", "table.pq"])
def test_parquet_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / "processed" / name

    io.write_frame(_frame(), path)

    pd.testing.assert_frame_equal(io.read_table(path), _frame())
    # read_frame hands scikit-learn NaN, not None, for missing text
    read = io.read_frame(path)
    assert pd.isna(read.loc[1, "device"]) and read.loc[1, "device"] is not None
    pd.testing.assert_frame_equal(read, _frame().assign(device=["mobile", np.nan, "tablet"]))


def test_write_frame_drops_the_index(tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"

    io.write_frame(_frame().set_index(pd.Index([10, 20, 30])), path)

    assert io.read_frame(path).index.tolist() == [0, 1, 2]


def test_write_json_sorted_keys_and_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "metrics.json"

    io.write_json({"b": 1, "a": {"d": 2.5, "c": [1, 2]}}, path)

    assert path.read_text(encoding="utf-8") == (
        '{\n  "a": {\n    "c": [\n      1,\n      2\n    ],\n    "d": 2.5\n  },\n  "b": 1\n}\n'
    )
    assert io.read_json(path) == {"a": {"c": [1, 2], "d": 2.5}, "b": 1}


def test_write_json_stringifies_unknown_types(tmp_path: Path) -> None:
    path = tmp_path / "x.json"

    io.write_json({"path": Path("data/raw.csv")}, path)

    assert io.read_json(path) == {"path": "data/raw.csv"}


def test_model_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "models" / "model.skops"

    io.save_model({"weights": [1, 2, 3]}, path)

    assert zipfile.is_zipfile(path)  # skops, not pickle
    assert io.load_model(path, trusted=()) == {"weights": [1, 2, 3]}


def _fitted(seed: int) -> object:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 3))
    return HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, x[:, 0] > 0)


def test_the_same_model_is_saved_as_the_same_bytes(tmp_path: Path) -> None:
    # skops names objects and arrays by id() and stamps the time: two fits of the same model
    # (other objects, other ids) must still give one file, as the register stage's
    # fingerprint expects
    io.save_model(_fitted(1), tmp_path / "a.skops")
    io.save_model(_fitted(1), tmp_path / "b.skops")

    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()
    from tasks.adapters.registry import reviewed_types

    loaded = io.load_model(tmp_path / "a.skops", trusted=reviewed_types())
    x = np.random.default_rng(2).normal(size=(20, 3))
    np.testing.assert_array_equal(loaded.predict_proba(x), _fitted(1).predict_proba(x))


def test_a_pickled_model_file_is_refused_unread(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "model.skops"
    joblib.dump({"weights": [1]}, path)

    message = (
        f"{path}: not a skops file (a pickle or joblib file is not loaded: reading one can run "
        "code); rerun the train stage"
    )
    with pytest.raises(io.ModelFileRefused, match=f"^{re.escape(message)}$"):
        io.load_model(path, trusted=())


def test_a_model_file_with_an_unreviewed_type_is_refused(tmp_path: Path) -> None:
    from tasks.steps.features import OutlierClipper

    path = tmp_path / "model.skops"
    io.save_model({"step": OutlierClipper()}, path)

    message = (
        f"{path}: holds types nobody reviewed: ['tasks.steps.features.OutlierClipper']; "
        "it is not loaded"
    )
    with pytest.raises(io.ModelFileRefused, match=f"^{re.escape(message)}$"):
        io.load_model(path, trusted=())
    loaded = io.load_model(path, trusted=("tasks.steps.features.OutlierClipper",))
    assert type(loaded["step"]) is OutlierClipper


def test_atomic_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    io.write_frame(_frame(), tmp_path / "t.parquet")
    io.write_json({"a": 1}, tmp_path / "t.json")
    io.write_csv(_frame(), tmp_path / "t.csv")
    io.save_model([1], tmp_path / "t.skops")
    io.write_json({"a": 2}, tmp_path / "t.json")  # replacing an existing file

    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.json", "t.parquet", "t.skops"]
    assert io.read_json(tmp_path / "t.json") == {"a": 2}


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    io.write_json({"version": 1}, path)

    class Unwritable:  # json's default=str calls str(): this one fails half-way through
        def __str__(self) -> str:
            raise RuntimeError("cannot be shown")

    with pytest.raises(RuntimeError, match=r"^cannot be shown$"):
        io.write_json({"a": 1, "z": Unwritable()}, path)

    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    assert io.read_json(path) == {"version": 1}


def test_keys_of_mixed_types_are_written_as_text(tmp_path: Path) -> None:
    path = tmp_path / "counts.json"
    io.write_json({1: "a", "b": 2}, path)  # JSON keys are text; int and str keys once failed
    assert io.read_json(path) == {"1": "a", "b": 2}


class _Unsaveable:
    def __getstate__(self) -> dict[str, object]:
        raise RuntimeError("cannot be saved")


def test_failed_model_save_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"

    with pytest.raises(RuntimeError, match=r"^cannot be saved$"):
        io.save_model({"model": _Unsaveable()}, path)

    assert list(tmp_path.iterdir()) == []


def test_a_gzip_csv_cut_after_its_header_is_a_problem_never_an_exception(tmp_path: Path) -> None:
    # found by tests/unit/test_fuzz_parsers.py: the header decompresses, the first row does not
    whole = gzip.compress(b"age,device\n1,tv\n2,pc\n", mtime=0)
    path = tmp_path / "batch.csv.gz"
    path.write_bytes(whole[:22])

    frame, problems = io.read_batch(path, {"age": "float64", "device": "str"})

    assert frame is None
    assert [(p.rule, p.message) for p in problems] == [
        (
            "parse",
            "batch.csv.gz: cannot be decompressed: Compressed file ended before the "
            "end-of-stream marker was reached",
        )
    ]


def test_a_corrupt_gzip_stream_is_the_readers_own_error(tmp_path: Path) -> None:
    # found by tests/unit/test_fuzz_parsers.py (make fuzz): zlib.error is no OSError
    data = bytearray(gzip.compress(b"age,device\n1,tv\n", mtime=0))
    data[10] = 0  # the first byte of the deflate stream
    path = tmp_path / "batch.csv.gz"
    path.write_bytes(bytes(data))

    with pytest.raises(TableReadError) as caught:
        io.read_table(path)
    frame, problems = io.read_batch(path, {"age": "float64", "device": "str"})

    reason = "Error -3 while decompressing data: invalid stored block lengths"
    assert str(caught.value) == f"{path}: cannot be read as gzip-compressed CSV: {reason}"
    assert frame is None
    assert [(p.rule, p.message) for p in problems] == [
        ("parse", f"batch.csv.gz: cannot be decompressed: {reason}")
    ]


RAGGED_RULE = (
    "a row has more fields than the header has names, so its last values would be lost (a "
    "table written with unnamed row names, as R's write.table does? name every column in the "
    "header, or write it with write.csv)"
)


def test_a_row_wider_than_the_header_is_refused_not_cut(tmp_path: Path) -> None:
    """pandas (index_col=False) kept the first fields of a wider row and dropped the rest with
    a warning; R's write.table writes one unnamed field more than its header on every row."""
    table = tmp_path / "r-table.csv"
    table.write_text('"a","b"\n"1",10,20\n"2",30,40\n', encoding="utf-8")
    batch = tmp_path / "batch.csv"
    batch.write_text("a,b\n1,2\n3,4\n5,6,7\n", encoding="utf-8")

    with pytest.raises(io.TableReadError) as refused:
        io.read_table(table)
    frame, problems = io.read_batch(batch, {"a": "float64", "b": "float64"})

    assert str(refused.value) == f"{table}: cannot be read as CSV: {RAGGED_RULE}"
    assert frame is None
    # a wider row further down was already pandas' own error, with its line
    assert [p.message for p in problems] == [
        "batch.csv: cannot be parsed: Error tokenizing data. C error: Expected 2 fields in "
        "line 4, saw 3\n"
    ]
