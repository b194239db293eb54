"""Score a fitted pipeline on a labelled split: metrics, confusion matrix, curve points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tasks.config import EvaluateParams, TaskKind
from tasks.ingest import TableSchema

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse"})
_DEFAULT_PRIMARY: dict[str, str] = {"binary": "roc_auc", "multiclass": "f1", "regression": "rmse"}
_TASK_METRICS: dict[str, frozenset[str]] = {
    "binary": frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "specificity"}),
    "multiclass": frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"}),
    "regression": frozenset({"mse", "rmse", "mae", "r2"}),
}


class EvaluationError(ValueError):
    """The model cannot be scored as configured."""


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one split, and the data behind the plots."""

    metrics: dict[str, float]
    predictions: pd.DataFrame
    confusion: list[list[int]] | None = None
    labels: tuple[Any, ...] = ()
    roc: pd.DataFrame | None = None


def primary_metric(params: EvaluateParams, task: TaskKind) -> str:
    """The metric that ranks models for ``task``; refuses one that does not apply to it."""
    name = _DEFAULT_PRIMARY[task] if params.primary_metric == "auto" else params.primary_metric
    if name not in _TASK_METRICS[task]:
        raise EvaluationError(
            f"evaluate.primary_metric '{name}' does not apply to a {task} task; "
            f"choose one of {sorted(_TASK_METRICS[task])}"
        )
    return name


def _classification(
    model: Pipeline, x: pd.DataFrame, y: pd.Series, schema: TableSchema, threshold: float
) -> Evaluation:
    from sklearn import metrics as m

    labels = list(schema.classes)
    proba = model.predict_proba(x)
    model_classes = list(model.classes_)
    if schema.task == "binary":
        positive = schema.positive_class
        score = proba[:, model_classes.index(positive)]
        negative = next(c for c in labels if c != positive)
        predicted = np.where(score >= threshold, positive, negative)
        confusion = m.confusion_matrix(y, predicted, labels=[negative, positive])
        tn, fp = int(confusion[0, 0]), int(confusion[0, 1])
        values = {
            "accuracy": m.accuracy_score(y, predicted),
            "precision": m.precision_score(y, predicted, pos_label=positive, zero_division=0),
            "recall": m.recall_score(y, predicted, pos_label=positive, zero_division=0),
            "f1": m.f1_score(y, predicted, pos_label=positive, zero_division=0),
            "specificity": tn / (tn + fp) if tn + fp else float("nan"),
            "roc_auc": m.roc_auc_score(y == positive, score) if y.nunique() == 2 else float("nan"),
        }
        fpr, tpr, _ = m.roc_curve(y == positive, score) if y.nunique() == 2 else ([], [], [])
        roc = pd.DataFrame({"fpr": fpr, "tpr": tpr})
        ordered = [negative, positive]
    else:
        predicted = np.asarray(model_classes, dtype=object)[proba.argmax(axis=1)]
        confusion = m.confusion_matrix(y, predicted, labels=labels)
        values = {
            "accuracy": m.accuracy_score(y, predicted),
            "precision": m.precision_score(y, predicted, average="macro", zero_division=0),
            "recall": m.recall_score(y, predicted, average="macro", zero_division=0),
            "f1": m.f1_score(y, predicted, average="macro", zero_division=0),
            "roc_auc": m.roc_auc_score(y, proba, multi_class="ovr", labels=model_classes)
            if y.nunique() == len(model_classes)
            else float("nan"),
        }
        roc = None
        ordered = labels
    return Evaluation(
        metrics={k: float(v) for k, v in values.items()},
        predictions=pd.DataFrame({"actual": y.to_numpy(), "predicted": predicted}),
        confusion=confusion.astype(int).tolist(),
        labels=tuple(ordered),
        roc=roc,
    )


def _regression(model: Pipeline, x: pd.DataFrame, y: pd.Series) -> Evaluation:
    from sklearn import metrics as m

    predicted = model.predict(x)
    mse = float(m.mean_squared_error(y, predicted))
    values = {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(m.mean_absolute_error(y, predicted)),
        "r2": float(m.r2_score(y, predicted)),
    }
    return Evaluation(
        metrics=values,
        predictions=pd.DataFrame({"actual": y.to_numpy(), "predicted": predicted}),
    )


def evaluate_model(
    model: Pipeline, frame: pd.DataFrame, schema: TableSchema, params: EvaluateParams
) -> Evaluation:
    """Metrics of ``model`` on a labelled ``frame`` (a validation or test split)."""
    if frame.empty:
        raise EvaluationError("cannot evaluate on an empty split")
    x, y = frame[list(schema.features)], frame[schema.target]
    if schema.task == "regression":
        return _regression(model, x, y)
    return _classification(model, x, y, schema, params.threshold)
