"""Unit tests for ingest: task inference, ID detection, typing and the schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.config import IngestParams, load_params
from tasks.steps.ingest import (
    IngestError,
    TableSchema,
    detect_id_columns,
    infer_task,
    ingest_table,
)

PARAMS_FILE = Path(__file__).parents[2] / "params.yaml"


def _params(*overrides: str) -> IngestParams:
    return load_params(PARAMS_FILE, list(overrides)).ingest


def _table() -> pd.DataFrame:
    """Six sessions; the third has no label."""
    return pd.DataFrame(
        {
            "row_id": [1, 2, 3, 4, 5, 6],
            "age": [25, 32, None, 41, 38, 29],
            "visits": [1, 3, 2, 5, 2, 1],
            "device": ["mobile", "desktop", None, "mobile", None, "mobile"],
            "plan": ["a", "b", "a", "b", "a", "b"],
            "purchased": [1, 0, None, 1, 0, 1],
        }
    )


# --- infer_task ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 1, 1, 0], "binary"),
        ([True, False, True], "binary"),
        (["yes", "no", "yes"], "binary"),
        ([1.0, 0.0, np.nan, 1.0], "binary"),
        (["a", "b", "c", "a"], "multiclass"),
        ([1, 2, 3, 4, 5, 1], "multiclass"),
        ([1.0, 2.0, 3.0, 1.0], "multiclass"),
        ([0.5, 1.2, 3.3, 4.1], "regression"),
    ],
)
def test_infer_task(values: list[object], expected: str) -> None:
    assert infer_task(pd.Series(values, name="t"), max_classes=20) == expected


def test_integer_target_with_more_values_than_max_classes_is_regression() -> None:
    assert infer_task(pd.Series([1, 2, 3, 4, 5, 1], name="t"), max_classes=4) == "regression"


def test_text_target_with_too_many_classes() -> None:
    message = (
        "target 't' is text with 4 distinct values, more than ingest.max_classes=3; "
        "raise it or set datasets.<name>.task"
    )
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        infer_task(pd.Series(["a", "b", "c", "d"], name="t"), max_classes=3)


def test_single_value_target() -> None:
    message = "target 'purchased' has 1 distinct value(s) [1.0]: nothing to learn"
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        infer_task(pd.Series([1, 1, None, 1], name="purchased"), max_classes=20)


def test_all_missing_target() -> None:
    message = "target 't' has 0 distinct value(s) []: nothing to learn"
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        infer_task(pd.Series([None, None], name="t", dtype=object), max_classes=20)


# --- detect_id_columns ---------------------------------------------------------------------


def test_detect_id_columns() -> None:
    frame = pd.DataFrame(
        {
            "seq": [10, 11, 12, 13],
            "Unnamed: 0": [0, 1, 2, 3],
            "key": ["k1", "k2", "k3", "k4"],
            "customer_id": [5, 9, 100, 3],
            "price": [0.1, 0.2, 0.3, 0.4],
            "count": [1, 2, 2, 3],
            "with_null": [1, 2, None, 4],
            "customer_key": ["a", "b", None, "d"],
            "gappy": [4, 9, 1, 7],
        }
    )

    assert detect_id_columns(frame, list(frame.columns)) == {
        "seq": "sequential integers, one per row (a row index or key)",
        "Unnamed: 0": "sequential integers, one per row (a row index or key)",
        "key": "unique text value in every row (a key)",
        "customer_id": "unique integers in a column named like an ID",
    }


def test_unnamed_column_with_repeats_is_still_an_index() -> None:
    frame = pd.DataFrame({"Unnamed: 0": [0, 1, 0, 1], "x": [1.5, 2.0, 3.0, 4.0]})

    assert detect_id_columns(frame, ["Unnamed: 0", "x"]) == {
        "Unnamed: 0": "unnamed index column written by a previous export"
    }


def test_detect_only_looks_at_candidates() -> None:
    frame = pd.DataFrame({"seq": [0, 1, 2], "key": ["a", "b", "c"]})

    assert detect_id_columns(frame, ["key"]) == {"key": "unique text value in every row (a key)"}


def test_detect_needs_two_rows() -> None:
    assert detect_id_columns(pd.DataFrame({"id": [7]}), ["id"]) == {}


# --- ingest_table --------------------------------------------------------------------------


def test_ingest_table_types_and_drops_unlabeled_rows() -> None:
    frame, schema, report = ingest_table(_table(), _params())

    assert list(frame.columns) == ["row_id", "age", "visits", "device", "plan", "purchased"]
    assert frame["row_id"].tolist() == [1, 2, 4, 5, 6]
    assert frame["age"].dtype == np.float64
    assert frame["visits"].dtype == np.float64
    assert frame["visits"].tolist() == [1.0, 3.0, 5.0, 2.0, 1.0]
    assert frame["device"].dtype == object
    assert frame["device"].iloc[[0, 1, 2, 4]].tolist() == ["mobile", "desktop", "mobile", "mobile"]
    assert pd.isna(frame["device"].iloc[3])
    assert frame.index.tolist() == [0, 1, 2, 3, 4]
    assert schema == TableSchema(
        target="purchased",
        task="binary",
        numeric=("age", "visits"),
        categorical=("device", "plan"),
        id_columns=("row_id",),
        dropped=(),
        classes=(0.0, 1.0),
    )
    assert schema.features == ("age", "visits", "device", "plan")
    assert report.to_dict() == {
        "rows_in": 6,
        "rows_out": 5,
        "rows_missing_target": 1,
        "id_columns": {"row_id": "sequential integers, one per row (a row index or key)"},
        "dropped_columns": [],
        "task": "binary",
        "task_inferred": True,
    }


def test_ingest_table_does_not_modify_its_input() -> None:
    raw = _table()

    ingest_table(raw, _params())

    pd.testing.assert_frame_equal(raw, _table())


def test_explicit_roles() -> None:
    params = _params(
        "datasets.customer-purchase.id_columns=[plan]",
        "datasets.customer-purchase.drop_columns=[age]",
        "datasets.customer-purchase.categorical=[visits]",
        "ingest.detect_id_columns=false",
        "datasets.customer-purchase.task=binary",
    )

    frame, schema, report = ingest_table(_table(), params)

    assert list(frame.columns) == ["plan", "row_id", "visits", "device", "purchased"]
    assert schema.numeric == ("row_id",)
    assert schema.categorical == ("visits", "device")
    assert schema.id_columns == ("plan",)
    assert schema.dropped == ("age",)
    assert frame["visits"].tolist() == ["1", "3", "5", "2", "1"]
    assert report.id_columns == {"plan": "named in the data set's id_columns"}
    assert report.dropped_columns == ("age",)
    assert report.task_inferred is False


def test_declared_numeric_text_column_is_parsed() -> None:
    raw = _table().assign(visits=["1", "3", "2", "5", "2.5", "1"])

    frame, schema, _ = ingest_table(raw, _params("datasets.customer-purchase.numeric=[visits]"))

    assert "visits" in schema.numeric
    assert frame["visits"].tolist() == [1.0, 3.0, 5.0, 2.5, 1.0]


def test_declared_numeric_with_text_fails_naming_column_count_sample_rows() -> None:
    raw = _table().assign(visits=["1", "two", "x", "5", "many", "1"])

    message = (
        "column 'visits' is declared numeric but 2 value(s) are not numbers, "
        "e.g. ['two', 'many'] at rows [1, 4]"
    )
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        ingest_table(raw, _params("datasets.customer-purchase.numeric=[visits]"))


def test_duplicate_column_names() -> None:
    raw = pd.DataFrame([[1, 2, 0], [3, 4, 1], [5, 6, 0]], columns=["a", "a", "purchased"])

    message = "duplicate column names: ['a']"
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        ingest_table(raw, _params())


def test_missing_target_column() -> None:
    message = (
        "target column 'label' not found; columns are "
        "['row_id', 'age', 'visits', 'device', 'plan', 'purchased']"
    )
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        ingest_table(_table(), _params("datasets.customer-purchase.target=label"))


def test_params_naming_unknown_columns() -> None:
    message = "the data set's settings name columns that are not in the table: ['nope', 'zip']"
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        ingest_table(
            _table(),
            _params(
                "datasets.customer-purchase.numeric=[zip, visits]",
                "datasets.customer-purchase.drop_columns=[nope]",
            ),
        )


def test_column_both_categorical_and_numeric() -> None:
    message = "columns declared both categorical and numeric: ['age']"
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        ingest_table(
            _table(),
            _params(
                "datasets.customer-purchase.categorical=[age]",
                "datasets.customer-purchase.numeric=[age]",
            ),
        )


def test_no_feature_columns_left() -> None:
    message = "no feature columns left after excluding IDs ['age', 'device', 'plan', 'row_id']"
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        ingest_table(
            _table(),
            _params(
                "datasets.customer-purchase.id_columns=[age, device, plan]",
                "datasets.customer-purchase.drop_columns=[visits]",
            ),
        )


def test_explicit_binary_task_with_three_classes() -> None:
    raw = _table().assign(device=["mobile", "desktop", "tablet", "mobile", "tablet", "mobile"])

    message = "task is binary but target 'device' has 3 classes"
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        ingest_table(
            raw,
            _params(
                "datasets.customer-purchase.target=device", "datasets.customer-purchase.task=binary"
            ),
        )


def test_empty_table() -> None:
    with pytest.raises(IngestError, match=f"^{re.escape('the table has no rows')}$"):
        ingest_table(_table().iloc[:0], _params())


# --- TableSchema ---------------------------------------------------------------------------


def test_positive_class_is_the_larger_label() -> None:
    raw = _table().assign(purchased=["yes", "no", None, "yes", "no", "yes"])

    _, schema, _ = ingest_table(raw, _params())

    assert schema.classes == ("no", "yes")
    assert schema.positive_class == "yes"


def test_positive_class_of_a_bool_target() -> None:
    raw = _table().assign(purchased=[True, False, None, True, False, True])

    _, schema, _ = ingest_table(raw, _params())

    assert schema.positive_class is True


def test_positive_class_needs_a_binary_task() -> None:
    schema = TableSchema("y", "multiclass", ("x",), (), classes=("a", "b", "c"))

    message = "positive_class is defined for binary tasks, not multiclass"
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        _ = schema.positive_class


def test_schema_round_trip_through_json() -> None:
    _, schema, _ = ingest_table(_table(), _params("datasets.customer-purchase.drop_columns=[plan]"))

    data = schema.to_dict()

    assert data == {
        "target": "purchased",
        "task": "binary",
        "numeric": ["age", "visits"],
        "categorical": ["device"],
        "id_columns": ["row_id"],
        "dropped": ["plan"],
        "classes": [0.0, 1.0],
    }
    assert TableSchema.from_dict(json.loads(json.dumps(data))) == schema


def test_schema_from_dict_defaults() -> None:
    schema = TableSchema.from_dict(
        {"target": "y", "task": "regression", "numeric": ["a"], "categorical": []}
    )

    assert schema == TableSchema("y", "regression", ("a",), ())


def test_regression_task_with_text_target_fails_at_ingest() -> None:
    raw = _table().assign(purchased=["x", "y", "z", "x", "y", "z"])

    message = (
        "target 'purchased' is not numeric (e.g. ['x', 'y', 'z', 'x', 'y']) "
        "but the task is regression"
    )
    with pytest.raises(IngestError, match=f"^{re.escape(message)}$"):
        ingest_table(raw, _params("datasets.customer-purchase.task=regression"))
