"""Unit tests for the validation gate's schema check."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tasks.config import ValidateParams
from tasks.ingest import TableSchema
from tasks.validate import Failure, ValidationFailed, ValidationResult, check_table

SCHEMA = TableSchema("y", "binary", ("a", "b"), ("c",), classes=(0, 1))
PARAMS = ValidateParams(min_rows=3, max_null_fraction=0.5)
# columns present, row count, one null check per feature (3), one type check per numeric (2),
# target classes
CHECKS = 8


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0],
            "b": [0.5, np.nan, 1.5, 2.5],
            "c": ["x", "y", None, "x"],
            "y": [0, 1, 0, 1],
        }
    )


def _failures(frame: pd.DataFrame, params: ValidateParams = PARAMS) -> list[Failure]:
    result = check_table(frame, SCHEMA, params)
    assert result.success is False
    assert result.checks <= CHECKS
    return list(result.failures)


def test_passing_frame() -> None:
    result = check_table(_frame(), SCHEMA, PARAMS)

    assert result == ValidationResult(success=True, rows=4, checks=CHECKS, failures=())
    assert result.summary() == "validation passed: 8 checks on 4 rows"
    assert result.to_dict() == {"success": True, "rows": 4, "checks": 8, "failures": []}


def test_integer_and_bool_columns_count_as_numeric() -> None:
    frame = _frame().assign(a=[1, 2, 3, 4], b=[True, False, True, False])

    assert check_table(frame, SCHEMA, PARAMS).success is True


def test_regression_target_is_not_checked_for_classes() -> None:
    schema = TableSchema("y", "regression", ("a",), ())
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [5.0, 5.0, 5.0]})

    assert check_table(frame, schema, PARAMS) == ValidationResult(True, rows=3, checks=4)


def test_missing_column() -> None:
    frame = _frame().drop(columns=["c"])

    assert _failures(frame) == [
        Failure("columns_present", None, "missing column(s) ['c']", sample=["c"])
    ]
    assert check_table(frame, SCHEMA, PARAMS).checks == CHECKS - 1


def test_too_few_rows() -> None:
    assert _failures(_frame().iloc[:2]) == [
        Failure("min_rows", None, "2 rows, fewer than validate.min_rows=3")
    ]


def test_too_many_nulls() -> None:
    frame = _frame().assign(c=[None, None, None, "x"])

    assert _failures(frame) == [
        Failure(
            "max_null_fraction",
            "c",
            "column 'c': 75.0% nulls, above validate.max_null_fraction=0.5",
        )
    ]


def test_null_fraction_equal_to_the_limit_passes() -> None:
    frame = _frame().assign(c=[None, None, "y", "x"])

    assert check_table(frame, SCHEMA, PARAMS).success is True


def test_non_numeric_dtype_in_a_numeric_column() -> None:
    frame = _frame().assign(a=["1", "2", "x", "4"])

    assert _failures(frame) == [Failure("numeric_type", "a", "column 'a' is not numeric (object)")]


def test_infinite_values() -> None:
    frame = _frame().assign(b=[np.inf, 1.0, -np.inf, np.nan])

    assert _failures(frame) == [
        Failure(
            "finite_values",
            "b",
            "column 'b': 2 infinite value(s) at rows [0, 2]",
            sample=[np.inf, -np.inf],
        )
    ]


def test_single_class_target() -> None:
    frame = _frame().assign(y=[1, 1, None, 1])

    assert _failures(frame) == [
        Failure(
            "target_classes",
            "y",
            "target 'y' has 1 class(es) [1.0]; at least 2 are needed",
            sample=[1.0],
        )
    ]


def test_several_failures_are_reported_together() -> None:
    frame = pd.DataFrame(
        {
            "a": ["1", "2", "x", "4"],
            "b": [np.inf, 1.0, -np.inf, np.nan],
            "c": [None, None, None, "x"],
            "y": [1, 1, 1, 1],
        }
    )

    result = check_table(frame, SCHEMA, PARAMS)

    assert [(f.rule, f.column) for f in result.failures] == [
        ("numeric_type", "a"),
        ("finite_values", "b"),
        ("max_null_fraction", "c"),
        ("target_classes", "y"),
    ]
    assert result.summary() == (
        "validation failed: 4 of 8 checks\n"
        "  - column 'a' is not numeric (object)\n"
        "  - column 'b': 2 infinite value(s) at rows [0, 2]\n"
        "  - column 'c': 75.0% nulls, above validate.max_null_fraction=0.5\n"
        "  - target 'y' has 1 class(es) [1]; at least 2 are needed"
    )


def test_missing_column_and_too_few_rows_summary_and_error() -> None:
    result = check_table(_frame().drop(columns=["c"]).iloc[:2], SCHEMA, PARAMS)

    summary = (
        "validation failed: 2 of 7 checks\n"
        "  - missing column(s) ['c']\n"
        "  - 2 rows, fewer than validate.min_rows=3"
    )
    assert result.summary() == summary
    assert result.to_dict() == {
        "success": False,
        "rows": 2,
        "checks": 7,
        "failures": [
            {
                "rule": "columns_present",
                "column": None,
                "message": "missing column(s) ['c']",
                "sample": ["c"],
            },
            {
                "rule": "min_rows",
                "column": None,
                "message": "2 rows, fewer than validate.min_rows=3",
                "sample": [],
            },
        ],
    }
    with pytest.raises(ValidationFailed, match=f"^{re.escape(f'data/raw/x.csv: {summary}')}$"):
        raise ValidationFailed(result, "data/raw/x.csv")


def test_validation_failed_carries_the_result() -> None:
    result = check_table(_frame().iloc[:1], SCHEMA, PARAMS)

    error = ValidationFailed(result, "batch.csv")

    assert error.result is result
    assert isinstance(error, ValueError)
