"""Unit tests for the file IO helpers: table reading errors, round trips, atomic writes."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks import io
from tasks.io import TableReadError


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

    message = f"{path}: unsupported file type '.txt'; use .csv or .parquet"
    with pytest.raises(TableReadError, match=f"^{re.escape(message)}$"):
        io.read_table(path)


def test_read_table_parquet_that_is_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_text("a,b\n1,2\n", encoding="utf-8")

    with pytest.raises(TableReadError, match=re.escape(f"{path}: cannot be read as parquet: ")):
        io.read_table(path)


def test_read_table_csv_without_columns(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n", encoding="utf-8")

    message = f"{path}: cannot be read as csv: No columns to parse from file"
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
    path = tmp_path / "models" / "model.pkl"

    io.save_model({"weights": [1, 2, 3]}, path)

    assert io.load_model(path) == {"weights": [1, 2, 3]}


def test_atomic_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    io.write_frame(_frame(), tmp_path / "t.parquet")
    io.write_json({"a": 1}, tmp_path / "t.json")
    io.write_csv(_frame(), tmp_path / "t.csv")
    io.save_model([1], tmp_path / "t.pkl")
    io.write_json({"a": 2}, tmp_path / "t.json")  # replacing an existing file

    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.json", "t.parquet", "t.pkl"]
    assert io.read_json(tmp_path / "t.json") == {"a": 2}


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    io.write_json({"version": 1}, path)
    unsortable = {1: "a", "b": 2}  # sort_keys cannot order int and str keys

    with pytest.raises(TypeError, match=re.escape("'<' not supported between instances")):
        io.write_json(unsortable, path)

    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    assert io.read_json(path) == {"version": 1}


def test_failed_model_save_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"

    with pytest.raises(pickle.PicklingError, match=re.escape("Can't pickle <function ")):
        io.save_model(lambda: None, path)

    assert list(tmp_path.iterdir()) == []
