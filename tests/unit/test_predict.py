"""Unit tests for the one scoring rule the endpoint and batch runs share (tasks/steps/predict.py),
on tiny fitted scikit-learn models whose outputs are worked out by hand.

A decision tree grown without limits on one feature ``x`` ends with one leaf per distinct
``x``; a leaf's class probabilities are the shares of the classes among its training rows, and
a regression leaf predicts the mean of its rows' targets. So every expected value below is a
fraction of the rows written next to it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from tasks.steps.predict import ScoringError, model_inputs, predictions_frame, score_frame
from tasks.types import Column, ServedModel


def _served(
    model: Any,
    task: str,
    classes: tuple[Any, ...] = (),
    threshold: float = 0.5,
    columns: tuple[Column, ...] = (Column("x", "double", True),),
) -> ServedModel:
    return ServedModel(
        model_name="shop",
        version="3",
        model=model,
        columns=columns,
        classes=classes,
        task=task,
        threshold=threshold,
        run_id="r" * 32,
        data_md5="d" * 32,
        tags={},
    )


def _tree(xs: list[float], ys: list[Any]) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(random_state=0).fit(pd.DataFrame({"x": xs}), ys)


def _rows(*xs: float) -> pd.DataFrame:
    return pd.DataFrame({"x": list(xs)})


# Leaves: x=0 -> 1 of 2 positive (0.5); x=1 -> 3 of 4 (0.75); x=2 -> 1 of 4 (0.25);
# x=3 -> 0 of 2 (0.0).
BINARY_X = [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3]
BINARY_Y = [0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0]


# --- score_frame: binary -------------------------------------------------------------------


def test_binary_probabilities_are_the_leaf_shares() -> None:
    served = _served(_tree(BINARY_X, BINARY_Y), "binary", (0, 1))

    _, proba = score_frame(served, _rows(0, 1, 2, 3))

    assert proba is not None
    assert proba.dtype == np.float64
    assert proba.tolist() == [[0.5, 0.5], [0.25, 0.75], [0.75, 0.25], [1.0, 0.0]]


def test_binary_threshold_at_exactly_one_half_is_the_positive_class() -> None:
    served = _served(_tree(BINARY_X, BINARY_Y), "binary", (0, 1), threshold=0.5)

    labels, proba = score_frame(served, _rows(0, 1, 2, 3))

    assert proba is not None and proba[0, 1] == 0.5  # exactly on the threshold
    assert labels == [1, 1, 0, 0]  # P(1) >= threshold: 0.5 counts as positive


def test_binary_labels_follow_the_evaluated_threshold_not_one_half() -> None:
    tree = _tree(BINARY_X, BINARY_Y)

    high, _ = score_frame(_served(tree, "binary", (0, 1), threshold=0.75), _rows(0, 1, 2, 3))
    low, _ = score_frame(_served(tree, "binary", (0, 1), threshold=0.25), _rows(0, 1, 2, 3))
    above_one_half, _ = score_frame(
        _served(tree, "binary", (0, 1), threshold=0.5000001), _rows(0, 1, 2, 3)
    )

    assert high == [0, 1, 0, 0]  # only 0.75 reaches 0.75
    assert low == [1, 1, 1, 0]  # 0.5, 0.75 and 0.25 reach 0.25; 0.0 does not
    assert above_one_half == [0, 1, 0, 0]


def test_binary_labels_are_plain_python_values_of_the_classes() -> None:
    served = _served(_tree(BINARY_X, BINARY_Y), "binary", (0, 1))

    labels, _ = score_frame(served, _rows(0, 3))

    assert [type(label) for label in labels] == [int, int]


def test_binary_text_labels_positive_is_the_larger_label() -> None:
    ys = ["yes" if y else "no" for y in BINARY_Y]
    served = _served(_tree(BINARY_X, ys), "binary", ("no", "yes"))

    labels, proba = score_frame(served, _rows(0, 1, 2, 3))

    assert labels == ["yes", "yes", "no", "no"]
    assert proba is not None and proba[:, 1].tolist() == [0.5, 0.75, 0.25, 0.0]
    assert [type(label) for label in labels] == [str] * 4


def test_binary_integer_labels_other_than_zero_and_one() -> None:
    ys = [7 if y else 3 for y in BINARY_Y]
    served = _served(_tree(BINARY_X, ys), "binary", (3, 7))

    labels, _ = score_frame(served, _rows(0, 1, 2, 3))

    assert labels == [7, 7, 3, 3]
    assert [type(label) for label in labels] == [int] * 4


def test_binary_boolean_labels() -> None:
    ys = [bool(y) for y in BINARY_Y]
    served = _served(_tree(BINARY_X, ys), "binary", (False, True))

    labels, _ = score_frame(served, _rows(0, 1, 2, 3))

    assert labels == [True, True, False, False]
    assert [type(label) for label in labels] == [bool] * 4


# --- score_frame: multiclass ---------------------------------------------------------------

# Leaves: x=0 -> a a b (2/3, 1/3, 0); x=1 -> a b b b c (1/5, 3/5, 1/5);
# x=2 -> 8 a, 7 b, 5 c (0.4, 0.35, 0.25): the most probable class is below one half.
MULTI_X = [0] * 3 + [1] * 5 + [2] * 20
MULTI_Y = ["a", "a", "b"] + ["a", "b", "b", "b", "c"] + ["a"] * 8 + ["b"] * 7 + ["c"] * 5


def test_multiclass_label_is_the_most_probable_class_whatever_the_threshold() -> None:
    tree = _tree(MULTI_X, MULTI_Y)
    served = _served(tree, "multiclass", ("a", "b", "c"), threshold=0.5)

    labels, proba = score_frame(served, _rows(0, 1, 2))

    assert labels == ["a", "b", "a"]
    assert proba is not None
    np.testing.assert_allclose(
        proba, [[2 / 3, 1 / 3, 0.0], [1 / 5, 3 / 5, 1 / 5], [8 / 20, 7 / 20, 5 / 20]], rtol=1e-15
    )
    # the threshold belongs to binary tasks only: a higher one changes nothing here
    again, _ = score_frame(_served(tree, "multiclass", ("a", "b", "c"), 0.9), _rows(0, 1, 2))
    assert again == labels


def test_multiclass_integer_classes() -> None:
    ys = {"a": 10, "b": 20, "c": 30}
    served = _served(_tree(MULTI_X, [ys[y] for y in MULTI_Y]), "multiclass", (10, 20, 30))

    labels, _ = score_frame(served, _rows(2, 1, 0))

    assert labels == [10, 20, 10]
    assert [type(label) for label in labels] == [int] * 3


# --- score_frame: regression ---------------------------------------------------------------


def test_regression_returns_the_values_and_no_probabilities() -> None:
    # leaves: x=0 -> mean(1, 3) = 2; x=1 -> 10; x=2 -> mean(-1, -2, -6) = -3
    tree = DecisionTreeRegressor(random_state=0).fit(
        pd.DataFrame({"x": [0, 0, 1, 2, 2, 2]}), [1.0, 3.0, 10.0, -1.0, -2.0, -6.0]
    )
    served = _served(tree, "regression", threshold=0.5)

    values, proba = score_frame(served, _rows(2, 0, 1))

    assert proba is None
    assert values == [-3.0, 2.0, 10.0]
    assert [type(v) for v in values] == [float] * 3


def test_a_classifier_without_recorded_classes_is_scored_by_predict() -> None:
    served = _served(_tree(BINARY_X, BINARY_Y), "binary", classes=())

    labels, proba = score_frame(served, _rows(1, 3))

    assert (labels, proba) == ([1, 0], None)


# --- model_inputs ---------------------------------------------------------------------------

COLUMNS = (
    Column("cart_adds", "double", True),
    Column("device", "string", True),
    Column("customer_age", "double", False),
    Column("membership", "string", False),
)


def test_model_inputs_are_the_signature_columns_in_signature_order() -> None:
    served = _served(None, "binary", (0, 1), columns=COLUMNS)
    frame = pd.DataFrame(
        {
            "membership": ["basic", "none"],
            "session_id": [101, 102],
            "device": ["mobile", "tablet"],
            "customer_age": [30.0, 41.0],
            "cart_adds": [1.0, 0.0],
        },
        index=[7, 9],
    )

    inputs = model_inputs(served, frame, "batch.csv")

    assert list(inputs.columns) == ["cart_adds", "device", "customer_age", "membership"]
    assert inputs.index.tolist() == [7, 9]
    assert inputs.to_dict(orient="list") == {
        "cart_adds": [1.0, 0.0],
        "device": ["mobile", "tablet"],
        "customer_age": [30.0, 41.0],
        "membership": ["basic", "none"],
    }


def test_model_inputs_turn_none_into_nan() -> None:
    served = _served(None, "binary", (0, 1), columns=COLUMNS)
    # what JSON and Parquet give: None in text columns, and in a number column sent as objects
    frame = pd.DataFrame(
        {
            "cart_adds": pd.Series([2.0, None], dtype=object),
            "device": [None, "mobile"],
            "customer_age": [np.nan, 30.0],
            "membership": ["basic", None],
        }
    )

    inputs = model_inputs(served, frame, "request")

    device, membership, cart_adds = (
        inputs[c].tolist() for c in ("device", "membership", "cart_adds")
    )
    assert isinstance(device[0], float) and math.isnan(device[0])
    assert device[1] == "mobile"
    assert membership[0] == "basic"
    assert isinstance(membership[1], float) and math.isnan(membership[1])
    assert cart_adds[0] == 2.0
    assert isinstance(cart_adds[1], float) and math.isnan(cart_adds[1])
    assert [v is None for c in inputs.columns for v in inputs[c].tolist()] == [False] * 8
    assert math.isnan(inputs["customer_age"].iloc[0]) and inputs["customer_age"].iloc[1] == 30.0
    assert frame["device"].tolist()[0] is None  # the caller's frame is left as it was


def test_optional_columns_may_be_absent_and_are_all_missing() -> None:
    served = _served(None, "binary", (0, 1), columns=COLUMNS)
    frame = pd.DataFrame({"device": ["mobile", "desktop", "tablet"], "cart_adds": [0.0, 1.0, 2.0]})

    inputs = model_inputs(served, frame, "request")

    assert list(inputs.columns) == ["cart_adds", "device", "customer_age", "membership"]
    assert inputs["customer_age"].isna().tolist() == [True, True, True]
    assert inputs["membership"].isna().tolist() == [True, True, True]
    assert inputs.index.tolist() == [0, 1, 2]
    assert inputs["device"].tolist() == ["mobile", "desktop", "tablet"]


def test_a_missing_required_column_is_named_with_the_model_and_version() -> None:
    served = _served(None, "binary", (0, 1), columns=COLUMNS)
    frame = pd.DataFrame({"customer_age": [30.0]})

    with pytest.raises(ScoringError) as raised:
        model_inputs(served, frame, "incoming/batch-7.csv")

    assert str(raised.value) == (
        "incoming/batch-7.csv: column(s) ['cart_adds', 'device'] are missing; model 'shop' "
        "version 3 needs them"
    )


def test_none_scores_like_a_missing_value_through_an_imputing_pipeline() -> None:
    """Why None must become NaN: the imputer fills NaN only. A row whose category is None
    scores as the imputed (most frequent) category, exactly like a row with NaN."""
    columns = (Column("x", "double", True), Column("device", "string", False))
    train = pd.DataFrame({"x": [0.0] * 6, "device": ["mobile"] * 3 + ["desktop"] * 2 + ["tablet"]})
    pipeline = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        (
                            "categorical",
                            Pipeline(
                                [
                                    ("impute", SimpleImputer(strategy="most_frequent")),
                                    ("encode", OneHotEncoder(handle_unknown="ignore")),
                                ]
                            ),
                            ["device"],
                        )
                    ]
                ),
            ),
            ("model", DecisionTreeClassifier(random_state=0)),
        ]
    ).fit(train, [1, 1, 1, 0, 0, 0])
    served = _served(pipeline, "binary", (0, 1), columns=columns)
    frame = pd.DataFrame({"x": [0.0, 0.0, 0.0], "device": [None, "mobile", "desktop"]})

    labels, proba = score_frame(served, model_inputs(served, frame, "request"))
    no_device, _ = score_frame(served, model_inputs(served, frame[["x"]], "request"))

    assert proba is not None
    assert proba.tolist() == [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]  # None -> "mobile"
    assert labels == [1, 1, 0]
    assert no_device == [1, 1, 1]  # the optional column absent: every row imputed


# --- predictions_frame ----------------------------------------------------------------------


def test_predictions_frame_with_and_without_probabilities() -> None:
    served = _served(None, "binary", ("no", "yes"))
    proba = np.array([[0.25, 0.75], [1.0, 0.0]])

    with_probabilities = predictions_frame(served, ["yes", "no"], proba, probabilities=True)
    without = predictions_frame(served, ["yes", "no"], proba, probabilities=False)
    regression = predictions_frame(_served(None, "regression"), [1.5, 2.0], None, True)

    assert with_probabilities.to_dict(orient="list") == {
        "prediction": ["yes", "no"],
        "probability_no": [0.25, 1.0],
        "probability_yes": [0.75, 0.0],
    }
    assert without.to_dict(orient="list") == {"prediction": ["yes", "no"]}
    assert regression.to_dict(orient="list") == {"prediction": [1.5, 2.0]}
