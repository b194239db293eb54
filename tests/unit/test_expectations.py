"""Unit tests for profiling reference data into an expectation suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tasks.config import ValidateParams, load_params
from tasks.expectations import declared_types, profile_suite
from tasks.ingest import TableSchema

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
        # never negative: a hard rule; 2..40 widened by 3.8 each side: a warning
        (BETWEEN, "visits", {"min_value": 0}, CRITICAL),
        (BETWEEN, "visits", {"min_value": 0, "max_value": 43.8}, "warning"),
        (NOT_NULL, "balance", {"mostly": 0.9}, CRITICAL),
        (UNIQUE_COUNT, "balance", {"min_value": 2}, CRITICAL),
        (BETWEEN, "balance", {"min_value": -26.1, "max_value": 41.1}, "warning"),
        (NOT_NULL, "city", {"mostly": 0.9}, CRITICAL),
        (UNIQUE_COUNT, "city", {"min_value": 2}, CRITICAL),
        (IN_SET, "city", {"value_set": ["lyon", "nice", "paris"]}, CRITICAL),
        # one null in eight: 12.5% + the 10% margin
        (NOT_NULL, "age", {"mostly": 0.775}, CRITICAL),
        (UNIQUE_COUNT, "age", {"min_value": 2}, CRITICAL),
        (BETWEEN, "age", {"min_value": 0}, CRITICAL),
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
