"""Expectation suites as code: profile reference data into a Great Expectations 1.x suite.

Pure functions: a DataFrame and its schema in, the suite as a JSON-ready dict out (GE 1.x's own
file format, stored under ``gx/expectations/``). Ids are derived from the suite name and each
expectation's type and column, so regenerating a suite from the same data gives the same file
and a changed expectation shows as a small diff.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from tasks.config import ValidateParams
from tasks.steps.ingest import TableSchema

NUMBER = "float64"
TEXT = "str"
_NAMESPACE = uuid.UUID("6f1d3c1e-8a8b-4d55-9a55-3c1f0b6f2a10")
_MAX_CATEGORIES = 200  # above this, a text column is free text: no allowed set


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def _number(value: float) -> float | int:
    rounded = round(float(value), 6)
    return int(rounded) if rounded.is_integer() else rounded


def _label(value: Any) -> Any:
    return _number(value) if isinstance(value, int | float) else str(value)


def declared_types(suite: dict[str, Any]) -> dict[str, str]:
    """Column name -> type (``float64`` or ``str``) as the suite declares them, in file order."""
    columns: dict[str, str] = suite.get("meta", {}).get("columns", {})
    return dict(columns)


def missing_values(suite: dict[str, Any]) -> tuple[str, ...]:
    """The cells that are missing values in this data set's files, besides empty cells."""
    return tuple(str(v) for v in suite.get("meta", {}).get("missing_values", ()))


def _numbers(values: pd.Series) -> pd.Series:
    """Which text cells are numbers (``True``/``False`` count as 1 and 0, as when read)."""
    from tasks.types import BOOLEANS

    return pd.to_numeric(values.replace(BOOLEANS), errors="coerce").notna()


def find_missing_tokens(cells: pd.DataFrame, candidates: Sequence[str]) -> tuple[str, ...]:
    """The ``candidates`` this file uses as missing values: those found as whole cells in a
    column whose other cells are all numbers (or empty), so that the column reads as numbers.

    In a text column alone a candidate stays a category ("None" may be an answer); once a
    token is found, it is missing in every column of the data set, as in the file's writer.
    """
    found: list[str] = []
    tokens = set(candidates)
    for name in cells.columns:
        values = cells[name]
        if ptypes.is_numeric_dtype(values) or ptypes.is_bool_dtype(values):
            continue
        present = values.dropna().astype(str)
        used = set(present.unique()) & tokens
        if not used:
            continue
        rest = present[~present.isin(tokens)]
        if rest.empty or bool(_numbers(rest).all()):
            found.extend(sorted(used - set(found)))
    return tuple(t for t in candidates if t in found)


def column_types(
    cells: pd.DataFrame,
    missing: Sequence[str],
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> dict[str, str]:
    """Each column's type as the data set's files are read: a number when every cell that is
    not missing is a number (Parquet: a number or boolean column), else text; ``numeric``
    and ``categorical`` force a column's type."""
    types: dict[str, str] = {}
    for name in (str(c) for c in cells.columns):
        values = cells[name]
        if name in numeric:
            types[name] = NUMBER
        elif name in categorical:
            types[name] = TEXT
        elif ptypes.is_numeric_dtype(values) or ptypes.is_bool_dtype(values):
            types[name] = NUMBER
        else:
            present = values.dropna().astype(str)
            present = present[~present.isin(missing)]
            types[name] = NUMBER if not present.empty and bool(_numbers(present).all()) else TEXT
    return types


# Checks about the table as a training set, not about each row: a batch to score may be small,
# its column set is checked by our own schema check (tasks/steps/validate.check_columns), and rows
# that repeat each other's features are ordinary there (two visitors alike; without the target,
# a real table's rows repeat far more often than with it).
_TRAINING_ONLY = frozenset(
    {
        "expect_table_row_count_to_be_between",
        "expect_table_columns_to_match_set",
        "expect_compound_columns_to_be_unique",
    }
)


def scoring_suite(suite: dict[str, Any], absent: Sequence[str] = ()) -> dict[str, Any]:
    """``suite`` for a batch to score: every check of the feature columns, none of the target
    (a batch to score has no labels, or labels that are not the model's input), and none of the
    ``absent`` ID columns (a key the model never reads: the endpoint's log has none)."""
    target = suite.get("meta", {}).get("target")
    dropped = {c for c in (target, *absent) if c}
    kept = []
    for expectation in suite["expectations"]:
        kwargs = expectation["kwargs"]
        if expectation["type"] in _TRAINING_ONLY or kwargs.get("column") in dropped:
            continue
        if "column_list" in kwargs and dropped & set(kwargs["column_list"]):
            columns = [c for c in kwargs["column_list"] if c not in dropped]
            expectation = {**expectation, "kwargs": {**kwargs, "column_list": columns}}
        kept.append(expectation)
    return {**suite, "expectations": kept}


def profile_suite(
    frame: pd.DataFrame,
    schema: TableSchema,
    name: str,
    params: ValidateParams,
    missing: Sequence[str] = (),
) -> dict[str, Any]:
    """A suite describing ``frame`` (the reference data, read as the data set's files are:
    ``missing`` are its missing-value tokens) for a person to review."""
    expectations: list[dict[str, Any]] = []

    def expect(kind: str, column: str | None, severity: str, *tag: str, **kwargs: Any) -> None:
        if column is not None:
            kwargs = {"column": column, **kwargs}
        expectations.append(
            {
                "id": _id(name, kind, column or "", severity, *tag),
                "type": kind,
                "kwargs": kwargs,
                "meta": {},
                "severity": severity,
            }
        )

    columns = [str(c) for c in frame.columns]
    expect(
        "expect_table_columns_to_match_set", None, "critical", column_set=columns, exact_match=True
    )
    expect("expect_table_row_count_to_be_between", None, "critical", min_value=params.min_rows)
    types = {
        c: NUMBER
        if c in schema.numeric
        or (c not in schema.categorical and ptypes.is_numeric_dtype(frame[c]))
        else TEXT
        for c in columns
    }
    for column in columns:
        values = frame[column]
        present = values.dropna()
        null_share = float(values.isna().mean()) if len(values) else 0.0
        ceiling = min(1.0, null_share + params.null_fraction_margin)
        # rows without a target are counted and left out at ingest, so the target gets a
        # ceiling like any column: a batch of mostly unlabeled rows is broken
        if ceiling < 1.0:
            expect(
                "expect_column_values_to_not_be_null",
                column,
                "critical",
                mostly=_number(1.0 - ceiling),
            )
        if column in schema.id_columns:
            expect("expect_column_values_to_be_unique", column, "critical")
            continue
        if present.nunique() >= 2:
            expect(
                "expect_column_unique_value_count_to_be_between", column, "critical", min_value=2
            )
        if column == schema.target and schema.task != "regression":
            expect(
                "expect_column_values_to_be_in_set",
                column,
                "critical",
                value_set=[_label(v) for v in schema.classes],
            )
        elif types[column] == NUMBER and not present.empty:
            low, high = float(present.min()), float(present.max())
            margin = (high - low) * params.range_margin
            lower = low - margin
            if low >= 0:
                # never negative in the reference: a sign is a hard rule (a negative count)
                lower = max(lower, 0.0)
                expect("expect_column_values_to_be_between", column, "critical", min_value=0)
            bounds = {
                "min_value": _number(math.floor(round(lower * 1e6, 3)) / 1e6),
                "max_value": _number(math.ceil(round((high + margin) * 1e6, 3)) / 1e6),
            }
            # most values outside the observed range is a unit or scale error (cents for
            # dollars, grams for kilograms): the batch is broken
            expect(
                "expect_column_values_to_be_between",
                column,
                "critical",
                "scale",
                **bounds,
                mostly=_number(1.0 - params.max_out_of_range),
            )
            # a few values outside it are a warning: a new extreme or a drifted distribution
            # is for the drift monitor to judge, not a broken batch
            expect("expect_column_values_to_be_between", column, "warning", **bounds)
        elif types[column] == TEXT and 0 < present.nunique() <= _MAX_CATEGORIES:
            expect(
                "expect_column_values_to_be_in_set",
                column,
                "critical",
                value_set=sorted(str(v) for v in present.unique()),
            )
    features = [c for c in columns if c not in schema.id_columns]
    # the reference's own share of duplicated rows is allowed, as its null shares are: a
    # suite profiled from a file accepts that file
    duplicated = float(frame[features].duplicated(keep=False).mean()) if len(frame) else 0.0
    allowed = max(params.max_duplicate_fraction, math.ceil(duplicated * 1e4) / 1e4)
    expect(
        "expect_compound_columns_to_be_unique",
        None,
        "critical",
        column_list=features,
        mostly=_number(max(0.0, 1.0 - allowed)),
    )
    return {
        "name": name,
        "id": _id(name),
        "expectations": expectations,
        "meta": {
            "columns": types,
            "missing_values": list(missing),
            "target": schema.target,
            "task": schema.task,
            "id_columns": list(schema.id_columns),
            "reviewed": False,
            "note": "Profiled by `mlops expectations init`. Review every bound, then set "
            "reviewed: true. severity: critical stops the run; warning is reported only.",
        },
        "notes": None,
    }
