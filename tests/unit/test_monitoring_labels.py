"""Labels that arrive late (JSON through POST /feedback, a feedback file) get the model's own
type before the quality check compares them with its predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tasks.pipeline.monitor import typed_labels
from tasks.types import ServedModel


def _served(task: str, classes: tuple[Any, ...]) -> ServedModel:
    return ServedModel("m", "1", None, (), classes, task, 0.5, "run", "d" * 32, {})


def test_regression_labels_are_numbers_and_text_that_is_not_is_missing() -> None:
    """Before: a regression label kept whatever type it arrived with, so one "n/a" among the
    labels made the rmse raise (ValueError: could not convert string to float) and the whole
    monitor run fail."""
    labels = pd.Series([151, 75.5, "151.0", "n/a", None], dtype=object)

    typed = typed_labels(labels, _served("regression", ()))

    assert typed.dtype == np.float64
    assert typed.tolist()[:3] == [151.0, 75.5, 151.0]
    assert typed.isna().tolist() == [False, False, False, True, True]


def test_text_classes_stay_text_and_numbers_become_the_models_text_class() -> None:
    served = _served("multiclass", ("Adelie", "Chinstrap", "Gentoo"))

    typed = typed_labels(pd.Series(["Gentoo", "Adelie", "Emperor"], dtype=object), served)

    assert typed.tolist() == ["Gentoo", "Adelie", "Emperor"]  # an unknown class: a wrong answer
    text_numbers = _served("multiclass", ("1", "2", "3"))
    assert typed_labels(pd.Series([2, "3"], dtype=object), text_numbers).tolist() == ["2", "3"]


def test_integer_classes_take_floats_and_text_of_whole_numbers() -> None:
    """Before: ``type(classes[0])(label)`` made 1.5 the class 1 and raised on "2.0"."""
    served = _served("multiclass", (np.int64(0), np.int64(1), np.int64(2)))

    typed = typed_labels(pd.Series([2.0, "1", "2.0", 1.5, 0], dtype=object), served)

    assert typed.tolist() == [2, 1, 2, 1.5, 0]
    assert [type(v) for v in typed] == [np.int64, np.int64, np.int64, float, np.int64]
