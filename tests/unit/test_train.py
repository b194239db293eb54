"""Unit tests for the training pipeline: its shape, and fitting on small, messy frames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from tasks.adapters import io
from tasks.config import Params, load_params
from tasks.steps.ingest import TableSchema
from tasks.steps.train import Fitted, build_pipeline, fit_pipeline

PARAMS_FILE = Path(__file__).parents[2] / "params.yaml"
# Small models keep the suite fast; the structure is the same as with the repo's values.
FAST = ("models.hist_gradient_boosting.fixed.max_iter=20",)

BINARY = TableSchema("y", "binary", ("a", "b"), ("c",), classes=(0, 1))
MULTICLASS = TableSchema("y", "multiclass", ("a", "b"), ("c",), classes=("p", "q", "r"))
REGRESSION = TableSchema("y", "regression", ("a", "b"), ("c",))


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """Gradient boosting on 40 rows gains nothing from threads, and OpenMP threads spinning on
    a busy machine can slow a fit from milliseconds to seconds."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _params(*overrides: str) -> Params:
    return load_params(PARAMS_FILE, [*FAST, *overrides])


def _build(
    schema: TableSchema, *overrides: str, hyperparams: dict[str, Any] | None = None
) -> Pipeline:
    params = _params(*overrides)
    return build_pipeline(schema, params.features, params.models, params.train, hyperparams)


def _fit(frame: pd.DataFrame, schema: TableSchema, *overrides: str) -> Fitted:
    params = _params(*overrides)
    return fit_pipeline(frame, schema, params.features, params.models, params.train)


def _frame(rows: int = 40) -> pd.DataFrame:
    """``rows`` rows with NaNs in a numeric and in the categorical column; y follows a."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=rows)
    b = rng.normal(size=rows)
    c = np.array(["x", "y", "z", "x"] * (rows // 4), dtype=object)
    y = (a > 0).astype(int)
    a[[3, 7]] = np.nan
    c[[5, 9]] = np.nan
    return pd.DataFrame({"a": a, "b": b, "c": c, "y": y})


def _steps(pipeline: object) -> list[str]:
    return [name for name, _ in pipeline.steps]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("model", "schema", "estimator"),
    [
        ("hist_gradient_boosting", BINARY, HistGradientBoostingClassifier),
        ("hist_gradient_boosting", MULTICLASS, HistGradientBoostingClassifier),
        ("hist_gradient_boosting", REGRESSION, HistGradientBoostingRegressor),
        ("logistic_regression", BINARY, LogisticRegression),
        ("logistic_regression", MULTICLASS, LogisticRegression),
        ("ridge", REGRESSION, Ridge),
    ],
)
def test_build_pipeline_steps_and_estimator(
    model: str, schema: TableSchema, estimator: type
) -> None:
    pipeline = _build(schema, f"train.model={model}")

    assert _steps(pipeline) == ["columns", "model"]
    assert type(pipeline.named_steps["model"]) is estimator
    columns = pipeline.named_steps["columns"]
    assert [(name, names) for name, _, names in columns.transformers] == [
        ("numeric", ["a", "b"]),
        ("categorical", ["c"]),
    ]
    numeric, categorical = columns.transformers[0][1], columns.transformers[1][1]
    assert [type(step) for _, step in numeric.steps] == [SimpleImputer, StandardScaler]
    assert [type(step) for _, step in categorical.steps] == [SimpleImputer, OneHotEncoder]


def test_model_options_come_from_params() -> None:
    hgb = _build(BINARY, "train.seed=7", hyperparams={"min_samples_leaf": 5}).named_steps["model"]
    # C and alpha are searched in the repo's spaces; a key is either fixed or searched, so
    # fixing one takes it out of the space.
    logistic = _build(
        BINARY,
        "train.model=logistic_regression",
        "models.logistic_regression.space={}",
        "models.logistic_regression.fixed.C=0.5",
    )
    ridge = _build(
        REGRESSION, "train.model=ridge", "models.ridge.space={}", "models.ridge.fixed.alpha=2.0"
    )

    assert (hgb.max_iter, hgb.min_samples_leaf, hgb.random_state) == (20, 5, 7)
    # The searched space is not applied when training one model: scikit-learn's defaults.
    assert (hgb.learning_rate, hgb.max_leaf_nodes, hgb.l2_regularization) == (0.1, 31, 0.0)
    assert (hgb.early_stopping, hgb.validation_fraction, hgb.n_iter_no_change) == (True, 0.1, 10)
    assert (logistic.named_steps["model"].C, logistic.named_steps["model"].max_iter) == (0.5, 1000)
    assert ridge.named_steps["model"].alpha == 2.0


def test_hyperparams_win_over_fixed_and_family_over_train_model() -> None:
    params = _params()

    pipeline = build_pipeline(
        REGRESSION,
        params.features,
        params.models,
        params.train,
        {"max_iter": 30},
        family="hist_gradient_boosting",
    )
    ridge = build_pipeline(REGRESSION, params.features, params.models, params.train, family="ridge")

    assert params.train.model == "hist_gradient_boosting"
    assert (type(pipeline.named_steps["model"]), pipeline.named_steps["model"].max_iter) == (
        HistGradientBoostingRegressor,
        30,
    )
    assert type(ridge.named_steps["model"]) is Ridge


def test_scale_none_drops_the_scaler() -> None:
    pipeline = _build(BINARY, "features.transform.scaling=none")

    numeric = pipeline.named_steps["columns"].transformers[0][1]
    assert [type(step) for _, step in numeric.steps] == [SimpleImputer]


def test_imputation_and_encoding_options() -> None:
    pipeline = _build(
        BINARY,
        "features.missing.numeric_imputation=mean",
        "features.missing.categorical_imputation=constant",
        "features.encoding.min_frequency=0.0",
    )

    columns = pipeline.named_steps["columns"]
    numeric_imputer = columns.transformers[0][1].steps[0][1]
    categorical_imputer, encoder = (step for _, step in columns.transformers[1][1].steps)
    assert numeric_imputer.strategy == "mean"
    assert (categorical_imputer.strategy, categorical_imputer.fill_value) == (
        "constant",
        "missing",
    )
    assert encoder.min_frequency is None
    assert encoder.handle_unknown == "infrequent_if_exist"


@pytest.mark.parametrize("model", ["hist_gradient_boosting", "logistic_regression"])
def test_fit_with_missing_values_and_unseen_category(model: str) -> None:
    pipeline = _fit(_frame(), BINARY, f"train.model={model}").model
    new = pd.DataFrame({"a": [1.5, np.nan], "b": [0.1, np.nan], "c": ["never seen", np.nan]})

    proba = pipeline.predict_proba(new)

    assert proba.shape == (2, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(pipeline.classes_) == [0, 1]
    assert set(pipeline.predict(new)) <= {0, 1}


def test_fit_uses_only_the_schema_features() -> None:
    frame = _frame().assign(session_id=range(40), extra=["noise"] * 40)

    fitted = _fit(frame, BINARY)

    assert list(fitted.model.feature_names_in_) == ["a", "b", "c"]


def test_fit_with_the_repo_features_reports_nothing_changed() -> None:
    fitted = _fit(_frame(), BINARY)

    assert fitted.rows == {
        "rows_in": 40,
        "outliers_removed": 0,
        "sampling_added": 0,
        "sampling_removed": 0,
        "rows_out": 40,
    }
    assert fitted.clipped == {}
    assert fitted.dropped_columns == ()


def test_fit_regression() -> None:
    frame = _frame().assign(y=lambda f: np.arange(40) * 0.5)

    pipeline = _fit(frame, REGRESSION, "train.model=ridge").model

    assert type(pipeline.named_steps["model"]) is Ridge
    assert pipeline.predict(frame[["a", "b", "c"]]).shape == (40,)


def test_fit_learns_the_signal() -> None:
    frame = _frame()
    pipeline = _fit(frame, BINARY, "train.model=logistic_regression").model

    proba = pipeline.predict_proba(pd.DataFrame({"a": [-2.0, 2.0], "b": [0.0, 0.0], "c": "x"}))

    assert proba[0, 1] < 0.5 < proba[1, 1]


def test_same_seed_gives_identical_probabilities() -> None:
    frame = _frame()
    params = _params("train.seed=11")

    def fit() -> Pipeline:
        return fit_pipeline(frame, BINARY, params.features, params.models, params.train).model

    first = fit().predict_proba(frame[["a", "b", "c"]])
    second = fit().predict_proba(frame[["a", "b", "c"]])

    np.testing.assert_array_equal(first, second)


def test_missing_text_read_back_from_parquet_is_imputed_like_nan(tmp_path: Path) -> None:
    # Parquet returns None for missing text; the train stage reads its split with io.read_frame,
    # which must hand scikit-learn NaN so that the imputer sees the gap.
    path = tmp_path / "train.parquet"
    io.write_frame(_frame(), path)
    frame = io.read_frame(path)
    preprocess = _build(BINARY, "features.encoding.min_frequency=0.0")[:-1]

    preprocess.fit(frame[["a", "b", "c"]])

    assert _steps(preprocess) == ["columns"]
    assert list(preprocess.get_feature_names_out()) == ["a", "b", "c_x", "c_y", "c_z"]
