"""Real tables, not only ours: the corpus of public tables (tests/corpus.py) through the platform.

Two promises are checked on every table and dialect (R's ``write.csv`` with ``NA`` and row
names, a BOM with CRLF, TSV, ``.csv.gz``, Parquet):

- a suite freshly profiled from a file accepts that file (the gate reads it as profiling did);
- ``mlops train --data FILE --target COLUMN`` alone ends with a champion, and ``mlops predict``
  scores the table's rows without the target.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.adapters import io
from tasks.config import Params, dataset_overrides, load_params
from tasks.pipeline.gate import check_batch, profile_file
from tests import corpus
from tests.integration.tables import train_and_score, train_cases
from tests.support import REPO

pytestmark = pytest.mark.integration

TEXT_DIALECTS = ("csv", "bom-crlf", "tsv", "csv.gz")


def _params(table: corpus.Table, path: Path) -> Params:
    """The repository's params with ``table`` as a new, active data set (as --data makes it)."""
    return load_params(REPO / "params.yaml", dataset_overrides(table.name, path.name, table.target))


def _profiled(table: corpus.Table, path: Path, root: Path) -> tuple[Params, dict[str, object]]:
    params = _params(table, path)
    suite = profile_file(path, params)
    io.write_json(suite, root / "gx" / "expectations" / f"{table.name}.json")
    return params, suite


# Profiling and the gate read CSV, BOM+CRLF, TSV and .csv.gz files alike (only the byte-level
# reading differs), R's export adds row names and NA, and Parquet carries its own types: the
# gate runs Great Expectations on those three readings, and the other text dialects must give
# the same suite and the same typed table as the plain CSV (so the same verdict).
GATED = ("csv", "r", "parquet")


@pytest.mark.parametrize("table", corpus.TABLES, ids=lambda t: t.name)
def test_a_suite_profiled_from_a_file_accepts_that_file(
    files: dict[tuple[str, str], Path], table: corpus.Table, tmp_path: Path
) -> None:
    rows = len(table.load())
    for dialect in GATED:
        path = files[(table.name, dialect)]
        params, _ = _profiled(table, path, tmp_path / dialect)

        frame, report = check_batch(tmp_path / dialect, path, params)

        assert [f.message for f in report.failures] == [], dialect
        assert report.success, dialect
        assert frame is not None and len(frame) == rows, dialect


@pytest.mark.parametrize("table", corpus.TABLES, ids=lambda t: t.name)
def test_every_text_dialect_reads_as_the_plain_csv(
    files: dict[tuple[str, str], Path], table: corpus.Table, tmp_path: Path
) -> None:
    from tasks.steps.expectations import declared_types, missing_values

    read = {}
    for dialect in TEXT_DIALECTS:
        path = files[(table.name, dialect)]
        _, suite = _profiled(table, path, tmp_path / dialect)
        frame, problems = io.read_batch(path, declared_types(suite), 5, missing_values(suite))
        assert problems == [], dialect
        read[dialect] = (suite, frame)

    suite, frame = read["csv"]
    for dialect, (other_suite, other_frame) in read.items():
        assert other_suite == suite, dialect
        pd.testing.assert_frame_equal(other_frame, frame, obj=dialect)


def test_r_missing_values_are_found_and_an_undeclared_token_still_fails(
    files: dict[tuple[str, str], Path], tmp_path: Path
) -> None:
    table = next(t for t in corpus.TABLES if t.name == "penguins")
    path = files[(table.name, "r")]
    params, suite = _profiled(table, path, tmp_path)
    meta = suite["meta"]
    assert isinstance(meta, dict)
    assert meta["missing_values"] == ["NA"]
    assert meta["columns"]["bill_depth_mm"] == "float64"
    assert meta["columns"]["sex"] == "str"

    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(iter(pd.read_csv(path, nrows=0).columns.get_indexer(["bill_depth_mm"])))
    cells = lines[5].split(",")
    cells[header] = "?"
    bad = tmp_path / "bad" / "penguins.csv"
    bad.parent.mkdir()
    bad.write_text("\n".join([*lines[:5], ",".join(cells), *lines[6:]]) + "\n", encoding="utf-8")

    _, report = check_batch(tmp_path, bad, params)

    assert [f.message for f in report.errors] == [
        "column 'bill_depth_mm': 1 value(s) (0.29%) are not numbers, e.g. ['?'] at rows [4]"
    ]


def test_a_unit_error_fails_the_batch(files: dict[tuple[str, str], Path], tmp_path: Path) -> None:
    table = next(t for t in corpus.TABLES if t.name == "penguins")
    path = files[(table.name, "parquet")]
    params, _ = _profiled(table, path, tmp_path)
    frame = pd.read_parquet(path)
    frame["body_mass_g"] = frame["body_mass_g"] / 1000  # kilograms under a grams column
    bad = tmp_path / "kg" / "penguins.parquet"
    bad.parent.mkdir()
    frame.to_parquet(bad, index=False)

    _, report = check_batch(tmp_path, bad, params)

    assert [(f.rule, f.column, f.severity) for f in report.failures] == [
        ("expect_column_values_to_be_between", "body_mass_g", "fail")
    ]


@pytest.mark.parametrize(
    ("table", "dialect"), train_cases(0), ids=lambda v: v.name if isinstance(v, corpus.Table) else v
)
def test_train_on_the_table_alone_gives_a_champion_that_scores_its_rows(
    prefect_server: str,
    tables_project: Path,
    files: dict[tuple[str, str], Path],
    table: corpus.Table,
    dialect: str,
    tmp_path: Path,
) -> None:
    path = files[(table.name, dialect)]
    train_and_score(tables_project, path, table, dialect, tmp_path)
