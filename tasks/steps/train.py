"""Build and fit the one scikit-learn Pipeline that holds preprocessing and model together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from tasks.config import FeaturesParams, ModelsParams, TrainParams
from tasks.steps.ingest import TableSchema

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


@dataclass(frozen=True)
class Fitted:
    """A fitted pipeline and what feature engineering did to the training split."""

    model: Pipeline
    rows: dict[str, int]
    clipped: dict[str, int]
    dropped_columns: tuple[str, ...]

    def report(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "clipped_values": self.clipped,
            "dropped_columns": list(self.dropped_columns),
        }


def build_pipeline(
    schema: TableSchema,
    features: FeaturesParams,
    models: ModelsParams,
    params: TrainParams,
    hyperparams: dict[str, Any] | None = None,
    family: str | None = None,
) -> Pipeline:
    """Feature engineering (``features``) and the model (``family``, default ``train.model``,
    with ``models.<family>.fixed`` and ``hyperparams`` on top), in one Pipeline."""
    from sklearn.pipeline import Pipeline

    from tasks.steps.features import build_preprocessor, estimator_class_weight
    from tasks.steps.models import make_estimator

    chosen = family or params.model
    fixed = dict(models.family(chosen).fixed)  # type: ignore[arg-type]
    preprocessor = build_preprocessor(schema, features, params.seed)
    weight = estimator_class_weight(features.imbalance, schema.task)
    estimator = make_estimator(
        chosen, schema.task, {**fixed, **(hyperparams or {})}, params.seed, weight
    )
    return Pipeline([*preprocessor.steps, ("model", estimator)])


def training_rows(
    train: pd.DataFrame, schema: TableSchema, features: FeaturesParams, seed: int
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The training split's rows after outlier-row removal and class sampling, and the counts."""
    from tasks.steps.features import prepare_training_rows

    rows, report = prepare_training_rows(train, schema, features, seed)
    return rows, report.to_dict()


def describe_fit(model: Pipeline, rows: dict[str, int]) -> Fitted:
    """What the fitted preprocessing clipped and dropped, with the row counts."""
    from tasks.steps.features import clipped_counts, dropped_columns

    return Fitted(model, rows, clipped_counts(model), dropped_columns(model))


def fit_pipeline(
    train: pd.DataFrame,
    schema: TableSchema,
    features: FeaturesParams,
    models: ModelsParams,
    params: TrainParams,
) -> Fitted:
    """Prepare the training rows, then fit the pipeline of ``train.model`` on them."""
    rows, counts = training_rows(train, schema, features, params.seed)
    pipeline = build_pipeline(schema, features, models, params)
    pipeline.fit(rows[list(schema.features)], rows[schema.target])
    return describe_fit(pipeline, counts)
