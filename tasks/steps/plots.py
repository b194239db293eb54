"""The figures logged with a model: confusion matrix, ROC, precision-recall, calibration,
permutation importance and residuals.

Pure: arrays, :class:`~tasks.steps.evaluate.Outputs` or frames in, matplotlib ``Figure`` objects out
(no pyplot state, so safe in threads). Only :func:`save_figures` writes files. matplotlib and
scikit-learn are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tasks.steps.evaluate import Evaluation, Outputs, importance_scoring
from tasks.steps.ingest import TableSchema

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from sklearn.pipeline import Pipeline

IMPORTANCE_COLUMNS = ("feature", "importance_mean", "importance_std")


# Our metric names -> scikit-learn scorer names (a loss becomes its negation: higher is better).
class PlotError(ValueError):
    """A figure cannot be drawn from what it was given."""


def _axes(width: float = 6.0, height: float = 5.0) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _one_vs_rest(out: Outputs) -> list[tuple[Any, np.ndarray, np.ndarray]]:
    """(class, is-that-class, its probability) per curve: the positive class (binary) or every
    class against the rest (multiclass)."""
    if out.task == "regression" or out.score is None:
        raise PlotError(f"this figure needs class probabilities; a {out.task} task has none")
    if out.task == "binary":
        return [(out.positive, np.asarray(out.actual == out.positive), out.score)]
    return [
        (label, np.asarray(out.actual == label), out.score[:, i])
        for i, label in enumerate(out.classes)
    ]


def _undefined(ax: Axes, label: Any, truth: np.ndarray) -> bool:
    """True (and a legend note) when the split holds only one side of ``label`` vs the rest."""
    if truth.all() or not truth.any():
        ax.plot([], [], linestyle="none", label=f"class {label}: no curve, one class in split")
        return True
    return False


def confusion_matrix_figure(matrix: list[list[int]], labels: Sequence[Any]) -> Figure:
    """Counts of actual (rows) vs predicted (columns) classes, each cell annotated."""
    values = np.asarray(matrix, dtype=int)
    size = len(labels)
    if values.shape != (size, size):
        raise PlotError(
            f"confusion matrix of shape {values.shape} does not match {size} labels {list(labels)}"
        )
    figure, ax = _axes()
    ax.imshow(values, cmap="Blues")
    dark = values.max() / 2 if values.size else 0
    for (row, column), count in np.ndenumerate(values):
        color = "white" if count > dark else "black"
        ax.text(column, row, str(count), ha="center", va="center", color=color)
    names = [str(label) for label in labels]
    ax.set_xticks(range(size), names)
    ax.set_yticks(range(size), names)
    ax.set(title="Confusion matrix", xlabel="Predicted class", ylabel="Actual class")
    return figure


def roc_figure(out: Outputs) -> Figure:
    """ROC curve of the positive class (binary) or one-vs-rest per class (multiclass), with
    each curve's AUC in the legend; a class with no curve (one class in the split) is noted."""
    from sklearn import metrics as m

    figure, ax = _axes()
    for label, truth, score in _one_vs_rest(out):
        if _undefined(ax, label, truth):
            continue
        fpr, tpr, _ = m.roc_curve(truth, score)
        auc = float(m.roc_auc_score(truth, score))
        ax.plot(fpr, tpr, label=f"class {label} (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    title = "ROC curve" if out.task == "binary" else "ROC curves, one class vs the rest"
    ax.set(title=title, xlabel="False positive rate", ylabel="True positive rate")
    ax.legend(loc="lower right")
    return figure


def precision_recall_figure(out: Outputs) -> Figure:
    """Precision against recall of the positive class (binary, with the positive rate as the
    chance level) or of each class against the rest, average precision in the legend."""
    from sklearn import metrics as m

    figure, ax = _axes()
    for label, truth, score in _one_vs_rest(out):
        if _undefined(ax, label, truth):
            continue
        precision, recall, _ = m.precision_recall_curve(truth, score)
        ap = float(m.average_precision_score(truth, score))
        ax.plot(recall, precision, drawstyle="steps-post", label=f"class {label} (AP = {ap:.3f})")
    if out.task == "binary":
        rate = float(np.mean(out.actual == out.positive))
        ax.axhline(rate, linestyle="--", color="grey", label=f"chance (positive rate = {rate:.3f})")
    title = (
        "Precision-recall curve"
        if out.task == "binary"
        else "Precision-recall curves, one class vs the rest"
    )
    ax.set(title=title, xlabel="Recall", ylabel="Precision")
    ax.legend(loc="lower left")
    return figure


def calibration_figure(out: Outputs, bins: int) -> Figure:
    """Reliability diagram over ``bins`` equal-width probability bins (empty bins are left
    out): the positive class (binary) or each class against the rest (multiclass), with the
    diagonal of perfect calibration."""
    from sklearn.calibration import calibration_curve

    if bins < 1:
        raise PlotError(f"calibration needs at least 1 bin, got {bins}")
    figure, ax = _axes()
    for label, truth, score in _one_vs_rest(out):
        observed, predicted = calibration_curve(truth.astype(int), score, n_bins=bins)
        ax.plot(predicted, observed, marker="o", label=f"class {label}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    title = (
        "Calibration (reliability diagram)"
        if out.task == "binary"
        else "Calibration per class (reliability diagram, one vs rest)"
    )
    ax.set(title=title, xlabel="Mean predicted probability", ylabel="Fraction of positives")
    ax.legend(loc="upper left")
    return figure


def permutation_importance_frame(
    model: Pipeline,
    frame: pd.DataFrame,
    schema: TableSchema,
    scoring: str | Callable[..., float],
    repeats: int,
    seed: int,
    rows: int | None = None,
) -> pd.DataFrame:
    """Drop in ``scoring`` when each raw feature column is shuffled (the model is the whole
    Pipeline), ``repeats`` times with ``seed``: one row per feature, largest mean first.

    ``rows``: score on at most this many rows of ``frame`` (a seeded sample, stratified by the
    target for a classifier): each repeat of each column predicts the whole frame again, which
    at 100,000 rows was 90% of the evaluate stage.
    """
    from sklearn.inspection import permutation_importance

    features = list(schema.features)
    missing = [c for c in [*features, schema.target] if c not in frame.columns]
    if missing:
        raise PlotError(f"permutation importance: the frame lacks columns {missing}")
    if repeats < 1:
        raise PlotError(f"permutation importance needs at least 1 repeat, got {repeats}")
    if rows is not None and rows < 1:
        raise PlotError(f"permutation importance needs at least 1 row, got {rows}")
    if rows is not None and len(frame) > rows:
        frame = importance_sample(frame, schema, rows, seed)
    result = permutation_importance(
        model,
        frame[features],
        frame[schema.target],
        scoring=scoring,
        n_repeats=repeats,
        random_state=seed,
    )
    table = pd.DataFrame(
        {
            "feature": features,
            "importance_mean": np.asarray(result.importances_mean, dtype=float),
            "importance_std": np.asarray(result.importances_std, dtype=float),
        }
    )
    return table.sort_values("importance_mean", ascending=False, kind="stable").reset_index(
        drop=True
    )


def importance_sample(
    frame: pd.DataFrame, schema: TableSchema, rows: int, seed: int
) -> pd.DataFrame:
    """``rows`` rows of ``frame`` drawn with ``seed``; a classifier's classes keep their shares
    (a class too rare to be split falls back to a plain sample)."""
    if schema.task != "regression":
        from sklearn.model_selection import train_test_split

        try:
            sample, _ = train_test_split(
                frame, train_size=rows, random_state=seed, stratify=frame[schema.target]
            )
            return pd.DataFrame(sample)
        except ValueError:  # a class with one row, or more classes than rows
            pass
    return frame.sample(n=rows, random_state=seed)


def importance_figure(frame: pd.DataFrame, top: int) -> Figure:
    """Horizontal bars of the ``top`` features' mean importance (largest at the top), with
    their standard deviation as error bars."""
    missing = [c for c in IMPORTANCE_COLUMNS if c not in frame.columns]
    if missing:
        raise PlotError(f"importance frame lacks columns {missing}")
    if top < 1:
        raise PlotError(f"importance figure needs top >= 1, got {top}")
    shown = frame.head(top).iloc[::-1]
    figure, ax = _axes(7.0, max(3.0, 0.4 * len(shown) + 1.5))
    rows = np.arange(len(shown))
    ax.barh(rows, shown["importance_mean"], xerr=shown["importance_std"], capsize=3)
    ax.set_yticks(rows, [str(f) for f in shown["feature"]])
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set(
        title=f"Permutation importance (top {len(shown)} of {len(frame)} features)",
        xlabel="Mean drop in score when the feature is shuffled",
        ylabel="Feature",
    )
    return figure


def residuals_figure(out: Outputs) -> Figure:
    """Regression residuals (actual - predicted) against the prediction, and their histogram."""
    from matplotlib.figure import Figure

    if out.task != "regression":
        raise PlotError(f"residuals are drawn for regression, not a {out.task} task")
    predicted = np.asarray(out.predicted, dtype=float)
    residual = np.asarray(out.actual, dtype=float) - predicted
    figure = Figure(figsize=(11.0, 4.5), layout="constrained")
    scatter: Axes = figure.add_subplot(1, 2, 1)
    histogram: Axes = figure.add_subplot(1, 2, 2)
    scatter.scatter(predicted, residual, s=12, alpha=0.6)
    scatter.axhline(0, linestyle="--", color="grey")
    scatter.set(
        title="Residuals vs predicted", xlabel="Predicted", ylabel="Residual (actual - predicted)"
    )
    histogram.hist(residual, bins="auto")
    histogram.set(
        title="Distribution of residuals", xlabel="Residual (actual - predicted)", ylabel="Count"
    )
    return figure


def figures_for(  # noqa: PLR0913  (keyword-only: each figure's setting)
    evaluation: Evaluation,
    model: Pipeline,
    frame: pd.DataFrame,
    schema: TableSchema,
    *,
    primary: str,
    repeats: int,
    seed: int,
    bins: int,
    top: int,
    rows: int | None = None,
) -> dict[str, Figure]:
    """The task's figures by file name, from ``evaluation`` of ``model`` on ``frame``;
    permutation importance scores with the ``primary`` metric, on at most ``rows`` rows."""
    out = evaluation.outputs
    if out is None:
        raise PlotError("the evaluation carries no model outputs: make it with evaluate_model")
    if out.task != schema.task:
        raise PlotError(f"the evaluation is of a {out.task} task, the schema's is {schema.task}")
    figures: dict[str, Figure] = {}
    if out.task == "regression":
        figures["residuals.png"] = residuals_figure(out)
    else:
        if evaluation.confusion is None:
            raise PlotError("the evaluation of a classifier carries no confusion matrix")
        figures["confusion_matrix.png"] = confusion_matrix_figure(
            evaluation.confusion, evaluation.labels
        )
        figures["roc.png"] = roc_figure(out)
        figures["pr.png"] = precision_recall_figure(out)
        figures["calibration.png"] = calibration_figure(out, bins)
    scoring = importance_scoring(primary, schema)
    importance = permutation_importance_frame(model, frame, schema, scoring, repeats, seed, rows)
    figures["permutation_importance.png"] = importance_figure(importance, top)
    return figures


def _close(figure: Figure) -> None:
    if figure.canvas.manager is not None:  # made through pyplot: drop it from its registry
        import matplotlib.pyplot as plt

        plt.close(figure)
    else:
        figure.clear()


def save_figures(figures: Mapping[str, Figure], folder: Path) -> list[Path]:
    """Write each figure as ``folder/name`` (PNG, 100 dpi) and close it; the paths written."""
    bad = [name for name in figures if Path(name).name != name or not name.endswith(".png")]
    if bad:
        raise PlotError(f"figure names must be plain file names ending in .png, got {bad}")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for name, figure in figures.items():
            path = folder / name
            figure.savefig(path, format="png", dpi=100)
            written.append(path)
    finally:
        for figure in figures.values():
            _close(figure)
    return written
