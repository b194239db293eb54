"""Unit tests for evaluation: metrics against hand-computed values, with fixed-output models."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from tasks.config import EvaluateParams
from tasks.evaluate import EvaluationError, evaluate_model, primary_metric
from tasks.ingest import TableSchema


class FixedClassifier:
    """A fitted-classifier double: fixed class order and fixed probabilities."""

    def __init__(self, classes: list[object], proba: list[list[float]]) -> None:
        self.classes_ = np.array(classes)
        self._proba = np.array(proba)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        assert len(x) == len(self._proba)
        return self._proba


class FixedRegressor:
    """A fitted-regressor double returning fixed predictions."""

    def __init__(self, predictions: list[float]) -> None:
        self._predictions = np.array(predictions)

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        assert len(x) == len(self._predictions)
        return self._predictions


BINARY = TableSchema("y", "binary", ("x",), (), classes=(0, 1))
MULTICLASS = TableSchema("y", "multiclass", ("x",), (), classes=("a", "b", "c"))
REGRESSION = TableSchema("y", "regression", ("x",), ())

# Positives score .9 .6 .4, negatives .7 .2 .1: 7 of the 9 (positive, negative) pairs are
# ordered correctly, so ROC AUC is 7/9 at any threshold.
BINARY_FRAME = pd.DataFrame({"x": range(6), "y": [1, 1, 1, 0, 0, 0]})
BINARY_MODEL = FixedClassifier([0, 1], [[1 - p, p] for p in [0.9, 0.6, 0.4, 0.7, 0.2, 0.1]])


def _params(threshold: float = 0.5, primary: str = "auto") -> EvaluateParams:
    return EvaluateParams(primary_metric=primary, threshold=threshold)  # type: ignore[arg-type]


def test_binary_at_threshold_one_half() -> None:
    # predicted 1 1 0 1 0 0 -> TP 2, FN 1, FP 1, TN 2
    result = evaluate_model(BINARY_MODEL, BINARY_FRAME, BINARY, _params(0.5))

    assert result.metrics == pytest.approx(
        {
            "accuracy": 4 / 6,
            "precision": 2 / 3,
            "recall": 2 / 3,
            "f1": 2 / 3,
            "specificity": 2 / 3,
            "roc_auc": 7 / 9,
        }
    )
    assert result.confusion == [[2, 1], [1, 2]]
    assert result.labels == (0, 1)
    assert result.predictions["actual"].tolist() == [1, 1, 1, 0, 0, 0]
    assert result.predictions["predicted"].tolist() == [1, 1, 0, 1, 0, 0]


def test_binary_at_a_lower_threshold() -> None:
    # predicted 1 1 1 1 0 0 -> TP 3, FN 0, FP 1, TN 2
    result = evaluate_model(BINARY_MODEL, BINARY_FRAME, BINARY, _params(0.3))

    assert result.metrics == pytest.approx(
        {
            "accuracy": 5 / 6,
            "precision": 3 / 4,
            "recall": 1.0,
            "f1": 6 / 7,
            "specificity": 2 / 3,
            "roc_auc": 7 / 9,
        }
    )
    assert result.confusion == [[2, 1], [0, 3]]


def test_binary_threshold_is_inclusive() -> None:
    # a score equal to the threshold (.7) is positive: predicted 1 0 0 1 0 0
    result = evaluate_model(BINARY_MODEL, BINARY_FRAME, BINARY, _params(0.7))

    assert result.predictions["predicted"].tolist() == [1, 0, 0, 1, 0, 0]
    assert result.confusion == [[2, 1], [2, 1]]
    assert result.metrics["precision"] == pytest.approx(1 / 2)
    assert result.metrics["recall"] == pytest.approx(1 / 3)
    assert result.metrics["f1"] == pytest.approx(2 / 5)


def test_binary_roc_points() -> None:
    result = evaluate_model(BINARY_MODEL, BINARY_FRAME, BINARY, _params())

    assert result.roc is not None
    assert list(result.roc.columns) == ["fpr", "tpr"]
    assert result.roc["fpr"].tolist() == pytest.approx([0, 0, 1 / 3, 1 / 3, 1])
    assert result.roc["tpr"].tolist() == pytest.approx([0, 1 / 3, 1 / 3, 1, 1])


def test_binary_text_labels_and_class_order_of_the_model() -> None:
    schema = TableSchema("y", "binary", ("x",), (), classes=("no", "yes"))
    frame = pd.DataFrame({"x": range(4), "y": ["yes", "no", "yes", "no"]})
    # the model lists 'yes' first: the positive column must be found by label, not position
    model = FixedClassifier(["yes", "no"], [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.1, 0.9]])

    result = evaluate_model(model, frame, schema, _params())

    assert result.predictions["predicted"].tolist() == ["yes", "no", "no", "no"]
    assert result.labels == ("no", "yes")
    assert result.confusion == [[2, 0], [1, 1]]
    # positives score .8 .4, negatives .3 .1 (the 'no' column would give 0)
    assert result.metrics["roc_auc"] == pytest.approx(1.0)
    assert result.metrics["specificity"] == pytest.approx(1.0)
    assert result.metrics["recall"] == pytest.approx(1 / 2)


def test_binary_split_with_one_class_has_nan_auc_and_specificity() -> None:
    frame = BINARY_FRAME.iloc[:3]
    model = FixedClassifier([0, 1], [[0.1, 0.9], [0.4, 0.6], [0.6, 0.4]])

    result = evaluate_model(model, frame, BINARY, _params())

    assert math.isnan(result.metrics["roc_auc"])
    assert math.isnan(result.metrics["specificity"])
    assert result.metrics["recall"] == pytest.approx(2 / 3)
    assert result.roc is not None
    assert result.roc.empty


def test_multiclass_macro_metrics() -> None:
    frame = pd.DataFrame({"x": range(6), "y": ["a", "a", "b", "b", "c", "c"]})
    proba = [
        [0.8, 0.1, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.8, 0.1],
        [0.3, 0.4, 0.3],
        [0.1, 0.2, 0.7],
        [0.5, 0.2, 0.3],
    ]
    model = FixedClassifier(["a", "b", "c"], proba)

    result = evaluate_model(model, frame, MULTICLASS, _params())

    # predicted a b b b c a; per class precision 1/2 2/3 1, recall 1/2 1 1/2,
    # f1 1/2 4/5 2/3; one-vs-rest AUC a 6/8, b 7/8, c 7.5/8
    assert result.predictions["predicted"].tolist() == ["a", "b", "b", "b", "c", "a"]
    assert result.metrics == pytest.approx(
        {
            "accuracy": 4 / 6,
            "precision": (1 / 2 + 2 / 3 + 1) / 3,
            "recall": (1 / 2 + 1 + 1 / 2) / 3,
            "f1": (1 / 2 + 4 / 5 + 2 / 3) / 3,
            "roc_auc": (6 / 8 + 7 / 8 + 7.5 / 8) / 3,
        }
    )
    assert result.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert result.labels == ("a", "b", "c")
    assert result.roc is None


def test_multiclass_split_missing_a_class_has_nan_auc() -> None:
    frame = pd.DataFrame({"x": range(3), "y": ["a", "b", "a"]})
    model = FixedClassifier(["a", "b", "c"], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])

    result = evaluate_model(model, frame, MULTICLASS, _params())

    assert math.isnan(result.metrics["roc_auc"])
    assert result.metrics["accuracy"] == pytest.approx(2 / 3)
    assert result.confusion == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]


def test_regression_metrics() -> None:
    frame = pd.DataFrame({"x": range(4), "y": [1.0, 3.0, 6.0, 10.0]})
    model = FixedRegressor([2.0, 3.0, 5.0, 9.0])

    result = evaluate_model(model, frame, REGRESSION, _params())

    # errors 1 0 -1 -1; mean of y is 5, total sum of squares 16 + 4 + 1 + 25 = 46
    assert result.metrics == pytest.approx(
        {"mse": 3 / 4, "rmse": math.sqrt(3 / 4), "mae": 3 / 4, "r2": 1 - 3 / 46}
    )
    assert result.predictions["predicted"].tolist() == [2.0, 3.0, 5.0, 9.0]
    assert result.confusion is None
    assert result.roc is None
    assert result.labels == ()


@pytest.mark.parametrize(
    ("task", "expected"),
    [("binary", "roc_auc"), ("multiclass", "f1"), ("regression", "rmse")],
)
def test_primary_metric_auto(task: str, expected: str) -> None:
    assert primary_metric(_params(), task) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "task"),
    [("specificity", "binary"), ("accuracy", "multiclass"), ("r2", "regression")],
)
def test_primary_metric_explicit(metric: str, task: str) -> None:
    assert primary_metric(_params(primary=metric), task) == metric  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "task", "choices"),
    [
        (
            "rmse",
            "binary",
            "['accuracy', 'f1', 'precision', 'recall', 'roc_auc', 'specificity']",
        ),
        ("specificity", "multiclass", "['accuracy', 'f1', 'precision', 'recall', 'roc_auc']"),
        ("roc_auc", "regression", "['mae', 'mse', 'r2', 'rmse']"),
    ],
)
def test_primary_metric_that_does_not_apply(metric: str, task: str, choices: str) -> None:
    message = (
        f"evaluate.primary_metric '{metric}' does not apply to a {task} task; "
        f"choose one of {choices}"
    )
    with pytest.raises(EvaluationError, match=f"^{re.escape(message)}$"):
        primary_metric(_params(primary=metric), task)  # type: ignore[arg-type]


def test_empty_frame() -> None:
    with pytest.raises(
        EvaluationError, match=f"^{re.escape('cannot evaluate on an empty split')}$"
    ):
        evaluate_model(FixedRegressor([]), BINARY_FRAME.iloc[:0], REGRESSION, _params())
