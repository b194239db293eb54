"""Unit tests for the train / validation / test split."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tasks.config import SplitParams
from tasks.steps.ingest import TableSchema
from tasks.steps.split import SplitError, split_frame

BINARY = TableSchema("y", "binary", ("x",), (), id_columns=("id",), classes=(0, 1))
REGRESSION = TableSchema("y", "regression", ("x",), (), id_columns=("id",))


def _params(
    validation_size: float = 0.1, test_size: float = 0.1, stratify: bool = True, seed: int = 42
) -> SplitParams:
    return SplitParams(
        validation_size=validation_size, test_size=test_size, stratify=stratify, seed=seed
    )


def _frame(rows: int = 100, positives: int = 30) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(rows),
            "x": np.arange(rows) * 0.5,
            "y": [1] * positives + [0] * (rows - positives),
        }
    )


def test_sizes() -> None:
    train, valid, test = split_frame(_frame(), BINARY, _params())

    assert (len(train), len(valid), len(test)) == (80, 10, 10)


def test_uneven_sizes() -> None:
    train, valid, test = split_frame(_frame(), BINARY, _params(0.25, 0.15, stratify=False))

    assert (len(train), len(valid), len(test)) == (60, 25, 15)


def test_every_row_lands_exactly_once() -> None:
    parts = split_frame(_frame(), BINARY, _params())

    ids = [i for part in parts for i in part["id"]]
    assert sorted(ids) == list(range(100))
    assert all(part.index.tolist() == list(range(len(part))) for part in parts)
    assert all(list(part.columns) == ["id", "x", "y"] for part in parts)


def test_rows_are_kept_whole() -> None:
    for part in split_frame(_frame(), BINARY, _params()):
        assert (part["x"] == part["id"] * 0.5).all()
        assert (part["y"] == (part["id"] < 30).astype(int)).all()


def test_stratification_keeps_class_shares() -> None:
    train, valid, test = split_frame(_frame(), BINARY, _params())

    assert (int(train["y"].sum()), int(valid["y"].sum()), int(test["y"].sum())) == (24, 3, 3)


def test_same_seed_gives_identical_splits() -> None:
    first = split_frame(_frame(), BINARY, _params(seed=3))
    second = split_frame(_frame(), BINARY, _params(seed=3))

    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_different_seed_gives_different_split() -> None:
    _, _, test_a = split_frame(_frame(), BINARY, _params(seed=1))
    _, _, test_b = split_frame(_frame(), BINARY, _params(seed=2))

    assert sorted(test_a["id"]) != sorted(test_b["id"])


def test_regression_is_not_stratified() -> None:
    frame = _frame().assign(y=np.linspace(0.0, 1.0, 100))

    train, valid, test = split_frame(frame, REGRESSION, _params(stratify=True))

    assert (len(train), len(valid), len(test)) == (80, 10, 10)
    assert sorted(i for part in (train, valid, test) for i in part["id"]) == list(range(100))


def test_unstratified_split_allows_a_rare_class() -> None:
    frame = _frame().assign(y=[2, 2] + [1] * 30 + [0] * 68)

    train, valid, test = split_frame(frame, BINARY, _params(stratify=False))

    assert len(train) + len(valid) + len(test) == 100


def test_rare_class_error() -> None:
    frame = _frame().assign(y=[2, 2] + [1] * 30 + [0] * 68)

    message = (
        "cannot stratify: class(es) [2] of 'y' have too few rows ([2]) to appear in every "
        "split; add data or set split.stratify=false"
    )
    with pytest.raises(SplitError, match=f"^{re.escape(message)}$"):
        split_frame(frame, BINARY, _params())


def test_too_few_rows_error_names_the_row_count() -> None:
    frame = _frame(rows=3, positives=0).assign(y=[0.1, 0.2, 0.3])

    with pytest.raises(SplitError, match=re.escape("cannot split 3 rows: ")):
        split_frame(frame, REGRESSION, _params())


def test_class_too_small_for_the_holdout_gets_the_stratify_message() -> None:
    frame = _frame(rows=30, positives=3)

    with pytest.raises(SplitError, match=re.escape("cannot stratify: class(es) [1] of 'y'")):
        split_frame(frame, BINARY, _params())
