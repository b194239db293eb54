"""Unit tests for evaluation: metrics against hand-computed values, with fixed-output models."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from tasks.config import EvaluateParams
from tasks.steps.evaluate import (
    LOWER_IS_BETTER,
    EvaluationError,
    Outputs,
    baseline_outputs,
    check_success_definition,
    compute_metrics,
    evaluate_model,
    primary_metric,
)
from tasks.steps.ingest import TableSchema


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
# Log loss is -mean(log p_true) at any threshold: the positives' .9 .6 .4, the negatives'
# 1 - score = .3 .8 .9.
BINARY_LOG_LOSS = (
    -(math.log(0.9) + math.log(0.6) + math.log(0.4) + math.log(0.3) + math.log(0.8) + math.log(0.9))
    / 6
)

MULTICLASS_FRAME = pd.DataFrame({"x": range(6), "y": ["a", "a", "b", "b", "c", "c"]})
MULTICLASS_MODEL = FixedClassifier(
    ["a", "b", "c"],
    [
        [0.8, 0.1, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.8, 0.1],
        [0.3, 0.4, 0.3],
        [0.1, 0.2, 0.7],
        [0.5, 0.2, 0.3],
    ],
)


def _params(threshold: float = 0.5, primary: str = "auto") -> EvaluateParams:
    return EvaluateParams(
        primary_metric=primary,  # type: ignore[arg-type]
        threshold=threshold,
        importance_repeats=5,
        importance_rows=10000,
        calibration_bins=10,
        importance_top=20,
    )


def test_binary_at_threshold_one_half() -> None:
    # predicted 1 1 0 1 0 0 -> TP 2, FN 1, FP 1, TN 2
    # class 0 as the positive: precision TN/(TN+FN) 2/3, recall TN/(TN+FP) 2/3, F1 2/3
    result = evaluate_model(BINARY_MODEL, BINARY_FRAME, BINARY, _params(0.5))

    assert result.metrics == pytest.approx(
        {
            "accuracy": 4 / 6,
            "precision": 2 / 3,
            "recall": 2 / 3,
            "f1": 2 / 3,
            "f1_macro": (2 / 3 + 2 / 3) / 2,
            "specificity": 2 / 3,
            "roc_auc": 7 / 9,
            "log_loss": BINARY_LOG_LOSS,
        }
    )
    assert result.confusion == [[2, 1], [1, 2]]
    assert result.labels == (0, 1)
    assert result.predictions["actual"].tolist() == [1, 1, 1, 0, 0, 0]
    assert result.predictions["predicted"].tolist() == [1, 1, 0, 1, 0, 0]


def test_binary_at_a_lower_threshold() -> None:
    # predicted 1 1 1 1 0 0 -> TP 3, FN 0, FP 1, TN 2
    # class 0: precision 2/2, recall 2/3, F1 2 * 1 * 2/3 / (1 + 2/3) = 4/5
    result = evaluate_model(BINARY_MODEL, BINARY_FRAME, BINARY, _params(0.3))

    assert result.metrics == pytest.approx(
        {
            "accuracy": 5 / 6,
            "precision": 3 / 4,
            "recall": 1.0,
            "f1": 6 / 7,
            "f1_macro": (6 / 7 + 4 / 5) / 2,
            "specificity": 2 / 3,
            "roc_auc": 7 / 9,
            "log_loss": BINARY_LOG_LOSS,  # the probabilities do not depend on the threshold
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
    # 'yes' F1: P 1, R 1/2 -> 2/3; 'no' F1: P 2/3, R 1 -> 4/5
    assert result.metrics["f1"] == pytest.approx(2 / 3)
    assert result.metrics["f1_macro"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    # p_true: 'yes' rows .8 .4, 'no' rows 1 - .3, 1 - .1 (the 'no' column would give .2 .6 .3 .9)
    assert result.metrics["log_loss"] == pytest.approx(
        -(math.log(0.8) + math.log(0.7) + math.log(0.4) + math.log(0.9)) / 4
    )


def test_binary_split_with_one_class_has_nan_auc_and_specificity() -> None:
    frame = BINARY_FRAME.iloc[:3]
    model = FixedClassifier([0, 1], [[0.1, 0.9], [0.4, 0.6], [0.6, 0.4]])

    result = evaluate_model(model, frame, BINARY, _params())

    assert math.isnan(result.metrics["roc_auc"])
    assert math.isnan(result.metrics["specificity"])
    assert result.metrics["recall"] == pytest.approx(2 / 3)
    # log loss needs no negative: p_true .9 .6 .4
    assert result.metrics["log_loss"] == pytest.approx(
        -(math.log(0.9) + math.log(0.6) + math.log(0.4)) / 3
    )
    # predicted 1 1 0: class 1 P 1, R 2/3, F1 4/5; class 0 (predicted once, never actual) F1 0
    assert result.metrics["f1_macro"] == pytest.approx((4 / 5 + 0) / 2)
    assert result.roc is not None
    assert result.roc.empty


def test_multiclass_macro_metrics() -> None:
    result = evaluate_model(MULTICLASS_MODEL, MULTICLASS_FRAME, MULTICLASS, _params())

    # predicted a b b b c a; per class precision 1/2 2/3 1, recall 1/2 1 1/2,
    # f1 1/2 4/5 2/3; one-vs-rest AUC a 6/8, b 7/8, c 7.5/8;
    # probability of the true class .8 .2 .8 .4 .7 .3
    assert result.predictions["predicted"].tolist() == ["a", "b", "b", "b", "c", "a"]
    assert result.metrics == pytest.approx(
        {
            "accuracy": 4 / 6,
            "precision": (1 / 2 + 2 / 3 + 1) / 3,
            "recall": (1 / 2 + 1 + 1 / 2) / 3,
            "f1": (1 / 2 + 4 / 5 + 2 / 3) / 3,
            "f1_macro": (1 / 2 + 4 / 5 + 2 / 3) / 3,
            "roc_auc": (6 / 8 + 7 / 8 + 7.5 / 8) / 3,
            "log_loss": -(
                math.log(0.8)
                + math.log(0.2)
                + math.log(0.8)
                + math.log(0.4)
                + math.log(0.7)
                + math.log(0.3)
            )
            / 6,
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
    # log loss stays defined over the three classes: p_true .8 .7 .3
    assert result.metrics["log_loss"] == pytest.approx(
        -(math.log(0.8) + math.log(0.7) + math.log(0.3)) / 3
    )


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
    assert result.outputs is not None
    assert result.outputs.task == "regression"
    assert result.outputs.predicted.tolist() == [2.0, 3.0, 5.0, 9.0]
    assert result.outputs.score is None


@pytest.mark.parametrize(
    ("task", "expected"),
    [("binary", "roc_auc"), ("multiclass", "f1"), ("regression", "rmse")],
)
def test_primary_metric_auto(task: str, expected: str) -> None:
    assert primary_metric(_params(), task) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "task"),
    [
        ("specificity", "binary"),
        ("accuracy", "multiclass"),
        ("r2", "regression"),
        ("log_loss", "binary"),
        ("f1_macro", "multiclass"),
    ],
)
def test_primary_metric_explicit(metric: str, task: str) -> None:
    assert primary_metric(_params(primary=metric), task) == metric  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "task", "choices"),
    [
        (
            "rmse",
            "binary",
            "['accuracy', 'f1', 'f1_macro', 'log_loss', 'precision', 'recall', 'roc_auc', "
            "'specificity']",
        ),
        (
            "specificity",
            "multiclass",
            "['accuracy', 'f1', 'f1_macro', 'log_loss', 'precision', 'recall', 'roc_auc']",
        ),
        ("roc_auc", "regression", "['mae', 'mse', 'r2', 'rmse']"),
    ],
)
def test_primary_metric_that_does_not_apply(metric: str, task: str, choices: str) -> None:
    message = (
        f"primary_metric '{metric}' (datasets.<name>.primary_metric) does not apply to a "
        f"{task} task; choose one of {choices}"
    )
    with pytest.raises(EvaluationError, match=f"^{re.escape(message)}$"):
        primary_metric(_params(primary=metric), task)  # type: ignore[arg-type]


def test_empty_frame() -> None:
    with pytest.raises(
        EvaluationError, match=f"^{re.escape('cannot evaluate on an empty split')}$"
    ):
        evaluate_model(FixedRegressor([]), BINARY_FRAME.iloc[:0], REGRESSION, _params())


def test_evaluation_carries_the_outputs_for_the_plots() -> None:
    result = evaluate_model(BINARY_MODEL, BINARY_FRAME, BINARY, _params())

    out = result.outputs
    assert out is not None
    assert out.task == "binary"
    assert out.classes == (0, 1)
    assert out.positive == 1
    assert out.actual.tolist() == [1, 1, 1, 0, 0, 0]
    assert out.predicted.tolist() == [1, 1, 0, 1, 0, 0]
    assert out.score is not None
    assert out.score.tolist() == pytest.approx([0.9, 0.6, 0.4, 0.7, 0.2, 0.1])


def test_multiclass_log_loss_follows_the_class_order_of_the_scores() -> None:
    # the score columns are in the order c a b: the true class's column is found by label
    out = Outputs(
        "multiclass",
        np.array(["a", "b", "c"], dtype=object),
        np.array(["a", "b", "c"], dtype=object),
        np.array([[0.1, 0.6, 0.3], [0.2, 0.3, 0.5], [0.9, 0.05, 0.05]]),
        ("c", "a", "b"),
    )

    # p_true: a .6, b .5, c .9
    assert compute_metrics(out, ["log_loss"]) == pytest.approx(
        {"log_loss": -(math.log(0.6) + math.log(0.5) + math.log(0.9)) / 3}
    )


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["log_loss"], {"log_loss": BINARY_LOG_LOSS}),
        (["f1_macro"], {"f1_macro": 2 / 3}),
        (["roc_auc", "f1"], {"roc_auc": 7 / 9, "f1": 2 / 3}),
    ],
)
def test_compute_metrics_of_a_subset(names: list[str], expected: dict[str, float]) -> None:
    out = evaluate_model(BINARY_MODEL, BINARY_FRAME, BINARY, _params()).outputs
    assert out is not None

    values = compute_metrics(out, names)

    assert list(values) == names
    assert values == pytest.approx(expected)


def test_compute_metrics_of_a_resample() -> None:
    # rows 0 0 3: actual 1 1 0, scores .9 .9 .7 -> p_true .9 .9 .3
    out = evaluate_model(BINARY_MODEL, BINARY_FRAME, BINARY, _params()).outputs
    assert out is not None

    values = compute_metrics(out.take(np.array([0, 0, 3])), ["log_loss", "roc_auc"])

    assert values == pytest.approx(
        {"log_loss": -(2 * math.log(0.9) + math.log(0.3)) / 3, "roc_auc": 1.0}
    )


def test_log_loss_is_lower_is_better() -> None:
    assert frozenset({"log_loss", "rmse", "mae", "mse"}) == LOWER_IS_BETTER


@pytest.mark.parametrize(
    ("task", "name", "choices"),
    [
        ("regression", "log_loss", "['mae', 'mse', 'r2', 'rmse']"),
        (
            "multiclass",
            "specificity",
            "['accuracy', 'f1', 'f1_macro', 'log_loss', 'precision', 'recall', 'roc_auc']",
        ),
    ],
)
def test_compute_metrics_refuses_a_metric_of_another_task(
    task: str, name: str, choices: str
) -> None:
    out = Outputs(task, np.array([1.0]), np.array([1.0]), np.array([[1.0]]), ("a",))  # type: ignore[arg-type]
    message = f"metric '{name}' does not apply to a {task} task; choose one of {choices}"

    with pytest.raises(EvaluationError, match=f"^{re.escape(message)}$"):
        compute_metrics(out, [name])


def test_multiclass_log_loss_refuses_an_unknown_label() -> None:
    out = Outputs(
        "multiclass",
        np.array(["a", "z"], dtype=object),
        np.array(["a", "b"], dtype=object),
        np.array([[0.5, 0.5], [0.5, 0.5]]),
        ("a", "b"),
    )
    message = "log_loss: actual labels ['z'] are not classes of the model ['a', 'b']"

    with pytest.raises(EvaluationError, match=f"^{re.escape(message)}$"):
        compute_metrics(out, ["log_loss"])


# --- the trivial baseline ------------------------------------------------------------------


def test_binary_baseline_gives_every_row_the_training_positive_share() -> None:
    train = pd.DataFrame({"x": [5, 6, 7, 8], "y": [1, 1, 1, 0]})  # 3 of 4 positive
    test = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})

    out = baseline_outputs(train, test, BINARY, 0.5)

    assert (out.task, out.classes, out.positive) == ("binary", (0, 1), 1)
    assert out.actual.tolist() == [0, 1, 0]
    assert out.score.tolist() == [0.75, 0.75, 0.75]  # type: ignore[union-attr]
    assert out.predicted.tolist() == [1, 1, 1]  # 0.75 >= the threshold
    assert compute_metrics(out, ["roc_auc", "accuracy"]) == {
        "roc_auc": 0.5,
        "accuracy": pytest.approx(1 / 3),
    }
    # the features are never read: a test split of other values scores the same
    other = baseline_outputs(train, test.assign(x=[100, -5, 0]), BINARY, 0.5)
    assert other.score.tolist() == out.score.tolist()  # type: ignore[union-attr]


def test_binary_baseline_applies_the_threshold() -> None:
    train = pd.DataFrame({"x": [5, 6, 7, 8], "y": [1, 1, 1, 0]})
    test = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})

    out = baseline_outputs(train, test, BINARY, 0.8)

    assert out.score.tolist() == [0.75, 0.75, 0.75]  # type: ignore[union-attr]
    assert out.predicted.tolist() == [0, 0, 0]


def test_binary_baseline_with_text_labels_scores_the_positive_class() -> None:
    schema = TableSchema("y", "binary", ("x",), (), classes=("no", "yes"))
    train = pd.DataFrame({"x": range(5), "y": ["no", "yes", "no", "no", "yes"]})
    test = pd.DataFrame({"x": range(2), "y": ["yes", "no"]})

    out = baseline_outputs(train, test, schema, 0.5)

    assert (out.classes, out.positive) == (("no", "yes"), "yes")
    assert out.score.tolist() == [0.4, 0.4]  # type: ignore[union-attr]
    assert out.predicted.tolist() == ["no", "no"]


def test_multiclass_baseline_gives_every_row_the_training_class_shares() -> None:
    train = pd.DataFrame({"x": range(4), "y": ["a", "a", "b", "c"]})
    test = pd.DataFrame({"x": range(3), "y": ["c", "b", "a"]})

    out = baseline_outputs(train, test, MULTICLASS, 0.5)

    assert (out.task, out.classes) == ("multiclass", ("a", "b", "c"))
    assert out.score.tolist() == [[0.5, 0.25, 0.25]] * 3  # type: ignore[union-attr]
    assert out.predicted.tolist() == ["a", "a", "a"]  # the most frequent class
    assert compute_metrics(out, ["roc_auc", "accuracy", "f1"]) == {
        "roc_auc": 0.5,
        "accuracy": pytest.approx(1 / 3),
        "f1": pytest.approx(1 / 6),  # macro: F1 0.5 for a, 0 for b and c
    }


def test_regression_baseline_predicts_the_training_mean() -> None:
    train = pd.DataFrame({"x": range(4), "y": [1.0, 2.0, 3.0, 6.0]})  # mean 3
    test = pd.DataFrame({"x": range(2), "y": [2.0, 4.0]})

    out = baseline_outputs(train, test, REGRESSION, 0.5)

    assert out.task == "regression"
    assert out.predicted.tolist() == [3.0, 3.0]
    assert out.actual.tolist() == [2.0, 4.0]
    assert compute_metrics(out, ["rmse", "mae", "r2"]) == {"rmse": 1.0, "mae": 1.0, "r2": 0.0}


def test_baseline_on_an_empty_test_split() -> None:
    train = pd.DataFrame({"x": range(4), "y": [1.0, 2.0, 3.0, 6.0]})

    with pytest.raises(
        EvaluationError, match=f"^{re.escape('cannot evaluate on an empty split')}$"
    ):
        baseline_outputs(train, train.iloc[:0], REGRESSION, 0.5)


# --- the success definition ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "floors", "message"),
    [
        (
            "regression",
            {"roc_auc": 0.7},
            "datasets.shop.floors names roc_auc, which a regression task does not have; use "
            "metrics of ['mae', 'mse', 'r2', 'rmse'] (primary: rmse)",
        ),
        (
            "binary",
            {"rmse": 1.0, "r2": 0.1, "roc_auc": 0.7},
            "datasets.shop.floors names r2, rmse, which a binary task does not have; use "
            "metrics of ['accuracy', 'f1', 'f1_macro', 'log_loss', 'precision', 'recall', "
            "'roc_auc', 'specificity'] (primary: rmse)",
        ),
        (
            "multiclass",
            {"specificity": 0.5},
            "datasets.shop.floors names specificity, which a multiclass task does not have; use "
            "metrics of ['accuracy', 'f1', 'f1_macro', 'log_loss', 'precision', 'recall', "
            "'roc_auc'] (primary: rmse)",
        ),
    ],
)
def test_a_floor_on_a_metric_the_task_lacks_is_refused(
    task: str, floors: dict[str, float], message: str
) -> None:
    with pytest.raises(EvaluationError, match=f"^{re.escape(message)}$"):
        check_success_definition(task, "rmse", floors, "shop")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("task", "floors"),
    [
        ("binary", {"roc_auc": 0.7, "specificity": 0.5}),
        ("multiclass", {"f1_macro": 0.4}),
        ("regression", {"rmse": 3.0, "r2": 0.1}),
        ("regression", {}),
    ],
)
def test_floors_of_the_task_are_accepted(task: str, floors: dict[str, float]) -> None:
    assert check_success_definition(task, "x", floors, "shop") is None  # type: ignore[arg-type]
