"""Scoring with a registered model: the one decision rule the endpoint and batch runs share.

Labels follow the rule evaluate used when the model was judged: for a binary task, the
positive class (the larger label) when its probability reaches the threshold the run was
evaluated with; the most probable class for multiclass; the value for regression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tasks.types import ServedModel


class ScoringError(ValueError):
    """A batch the model cannot score (columns its signature needs are missing)."""


class UnfitModel(ValueError):
    """A version that loads but cannot score its own input example, or answers it wrongly."""


def _answer_problem(served: ServedModel, rows: int, labels: list[Any], proba: Any) -> str | None:
    """What is wrong with a version's answer to ``rows`` rows, or None."""
    if len(labels) != rows:
        return f"{len(labels)} answer(s) for {rows} row(s)"
    if proba is None:
        values = np.asarray(labels, dtype=object)
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) != rows or not np.isfinite(np.asarray(numbers, dtype=float)).all():
            return f"values that are not all finite numbers, e.g. {labels[:3]!r}"
        return None
    if proba.shape != (rows, len(served.classes)):
        return f"probabilities of shape {proba.shape}, not ({rows}, {len(served.classes)})"
    if not np.isfinite(proba).all() or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-6):
        return "probabilities that are not finite or do not sum to 1"
    unknown = [label for label in labels if label not in served.classes]
    if unknown:
        return f"labels that are not its classes, e.g. {unknown[:3]!r}"
    return None


def try_example(served: ServedModel) -> int:
    """Score the version's own input example, as requests are scored, and check the answer:
    one finite value per row (regression) or one of its classes per row with probabilities
    that sum to 1. Raises :class:`UnfitModel` naming what is wrong; returns the rows tried.

    A version that fails here is never installed: it would turn every request into a 500."""
    what = f"{served.model_name} v{served.version}"
    frame = served.example
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise UnfitModel(f"{what} has no input example to try it on")
    try:
        labels, proba = score_frame(served, model_inputs(served, frame, f"{what}'s example"))
    except Exception as error:  # whatever the Pipeline raises: the version is unfit
        shown = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        raise UnfitModel(f"{what} cannot score its own input example ({shown})") from None
    problem = _answer_problem(served, len(frame), labels, proba)
    if problem is not None:
        raise UnfitModel(f"{what} answers its own input example with {problem}")
    return len(frame)


def score_frame(served: ServedModel, frame: pd.DataFrame) -> tuple[list[Any], np.ndarray | None]:
    """Labels (or values) and, for classification, class probabilities of ``frame``'s rows, by
    the runtime that serves the version (its compiled graph, or the Pipeline)."""
    if served.compiled is not None:
        return score_columns(served, {name: frame[name].tolist() for name in frame.columns})
    model = served.model
    if served.task == "regression" or not served.classes:
        return np.asarray(model.predict(frame)).tolist(), None
    return decided(served, np.asarray(model.predict_proba(frame), dtype=float))


def score_columns(
    served: ServedModel, columns: Mapping[str, Sequence[Any]]
) -> tuple[list[Any], np.ndarray | None]:
    """:func:`score_frame` by the version's compiled graph (``served.compiled``), from one
    sequence of values per column (no DataFrame): the same rule on its probabilities."""
    from tasks.steps.compiled import run

    values = run(served.compiled, columns)
    if served.task == "regression" or not served.classes:
        return values.tolist(), None
    return decided(served, values)


def decided(served: ServedModel, proba: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """The labels of ``proba``'s rows by the version's rule (the threshold for binary)."""
    classes = np.asarray(served.classes, dtype=object)
    if served.task == "binary":
        labels = np.where(proba[:, -1] >= served.threshold, classes[-1], classes[0])
    else:
        labels = classes[proba.argmax(axis=1)]
    return [label.item() if hasattr(label, "item") else label for label in labels], proba


def model_inputs(served: ServedModel, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The columns of ``frame`` the model takes, in signature order, missing values as NaN
    (optional columns may be absent: all missing); an error names absent required ones."""
    missing = [c.name for c in served.columns if c.required and c.name not in frame.columns]
    if missing:
        raise ScoringError(
            f"{source}: column(s) {missing} are missing; model '{served.model_name}' version "
            f"{served.version} needs them"
        )
    columns = {}
    for column in served.columns:
        values = frame[column.name] if column.name in frame.columns else None
        if values is None:
            columns[column.name] = pd.Series(np.nan, frame.index)
        elif values.dtype == object:
            # Parquet and JSON give None for a missing text value; scikit-learn's imputers
            # count only NaN as missing
            columns[column.name] = values.where(values.notna(), np.nan)
        else:
            columns[column.name] = values
    return pd.DataFrame(columns)


def predictions_frame(
    served: ServedModel,
    labels: list[Any],
    proba: np.ndarray | None,
    probabilities: bool,
) -> pd.DataFrame:
    """``prediction`` (and ``probability_<class>`` columns) for one scored chunk."""
    out = pd.DataFrame({"prediction": labels})
    if probabilities and proba is not None:
        for index, label in enumerate(served.classes):
            out[f"probability_{label}"] = proba[:, index]
    return out
