"""Unit tests for the figures: their structure, and the numbers in their legends by hand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tasks.config import EvaluateParams
from tasks.steps.evaluate import (
    Evaluation,
    EvaluationError,
    Outputs,
    evaluate_model,
    importance_scoring,
    sklearn_scorer,
)
from tasks.steps.ingest import TableSchema
from tasks.steps.plots import (
    PlotError,
    calibration_figure,
    confusion_matrix_figure,
    figures_for,
    importance_figure,
    importance_sample,
    permutation_importance_frame,
    precision_recall_figure,
    residuals_figure,
    roc_figure,
    save_figures,
)

# Positives score .9 .6 .4, negatives .7 .2 .1 (as in test_evaluate): 7 of the 9
# (positive, negative) pairs are ordered, ROC AUC 7/9 = 0.778.
BINARY = Outputs(
    "binary",
    np.array([1, 1, 1, 0, 0, 0]),
    np.array([1, 1, 0, 1, 0, 0]),
    np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1]),
    (0, 1),
    1,
)
MULTICLASS = Outputs(
    "multiclass",
    np.array(["a", "a", "b", "b", "c", "c"], dtype=object),
    np.array(["a", "b", "b", "b", "c", "a"], dtype=object),
    np.array(
        [
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.8, 0.1],
            [0.3, 0.4, 0.3],
            [0.1, 0.2, 0.7],
            [0.5, 0.2, 0.3],
        ]
    ),
    ("a", "b", "c"),
)
REGRESSION = Outputs("regression", np.array([1.0, 3.0, 6.0, 10.0]), np.array([2.0, 3.0, 5.0, 9.0]))

# x decides the target, color (alternating, one-hot encoded inside the pipeline) does not.
FEATURES = {"x": list(range(8)), "color": ["r", "g"] * 4}
BINARY_SCHEMA = TableSchema("y", "binary", ("x",), ("color",), classes=("no", "yes"))
BINARY_FRAME = pd.DataFrame({**FEATURES, "y": ["no"] * 4 + ["yes"] * 4})
MULTICLASS_SCHEMA = TableSchema("y", "multiclass", ("x",), ("color",), classes=("a", "b", "c"))
MULTICLASS_FRAME = pd.DataFrame({**FEATURES, "y": ["a"] * 3 + ["b"] * 3 + ["c"] * 2})
REGRESSION_SCHEMA = TableSchema("y", "regression", ("x",), ("color",))
REGRESSION_FRAME = pd.DataFrame({**FEATURES, "y": [0.0] * 4 + [10.0] * 4})


def _fit(frame: pd.DataFrame, schema: TableSchema) -> Any:
    """A tree Pipeline: the first split on x is already pure, so color is never used."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    preprocess = ColumnTransformer(
        [
            ("numeric", "passthrough", list(schema.numeric)),
            ("categorical", OneHotEncoder(), list(schema.categorical)),
        ]
    )
    model = (
        DecisionTreeRegressor(random_state=0)
        if schema.task == "regression"
        else DecisionTreeClassifier(random_state=0)
    )
    pipeline = Pipeline([("columns", preprocess), ("model", model)])
    return pipeline.fit(frame[list(schema.features)], frame[schema.target])


def _legend(figure: Any) -> list[str]:
    legend = figure.axes[0].get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def _xy(line: Any) -> tuple[list[float], list[float]]:
    return [float(v) for v in line.get_xdata()], [float(v) for v in line.get_ydata()]


def _message(text: str) -> str:
    return f"^{re.escape(text)}$"


def test_confusion_matrix_counts_in_each_cell() -> None:
    figure = confusion_matrix_figure([[2, 1], [0, 3]], ["no", "yes"])

    (ax,) = figure.axes
    assert ax.get_title() == "Confusion matrix"
    assert ax.get_xlabel() == "Predicted class"
    assert ax.get_ylabel() == "Actual class"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["no", "yes"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["no", "yes"]
    # row by row, at (column, row); counts above half the largest (1.5) are white
    cells = [(t.get_position(), t.get_text(), t.get_color()) for t in ax.texts]
    assert cells == [
        ((0, 0), "2", "white"),
        ((1, 0), "1", "black"),
        ((0, 1), "0", "black"),
        ((1, 1), "3", "white"),
    ]
    assert ax.get_legend() is None


def test_confusion_matrix_of_three_classes() -> None:
    figure = confusion_matrix_figure([[1, 1, 0], [0, 2, 0], [1, 0, 1]], ("a", "b", "c"))

    assert [t.get_text() for t in figure.axes[0].texts] == list("110020101")


def test_confusion_matrix_that_does_not_match_its_labels() -> None:
    with pytest.raises(
        PlotError,
        match=_message("confusion matrix of shape (2, 2) does not match 3 labels [0, 1, 2]"),
    ):
        confusion_matrix_figure([[1, 0], [0, 1]], [0, 1, 2])


def test_roc_binary() -> None:
    figure = roc_figure(BINARY)

    (ax,) = figure.axes
    assert ax.get_title() == "ROC curve"
    assert ax.get_xlabel() == "False positive rate"
    assert ax.get_ylabel() == "True positive rate"
    assert _legend(figure) == ["class 1 (AUC = 0.778)", "chance"]
    curve, chance = ax.get_lines()
    # thresholds .9 (TP 1, FP 0), .7 (1, 1), .4 (3, 1), then everything
    fpr, tpr = _xy(curve)
    assert fpr == pytest.approx([0, 0, 1 / 3, 1 / 3, 1])
    assert tpr == pytest.approx([0, 1 / 3, 1 / 3, 1, 1])
    assert _xy(chance) == ([0, 1], [0, 1])


def test_roc_multiclass_one_curve_per_class() -> None:
    figure = roc_figure(MULTICLASS)

    (ax,) = figure.axes
    assert ax.get_title() == "ROC curves, one class vs the rest"
    # one-vs-rest AUC: a 6/8, b 7/8, c 7.5/8 = 0.9375
    assert _legend(figure) == [
        "class a (AUC = 0.750)",
        "class b (AUC = 0.875)",
        "class c (AUC = 0.938)",
        "chance",
    ]
    assert len(ax.get_lines()) == 4


def test_roc_notes_a_class_without_a_curve() -> None:
    # actual a b a: class c is never the truth, so its one-vs-rest curve has no positives
    out = MULTICLASS.take(np.array([0, 2, 1]))

    figure = roc_figure(out)

    assert _legend(figure) == [
        "class a (AUC = 1.000)",
        "class b (AUC = 1.000)",
        "class c: no curve, one class in split",
        "chance",
    ]


def test_precision_recall_binary() -> None:
    figure = precision_recall_figure(BINARY)

    (ax,) = figure.axes
    assert ax.get_title() == "Precision-recall curve"
    assert ax.get_xlabel() == "Recall"
    assert ax.get_ylabel() == "Precision"
    # ranked .9 P, .7 N, .6 P, .4 P: AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/4 = 29/36 = 0.806
    assert _legend(figure) == ["class 1 (AP = 0.806)", "chance (positive rate = 0.500)"]
    curve, chance = ax.get_lines()
    # thresholds .1 .2 .4 .6 .7 .9, then the (recall 0, precision 1) end
    recall, precision = _xy(curve)
    assert recall == pytest.approx([1, 1, 1, 2 / 3, 1 / 3, 1 / 3, 0])
    assert precision == pytest.approx([1 / 2, 3 / 5, 3 / 4, 2 / 3, 1 / 2, 1, 1])
    assert _xy(chance)[1] == [0.5, 0.5]


def test_precision_recall_multiclass() -> None:
    figure = precision_recall_figure(MULTICLASS)

    assert figure.axes[0].get_title() == "Precision-recall curves, one class vs the rest"
    # a: ranked .8 T, .5 F, .3 F, .2 T -> 1/2 * 1 + 1/2 * 2/4 = 3/4
    # b: ranked .8 T, .7 F, .4 T -> 1/2 * 1 + 1/2 * 2/3 = 5/6
    # c: ranked .7 T, then .3 T and .3 F tied -> 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert _legend(figure) == [
        "class a (AP = 0.750)",
        "class b (AP = 0.833)",
        "class c (AP = 0.833)",
    ]


def test_calibration_binary() -> None:
    figure = calibration_figure(BINARY, bins=2)

    (ax,) = figure.axes
    assert ax.get_title() == "Calibration (reliability diagram)"
    assert ax.get_xlabel() == "Mean predicted probability"
    assert ax.get_ylabel() == "Fraction of positives"
    assert _legend(figure) == ["class 1", "perfectly calibrated"]
    curve, diagonal = ax.get_lines()
    # bin [0, .5]: scores .4 .2 .1, actual 1 0 0; bin (.5, 1]: .9 .6 .7, actual 1 1 0
    predicted, observed = _xy(curve)
    assert predicted == pytest.approx([0.7 / 3, 2.2 / 3])
    assert observed == pytest.approx([1 / 3, 2 / 3])
    assert _xy(diagonal) == ([0, 1], [0, 1])


def test_calibration_multiclass_one_curve_per_class() -> None:
    figure = calibration_figure(MULTICLASS, bins=2)

    (ax,) = figure.axes
    assert ax.get_title() == "Calibration per class (reliability diagram, one vs rest)"
    assert _legend(figure) == ["class a", "class b", "class c", "perfectly calibrated"]
    # class a: bin [0, .5] holds .2 .1 .3 .1 .5 (truth 1 0 0 0 0), bin (.5, 1] holds .8 (1)
    predicted, observed = _xy(ax.get_lines()[0])
    assert predicted == pytest.approx([1.2 / 5, 0.8])
    assert observed == pytest.approx([1 / 5, 1.0])


def test_calibration_needs_a_bin() -> None:
    with pytest.raises(PlotError, match=_message("calibration needs at least 1 bin, got 0")):
        calibration_figure(BINARY, bins=0)


@pytest.mark.parametrize("draw", [roc_figure, precision_recall_figure])
def test_curves_need_class_probabilities(draw: Any) -> None:
    message = "this figure needs class probabilities; a regression task has none"
    with pytest.raises(PlotError, match=_message(message)):
        draw(REGRESSION)


def test_residuals() -> None:
    figure = residuals_figure(REGRESSION)

    scatter, histogram = figure.axes
    assert scatter.get_title() == "Residuals vs predicted"
    assert scatter.get_xlabel() == "Predicted"
    assert scatter.get_ylabel() == "Residual (actual - predicted)"
    # residuals: 1 - 2, 3 - 3, 6 - 5, 10 - 9
    (points,) = scatter.collections
    assert points.get_offsets().tolist() == [[2, -1], [3, 0], [5, 1], [9, 1]]
    assert histogram.get_title() == "Distribution of residuals"
    assert histogram.get_xlabel() == "Residual (actual - predicted)"
    assert histogram.get_ylabel() == "Count"
    assert sum(bar.get_height() for bar in histogram.patches) == 4


def test_residuals_need_a_regression() -> None:
    with pytest.raises(
        PlotError, match=_message("residuals are drawn for regression, not a binary task")
    ):
        residuals_figure(BINARY)


IMPORTANCE = pd.DataFrame(
    {
        "feature": ["a", "b", "c"],
        "importance_mean": [0.3, 0.2, 0.1],
        "importance_std": [0.01, 0.02, 0.03],
    }
)


def test_importance_figure_shows_the_top_features() -> None:
    figure = importance_figure(IMPORTANCE, top=2)

    (ax,) = figure.axes
    assert ax.get_title() == "Permutation importance (top 2 of 3 features)"
    assert ax.get_xlabel() == "Mean drop in score when the feature is shuffled"
    assert ax.get_ylabel() == "Feature"
    from matplotlib.container import BarContainer

    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    # drawn bottom-up, so the largest ends at the top
    assert [bar.get_width() for bar in bars] == [0.2, 0.3]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]
    (whiskers,) = bars.errorbar.lines[2]
    ends = [float(x) for segment in whiskers.get_segments() for x, _ in segment]
    assert ends == pytest.approx([0.2 - 0.02, 0.2 + 0.02, 0.3 - 0.01, 0.3 + 0.01])


def test_importance_figure_errors() -> None:
    with pytest.raises(PlotError, match=_message("importance figure needs top >= 1, got 0")):
        importance_figure(IMPORTANCE, top=0)
    with pytest.raises(
        PlotError, match=_message("importance frame lacks columns ['importance_std']")
    ):
        importance_figure(IMPORTANCE.drop(columns="importance_std"), top=2)


def test_permutation_importance_of_raw_columns() -> None:
    model = _fit(BINARY_FRAME, BINARY_SCHEMA)

    table = permutation_importance_frame(
        model, BINARY_FRAME, BINARY_SCHEMA, "accuracy", repeats=5, seed=0
    )

    assert list(table.columns) == ["feature", "importance_mean", "importance_std"]
    # the raw columns, not the one-hot ones; the relevant one first
    assert table["feature"].tolist() == ["x", "color"]
    assert table.loc[0, "importance_mean"] > 0
    # the tree never looks at color: shuffling it changes no prediction
    assert table.loc[1, "importance_mean"] == 0.0
    assert table.loc[1, "importance_std"] == 0.0
    again = permutation_importance_frame(
        model, BINARY_FRAME, BINARY_SCHEMA, "accuracy", repeats=5, seed=0
    )
    pd.testing.assert_frame_equal(table, again)


def test_permutation_importance_on_a_sample_of_rows() -> None:
    """``rows`` caps the rows scored: the same table as scoring the seeded sample itself, and
    a classifier's sample keeps each class's share."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    frame = pd.DataFrame(
        {"x": x, "color": rng.choice(["red", "blue"], 1000), "y": np.where(x > 1.0, "yes", "no")}
    )
    model = _fit(frame, BINARY_SCHEMA)

    sample = importance_sample(frame, BINARY_SCHEMA, 100, seed=3)
    table = permutation_importance_frame(
        model, frame, BINARY_SCHEMA, "accuracy", repeats=2, seed=3, rows=100
    )

    assert len(sample) == 100
    share = (frame["y"] == "yes").mean()
    assert (sample["y"] == "yes").sum() == round(100 * share)
    direct = permutation_importance_frame(
        model, sample, BINARY_SCHEMA, "accuracy", repeats=2, seed=3
    )
    pd.testing.assert_frame_equal(table, direct)
    everything = permutation_importance_frame(
        model, frame, BINARY_SCHEMA, "accuracy", repeats=2, seed=3, rows=1000
    )
    whole = permutation_importance_frame(model, frame, BINARY_SCHEMA, "accuracy", 2, 3)
    pd.testing.assert_frame_equal(everything, whole)  # not more rows than asked: untouched
    regression = importance_sample(REGRESSION_FRAME, REGRESSION_SCHEMA, 3, seed=1)
    pd.testing.assert_frame_equal(regression, REGRESSION_FRAME.sample(n=3, random_state=1))


def test_permutation_importance_errors() -> None:
    model = _fit(BINARY_FRAME, BINARY_SCHEMA)

    with pytest.raises(
        PlotError, match=_message("permutation importance: the frame lacks columns ['color']")
    ):
        permutation_importance_frame(
            model, BINARY_FRAME.drop(columns="color"), BINARY_SCHEMA, "accuracy", 1, 0
        )
    with pytest.raises(
        PlotError, match=_message("permutation importance needs at least 1 repeat, got 0")
    ):
        permutation_importance_frame(model, BINARY_FRAME, BINARY_SCHEMA, "accuracy", 0, 0)
    with pytest.raises(
        PlotError, match=_message("permutation importance needs at least 1 row, got 0")
    ):
        permutation_importance_frame(model, BINARY_FRAME, BINARY_SCHEMA, "accuracy", 1, 0, 0)


@pytest.mark.parametrize(
    ("metric", "task", "expected"),
    [
        ("accuracy", "binary", "accuracy"),
        ("precision", "binary", "precision"),
        ("recall", "binary", "recall"),
        ("f1", "binary", "f1"),
        ("f1_macro", "binary", "f1_macro"),
        ("roc_auc", "binary", "roc_auc"),
        ("log_loss", "binary", "neg_log_loss"),
        ("accuracy", "multiclass", "accuracy"),
        ("precision", "multiclass", "precision_macro"),
        ("recall", "multiclass", "recall_macro"),
        ("f1", "multiclass", "f1_macro"),
        ("f1_macro", "multiclass", "f1_macro"),
        ("roc_auc", "multiclass", "roc_auc_ovr"),
        ("log_loss", "multiclass", "neg_log_loss"),
        ("rmse", "regression", "neg_root_mean_squared_error"),
        ("mse", "regression", "neg_mean_squared_error"),
        ("mae", "regression", "neg_mean_absolute_error"),
        ("r2", "regression", "r2"),
    ],
)
def test_sklearn_scorer(metric: str, task: str, expected: str) -> None:
    from sklearn.metrics import get_scorer_names

    assert sklearn_scorer(metric, task) == expected  # type: ignore[arg-type]
    assert expected in get_scorer_names()


@pytest.mark.parametrize(
    ("metric", "task", "choices"),
    [
        (
            "specificity",
            "binary",
            "['accuracy', 'f1', 'f1_macro', 'log_loss', 'precision', 'recall', 'roc_auc']",
        ),
        (
            "rmse",
            "multiclass",
            "['accuracy', 'f1', 'f1_macro', 'log_loss', 'precision', 'recall', 'roc_auc']",
        ),
        ("roc_auc", "regression", "['mae', 'mse', 'r2', 'rmse']"),
    ],
)
def test_sklearn_scorer_unknown(metric: str, task: str, choices: str) -> None:
    message = (
        f"no scikit-learn scorer for metric '{metric}' on a {task} task; choose one of {choices}"
    )
    with pytest.raises(EvaluationError, match=_message(message)):
        sklearn_scorer(metric, task)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # fitted to predict yes for x >= 4; on x 5 1 2 3 with truth yes yes no no it predicts
        # yes no no no: 'yes' P 1, R 1/2, F1 2/3 ('no' as positive would give F1 4/5)
        ("f1", 2 / 3),
        ("precision", 1.0),
        ("recall", 1 / 2),
        ("specificity", 1.0),  # recall of 'no': 2 of 2
    ],
)
def test_importance_scoring_binds_the_positive_label(metric: str, expected: float) -> None:
    model = _fit(BINARY_FRAME, BINARY_SCHEMA)
    frame = pd.DataFrame({"x": [5, 1, 2, 3], "color": ["r"] * 4, "y": ["yes", "yes", "no", "no"]})

    scoring = importance_scoring(metric, BINARY_SCHEMA)

    assert callable(scoring)
    assert scoring(model, frame[["x", "color"]], frame["y"]) == pytest.approx(expected)


def test_importance_scoring_is_the_scorer_name_otherwise() -> None:
    assert importance_scoring("roc_auc", BINARY_SCHEMA) == "roc_auc"
    assert importance_scoring("f1", MULTICLASS_SCHEMA) == "f1_macro"


def _evaluate(frame: pd.DataFrame, schema: TableSchema) -> tuple[Any, Evaluation]:
    model = _fit(frame, schema)
    params = EvaluateParams(
        primary_metric="auto",
        threshold=0.5,
        importance_repeats=5,
        importance_rows=10000,
        calibration_bins=10,
        importance_top=20,
    )
    return model, evaluate_model(model, frame, schema, params)


@pytest.mark.parametrize(
    ("frame", "schema", "primary", "names"),
    [
        (
            BINARY_FRAME,
            BINARY_SCHEMA,
            "f1",
            ["confusion_matrix.png", "roc.png", "pr.png", "calibration.png"],
        ),
        (
            MULTICLASS_FRAME,
            MULTICLASS_SCHEMA,
            "roc_auc",
            ["confusion_matrix.png", "roc.png", "pr.png", "calibration.png"],
        ),
        (REGRESSION_FRAME, REGRESSION_SCHEMA, "rmse", ["residuals.png"]),
    ],
)
def test_figures_for_each_task(
    frame: pd.DataFrame, schema: TableSchema, primary: str, names: list[str]
) -> None:
    model, evaluation = _evaluate(frame, schema)

    figures = figures_for(
        evaluation, model, frame, schema, primary=primary, repeats=2, seed=0, bins=5, top=10
    )

    assert list(figures) == [*names, "permutation_importance.png"]
    (ax,) = figures["permutation_importance.png"].axes
    assert ax.get_title() == "Permutation importance (top 2 of 2 features)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["color", "x"]
    color, x = (bar.get_width() for bar in ax.patches)
    assert color == 0.0
    assert x > 0


def test_figures_for_an_evaluation_without_outputs() -> None:
    evaluation = Evaluation(metrics={}, predictions=pd.DataFrame())

    with pytest.raises(
        PlotError,
        match=_message("the evaluation carries no model outputs: make it with evaluate_model"),
    ):
        figures_for(
            evaluation,
            None,  # type: ignore[arg-type]
            BINARY_FRAME,
            BINARY_SCHEMA,
            primary="roc_auc",
            repeats=1,
            seed=0,
            bins=5,
            top=10,
        )


def test_save_figures_writes_pngs_and_closes_them(tmp_path: Path) -> None:
    figures = {"roc.png": roc_figure(BINARY), "residuals.png": residuals_figure(REGRESSION)}

    paths = save_figures(figures, tmp_path / "plots")

    assert paths == [tmp_path / "plots" / "roc.png", tmp_path / "plots" / "residuals.png"]
    for path in paths:
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert all(figure.axes == [] for figure in figures.values())


def test_save_figures_closes_a_pyplot_figure(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure()
    number = figure.number

    save_figures({"made_with_pyplot.png": figure}, tmp_path)

    assert not plt.fignum_exists(number)


@pytest.mark.parametrize("name", ["roc.svg", "../roc.png", "sub/roc.png"])
def test_save_figures_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(
        PlotError,
        match=_message(f"figure names must be plain file names ending in .png, got ['{name}']"),
    ):
        save_figures({name: roc_figure(BINARY)}, tmp_path)
    assert list(tmp_path.iterdir()) == []
