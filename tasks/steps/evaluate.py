"""Score a fitted pipeline on a labelled split: metrics, confusion matrix, curve points."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tasks.config import EvaluateParams, TaskKind
from tasks.steps.ingest import TableSchema

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "log_loss"})
_DEFAULT_PRIMARY: dict[str, str] = {"binary": "roc_auc", "multiclass": "f1", "regression": "rmse"}
_CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "f1_macro", "roc_auc", "log_loss")
_TASK_METRICS: dict[str, frozenset[str]] = {
    "binary": frozenset({*_CLASSIFICATION, "specificity"}),
    "multiclass": frozenset(_CLASSIFICATION),
    "regression": frozenset({"mse", "rmse", "mae", "r2"}),
}


_SCORERS: dict[str, dict[str, str]] = {
    "binary": {
        "accuracy": "accuracy",
        "precision": "precision",
        "recall": "recall",
        "f1": "f1",
        "f1_macro": "f1_macro",
        "roc_auc": "roc_auc",
        "log_loss": "neg_log_loss",
    },
    "multiclass": {
        "accuracy": "accuracy",
        "precision": "precision_macro",
        "recall": "recall_macro",
        "f1": "f1_macro",
        "f1_macro": "f1_macro",
        "roc_auc": "roc_auc_ovr",
        "log_loss": "neg_log_loss",
    },
    "regression": {
        "rmse": "neg_root_mean_squared_error",
        "mse": "neg_mean_squared_error",
        "mae": "neg_mean_absolute_error",
        "r2": "r2",
    },
}
_POSITIVE_LABEL_METRICS = frozenset({"precision", "recall", "f1", "specificity"})


class EvaluationError(ValueError):
    """The model cannot be scored as configured."""


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one split, and the data behind the plots (``outputs``: what the model said,
    so figures need not predict again)."""

    metrics: dict[str, float]
    predictions: pd.DataFrame
    confusion: list[list[int]] | None = None
    labels: tuple[Any, ...] = ()
    roc: pd.DataFrame | None = None
    outputs: Outputs | None = None


def primary_metric(params: EvaluateParams, task: TaskKind) -> str:
    """The metric that ranks models for ``task``; refuses one that does not apply to it."""
    name = _DEFAULT_PRIMARY[task] if params.primary_metric == "auto" else params.primary_metric
    if name not in _TASK_METRICS[task]:
        raise EvaluationError(
            f"primary_metric '{name}' (datasets.<name>.primary_metric) does not apply to a "
            f"{task} task; "
            f"choose one of {sorted(_TASK_METRICS[task])}"
        )
    return name


def check_success_definition(
    task: TaskKind, primary: str, floors: Mapping[Any, float], dataset: str
) -> None:
    """Refuse floors that name a metric the task does not have, before anything is judged."""
    wrong = sorted(set(floors) - _TASK_METRICS[task])
    if wrong:
        raise EvaluationError(
            f"datasets.{dataset}.floors names {', '.join(wrong)}, which a {task} task does not "
            f"have; use metrics of {sorted(_TASK_METRICS[task])} (primary: {primary})"
        )


@dataclass(frozen=True)
class Outputs:
    """What a model said about a labelled split: the raw material of every metric.

    ``score`` is the positive-class probability (binary) or the class-probability matrix in
    ``classes`` order (multiclass); regression has none. Row-aligned, so a bootstrap can
    resample rows of the labels and of both models' outputs with the same indices.
    """

    task: TaskKind
    actual: np.ndarray
    predicted: np.ndarray
    score: np.ndarray | None = None
    classes: tuple[Any, ...] = ()
    positive: Any = None

    def take(self, rows: np.ndarray) -> Outputs:
        """The same outputs for ``rows`` only (indices may repeat)."""
        score = None if self.score is None else self.score[rows]
        return Outputs(
            self.task, self.actual[rows], self.predicted[rows], score, self.classes, self.positive
        )


def model_outputs(
    model: Pipeline, frame: pd.DataFrame, schema: TableSchema, threshold: float
) -> Outputs:
    """Predictions (and probabilities) of ``model`` on a labelled ``frame``."""
    if frame.empty:
        raise EvaluationError("cannot evaluate on an empty split")
    x, y = frame[list(schema.features)], frame[schema.target].to_numpy()
    if schema.task == "regression":
        return Outputs("regression", y, np.asarray(model.predict(x), dtype=float))
    proba = np.asarray(model.predict_proba(x), dtype=float)
    model_classes = tuple(model.classes_)
    if schema.task == "binary":
        positive = schema.positive_class
        negative = next(c for c in schema.classes if c != positive)
        score = proba[:, model_classes.index(positive)]
        predicted = np.where(score >= threshold, positive, negative)
        return Outputs("binary", y, predicted, score, (negative, positive), positive)
    # numbers keep their dtype (an object array of ints is no class label to scikit-learn's
    # metrics: "a mix of multiclass and unknown targets"); text stays object
    labels = np.asarray(model_classes)
    labels = labels if labels.dtype.kind in "biuf" else np.asarray(model_classes, dtype=object)
    predicted = labels[proba.argmax(axis=1)]
    return Outputs("multiclass", y, predicted, proba, model_classes)


def baseline_outputs(
    train: pd.DataFrame, test: pd.DataFrame, schema: TableSchema, threshold: float
) -> Outputs:
    """The trivial baseline on ``test``: scikit-learn's ``DummyClassifier`` (prior: the training
    split's class shares as every row's probabilities) or ``DummyRegressor`` (mean), fitted on
    ``train``. It reads no feature: the bar any model must clear to have learned something."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    dummy = (
        DummyRegressor(strategy="mean")
        if schema.task == "regression"
        else DummyClassifier(strategy="prior")
    )
    dummy.fit(np.zeros((len(train), 1)), train[schema.target].to_numpy())

    class _Constant:
        classes_ = getattr(dummy, "classes_", None)

        def predict(self, x: pd.DataFrame) -> np.ndarray:
            return np.asarray(dummy.predict(np.zeros((len(x), 1))))

        def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
            return np.asarray(dummy.predict_proba(np.zeros((len(x), 1))))

    return model_outputs(_Constant(), test, schema, threshold)  # type: ignore[arg-type]


def _log_loss(out: Outputs) -> float:
    """Mean of -log(probability given to the true class), over the task's classes."""
    from sklearn import metrics as m

    assert out.score is not None
    if out.task == "binary":
        # booleans, so the positive-class probability is the "True" column whatever the labels
        truth = out.actual == out.positive
        return float(m.log_loss(truth, out.score, labels=[False, True]))
    # class codes in ``classes`` order: the columns of the score matrix, whatever the labels
    code = {label: i for i, label in enumerate(out.classes)}
    unknown = sorted({str(v) for v in out.actual.tolist() if v not in code})
    if unknown:
        raise EvaluationError(
            f"log_loss: actual labels {unknown} are not classes of the model {list(out.classes)}"
        )
    codes = np.array([code[v] for v in out.actual.tolist()])
    return float(m.log_loss(codes, out.score, labels=list(range(len(out.classes)))))


def _metric(name: str, out: Outputs) -> float:
    from sklearn import metrics as m

    y, predicted = out.actual, out.predicted
    if out.task == "regression":
        mse = float(m.mean_squared_error(y, predicted))
        values = {
            "mse": lambda: mse,
            "rmse": lambda: float(np.sqrt(mse)),
            "mae": lambda: float(m.mean_absolute_error(y, predicted)),
            "r2": lambda: float(m.r2_score(y, predicted)),
        }
        return values[name]()
    if name == "accuracy":
        return float(m.accuracy_score(y, predicted))
    if name == "log_loss":
        return _log_loss(out)
    if name == "f1_macro":
        # both classes (binary) or every class, each weighing the same; like sklearn's
        # "f1_macro" scorer, over the labels present in actual or predicted
        return float(m.f1_score(y, predicted, average="macro", zero_division=0))
    if out.task == "binary":
        assert out.score is not None
        negative, positive = out.classes
        both = len(set(y.tolist())) == 2
        if name == "roc_auc":
            return float(m.roc_auc_score(y == positive, out.score)) if both else float("nan")
        if name == "specificity":
            tn = int(np.sum((y == negative) & (predicted == negative)))
            fp = int(np.sum((y == negative) & (predicted == positive)))
            return tn / (tn + fp) if tn + fp else float("nan")
        scorer = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}
        return float(scorer[name](y, predicted, pos_label=positive, zero_division=0))
    assert out.score is not None
    if name == "roc_auc":
        if len(set(y.tolist())) != len(out.classes):
            return float("nan")
        return float(m.roc_auc_score(y, out.score, multi_class="ovr", labels=list(out.classes)))
    scorer = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}
    return float(scorer[name](y, predicted, average="macro", zero_division=0))


def compute_metrics(out: Outputs, names: Iterable[str] | None = None) -> dict[str, float]:
    """The task's metrics (or only ``names``) from ``out``.

    ``f1`` is the positive class's F1 (binary) or the macro average (multiclass); ``f1_macro``
    is the macro average for both; ``log_loss`` is lower-is-better (see ``LOWER_IS_BETTER``).
    """
    chosen = list(names) if names is not None else sorted(_TASK_METRICS[out.task])
    known = _TASK_METRICS[out.task]
    for name in chosen:
        if name not in known:
            raise EvaluationError(
                f"metric '{name}' does not apply to a {out.task} task; "
                f"choose one of {sorted(known)}"
            )
    return {name: _metric(name, out) for name in chosen}


def evaluate_model(
    model: Pipeline, frame: pd.DataFrame, schema: TableSchema, params: EvaluateParams
) -> Evaluation:
    """Metrics of ``model`` on a labelled ``frame`` (a validation or test split)."""
    from sklearn import metrics as m

    out = model_outputs(model, frame, schema, params.threshold)
    predictions = pd.DataFrame({"actual": out.actual, "predicted": out.predicted})
    values = compute_metrics(out)
    if out.task == "regression":
        return Evaluation(metrics=values, predictions=predictions, outputs=out)
    labels = list(out.classes) if out.task == "binary" else list(schema.classes)
    confusion = m.confusion_matrix(out.actual, out.predicted, labels=labels)
    roc = None
    if out.task == "binary":
        assert out.score is not None
        fpr, tpr = (
            m.roc_curve(out.actual == out.positive, out.score)[:2]
            if len(set(out.actual.tolist())) == 2
            else ([], [])
        )
        roc = pd.DataFrame({"fpr": fpr, "tpr": tpr})
    return Evaluation(
        metrics=values,
        predictions=predictions,
        confusion=confusion.astype(int).tolist(),
        labels=tuple(labels),
        roc=roc,
        outputs=out,
    )


def sklearn_scorer(metric: str, task: TaskKind) -> str:
    """scikit-learn's scorer name for our ``metric`` on a ``task`` (losses are negated)."""
    names = _SCORERS.get(task, {})
    if metric not in names:
        raise EvaluationError(
            f"no scikit-learn scorer for metric '{metric}' on a {task} task; "
            f"choose one of {sorted(names)}"
        )
    return names[metric]


def importance_scoring(metric: str, schema: TableSchema) -> str | Callable[..., float]:
    """The scoring of ``metric`` for cross-validation and permutation importance: the scorer
    name of :func:`sklearn_scorer`, or, for a binary metric that depends on which class is
    positive (precision, recall, f1, specificity), a scorer bound to the schema's positive
    class (specificity is the negative class's recall). These score the model's own
    ``predict``, not the evaluation threshold."""
    if schema.task != "binary" or metric not in _POSITIVE_LABEL_METRICS:
        return sklearn_scorer(metric, schema.task)
    from sklearn.metrics import f1_score, make_scorer, precision_score, recall_score

    positive = schema.positive_class
    negative = next(c for c in schema.classes if c != positive)
    function, label = {
        "precision": (precision_score, positive),
        "recall": (recall_score, positive),
        "f1": (f1_score, positive),
        "specificity": (recall_score, negative),
    }[metric]
    scorer: Callable[..., float] = make_scorer(function, pos_label=label, zero_division=0)
    return scorer
