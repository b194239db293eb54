"""Unit tests for the corpus of public tables (tests/corpus.py): every table loads with a usable
target, and every dialect writer is deterministic and round-trips the values."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests import corpus

_SAMPLE_ROWS = 400  # round trips run on an evenly strided sample, to stay fast


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    step = max(1, -(-len(frame) // _SAMPLE_ROWS))
    return frame.iloc[::step].reset_index(drop=True)


def _read_back(path: Path, dialect: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Read a written file with the options its dialect needs."""
    if dialect == "parquet":
        return pd.read_parquet(path)
    dates = [name for name in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[name])]
    options: dict[str, Any] = {"parse_dates": dates, "float_precision": "round_trip"}
    if dialect == "r":
        back = pd.read_csv(path, index_col=0, keep_default_na=False, na_values=["NA"], **options)
        assert back.index.tolist() == list(range(1, len(frame) + 1))  # R's row names 1..n
        return back.reset_index(drop=True)
    options.update(keep_default_na=False, na_values=[""])  # missing = an empty cell
    if dialect == "bom-crlf":
        return pd.read_csv(path, encoding="utf-8-sig", **options)
    if dialect == "tsv":
        return pd.read_csv(path, sep="\t", **options)
    return pd.read_csv(path, **options)  # csv, csv.gz (compression from the suffix)


def _nan_for_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns with NaN for every missing value (None and NaN compare unequal)."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = out[name].astype(object).where(out[name].notna(), np.nan)
    return out


# --------------------------------------------------------------------------------------------
# the tables


def test_corpus_shape() -> None:
    names = [table.name for table in corpus.TABLES]
    assert len(names) >= 18
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9-]+", name) for name in names)
    tasks = Counter(table.task for table in corpus.TABLES)
    assert min(tasks["binary"], tasks["multiclass"], tasks["regression"]) >= 5, tasks
    with_missing = [t.name for t in corpus.TABLES if t.load().isna().to_numpy().any()]
    assert len(with_missing) >= 3, with_missing


@pytest.mark.parametrize("table", corpus.TABLES, ids=lambda table: table.name)
def test_table_loads_with_a_usable_target(table: corpus.Table) -> None:
    frame = table.load()

    assert isinstance(frame.index, pd.RangeIndex)
    assert 150 <= len(frame) <= 50_000
    assert 2 <= frame.shape[1] <= 60
    assert frame.columns.is_unique
    assert not set(table.drop) & set(frame.columns)
    assert table.target in frame.columns
    target = frame[table.target].dropna()
    assert len(target) >= 0.95 * len(frame)
    if table.task == "regression":
        assert pd.api.types.is_numeric_dtype(target)
        assert target.nunique() > 10
    else:
        classes = target.value_counts()
        assert len(classes) == 2 if table.task == "binary" else len(classes) >= 3
        assert classes.min() >= 10
    assert table.source and "\n" not in table.source
    assert frame is not table.load()  # a fresh copy each time


# --------------------------------------------------------------------------------------------
# the dialects


@pytest.mark.parametrize("dialect", corpus.DIALECTS)
@pytest.mark.parametrize("table", corpus.TABLES, ids=lambda table: table.name)
def test_writer_is_deterministic_and_round_trips(
    table: corpus.Table, dialect: str, tmp_path: Path
) -> None:
    frame = _sample(table.load())
    if frame.isna().to_numpy().any():
        assert table.load().isna().to_numpy().any()

    first = corpus.write(frame, dialect, tmp_path / "a" / table.name)
    second = corpus.write(frame.copy(), dialect, tmp_path / "b" / table.name)

    assert first.name == table.name + corpus.SUFFIXES[dialect]
    assert first.read_bytes() == second.read_bytes()
    back = _read_back(first, dialect, frame)
    if dialect == "parquet":  # text columns come back with None where the frame has NaN
        back, frame = _nan_for_missing(back), _nan_for_missing(frame)
        pd.testing.assert_frame_equal(back, frame)
    elif dialect == "r":  # 15 significant digits, as R writes doubles
        pd.testing.assert_frame_equal(back, frame, check_dtype=False, rtol=1e-14, atol=0)
    else:
        pd.testing.assert_frame_equal(back, frame, check_dtype=False, check_exact=True)


def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["a", None, 'say "hi", ok'],
            "x": [1.5, np.nan, 100000.0],
            "n": pd.array([3, 4, None], dtype="Int64"),
            "flag": [True, False, True],
        }
    )


def test_r_writer_bytes(tmp_path: Path) -> None:
    path = corpus.write(_tiny(), "r", tmp_path / "tiny")

    assert path.name == "tiny.csv"
    assert path.read_bytes() == (
        b'"","name","x","n","flag"\n'
        b'"1","a",1.5,3,TRUE\n'
        b'"2",NA,NA,4,FALSE\n'
        b'"3","say ""hi"", ok",1e+05,NA,TRUE\n'
    )
    back = _read_back(path, "r", _tiny())
    pd.testing.assert_frame_equal(back, _nan_for_missing(_tiny()), check_dtype=False)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1 + 0.2, "0.3"),
        (1 / 3, "0.333333333333333"),
        (-2.5, "-2.5"),
        (100.0, "100"),
        (123456.0, "123456"),
        (1e5, "1e+05"),
        (1e15, "1e+15"),
        (1e-4, "1e-04"),
        (0.001, "0.001"),
        (0.0001234, "0.0001234"),
        (1234567.1, "1234567.1"),
        (0.0, "0"),
        (float("nan"), "NA"),
        (float("-inf"), "-Inf"),
    ],
)
def test_r_numbers(value: float, text: str) -> None:
    assert corpus._r_real(value) == text


def test_bom_crlf_bytes(tmp_path: Path) -> None:
    data = corpus.write(_tiny(), "bom-crlf", tmp_path / "tiny").read_bytes()

    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 4 and data.count(b"\n") == 4
    assert data.splitlines()[2] == b'"","","4","False"'  # missing = an empty cell, all quoted


def test_tsv_quotes_tabs_and_csv_gz_is_the_csv(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ["a\tb", "c"], "v": [1, 2]})
    tsv = corpus.write(frame, "tsv", tmp_path / "t")
    assert tsv.read_bytes() == b'text\tv\n"a\tb"\t1\nc\t2\n'

    plain = corpus.write(frame, "csv", tmp_path / "t").read_bytes()
    packed = corpus.write(frame, "csv.gz", tmp_path / "t").read_bytes()
    assert gzip.decompress(packed) == plain
    assert packed[4:8] == b"\0\0\0\0"  # mtime 0


def test_unknown_dialect(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dialect"):
        corpus.write(_tiny(), "xlsx", tmp_path / "tiny")


def test_materialize_layout_and_cache(tmp_path: Path) -> None:
    tables = [corpus.BY_NAME["penguins"], corpus.BY_NAME["grunfeld"]]

    paths = corpus.materialize(tmp_path, tables=tables)

    assert set(paths) == {(t.name, d) for t in tables for d in corpus.DIALECTS}
    assert paths[("penguins", "r")] == (tmp_path / "r" / "penguins.csv").resolve()
    assert paths[("grunfeld", "csv.gz")].name == "grunfeld.csv.gz"
    assert all(path.parent.name == dialect for (_, dialect), path in paths.items())
    stamps = {key: path.stat().st_mtime_ns for key, path in paths.items()}
    assert corpus.materialize(tmp_path, tables=tables) == paths
    assert {key: path.stat().st_mtime_ns for key, path in paths.items()} == stamps
    penguins = _nan_for_missing(pd.read_parquet(paths[("penguins", "parquet")]))
    pd.testing.assert_frame_equal(penguins, _nan_for_missing(corpus.BY_NAME["penguins"].load()))
