"""Unit tests for profiling reference data into an expectation suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tasks.config import ValidateParams, load_params
from tasks.steps import expectations
from tasks.steps.expectations import (
    NUMBER,
    TEXT,
    column_types,
    declared_types,
    find_missing_tokens,
    missing_values,
    profile_suite,
)
from tasks.steps.ingest import TableSchema

PARAMS_FILE = Path(__file__).parents[2] / "params.yaml"

NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
UNIQUE = "expect_column_values_to_be_unique"
UNIQUE_COUNT = "expect_column_unique_value_count_to_be_between"
ROW_COUNT = "expect_table_row_count_to_be_between"
MATCH_SET = "expect_table_columns_to_match_set"
COMPOUND = "expect_compound_columns_to_be_unique"
CRITICAL = "critical"

SCHEMA = TableSchema(
    target="bought",
    task="binary",
    numeric=("visits", "balance", "age"),
    categorical=("city",),
    id_columns=("order_id",),
    classes=(0, 1),
)


def _params(*overrides: str) -> ValidateParams:
    return load_params(PARAMS_FILE, list(overrides)).validate_


def _frame() -> pd.DataFrame:
    """Eight orders: an ID, a count, a balance that goes negative, a city, an age with one gap."""
    return pd.DataFrame(
        {
            "order_id": [101, 102, 103, 104, 105, 106, 107, 108],
            "visits": [2, 40, 5, 7, 3, 12, 9, 20],
            "balance": [-20.5, 10.0, 0.0, 35.5, -4.0, 12.25, 8.0, -1.0],
            "city": ["paris", "lyon", "paris", "nice", "lyon", "paris", "nice", "lyon"],
            "age": [25.0, 32.0, None, 41.0, 38.0, 29.0, 50.0, 45.0],
            "bought": [0, 1, 0, 1, 1, 0, 0, 1],
        }
    )


def _triples(suite: dict[str, Any]) -> list[tuple[str, str | None, dict[str, Any], str]]:
    """(type, column, kwargs without the column, severity) for each expectation, in order."""
    return [
        (
            e["type"],
            e["kwargs"].get("column"),
            {k: v for k, v in e["kwargs"].items() if k != "column"},
            e["severity"],
        )
        for e in suite["expectations"]
    ]


def _kwargs(suite: dict[str, Any], kind: str, column: str | None) -> dict[str, Any]:
    """The kwargs of one expectation; for ranges, the observed range (the warning one)."""
    (found,) = [
        e["kwargs"]
        for e in suite["expectations"]
        if e["type"] == kind
        and e["kwargs"].get("column") == column
        and (kind != BETWEEN or e["severity"] == "warning")
    ]
    return dict(found)


def test_profile_suite_expectations() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params())

    assert _triples(suite) == [
        (
            MATCH_SET,
            None,
            {
                "column_set": ["order_id", "visits", "balance", "city", "age", "bought"],
                "exact_match": True,
            },
            CRITICAL,
        ),
        (ROW_COUNT, None, {"min_value": 50}, CRITICAL),
        (NOT_NULL, "order_id", {"mostly": 0.9}, CRITICAL),
        (UNIQUE, "order_id", {}, CRITICAL),
        (NOT_NULL, "visits", {"mostly": 0.9}, CRITICAL),
        (UNIQUE_COUNT, "visits", {"min_value": 2}, CRITICAL),
        # never negative: a hard rule; 2..40 widened by 3.8 each side: most values outside
        # is a scale error (critical), a few are a warning
        (BETWEEN, "visits", {"min_value": 0}, CRITICAL),
        (BETWEEN, "visits", {"min_value": 0, "max_value": 43.8, "mostly": 0.5}, CRITICAL),
        (BETWEEN, "visits", {"min_value": 0, "max_value": 43.8}, "warning"),
        (NOT_NULL, "balance", {"mostly": 0.9}, CRITICAL),
        (UNIQUE_COUNT, "balance", {"min_value": 2}, CRITICAL),
        (BETWEEN, "balance", {"min_value": -26.1, "max_value": 41.1, "mostly": 0.5}, CRITICAL),
        (BETWEEN, "balance", {"min_value": -26.1, "max_value": 41.1}, "warning"),
        (NOT_NULL, "city", {"mostly": 0.9}, CRITICAL),
        (UNIQUE_COUNT, "city", {"min_value": 2}, CRITICAL),
        (IN_SET, "city", {"value_set": ["lyon", "nice", "paris"]}, CRITICAL),
        # one null in eight: 12.5% + the 10% margin
        (NOT_NULL, "age", {"mostly": 0.775}, CRITICAL),
        (UNIQUE_COUNT, "age", {"min_value": 2}, CRITICAL),
        (BETWEEN, "age", {"min_value": 0}, CRITICAL),
        (BETWEEN, "age", {"min_value": 22.5, "max_value": 52.5, "mostly": 0.5}, CRITICAL),
        (BETWEEN, "age", {"min_value": 22.5, "max_value": 52.5}, "warning"),
        (NOT_NULL, "bought", {"mostly": 0.9}, CRITICAL),
        (UNIQUE_COUNT, "bought", {"min_value": 2}, CRITICAL),
        (IN_SET, "bought", {"value_set": [0, 1]}, CRITICAL),
        (
            COMPOUND,
            None,
            {"column_list": ["visits", "balance", "city", "age", "bought"], "mostly": 0.99},
            CRITICAL,
        ),
    ]


def test_column_kwarg_comes_first_and_every_expectation_has_empty_meta() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params())

    for expectation in suite["expectations"]:
        assert sorted(expectation) == ["id", "kwargs", "meta", "severity", "type"]
        assert expectation["meta"] == {}
        if "column" in expectation["kwargs"]:
            assert next(iter(expectation["kwargs"])) == "column"


def test_profile_suite_meta() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params())

    assert suite["name"] == "shop"
    assert suite["notes"] is None
    assert {k: v for k, v in suite["meta"].items() if k != "note"} == {
        "columns": {
            "order_id": "float64",
            "visits": "float64",
            "balance": "float64",
            "city": "str",
            "age": "float64",
            "bought": "float64",
        },
        "missing_values": [],
        "target": "bought",
        "task": "binary",
        "id_columns": ["order_id"],
        "reviewed": False,
    }
    assert list(suite["meta"]["columns"]) == list(_frame().columns)


def test_declared_types_follow_the_schema_over_the_dtype() -> None:
    frame = _frame().assign(zone=[1, 2, 1, 2, 1, 2, 1, 2], score=["1", "2", "3"] * 2 + ["4", "5"])
    schema = TableSchema(
        "bought", "binary", ("score",), ("zone",), id_columns=("order_id",), classes=(0, 1)
    )

    types = declared_types(profile_suite(frame, schema, "shop", _params()))

    assert types["zone"] == "str"
    assert types["score"] == "float64"


def test_declared_types() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params())

    assert declared_types(suite) == {
        "order_id": "float64",
        "visits": "float64",
        "balance": "float64",
        "city": "str",
        "age": "float64",
        "bought": "float64",
    }
    assert declared_types({"name": "bare"}) == {}


def test_declared_types_returns_a_copy() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params())

    declared_types(suite)["city"] = "float64"

    assert suite["meta"]["columns"]["city"] == "str"


def test_ids_are_stable_and_unique() -> None:
    first = profile_suite(_frame(), SCHEMA, "shop", _params())
    second = profile_suite(_frame(), SCHEMA, "shop", _params())
    ids = [e["id"] for e in first["expectations"]]

    assert first == second
    assert len(set(ids)) == len(ids)
    assert first["id"] not in ids


def test_the_same_expectation_keeps_its_id_in_another_frame() -> None:
    other = _frame().assign(balance=[-6.0, 20.0, 30.0, 40.0, 50.0, 15.0, 25.0, 35.0])

    before = profile_suite(_frame(), SCHEMA, "shop", _params())
    after = profile_suite(other, SCHEMA, "shop", _params())

    assert before["id"] == after["id"]
    assert [e["id"] for e in before["expectations"]] == [e["id"] for e in after["expectations"]]
    assert _kwargs(after, BETWEEN, "balance") == {
        "column": "balance",
        "min_value": -11.6,
        "max_value": 55.6,
    }


def test_ids_depend_on_the_suite_name() -> None:
    shop = profile_suite(_frame(), SCHEMA, "shop", _params())
    store = profile_suite(_frame(), SCHEMA, "store", _params())

    assert shop["id"] != store["id"]
    assert not {e["id"] for e in shop["expectations"]} & {e["id"] for e in store["expectations"]}


def test_null_fraction_margin() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params("validate.null_fraction_margin=0.25"))

    assert _kwargs(suite, NOT_NULL, "visits") == {"column": "visits", "mostly": 0.75}
    assert _kwargs(suite, NOT_NULL, "age") == {"column": "age", "mostly": 0.625}
    assert _kwargs(suite, NOT_NULL, "bought") == {"column": "bought", "mostly": 0.75}


def test_a_null_fraction_margin_of_one_drops_the_null_checks() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params("validate.null_fraction_margin=1.0"))

    assert [column for kind, column, _, _ in _triples(suite) if kind == NOT_NULL] == []


def test_range_margin() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params("validate.range_margin=0.0"))

    assert _kwargs(suite, BETWEEN, "visits") == {
        "column": "visits",
        "min_value": 2,
        "max_value": 40,
    }
    assert _kwargs(suite, BETWEEN, "balance") == {
        "column": "balance",
        "min_value": -20.5,
        "max_value": 35.5,
    }
    assert _kwargs(suite, BETWEEN, "age") == {"column": "age", "min_value": 25, "max_value": 50}


def test_wide_range_margin() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params("validate.range_margin=1.0"))

    assert _kwargs(suite, BETWEEN, "visits") == {
        "column": "visits",
        "min_value": 0,
        "max_value": 78,
    }
    assert _kwargs(suite, BETWEEN, "balance") == {
        "column": "balance",
        "min_value": -76.5,
        "max_value": 91.5,
    }


def test_max_duplicate_fraction() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params("validate.max_duplicate_fraction=0.05"))

    assert _kwargs(suite, COMPOUND, None) == {
        "column_list": ["visits", "balance", "city", "age", "bought"],
        "mostly": 0.95,
    }


def test_min_rows() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params("validate.min_rows=3"))

    assert _kwargs(suite, ROW_COUNT, None) == {"min_value": 3}


def _texts(count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "comment": [f"note {i}" for i in range(count)],
            "bought": [i % 2 for i in range(count)],
        }
    )


def test_free_text_column_gets_no_value_set() -> None:
    schema = TableSchema("bought", "binary", (), ("comment",), classes=(0, 1))

    suite = profile_suite(_texts(201), schema, "notes", _params())

    assert [
        (kind, kwargs) for kind, column, kwargs, _ in _triples(suite) if column == "comment"
    ] == [
        (NOT_NULL, {"mostly": 0.9}),
        (UNIQUE_COUNT, {"min_value": 2}),
    ]


def test_two_hundred_categories_still_get_a_value_set() -> None:
    schema = TableSchema("bought", "binary", (), ("comment",), classes=(0, 1))

    suite = profile_suite(_texts(200), schema, "notes", _params())

    value_set = _kwargs(suite, IN_SET, "comment")["value_set"]
    assert len(value_set) == 200
    assert value_set == sorted(f"note {i}" for i in range(200))


def test_constant_column_gets_no_distinct_count() -> None:
    frame = _frame().assign(city="paris")

    suite = profile_suite(frame, SCHEMA, "shop", _params())

    assert [(kind, kwargs) for kind, column, kwargs, _ in _triples(suite) if column == "city"] == [
        (NOT_NULL, {"mostly": 0.9}),
        (IN_SET, {"value_set": ["paris"]}),
    ]


def test_regression_target_gets_a_range() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "price": [10.0, 12.5, 30.0, 20.0]})
    schema = TableSchema("price", "regression", ("x",), ())

    suite = profile_suite(frame, schema, "prices", _params())

    assert [e for e in _triples(suite) if e[1] == "price"] == [
        (NOT_NULL, "price", {"mostly": 0.9}, CRITICAL),
        (UNIQUE_COUNT, "price", {"min_value": 2}, CRITICAL),
        (BETWEEN, "price", {"min_value": 0}, CRITICAL),
        (BETWEEN, "price", {"min_value": 8, "max_value": 32, "mostly": 0.5}, CRITICAL),
        (BETWEEN, "price", {"min_value": 8, "max_value": 32}, "warning"),
    ]
    assert suite["meta"]["task"] == "regression"


def test_classification_target_gets_the_class_set() -> None:
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 4.0, 5.0], "plan": ["gold", "basic", "none", "basic", "gold"]}
    )
    schema = TableSchema("plan", "multiclass", ("x",), (), classes=("basic", "gold", "none"))

    suite = profile_suite(frame, schema, "plans", _params())

    assert [e for e in _triples(suite) if e[1] == "plan"] == [
        (NOT_NULL, "plan", {"mostly": 0.9}, CRITICAL),
        (UNIQUE_COUNT, "plan", {"min_value": 2}, CRITICAL),
        (IN_SET, "plan", {"value_set": ["basic", "gold", "none"]}, CRITICAL),
    ]
    assert suite["meta"]["columns"]["plan"] == "str"


def test_class_labels_are_plain_numbers() -> None:
    schema = TableSchema("bought", "binary", ("visits",), (), classes=(0.0, 1.0))
    frame = _frame()[["visits", "bought"]]

    suite = profile_suite(frame, schema, "shop", _params())

    value_set = _kwargs(suite, IN_SET, "bought")["value_set"]
    assert value_set == [0, 1]
    assert [type(v) for v in value_set] == [int, int]


# --- the scale rule --------------------------------------------------------------------------


def _ranges(suite: dict[str, Any], column: str) -> list[tuple[dict[str, Any], str, str]]:
    """(kwargs without the column, severity, id) of each range expectation on ``column``."""
    return [
        ({k: v for k, v in e["kwargs"].items() if k != "column"}, e["severity"], e["id"])
        for e in suite["expectations"]
        if e["type"] == BETWEEN and e["kwargs"].get("column") == column
    ]


def test_the_scale_rule_has_the_warning_bounds_and_its_own_id() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params())

    (sign, scale, warning) = _ranges(suite, "visits")
    assert sign[:2] == ({"min_value": 0}, CRITICAL)
    assert scale[:2] == ({"min_value": 0, "max_value": 43.8, "mostly": 0.5}, CRITICAL)
    assert warning[:2] == ({"min_value": 0, "max_value": 43.8}, "warning")
    assert scale[2] == expectations._id("shop", BETWEEN, "visits", CRITICAL, "scale")
    assert sign[2] == expectations._id("shop", BETWEEN, "visits", CRITICAL)
    assert len({sign[2], scale[2], warning[2]}) == 3


def test_a_column_that_can_be_negative_gets_the_scale_rule_and_no_sign_rule() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params())

    assert [r[:2] for r in _ranges(suite, "balance")] == [
        ({"min_value": -26.1, "max_value": 41.1, "mostly": 0.5}, CRITICAL),
        ({"min_value": -26.1, "max_value": 41.1}, "warning"),
    ]


@pytest.mark.parametrize(("share", "mostly"), [(0.2, 0.8), (0.05, 0.95), (0.9, 0.1)])
def test_max_out_of_range_sets_the_scale_rule_share(share: float, mostly: float) -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params(f"validate.max_out_of_range={share}"))

    scales = [r[0] for r in _ranges(suite, "age") if r[1] == CRITICAL and "max_value" in r[0]]
    assert scales == [{"min_value": 22.5, "max_value": 52.5, "mostly": mostly}]


def test_text_columns_get_no_scale_rule() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params())

    assert _ranges(suite, "city") == []
    assert _ranges(suite, "bought") == []  # a class label: its set, not a range


# --- duplicates: the reference's own share is allowed ----------------------------------------


def _with_a_duplicate(frame: pd.DataFrame) -> pd.DataFrame:
    """Order 102 repeats order 101 in every column but its ID."""
    features = ["visits", "balance", "city", "age", "bought"]
    frame = frame.copy()
    frame.loc[1, features] = frame.loc[0, features].to_numpy()
    return frame


def test_a_reference_with_duplicated_rows_allows_its_own_share() -> None:
    # 2 of 8 rows are copies of each other: 25% > the 1% allowed
    suite = profile_suite(_with_a_duplicate(_frame()), SCHEMA, "shop", _params())

    assert _kwargs(suite, COMPOUND, None) == {
        "column_list": ["visits", "balance", "city", "age", "bought"],
        "mostly": 0.75,
    }


def test_the_reference_duplicated_share_is_rounded_up_to_four_decimals() -> None:
    # 2 of 7 rows: 0.285714... is allowed as 0.2858
    suite = profile_suite(_with_a_duplicate(_frame()).iloc[:7], SCHEMA, "shop", _params())

    assert _kwargs(suite, COMPOUND, None)["mostly"] == 0.7142


def test_max_duplicate_fraction_wins_when_larger_than_the_reference_share() -> None:
    params = _params("validate.max_duplicate_fraction=0.3")

    suite = profile_suite(_with_a_duplicate(_frame()), SCHEMA, "shop", params)

    assert _kwargs(suite, COMPOUND, None)["mostly"] == 0.7


def test_ids_do_not_make_rows_distinct() -> None:
    # the two copies differ in order_id only: still duplicates (IDs are left out)
    frame = _with_a_duplicate(_frame())

    assert frame["order_id"].is_unique
    suite = profile_suite(frame, SCHEMA, "shop", _params())
    assert _kwargs(suite, COMPOUND, None)["mostly"] == 0.75


# --- missing-value tokens --------------------------------------------------------------------

TOKENS = ("NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "#N/A", "<NA>", "?")


def _cells(**columns: list[str | None]) -> pd.DataFrame:
    """A table as its cells read as text (empty cells missing), as profiling first reads it."""
    return pd.DataFrame(columns, dtype=object)


def test_profile_suite_records_the_missing_values() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params(), missing=("NA", "?"))

    assert suite["meta"]["missing_values"] == ["NA", "?"]
    assert missing_values(suite) == ("NA", "?")


def test_missing_values_of_an_old_suite_are_none() -> None:
    assert missing_values({"name": "old", "meta": {}}) == ()
    assert missing_values({"name": "bare"}) == ()


def test_a_token_in_a_number_column_is_found() -> None:
    cells = _cells(amount=["1.5", "NA", "3"], device=["a", "b", "c"])

    assert find_missing_tokens(cells, TOKENS) == ("NA",)


def test_a_token_only_in_a_text_column_stays_a_category() -> None:
    # "None" may be an answer ("which plan?"): a text column alone never makes it missing
    cells = _cells(plan=["basic", "None", "gold"], visits=["1", "2", "3"])

    assert find_missing_tokens(cells, TOKENS) == ()
    assert column_types(cells, ()) == {"plan": TEXT, "visits": NUMBER}


def test_a_found_token_is_missing_in_text_columns_too() -> None:
    cells = _cells(amount=["1", "NA", "2"], device=["mobile", "NA", "None"])

    missing = find_missing_tokens(cells, TOKENS)

    assert missing == ("NA",)
    assert column_types(cells, missing) == {"amount": NUMBER, "device": TEXT}
    # "None" was not used in a number column: it stays a category of device
    assert "None" not in missing


def test_tokens_are_returned_in_the_candidates_order() -> None:
    cells = _cells(a=["1", "?", "n/a", "2"], b=["3", "NA", None, "4"])

    assert find_missing_tokens(cells, TOKENS) == ("NA", "n/a", "?")


def test_a_column_with_other_text_does_not_make_its_tokens_missing() -> None:
    cells = _cells(code=["1", "NA", "x7"], n=["1", "2", "3"])

    assert find_missing_tokens(cells, TOKENS) == ()
    assert column_types(cells, ()) == {"code": TEXT, "n": NUMBER}


def test_booleans_count_as_numbers_when_finding_tokens() -> None:
    cells = _cells(member=["True", "False", "?", "TRUE"])

    assert find_missing_tokens(cells, TOKENS) == ("?",)
    assert column_types(cells, ("?",)) == {"member": NUMBER}


def test_typed_columns_are_not_searched() -> None:
    frame = pd.DataFrame({"amount": [1.0, None], "flag": [True, False]})

    assert find_missing_tokens(frame, TOKENS) == ()
    assert column_types(frame, ()) == {"amount": NUMBER, "flag": NUMBER}


def test_column_types_without_the_token_is_text() -> None:
    cells = _cells(amount=["1", "NA", "2"])

    assert column_types(cells, ()) == {"amount": TEXT}
    assert column_types(cells, ("NA",)) == {"amount": NUMBER}


def test_column_types_forced_roles_win() -> None:
    cells = _cells(zip=["75001", "69002"], score=["1", "x"])

    assert column_types(cells, (), numeric=("score",), categorical=("zip",)) == {
        "zip": TEXT,
        "score": NUMBER,
    }


def test_an_entirely_missing_column_is_text() -> None:
    cells = _cells(a=[None, None], b=["NA", None], n=["1", "2"])

    assert column_types(cells, ("NA",)) == {"a": TEXT, "b": TEXT, "n": NUMBER}


def test_scoring_suite_keeps_the_row_checks_and_drops_the_training_set_checks() -> None:
    suite = profile_suite(_frame(), SCHEMA, "shop", _params())
    scoring = expectations.scoring_suite(suite, absent=["order_id"])

    kept = [(e["type"], e["kwargs"].get("column"), e["severity"]) for e in scoring["expectations"]]
    dropped = [
        (e["type"], e["kwargs"].get("column"))
        for e in suite["expectations"]
        if e not in scoring["expectations"]
    ]
    # a batch to score may be small, lack the target and the ID, and repeat rows: two visitors
    # alike are no broken batch
    assert sorted(dropped, key=str) == sorted(
        [
            (MATCH_SET, None),
            (ROW_COUNT, None),
            (COMPOUND, None),
            (UNIQUE, "order_id"),
            (NOT_NULL, "order_id"),
            (UNIQUE_COUNT, "bought"),
            (IN_SET, "bought"),
            (NOT_NULL, "bought"),
        ],
        key=str,
    )
    assert {column for _, column, _ in kept} == {"visits", "balance", "city", "age"}
    assert scoring["meta"] == suite["meta"]
