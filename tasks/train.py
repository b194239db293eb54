"""Build and fit the one scikit-learn Pipeline that holds preprocessing and model together."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from tasks.config import TrainParams
from tasks.ingest import TableSchema

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def build_pipeline(schema: TableSchema, params: TrainParams) -> Pipeline:
    """Imputation, one-hot encoding, scaling and the model, in one Pipeline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps: list[object] = [SimpleImputer(strategy=params.numeric_imputation)]
    if params.scale:
        numeric_steps.append(StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy=params.categorical_imputation, fill_value="missing"),
        OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=params.one_hot_min_frequency or None,
            sparse_output=False,
        ),
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(*numeric_steps), list(schema.numeric)),
            ("categorical", categorical, list(schema.categorical)),
        ],
        verbose_feature_names_out=False,
    )
    classify = schema.task != "regression"
    model: object
    if params.model == "hist_gradient_boosting":
        hgb = params.hist_gradient_boosting
        options = {
            "learning_rate": hgb.learning_rate,
            "max_iter": hgb.max_iter,
            "max_leaf_nodes": hgb.max_leaf_nodes,
            "min_samples_leaf": hgb.min_samples_leaf,
            "l2_regularization": hgb.l2_regularization,
            "early_stopping": False,
            "random_state": params.seed,
        }
        model = (
            HistGradientBoostingClassifier(**options)
            if classify
            else HistGradientBoostingRegressor(**options)
        )
    elif classify:
        model = LogisticRegression(
            C=params.linear.C, max_iter=params.linear.max_iter, random_state=params.seed
        )
    else:
        model = Ridge(alpha=params.linear.alpha, random_state=params.seed)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def fit_pipeline(train: pd.DataFrame, schema: TableSchema, params: TrainParams) -> Pipeline:
    """Fit the pipeline on the training split's features and target."""
    pipeline = build_pipeline(schema, params)
    pipeline.fit(train[list(schema.features)], train[schema.target])
    return pipeline
