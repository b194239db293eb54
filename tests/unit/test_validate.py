"""Unit tests for the validation gate's verdict: the schema check, the words for each outcome,
the report, and a crash inside Great Expectations counting as a failure."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tasks.adapters import io, tracking, validation
from tasks.config import load_params
from tasks.pipeline import common, gate
from tasks.pipeline import validate as validate_stage
from tasks.steps.expectations import profile_suite
from tasks.steps.ingest import TableSchema
from tasks.steps.validate import (
    Failure,
    ValidationFailed,
    ValidationReport,
    build_report,
    check_columns,
    describe,
)
from tasks.types import ExpectationOutcome, ReadProblem

PARAMS_FILE = Path(__file__).parents[2] / "params.yaml"

NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
UNIQUE = "expect_column_values_to_be_unique"
UNIQUE_COUNT = "expect_column_unique_value_count_to_be_between"
ROW_COUNT = "expect_table_row_count_to_be_between"
MATCH_SET = "expect_table_columns_to_match_set"
COMPOUND = "expect_compound_columns_to_be_unique"


def _outcome(
    kind: str,
    column: str | None,
    kwargs: dict[str, Any] | None = None,
    *,
    success: bool = False,
    severity: str = "critical",
    **evidence: Any,
) -> ExpectationOutcome:
    return ExpectationOutcome(
        type=kind,
        column=column,
        kwargs={**({"column": column} if column is not None else {}), **(kwargs or {})},
        severity=severity,
        success=success,
        **evidence,
    )


def _messages(failures: list[Failure]) -> list[str]:
    return [f.message for f in failures]


# --- check_columns -------------------------------------------------------------------------


def test_all_columns_present() -> None:
    assert check_columns(["a", "b", "y"], ["a", "b", "y"], "y") == []


def test_column_order_does_not_matter() -> None:
    assert check_columns(["y", "b", "a"], ["a", "b", "y"], "y") == []


def test_missing_target() -> None:
    assert check_columns(["a", "b"], ["a", "b", "y"], "y") == [
        Failure("target_present", "y", "missing target column 'y'")
    ]


def test_one_missing_and_one_unexpected_hints_at_a_rename() -> None:
    assert check_columns(["a", "bb", "y"], ["a", "b", "y"], "y") == [
        Failure(
            "columns_present",
            None,
            "missing column(s) ['b'] ('bb' is unexpected: renamed?)",
            sample=["b"],
        ),
        Failure(
            "no_extra_columns",
            None,
            "unexpected column(s) ['bb']: not in the suite",
            sample=["bb"],
        ),
    ]


def test_missing_target_and_renamed_feature() -> None:
    assert _messages(check_columns(["aa", "b"], ["a", "b", "y"], "y")) == [
        "missing target column 'y'",
        "missing column(s) ['a'] ('aa' is unexpected: renamed?)",
        "unexpected column(s) ['aa']: not in the suite",
    ]


def test_two_missing_columns_get_no_rename_hint() -> None:
    assert _messages(check_columns(["c", "y"], ["a", "b", "y"], "y")) == [
        "missing column(s) ['a', 'b']",
        "unexpected column(s) ['c']: not in the suite",
    ]


def test_extra_column() -> None:
    assert check_columns(["a", "b", "y", "note"], ["a", "b", "y"], "y") == [
        Failure(
            "no_extra_columns",
            None,
            "unexpected column(s) ['note']: not in the suite",
            sample=["note"],
        )
    ]


@pytest.mark.parametrize(
    ("header", "name"),
    [("a;b;y", "semicolon"), ("a\tb\ty", "tab"), ("a|b|y", "pipe")],
)
def test_single_column_header_is_a_wrong_delimiter(header: str, name: str) -> None:
    assert check_columns([header], ["a", "b", "y"], "y") == [
        Failure(
            "delimiter",
            None,
            f"wrong delimiter: one column {header!r} was read; the file seems to be "
            f"{name}-separated, expected comma-separated",
        )
    ]


def test_single_column_without_a_delimiter_is_a_plain_schema_failure() -> None:
    assert _messages(check_columns(["ab"], ["a", "y"], "y")) == [
        "missing target column 'y'",
        "missing column(s) ['a'] ('ab' is unexpected: renamed?)",
        "unexpected column(s) ['ab']: not in the suite",
    ]


def test_long_wrong_delimiter_header_is_clipped() -> None:
    declared = [f"column_{i:03d}" for i in range(120)]
    header = ";".join(declared)

    assert len(header) == 1319
    assert _messages(check_columns([header], declared, None)) == [
        f"wrong delimiter: one column '{header[:60]}... (1,319 characters)' was read; the file "
        "seems to be semicolon-separated, expected comma-separated"
    ]


# --- describe ------------------------------------------------------------------------------


def test_describe_row_count() -> None:
    outcome = _outcome(ROW_COUNT, None, {"min_value": 50}, observed=12)

    assert describe(outcome, "y") == "the batch has 12 rows; at least 50 expected"


def test_describe_nulls_with_mostly() -> None:
    outcome = _outcome(
        NOT_NULL,
        "age",
        {"mostly": 0.9},
        element_count=10,
        unexpected_count=3,
        unexpected_percent=30.0,
    )

    assert describe(outcome, "y") == (
        "column 'age': 3 of 10 (30.00%) values are null, more than the 10.0% allowed"
    )


def test_describe_nulls_in_the_target() -> None:
    outcome = _outcome(
        NOT_NULL, "y", element_count=3, unexpected_count=1, unexpected_percent=100 / 3
    )

    assert describe(outcome, "y") == (
        "target 'y': 1 of 3 (33.33%) values are null, more than the 0.0% allowed"
    )


def test_describe_all_null_column() -> None:
    outcome = _outcome(
        NOT_NULL,
        "age",
        {"mostly": 0.9},
        element_count=4,
        unexpected_count=4,
        unexpected_percent=100.0,
    )

    assert describe(outcome, "y") == "column 'age' is entirely null (4 rows)"


def test_describe_all_null_target() -> None:
    outcome = _outcome(NOT_NULL, "y", element_count=2, unexpected_count=2, unexpected_percent=100.0)

    assert describe(outcome, "y") == "target 'y' is entirely null (2 rows)"


def test_describe_constant_column() -> None:
    outcome = _outcome(UNIQUE_COUNT, "city", {"min_value": 2}, observed=1)

    assert describe(outcome, "y") == (
        "column 'city' is constant (1 distinct value); it varied in the reference data"
    )


def test_describe_single_class_target() -> None:
    outcome = _outcome(UNIQUE_COUNT, "y", {"min_value": 2}, observed=1)

    assert describe(outcome, "y") == (
        "target 'y' has a single class (1 distinct value); 2 or more needed"
    )


def test_describe_out_of_range_with_samples_and_rows() -> None:
    outcome = _outcome(
        BETWEEN,
        "age",
        {"min_value": 0, "max_value": 120},
        element_count=8,
        unexpected_count=2,
        unexpected_percent=25.0,
        sample=(-3.0, 150.0),
        rows=(2, 5),
    )

    assert describe(outcome, "y") == (
        "column 'age': 2 of 8 (25.00%) values outside [0, 120], e.g. [-3.0, 150.0] at rows [2, 5]"
    )


def test_describe_out_of_range_without_rows_or_samples() -> None:
    with_sample = _outcome(
        BETWEEN,
        "age",
        {"min_value": 0, "max_value": 120},
        element_count=8,
        unexpected_count=1,
        unexpected_percent=12.5,
        sample=(-3.0,),
    )
    bare = _outcome(
        BETWEEN,
        "age",
        {"min_value": 0, "max_value": 120},
        element_count=8,
        unexpected_count=1,
        unexpected_percent=12.5,
    )

    assert describe(with_sample, "y") == (
        "column 'age': 1 of 8 (12.50%) values outside [0, 120], e.g. [-3.0]"
    )
    assert describe(bare, "y") == "column 'age': 1 of 8 (12.50%) values outside [0, 120]"


def test_describe_clips_long_sample_values() -> None:
    outcome = _outcome(
        IN_SET,
        "city",
        {"value_set": ["lyon", "paris"]},
        element_count=4,
        unexpected_count=1,
        unexpected_percent=25.0,
        sample=("x" * 80,),
        rows=(3,),
    )

    assert describe(outcome, "y") == (
        "column 'city': 1 of 4 (25.00%) values are categories never seen in training, "
        f"e.g. ['{'x' * 60}... (80 characters)'] at rows [3]"
    )


def test_describe_unknown_category() -> None:
    outcome = _outcome(
        IN_SET,
        "city",
        {"value_set": ["lyon", "paris"]},
        element_count=8,
        unexpected_count=1,
        unexpected_percent=12.5,
        sample=("rome",),
        rows=(3,),
    )

    assert describe(outcome, "y") == (
        "column 'city': 1 of 8 (12.50%) values are categories never seen in training, "
        "e.g. ['rome'] at rows [3]"
    )


def test_describe_unknown_class() -> None:
    outcome = _outcome(
        IN_SET,
        "y",
        {"value_set": [0, 1]},
        element_count=8,
        unexpected_count=1,
        unexpected_percent=12.5,
        sample=(2.0,),
        rows=(7,),
    )

    assert describe(outcome, "y") == (
        "target 'y': 1 of 8 (12.50%) values are a class never seen in training, "
        "e.g. [2.0] at rows [7]"
    )


def test_describe_duplicated_ids() -> None:
    outcome = _outcome(
        UNIQUE,
        "order_id",
        element_count=6,
        unexpected_count=2,
        unexpected_percent=100 / 3,
        sample=(7.0, 7.0),
        rows=(1, 4),
    )

    assert describe(outcome, "y") == (
        "column 'order_id': 2 of 6 (33.33%) values are duplicated (an ID must be unique), "
        "e.g. [7.0, 7.0] at rows [1, 4]"
    )


def test_describe_duplicated_rows() -> None:
    outcome = _outcome(
        COMPOUND,
        None,
        {"column_list": ["a", "b"], "mostly": 0.99},
        element_count=100,
        unexpected_count=4,
        unexpected_percent=4.0,
        sample=({"a": 1, "b": 2},),
        rows=(3, 9, 10, 12),
    )

    assert describe(outcome, "y") == (
        "4 of 100 rows (4.00%) are duplicates of other rows, more than the 1.0% allowed, "
        "e.g. rows [3, 9, 10, 12]"
    )


def test_describe_duplicated_rows_without_rows() -> None:
    outcome = _outcome(
        COMPOUND,
        None,
        {"column_list": ["a", "b"], "mostly": 0.95},
        element_count=10,
        unexpected_count=2,
        unexpected_percent=20.0,
    )

    assert describe(outcome, "y") == (
        "2 of 10 rows (20.00%) are duplicates of other rows, more than the 5.0% allowed"
    )


def test_describe_column_set_mismatch() -> None:
    outcome = _outcome(
        MATCH_SET,
        None,
        {"column_set": ["a", "b", "y"], "exact_match": True},
        observed=["a", "b"],
    )

    assert describe(outcome, "y") == "columns ['a', 'b'] do not match the suite's ['a', 'b', 'y']"


def test_describe_other_expectation_types() -> None:
    outcome = _outcome(
        "expect_column_value_lengths_to_be_between",
        "city",
        {"max_value": 3},
        element_count=4,
        unexpected_count=1,
        unexpected_percent=25.0,
        sample=("paris",),
        rows=(0,),
    )

    assert describe(outcome, "y") == (
        "expect_column_value_lengths_to_be_between failed on column 'city', "
        "e.g. ['paris'] at rows [0]"
    )


def test_describe_other_table_expectation_does_not_name_a_none_column() -> None:
    outcome = _outcome("expect_table_column_count_to_equal", None, {"value": 3}, observed=4)

    message = describe(outcome, "y")

    assert message.startswith("expect_table_column_count_to_equal failed")
    assert "'None'" not in message


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("age", f"{BETWEEN} on column 'age' could not be evaluated: boom"),
        ("y", f"{BETWEEN} on target 'y' could not be evaluated: boom"),
        (None, f"{BETWEEN} could not be evaluated: boom"),
    ],
)
def test_describe_an_expectation_that_raised(column: str | None, expected: str) -> None:
    outcome = _outcome(
        BETWEEN,
        column,
        {"min_value": 0, "max_value": 1},
        element_count=8,
        unexpected_count=8,
        unexpected_percent=100.0,
        error="boom",
    )

    assert describe(outcome, "y") == expected


def test_describe_without_a_target() -> None:
    outcome = _outcome(UNIQUE_COUNT, "y", {"min_value": 2}, observed=1)

    assert describe(outcome, None) == (
        "column 'y' is constant (1 distinct value); it varied in the reference data"
    )


# --- build_report --------------------------------------------------------------------------


def _suite() -> dict[str, Any]:
    def expectation(kind: str, column: str | None, **kwargs: Any) -> dict[str, Any]:
        if column is not None:
            kwargs = {"column": column, **kwargs}
        return {"type": kind, "kwargs": kwargs, "severity": "critical", "meta": {}}

    return {
        "name": "shop",
        "expectations": [
            expectation(MATCH_SET, None, column_set=["age", "city", "y"], exact_match=True),
            expectation(ROW_COUNT, None, min_value=5),
            expectation(NOT_NULL, "age", mostly=0.9),
            expectation(BETWEEN, "age", min_value=0, max_value=120),
            expectation(NOT_NULL, "city", mostly=0.9),
            expectation(IN_SET, "city", value_set=["lyon", "paris"]),
            expectation(NOT_NULL, "y"),
            expectation(IN_SET, "y", value_set=[0, 1]),
            expectation(COMPOUND, None, column_list=["age", "city", "y"], mostly=0.99),
        ],
        "meta": {"columns": {"age": "float64", "city": "str", "y": "float64"}, "target": "y"},
    }


def _out_of_range(**changes: Any) -> ExpectationOutcome:
    evidence: dict[str, Any] = {
        "element_count": 8,
        "unexpected_count": 1,
        "unexpected_percent": 12.5,
        "sample": (150.0,),
        "rows": (4,),
        **changes,
    }
    return _outcome(BETWEEN, "age", {"min_value": 0, "max_value": 120}, **evidence)


def _unknown_city(**changes: Any) -> ExpectationOutcome:
    evidence: dict[str, Any] = {
        "element_count": 8,
        "unexpected_count": 2,
        "unexpected_percent": 25.0,
        "sample": ("rome", "oslo"),
        "rows": (1, 6),
        **changes,
    }
    return _outcome(IN_SET, "city", {"value_set": ["lyon", "paris"]}, **evidence)


def _too_few_rows() -> ExpectationOutcome:
    return _outcome(ROW_COUNT, None, {"min_value": 5}, observed=3)


def test_report_follows_the_suite_order_not_the_outcome_order() -> None:
    outcomes = [
        _unknown_city(),
        _out_of_range(),
        _outcome(NOT_NULL, "age", {"mostly": 0.9}, success=True, element_count=8),
        _too_few_rows(),
    ]

    report = build_report("batch.csv", _suite(), 8, [], [], outcomes)

    assert [(f.rule, f.column) for f in report.failures] == [
        (ROW_COUNT, None),
        (BETWEEN, "age"),
        (IN_SET, "city"),
    ]
    assert report.checks == 4


def test_outcomes_not_in_the_suite_come_last() -> None:
    extra = _outcome("expect_column_mean_to_be_between", "age", {"max_value": 1}, observed=40.0)

    report = build_report("batch.csv", _suite(), 8, [], [], [extra, _unknown_city()])

    assert [f.rule for f in report.failures] == [IN_SET, "expect_column_mean_to_be_between"]


def test_failure_from_an_outcome_carries_the_evidence() -> None:
    outcome = _unknown_city(unexpected_percent=100 / 3, sample=("x" * 70, "oslo"))

    report = build_report("batch.csv", _suite(), 6, [], [], [outcome])

    assert report.failures == (
        Failure(
            rule=IN_SET,
            column="city",
            message="column 'city': 2 of 8 (33.33%) values are categories never seen in "
            f"training, e.g. ['{'x' * 60}... (70 characters)', 'oslo'] at rows [1, 6]",
            severity="fail",
            count=2,
            percent=33.3333,
            sample=[f"{'x' * 60}... (70 characters)", "oslo"],
            rows=[1, 6],
        ),
    )


def test_read_problems_come_first_and_silence_their_column() -> None:
    problem = ReadProblem(
        "numeric_type",
        "age",
        "column 'age': 1 value(s) (12.50%) are not numbers, e.g. ['n/a'] at rows [4]",
        count=1,
        sample=("n/a",),
        rows=(4,),
    )
    schema = [Failure("no_extra_columns", None, "unexpected column(s) ['x']: not in the suite")]
    outcomes = [
        _out_of_range(),
        _outcome(NOT_NULL, "age", {"mostly": 0.9}, element_count=8, unexpected_count=1),
        _unknown_city(),
    ]

    report = build_report("batch.csv", _suite(), 8, [problem], schema, outcomes)

    assert report.failures == (
        Failure(
            "numeric_type",
            "age",
            "column 'age': 1 value(s) (12.50%) are not numbers, e.g. ['n/a'] at rows [4]",
            "fail",
            1,
            0.0,
            ["n/a"],
            [4],
        ),
        schema[0],
        Failure(
            IN_SET,
            "city",
            "column 'city': 2 of 8 (25.00%) values are categories never seen in training, "
            "e.g. ['rome', 'oslo'] at rows [1, 6]",
            count=2,
            percent=25.0,
            sample=["rome", "oslo"],
            rows=[1, 6],
        ),
    )
    assert report.checks == 5


def test_empty_batch_keeps_only_table_level_failures() -> None:
    outcomes = [
        _too_few_rows(),
        _outcome(NOT_NULL, "y", element_count=0, unexpected_count=0),
        _out_of_range(element_count=0, unexpected_count=0, unexpected_percent=0.0),
        _outcome(UNIQUE_COUNT, "city", {"min_value": 2}, observed=0),
        _outcome(COMPOUND, None, {"column_list": ["age"], "mostly": 0.99}),
    ]

    report = build_report("batch.csv", _suite(), 0, [], [], outcomes)

    assert [(f.rule, f.column) for f in report.failures] == [(ROW_COUNT, None), (COMPOUND, None)]
    assert report.rows == 0
    assert report.success is False


def test_all_null_column_keeps_only_its_null_failure() -> None:
    outcomes = [
        _outcome(UNIQUE_COUNT, "age", {"min_value": 2}, observed=0),
        _out_of_range(unexpected_count=0, unexpected_percent=0.0, sample=(), rows=()),
        _outcome(
            NOT_NULL,
            "age",
            {"mostly": 0.9},
            element_count=8,
            unexpected_count=8,
            unexpected_percent=100.0,
        ),
        _unknown_city(),
    ]

    report = build_report("batch.csv", _suite(), 8, [], [], outcomes)

    assert _messages(list(report.failures)) == [
        "column 'age' is entirely null (8 rows)",
        "column 'city': 2 of 8 (25.00%) values are categories never seen in training, "
        "e.g. ['rome', 'oslo'] at rows [1, 6]",
    ]


def test_a_crashed_null_check_does_not_hide_the_columns_other_failures() -> None:
    outcomes = [
        _outcome(NOT_NULL, "age", {"mostly": 0.9}, error="boom"),
        _out_of_range(),
    ]

    report = build_report("batch.csv", _suite(), 8, [], [], outcomes)

    assert [(f.rule, f.column) for f in report.failures] == [
        (NOT_NULL, "age"),
        (BETWEEN, "age"),
    ]


@pytest.mark.parametrize("severity", ["warning", "info"])
def test_warning_severity_is_reported_without_failing(severity: str) -> None:
    outcome = _unknown_city(severity=severity)

    report = build_report("batch.csv", _suite(), 8, [], [], [outcome])

    assert report.success is True
    assert report.errors == []
    assert report.warnings == list(report.failures)
    assert report.failures[0].severity == "warn"
    assert report.summary().splitlines() == [
        "batch.csv: validation passed against suite 'shop' "
        "(8 rows, 1 checks, 0 failed, 1 warnings)",
        "  warn column 'city': 2 of 8 (25.00%) values are categories never seen in training, "
        "e.g. ['rome', 'oslo'] at rows [1, 6]",
    ]


def _failing_report() -> ValidationReport:
    outcomes = [
        _unknown_city(severity="warning"),
        _out_of_range(),
        _too_few_rows(),
        _outcome(NOT_NULL, "y", success=True, element_count=3),
    ]
    return build_report("data/raw/batch.csv", _suite(), 3, [], [], outcomes)


def test_summary_lists_failures_then_warnings() -> None:
    assert _failing_report().summary() == (
        "data/raw/batch.csv: validation FAILED against suite 'shop' "
        "(3 rows, 4 checks, 2 failed, 1 warnings)\n"
        "  FAIL the batch has 3 rows; at least 5 expected\n"
        "  FAIL column 'age': 1 of 8 (12.50%) values outside [0, 120], e.g. [150.0] at rows [4]\n"
        "  warn column 'city': 2 of 8 (25.00%) values are categories never seen in training, "
        "e.g. ['rome', 'oslo'] at rows [1, 6]"
    )


def test_passing_report() -> None:
    outcome = _outcome(NOT_NULL, "y", success=True, element_count=8)

    report = build_report("batch.csv", _suite(), 8, [], [], [outcome])

    assert report == ValidationReport("batch.csv", "shop", 8, 1, ())
    assert report.success is True
    assert report.summary() == (
        "batch.csv: validation passed against suite 'shop' (8 rows, 1 checks, 0 failed, 0 warnings)"
    )


def test_a_report_counts_at_least_one_check() -> None:
    assert build_report("batch.csv", _suite(), 0, [], [], []).checks == 1


def test_to_dict() -> None:
    data = _failing_report().to_dict()

    assert list(data) == ["source", "suite", "success", "rows", "checks", "failures"]
    assert {k: v for k, v in data.items() if k != "failures"} == {
        "source": "data/raw/batch.csv",
        "suite": "shop",
        "success": False,
        "rows": 3,
        "checks": 4,
    }
    assert data["failures"][0] == {
        "rule": ROW_COUNT,
        "column": None,
        "message": "the batch has 3 rows; at least 5 expected",
        "severity": "fail",
        "count": 0,
        "percent": 0.0,
        "sample": [],
        "rows": [],
    }
    assert [f["severity"] for f in data["failures"]] == ["fail", "fail", "warn"]


def test_validation_failed_message_is_the_summary_then_the_extra_lines() -> None:
    report = _failing_report()

    error = ValidationFailed(report, "quarantined: data/quarantine/x/")

    assert str(error) == report.summary() + "\nquarantined: data/quarantine/x/"
    assert error.report is report
    assert isinstance(error, ValueError)
    with pytest.raises(ValidationFailed, match=f"^{re.escape(report.summary())}$"):
        raise ValidationFailed(report)


# --- check_batch: a crash inside Great Expectations --------------------------------------


def test_an_exception_inside_great_expectations_is_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copyfile(PARAMS_FILE, tmp_path / "params.yaml")
    params = load_params(tmp_path / "params.yaml")
    frame = pd.DataFrame(
        {"visits": [1, 3, 2, 5], "device": ["mobile", "desktop", "mobile", "tablet"]}
    ).assign(purchased=[0, 1, 0, 1])
    schema = TableSchema("purchased", "binary", ("visits",), ("device",), classes=(0, 1))
    suite_file = gate.suite_path(tmp_path, params)
    io.write_json(profile_suite(frame, schema, suite_file.stem, params.validate_), suite_file)
    batch = tmp_path / params.ingest.path
    batch.parent.mkdir(parents=True)
    frame.to_csv(batch, index=False)

    def boom(*args: Any, **kwargs: Any) -> list[ExpectationOutcome]:
        raise RuntimeError("boom")

    monkeypatch.setattr(validation, "run_suite", boom)

    read, report = gate.check_batch(tmp_path, batch, params)

    assert read is not None
    assert read["visits"].tolist() == [1.0, 3.0, 2.0, 5.0]
    assert report == ValidationReport(
        source="data/raw/customer-purchase/customer-purchase.csv",
        suite="customer-purchase",
        rows=4,
        checks=1,
        failures=(Failure("validation_error", None, "validation crashed: RuntimeError('boom')"),),
    )
    assert report.success is False


def test_a_range_warning_that_repeats_a_failed_hard_rule_is_left_out() -> None:
    suite = {
        "name": "s",
        "expectations": [
            {"type": BETWEEN, "kwargs": {"column": "n", "min_value": 0}},
            {"type": BETWEEN, "kwargs": {"column": "n", "min_value": 0, "max_value": 9}},
        ],
        "meta": {},
    }
    hard = _outcome(
        BETWEEN,
        "n",
        {"min_value": 0},
        element_count=4,
        unexpected_count=1,
        unexpected_percent=25.0,
        sample=(-2.0,),
        rows=(1,),
    )
    soft = dataclasses.replace(
        hard, kwargs={"column": "n", "min_value": 0, "max_value": 9}, severity="warning"
    )

    report = build_report("b.csv", suite, 4, [], [], [hard, soft])

    assert [(f.severity, f.message) for f in report.failures] == [
        (
            "fail",
            "column 'n': 1 of 4 (25.00%) values are negative (never negative in the reference "
            "data), e.g. [-2.0] at rows [1]",
        )
    ]


def test_the_verdict_stands_when_mlflow_cannot_record_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copyfile(PARAMS_FILE, tmp_path / "params.yaml")
    params = load_params(tmp_path / "params.yaml")
    frame = pd.DataFrame({"visits": [1, 3, 2, 5], "purchased": [0, 1, 0, 1]})
    schema = TableSchema("purchased", "binary", ("visits",), (), classes=(0, 1))
    suite_file = gate.suite_path(tmp_path, params)
    io.write_json(profile_suite(frame, schema, suite_file.stem, params.validate_), suite_file)
    batch = tmp_path / params.ingest.path
    batch.parent.mkdir(parents=True)
    batch.write_bytes(b"")  # unreadable: no frame, so no Data Docs are built

    def down(**kwargs: Any) -> str:
        raise ConnectionError("tracking server unreachable")

    monkeypatch.setattr(tracking, "log_validation", down)
    monkeypatch.setattr(tracking, "configure", lambda root: "http://127.0.0.1:9")

    with pytest.raises(ValidationFailed) as failed:
        validate_stage.validate(tmp_path, params, common.RunContext())

    message = str(failed.value)
    assert "  FAIL customer-purchase.csv: file is empty (0 bytes)" in message
    assert message.endswith(
        "mlflow could not record the failure: ConnectionError('tracking server unreachable')"
    )
    (folder,) = (tmp_path / params.validate_.quarantine_dir).iterdir()
    assert (folder / "customer-purchase.csv").read_bytes() == b""


# --- check_batch: the scale rule against a suite profiled from a file -----------------------


def _profiled(tmp_path: Path) -> tuple[Any, pd.DataFrame]:
    """params and the reference table, with its suite profiled as `mlops suite init` does."""
    shutil.copyfile(PARAMS_FILE, tmp_path / "params.yaml")
    params = load_params(tmp_path / "params.yaml")
    n = 60
    reference = pd.DataFrame(
        {
            "amount": [10.0 + (i % 20) * 5 for i in range(n)],  # 10..105
            "device": (["mobile", "desktop", "tablet"] * n)[:n],
            "purchased": [(i // 20) % 2 for i in range(n)],
        }
    )
    raw = tmp_path / params.ingest.path
    raw.parent.mkdir(parents=True)
    reference.to_csv(raw, index=False)
    suite = gate.profile_file(raw, params)
    io.write_json(suite, gate.suite_path(tmp_path, params))
    return params, reference


def _check(tmp_path: Path, params: Any, batch: pd.DataFrame) -> ValidationReport:
    path = tmp_path / "batch.csv"
    batch.to_csv(path, index=False)
    _, report = gate.check_batch(tmp_path, path, params)
    return report


def test_the_reference_passes_its_own_suite_with_a_scale_rule(tmp_path: Path) -> None:
    params, reference = _profiled(tmp_path)
    suite = io.read_json(gate.suite_path(tmp_path, params))

    assert [
        (e["kwargs"], e["severity"])
        for e in suite["expectations"]
        if e["type"] == BETWEEN and "max_value" in e["kwargs"]
    ] == [
        ({"column": "amount", "min_value": 0.5, "max_value": 114.5, "mostly": 0.5}, "critical"),
        ({"column": "amount", "min_value": 0.5, "max_value": 114.5}, "warning"),
    ]
    assert _check(tmp_path, params, reference).failures == ()


def test_most_values_a_thousand_times_the_range_fail_the_scale_rule(tmp_path: Path) -> None:
    params, reference = _profiled(tmp_path)
    batch = reference.copy()
    batch.loc[:47, "amount"] *= 1000  # 48 of 60 rows in the wrong unit

    report = _check(tmp_path, params, batch)

    assert report.success is False
    # the critical rule fails; the warning of the same range would only repeat it
    assert report.failures == (
        Failure(
            rule=BETWEEN,
            column="amount",
            message="column 'amount': 48 of 60 (80.00%) values outside [0.5, 114.5], more than "
            "the 50.0% allowed (validate.max_out_of_range): a unit or scale error, such as "
            "cents for dollars?, e.g. "
            "[10000.0, 15000.0, 20000.0, 25000.0, 30000.0] at rows [0, 1, 2, 3, 4]",
            severity="fail",
            count=48,
            percent=80.0,
            sample=[10000.0, 15000.0, 20000.0, 25000.0, 30000.0],
            rows=[0, 1, 2, 3, 4],
        ),
    )


def test_a_few_extremes_stay_a_warning(tmp_path: Path) -> None:
    params, reference = _profiled(tmp_path)
    batch = reference.copy()
    batch.loc[[3, 7], "amount"] *= 1000

    report = _check(tmp_path, params, batch)

    assert report.success is True
    assert report.failures == (
        Failure(
            rule=BETWEEN,
            column="amount",
            message="column 'amount': 2 of 60 (3.33%) values outside [0.5, 114.5], e.g. "
            "[25000.0, 45000.0] at rows [3, 7]",
            severity="warn",
            count=2,
            percent=3.3333,
            sample=[25000.0, 45000.0],
            rows=[3, 7],
        ),
    )


@pytest.mark.parametrize(("outside", "success"), [(30, True), (31, False)])
def test_the_scale_rule_fails_above_max_out_of_range(
    tmp_path: Path, outside: int, success: bool
) -> None:
    params, reference = _profiled(tmp_path)
    batch = reference.copy()
    batch.loc[: outside - 1, "amount"] *= 1000  # exactly half, then one more

    report = _check(tmp_path, params, batch)

    assert report.success is success
    assert [(f.severity, f.count) for f in report.failures] == [
        ("warn" if success else "fail", outside)
    ]


def test_a_reference_with_duplicated_rows_passes_its_own_suite(tmp_path: Path) -> None:
    params, reference = _profiled(tmp_path)
    # the profiled file repeats 6 of its rows: 12 of 66 rows (18.18%) are duplicated
    with_copies = pd.concat([reference, reference.iloc[:6]], ignore_index=True)
    raw = tmp_path / params.ingest.path
    with_copies.to_csv(raw, index=False)
    suite = gate.profile_file(raw, params)
    io.write_json(suite, gate.suite_path(tmp_path, params))

    (compound,) = [e for e in suite["expectations"] if e["type"] == COMPOUND]
    assert compound["kwargs"]["mostly"] == 0.8181
    assert _check(tmp_path, params, with_copies).failures == ()
    # more duplicates than the reference had still fail
    more = pd.concat([reference, reference.iloc[:12]], ignore_index=True)
    (failure,) = _check(tmp_path, params, more).failures
    assert (failure.rule, failure.severity, failure.message) == (
        COMPOUND,
        "fail",
        "24 of 72 rows (33.33%) are duplicates of other rows, more than the 18.2% allowed, "
        "e.g. rows [0, 1, 2, 3, 4]",
    )
