"""Split a table into train, validation and test sets: seeded, stratified for classification."""

from __future__ import annotations

import pandas as pd

from tasks.config import SplitParams
from tasks.steps.ingest import TableSchema


class SplitError(ValueError):
    """The table cannot be split as configured."""


def split_frame(
    frame: pd.DataFrame, schema: TableSchema, params: SplitParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return (train, validation, test) with the configured shares; every row lands once."""
    from sklearn.model_selection import train_test_split

    stratify = params.stratify and schema.task != "regression"
    holdout = params.validation_size + params.test_size
    labels = frame[schema.target] if stratify else None
    if stratify:
        # each class needs at least one row in the smaller held-out split
        counts = frame[schema.target].value_counts()
        rare = counts[counts * min(params.validation_size, params.test_size) < 1]
        if not rare.empty:
            raise SplitError(
                f"cannot stratify: class(es) {rare.index.tolist()} of '{schema.target}' have "
                f"too few rows ({rare.tolist()}) to appear in every split; "
                "add data or set split.stratify=false"
            )
    try:
        train, rest = train_test_split(
            frame, test_size=holdout, random_state=params.seed, stratify=labels
        )
        rest_labels = rest[schema.target] if stratify else None
        valid, test = train_test_split(
            rest,
            test_size=params.test_size / holdout,
            random_state=params.seed,
            stratify=rest_labels,
        )
    except ValueError as error:
        raise SplitError(f"cannot split {len(frame)} rows: {error}") from None
    return (
        train.reset_index(drop=True),
        valid.reset_index(drop=True),
        test.reset_index(drop=True),
    )
