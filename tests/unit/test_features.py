"""Unit tests for feature engineering: each option on a tiny frame with exact values, the
training-row preparation, and skops round trips of every option."""

from __future__ import annotations

import functools
import math
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from pydantic import ValidationError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PowerTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from tasks.adapters.tracking import TRUSTED_TYPES
from tasks.config import FeaturesParams, ImbalanceParams, apply_overrides, load_params, read_raw
from tasks.steps import features
from tasks.steps.features import (
    FEATURE_TRUSTED_TYPES,
    FeaturesError,
    TrainingRowsReport,
    build_preprocessor,
    clipped_counts,
    dropped_columns,
    estimator_class_weight,
    prepare_training_rows,
)
from tasks.steps.ingest import TableSchema
from tasks.steps.train import build_pipeline

REPO = Path(__file__).parents[2]
PARAMS_FILE = REPO / "params.yaml"

# The repo's features section (params.yaml must say exactly this): median / most_frequent
# imputation, standard scaling, one-hot with min_frequency 0.01, nothing else on.
BASELINE: dict[str, Any] = {
    "missing": {
        "numeric_imputation": "median",
        "numeric_fill_value": 0.0,
        "categorical_imputation": "most_frequent",
        "categorical_fill_value": "missing",
        "indicators": False,
        "max_null_fraction": 1.0,
    },
    "outliers": {
        "clip": "none",
        "iqr_factor": 1.5,
        "zscore_threshold": 3.0,
        "rows": "none",
        "contamination": "auto",
        "n_estimators": 100,
        "n_neighbors": 20,
    },
    "transform": {
        "skew": "none",
        "skew_columns": "auto",
        "skew_threshold": 1.0,
        "binning": "none",
        "bin_columns": [],
        "n_bins": 5,
        "scaling": "standard",
    },
    "encoding": {"method": "one_hot", "min_frequency": 0.01, "unknown_value": -1},
    "selection": {
        "method": "none",
        "variance_threshold": 0.0,
        "filter": {"score": "mutual_info", "k": 20},
        "embedded": {
            "model": "l1",
            "l1_solver": "liblinear",
            "C": 1.0,
            "alpha": 0.01,
            "max_iter": 1000,
            "n_estimators": 100,
            "threshold": None,
            "max_features": None,
        },
        "wrapper": {
            "method": "rfe",
            "n_features_to_select": 0.5,
            "min_features_to_select": 1,
            "step": 1,
            "cv": 5,
            "C": 1.0,
            "alpha": 1.0,
            "max_iter": 1000,
        },
    },
    "pca": {"n_components": None},
    "imbalance": {"class_weight": "none", "sampling": "none", "sampling_ratio": 1.0},
}

AB_C = TableSchema("y", "binary", ("a", "b"), ("c",), classes=(0, 1))
A_ONLY = TableSchema("y", "binary", ("a",), (), classes=(0, 1))
C_ONLY = TableSchema("y", "binary", (), ("c",), classes=(0, 1))


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _params(*overrides: str) -> FeaturesParams:
    """BASELINE with ``features.``-less dotted overrides, as ``--set features.<key>=<value>``."""
    raw = apply_overrides({"features": BASELINE}, [f"features.{o}" for o in overrides])
    return FeaturesParams.model_validate(raw["features"])


def _fit(
    schema: TableSchema, frame: pd.DataFrame, *overrides: str, y: Any = None
) -> tuple[Pipeline, pd.DataFrame]:
    pipeline = build_preprocessor(schema, _params(*overrides), seed=0)
    return pipeline, pipeline.fit_transform(frame, y)


def _numeric(pipeline: Pipeline, step: str) -> Any:
    branch = pipeline.named_steps["columns"].named_transformers_["numeric"]
    return branch.named_steps[step]


# --- params ---------------------------------------------------------------------------------


def test_the_repo_params_features_are_the_baseline() -> None:
    assert read_raw(PARAMS_FILE)["features"] == BASELINE
    assert load_params(PARAMS_FILE).features == _params()


def test_the_baseline_imputes_scales_and_one_hot_encodes() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=40),
            "b": rng.normal(size=40),
            "c": np.array(["x", "y", "z", "x"] * 10, dtype=object),
        }
    )
    frame.loc[[3, 7], "a"] = np.nan
    frame.loc[[5, 9], "c"] = np.nan
    params = load_params(PARAMS_FILE)
    preprocess = build_pipeline(AB_C, params.features, params.models, params.train)[:-1]
    # By hand: median-filled, standardised numbers; gaps in c are its most frequent value, x.
    numbers = StandardScaler().fit_transform(frame[["a", "b"]].fillna(frame[["a", "b"]].median()))
    filled = frame["c"].fillna("x")
    expected = np.column_stack([numbers, *((filled == v).to_numpy(float) for v in "xyz")])

    out = preprocess.fit_transform(frame)
    pipeline, baseline_out = _fit(AB_C, frame)

    assert [name for name, _ in pipeline.steps] == [name for name, _ in preprocess.steps]
    assert [name for name, _ in pipeline.steps] == ["columns"]
    branches = pipeline.named_steps["columns"].named_transformers_
    assert list(branches["numeric"].named_steps) == ["impute", "scale"]
    assert list(branches["categorical"].named_steps) == ["impute", "encode"]
    assert list(out.columns) == list(baseline_out.columns) == ["a", "b", "c_x", "c_y", "c_z"]
    assert filled.value_counts().to_dict() == {"x": 22, "z": 10, "y": 8}
    np.testing.assert_array_equal(out.to_numpy(), expected)
    np.testing.assert_array_equal(baseline_out.to_numpy(), expected)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("missing.numeric_imputation=mode", r"missing.numeric_imputation\n  Input should be"),
        ("missing.categorical_imputation=mean", r"categorical_imputation\n  Input should be"),
        ("missing.max_null_fraction=1.5", r"less than or equal to 1"),
        (
            "outliers.contamination=0.6",
            r"contamination.constrained-float\n  Input should be less than or equal to 0.5",
        ),
        (
            "transform.skew_columns=some",
            r"skew_columns.literal\['auto'\]\n  Input should be 'auto'",
        ),
        ("pca.n_components=1.5", r"pca.n_components"),
        ("selection.bogus=1", r"selection.bogus\n  Extra inputs are not permitted"),
    ],
)
def test_bad_params_are_rejected(override: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FeaturesParams.model_validate(
            apply_overrides({"features": BASELINE}, [f"features.{override}"])["features"]
        )


def test_pca_components_are_a_count_or_a_share() -> None:
    assert _params("pca.n_components=3").pca.n_components == 3
    assert _params("pca.n_components=0.95").pca.n_components == 0.95


# --- missing values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "filled"),
    [("mean", 3.0), ("median", 2.5), ("most_frequent", 1.0), ("constant", -1.5)],
)
def test_numeric_imputation(strategy: str, filled: float) -> None:
    frame = pd.DataFrame({"a": [1.0, 1.0, 4.0, 6.0, np.nan]})

    _, out = _fit(
        A_ONLY,
        frame,
        f"missing.numeric_imputation={strategy}",
        "missing.numeric_fill_value=-1.5",
        "transform.scaling=none",
    )

    assert out["a"].tolist() == [1.0, 1.0, 4.0, 6.0, filled]


@pytest.mark.parametrize(
    ("strategy", "columns", "last_row"),
    [
        ("most_frequent", ["c_x", "c_y"], [0.0, 1.0]),
        ("constant", ["c_absent", "c_x", "c_y"], [1.0, 0.0, 0.0]),
    ],
)
def test_categorical_imputation(strategy: str, columns: list[str], last_row: list[float]) -> None:
    frame = pd.DataFrame({"c": ["x", "y", "y", np.nan]})

    _, out = _fit(
        C_ONLY,
        frame,
        f"missing.categorical_imputation={strategy}",
        "missing.categorical_fill_value=absent",
        "encoding.min_frequency=0.0",
    )

    assert list(out.columns) == columns
    assert out.iloc[3].tolist() == last_row


def test_missing_indicators_for_the_columns_with_gaps_in_training() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [1.0, 2.0, 3.0], "c": ["x", np.nan, "y"]})
    pipeline, out = _fit(AB_C, frame, "missing.indicators=true", "encoding.min_frequency=0.0")
    serve = pd.DataFrame({"a": [np.nan], "b": [np.nan], "c": ["x"]})

    assert list(out.columns) == [
        "a", "b", "c_x", "c_y", "missingindicator_a", "missingindicator_c",
    ]  # fmt: skip
    assert out["missingindicator_a"].tolist() == [False, True, False]
    assert out["missingindicator_c"].tolist() == [False, True, False]
    # b had no gap in training: a gap at serve time is imputed, not an error or a new column
    assert pipeline.transform(serve).iloc[0].tolist() == [0.0, 0.0, 1.0, 0.0, True, False]


def test_columns_above_the_null_ceiling_are_dropped_and_reported() -> None:
    frame = pd.DataFrame(
        {
            "a": [np.nan, np.nan, 1.0, 2.0],  # 0.50 null
            "b": [np.nan, 1.0, 2.0, 3.0],  # 0.25 null: at the ceiling, kept
            "c": [np.nan, np.nan, np.nan, "x"],  # 0.75 null
            "d": ["x", "y", "x", "y"],
        }
    )
    schema = TableSchema("y", "binary", ("a", "b"), ("c", "d"), classes=(0, 1))

    pipeline, out = _fit(schema, frame, "missing.max_null_fraction=0.25", "missing.indicators=true")

    assert dropped_columns(pipeline) == ("a", "c")
    assert list(out.columns) == ["b", "d_x", "d_y", "missingindicator_b"]
    dropper = _numeric(pipeline, "drop_nulls")
    assert dropper.null_fractions_ == {"a": 0.5, "b": 0.25}


def test_a_ceiling_that_drops_every_column_is_an_error() -> None:
    frame = pd.DataFrame({"a": [np.nan, 1.0], "b": [2.0, np.nan], "c": ["x", "y"]})

    with pytest.raises(
        ValueError,
        match=r"every column \['a', 'b'\] has a null share above max_null_fraction=0.1",
    ):
        _fit(AB_C, frame, "missing.max_null_fraction=0.1")


def test_no_ceiling_no_dropper() -> None:
    pipeline, _ = _fit(AB_C, pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, 1.0], "c": ["x", "y"]}))

    assert dropped_columns(pipeline) == ()


# --- outliers inside the pipeline ----------------------------------------------------------


def test_iqr_clipping_learns_bounds_in_fit_and_counts_what_it_clipped() -> None:
    # a: Q1 2, Q3 4, IQR 2 -> bounds [2 - 3, 4 + 3] = [-1, 7]; the gap is filled after
    # clipping (mean of 1, 2, 3, 4, 7 = 3.4, not 22). b: IQR 0, left alone.
    frame = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0, 4.0, 100.0, np.nan], "b": [0.0, 0.0, 0.0, 0.0, 5.0, 0.0]}
    )
    schema = TableSchema("y", "binary", ("a", "b"), (), classes=(0, 1))

    pipeline, out = _fit(
        schema,
        frame,
        "outliers.clip=iqr",
        "missing.numeric_imputation=mean",
        "transform.scaling=none",
    )

    clipper = _numeric(pipeline, "clip")
    assert clipper.lower_.tolist() == [-1.0, -math.inf]
    assert clipper.upper_.tolist() == [7.0, math.inf]
    assert clipper.n_clipped_ == {"a": 1, "b": 0}
    assert clipped_counts(pipeline) == {"a": 1, "b": 0}
    assert out["a"].tolist() == [1.0, 2.0, 3.0, 4.0, 7.0, 3.4]
    assert out["b"].tolist() == [0.0, 0.0, 0.0, 0.0, 5.0, 0.0]
    serve = pd.DataFrame({"a": [-10.0, 50.0], "b": [9.0, -9.0]})
    assert pipeline.transform(serve).to_numpy().tolist() == [[-1.0, 9.0], [7.0, -9.0]]


def test_zscore_clipping() -> None:
    # a: mean 2, population std 4 -> bounds 2 -/+ 1.5 * 4 = [-4, 8]; b is constant
    frame = pd.DataFrame({"a": [0.0, 0.0, 0.0, 0.0, 10.0], "b": [1.0] * 5})
    schema = TableSchema("y", "binary", ("a", "b"), (), classes=(0, 1))

    pipeline, out = _fit(
        schema,
        frame,
        "outliers.clip=zscore",
        "outliers.zscore_threshold=1.5",
        "transform.scaling=none",
    )

    clipper = _numeric(pipeline, "clip")
    assert (clipper.lower_.tolist(), clipper.upper_.tolist()) == ([-4.0, 1.0], [8.0, 1.0])
    assert clipper.n_clipped_ == {"a": 1, "b": 0}
    assert out["a"].tolist() == [0.0, 0.0, 0.0, 0.0, 8.0]


def test_no_clipping_no_counts() -> None:
    pipeline, _ = _fit(A_ONLY, pd.DataFrame({"a": [1.0, 2.0]}))

    assert clipped_counts(pipeline) == {}


# --- transforms -----------------------------------------------------------------------------


def test_log_transform_of_named_columns() -> None:
    frame = pd.DataFrame({"a": [0.0, math.e - 1, math.e**2 - 1], "b": [1.0, 2.0, 3.0], "c": "x"})

    _, out = _fit(
        AB_C, frame, "transform.skew=log", "transform.skew_columns=[a]", "transform.scaling=none"
    )

    assert out["a"].tolist() == pytest.approx([0.0, 1.0, 2.0], abs=1e-12)
    assert out["b"].tolist() == [1.0, 2.0, 3.0]


def test_log_refuses_negative_values_in_fit() -> None:
    frame = pd.DataFrame({"a": [-1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0], "c": "x"})

    with pytest.raises(
        ValueError,
        match=r"log transform: columns \['a'\] have negative values \(minimum \{'a': -1.0\}\); "
        r"log1p needs values >= 0: use yeo_johnson",
    ):
        _fit(AB_C, frame, "transform.skew=log", "transform.skew_columns=[a, b]")


def test_log_refuses_negative_values_at_serve_time() -> None:
    frame = pd.DataFrame({"a": [0.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0], "c": "x"})
    pipeline, _ = _fit(AB_C, frame, "transform.skew=log", "transform.skew_columns=[a]")

    with pytest.raises(ValueError, match=r"columns \['a'\] have negative values"):
        pipeline.transform(pd.DataFrame({"a": [-0.5], "b": [1.0], "c": ["x"]}))


def test_auto_picks_the_columns_skewed_beyond_the_threshold() -> None:
    frame = pd.DataFrame({"a": [1.0] * 9 + [100.0], "b": np.arange(1.0, 11.0), "c": ["x"] * 10})

    pipeline, out = _fit(AB_C, frame, "transform.skew=log", "transform.scaling=none")

    assert _numeric(pipeline, "skew").columns_ == ("a",)
    assert out["a"].tolist() == pytest.approx([math.log(2.0)] * 9 + [math.log(101.0)])
    assert out["b"].tolist() == np.arange(1.0, 11.0).tolist()


def test_yeo_johnson_transforms_only_the_chosen_columns() -> None:
    a = np.array([-2.0, 0.0, 1.0, 2.0, 3.0, 40.0])
    frame = pd.DataFrame({"a": a, "b": np.arange(6.0), "c": "x"})
    expected = PowerTransformer(standardize=False).fit_transform(a.reshape(-1, 1)).ravel()

    pipeline, out = _fit(
        AB_C,
        frame,
        "transform.skew=yeo_johnson",
        "transform.skew_columns=[a]",
        "transform.scaling=none",
    )

    assert _numeric(pipeline, "skew").columns_ == ("a",)
    np.testing.assert_allclose(out["a"].to_numpy(), expected)
    assert out["b"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_quantile_binning() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "b": [6.0, 5, 4, 3, 2, 1], "c": "x"})

    pipeline, out = _fit(
        AB_C,
        frame,
        "transform.binning=quantile",
        "transform.bin_columns=[a]",
        "transform.n_bins=2",
        "transform.scaling=none",
    )

    assert _numeric(pipeline, "bin").binner_.bin_edges_[0].tolist() == [1.0, 3.5, 6.0]
    assert out["a"].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert out["b"].tolist() == [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]


def test_uniform_binning() -> None:
    frame = pd.DataFrame({"a": [0.0, 3.0, 6.0, 9.0], "b": [0.0, 1.0, 2.0, 3.0], "c": "x"})

    pipeline, out = _fit(
        AB_C,
        frame,
        "transform.binning=uniform",
        "transform.bin_columns=[a, b]",
        "transform.n_bins=3",
        "transform.scaling=none",
    )

    assert out["a"].tolist() == [0.0, 1.0, 2.0, 2.0]
    assert out["b"].tolist() == [0.0, 1.0, 2.0, 2.0]
    assert pipeline.transform(pd.DataFrame({"a": [4.0], "b": [9.0], "c": ["x"]})).iloc[
        0
    ].tolist() == [1.0, 2.0, 1.0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ("transform.skew=log", "transform.skew_columns=[a, zz]"),
            r"features.transform.skew_columns: \['zz'\] are not numeric columns "
            r"\(numeric: \['a', 'b'\]\)",
        ),
        (
            ("transform.skew=yeo_johnson", "transform.skew_columns=[c]"),
            r"skew_columns: \['c'\] are not numeric columns",
        ),
        (
            ("transform.binning=uniform", "transform.bin_columns=[zz]"),
            r"features.transform.bin_columns: \['zz'\] are not numeric columns",
        ),
        (
            ("transform.skew=log", "transform.skew_columns=[]"),
            r"features.transform.skew=log names no columns: set features.transform.skew_columns",
        ),
        (
            ("transform.binning=quantile",),
            r"features.transform.binning=quantile names no columns: set "
            r"features.transform.bin_columns",
        ),
    ],
)
def test_transform_columns_must_be_numeric_columns(
    overrides: tuple[str, ...], message: str
) -> None:
    with pytest.raises(FeaturesError, match=message):
        build_preprocessor(AB_C, _params(*overrides), seed=0)


def test_a_named_column_dropped_for_its_nulls_is_an_error_at_fit() -> None:
    frame = pd.DataFrame({"a": [np.nan, np.nan, 1.0], "b": [1.0, 2.0, 3.0], "c": "x"})

    with pytest.raises(ValueError, match=r"log transform: columns \['a'\] are not among"):
        _fit(
            AB_C,
            frame,
            "missing.max_null_fraction=0.5",
            "transform.skew=log",
            "transform.skew_columns=[a]",
        )


@pytest.mark.parametrize(
    ("scaling", "expected"),
    [
        ("standard", [-math.sqrt(1.5), 0.0, math.sqrt(1.5)]),
        ("minmax", [0.0, 0.5, 1.0]),
        ("maxabs", [0.0, 0.5, 1.0]),
        ("robust", [-1.0, 0.0, 1.0]),
        ("none", [0.0, 2.0, 4.0]),
    ],
)
def test_scaling(scaling: str, expected: list[float]) -> None:
    _, out = _fit(A_ONLY, pd.DataFrame({"a": [0.0, 2.0, 4.0]}), f"transform.scaling={scaling}")

    assert out["a"].tolist() == pytest.approx(expected)


# --- encoding -------------------------------------------------------------------------------


def test_one_hot_groups_rare_categories_and_maps_unknown_ones_to_them() -> None:
    frame = pd.DataFrame({"c": ["x", "x", "x", "y", "y", "z"]})  # z: 1/6 < 0.3
    pipeline, out = _fit(C_ONLY, frame, "encoding.min_frequency=0.3")

    served = pipeline.transform(pd.DataFrame({"c": ["never seen", "z", "y"]}))

    assert list(out.columns) == ["c_x", "c_y", "c_infrequent_sklearn"]
    assert served.to_numpy().tolist() == [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]


def test_one_hot_without_grouping_ignores_unknown_categories() -> None:
    pipeline, _ = _fit(C_ONLY, pd.DataFrame({"c": ["x", "y"]}), "encoding.min_frequency=0.0")

    served = pipeline.transform(pd.DataFrame({"c": ["never seen"]}))

    assert served.to_numpy().tolist() == [[0.0, 0.0]]


def test_ordinal_encoding_with_a_fixed_code_for_unknown_categories() -> None:
    pipeline, out = _fit(
        C_ONLY,
        pd.DataFrame({"c": ["y", "x", "z", "x"]}),
        "encoding.method=ordinal",
        "encoding.min_frequency=0.0",
        "encoding.unknown_value=-7",
    )

    served = pipeline.transform(pd.DataFrame({"c": ["z", "never seen"]}))

    assert list(out.columns) == ["c"]
    assert out["c"].tolist() == [1.0, 0.0, 2.0, 0.0]
    assert served["c"].tolist() == [2.0, -7.0]


# --- feature selection and PCA ------------------------------------------------------------

TARGET = np.array([0, 1, 0, 1, 1, 0, 1, 0, 0, 1])
NOISE = [0.3, -0.1, 0.2, 0.0, -0.2, 0.1, 0.1, -0.3, 0.2, 0.0]
SELECT = TableSchema("y", "binary", ("signal", "noise", "trend"), ("c",), classes=(0, 1))
SELECT_REG = TableSchema("y", "regression", ("signal", "noise", "trend"), ("c",))


def _selection_frame(task: str) -> tuple[pd.DataFrame, np.ndarray]:
    """``signal`` is the target (classification: plus a little noise, so F stays finite)."""
    target = TARGET * 3.0 if task == "regression" else TARGET
    signal = target + (0.0 if task == "regression" else np.array(NOISE) / 10)
    frame = pd.DataFrame(
        {"signal": signal, "noise": NOISE, "trend": np.arange(10.0), "c": ["x", "y"] * 5}
    )
    return frame, target


@pytest.mark.parametrize("task", ["binary", "regression"])
@pytest.mark.parametrize(
    "overrides",
    [
        ("selection.method=filter", "selection.filter.k=1"),
        ("selection.method=filter", "selection.filter.k=1", "selection.filter.score=f_test"),
        ("selection.method=embedded", "selection.embedded.C=0.5", "selection.embedded.alpha=0.1"),
        (
            "selection.method=embedded",
            "selection.embedded.l1_solver=saga",
            "selection.embedded.C=0.5",
        ),
        (
            "selection.method=embedded",
            "selection.embedded.model=extra_trees",
            "selection.embedded.n_estimators=20",
        ),
        (
            "selection.method=embedded",
            "selection.embedded.model=random_forest",
            "selection.embedded.n_estimators=20",
            "selection.embedded.max_features=1",
        ),
        ("selection.method=wrapper", "selection.wrapper.n_features_to_select=1"),
        ("selection.method=wrapper", "selection.wrapper.method=rfecv", "selection.wrapper.cv=2"),
    ],
)
def test_selection_keeps_the_column_that_carries_the_target(
    task: str, overrides: tuple[str, ...]
) -> None:
    schema = SELECT_REG if task == "regression" else SELECT
    frame, target = _selection_frame(task)

    pipeline, out = _fit(schema, frame, *overrides, y=target)

    assert [name for name, _ in pipeline.steps] == ["columns", "select"]
    assert list(out.columns) == ["signal"]
    assert list(pipeline.get_feature_names_out()) == ["signal"]


@pytest.mark.parametrize(
    ("overrides", "estimator", "score"),
    [
        (("selection.filter.score=f_test",), "f_regression", None),
        ((), "mutual_info_regression", 0),
    ],
)
def test_filter_score_follows_the_task(
    overrides: tuple[str, ...], estimator: str, score: int | None
) -> None:
    selector = build_preprocessor(
        SELECT_REG, _params("selection.method=filter", *overrides), seed=0
    ).named_steps["select"]

    func = getattr(selector.score_func, "func", selector.score_func)
    assert func.__name__ == estimator
    assert getattr(selector.score_func, "keywords", {}).get("random_state") == score


def test_embedded_l1_uses_logistic_regression_or_lasso() -> None:
    params = _params("selection.method=embedded", "selection.embedded.C=0.25")
    logistic = build_preprocessor(SELECT, params, seed=4).named_steps["select"].estimator
    lasso = build_preprocessor(SELECT_REG, params, seed=4).named_steps["select"].estimator

    assert (logistic.penalty, logistic.solver, logistic.C, logistic.random_state) == (
        "l1", "liblinear", 0.25, 4,
    )  # fmt: skip
    assert (type(lasso).__name__, lasso.alpha, lasso.random_state) == ("Lasso", 0.01, 4)


def test_liblinear_l1_on_a_multiclass_target_is_an_error() -> None:
    multiclass = TableSchema("y", "multiclass", ("a",), (), classes=("p", "q", "r"))

    with pytest.raises(FeaturesError, match=r"l1_solver=liblinear does not support multiclass"):
        build_preprocessor(multiclass, _params("selection.method=embedded"), seed=0)


def test_variance_threshold_drops_constant_features() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0], "c": ["x", "x", "x"]})

    _, out = _fit(
        AB_C,
        frame,
        "selection.method=variance",
        "transform.scaling=none",
        "encoding.min_frequency=0.0",
    )

    assert list(out.columns) == ["a"]


def test_pca_with_a_count_of_components() -> None:
    frame, _ = _selection_frame("binary")

    pipeline, out = _fit(SELECT, frame, "pca.n_components=2")

    assert [name for name, _ in pipeline.steps] == ["columns", "pca"]
    assert list(out.columns) == ["pca0", "pca1"]
    assert pipeline.named_steps["pca"].random_state == 0


def test_pca_with_a_share_of_variance() -> None:
    # b = 2a: after scaling one component holds all the variance
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 4.0, 6.0, 8.0]})
    schema = TableSchema("y", "binary", ("a", "b"), (), classes=(0, 1))

    _, out = _fit(schema, frame, "pca.n_components=0.9")

    assert list(out.columns) == ["pca0"]


def test_selection_then_pca() -> None:
    frame, target = _selection_frame("binary")

    pipeline, out = _fit(
        SELECT,
        frame,
        "selection.method=filter",
        "selection.filter.k=2",
        "pca.n_components=1",
        y=target,
    )

    assert [name for name, _ in pipeline.steps] == ["columns", "select", "pca"]
    assert list(out.columns) == ["pca0"]


# --- class imbalance ------------------------------------------------------------------------


def test_class_weight_helper() -> None:
    balanced = _params("imbalance.class_weight=balanced").imbalance

    assert estimator_class_weight(balanced, "binary") == "balanced"
    assert estimator_class_weight(balanced, "multiclass") == "balanced"
    assert estimator_class_weight(_params().imbalance, "regression") is None
    with pytest.raises(
        FeaturesError,
        match=r"features.imbalance.class_weight=balanced needs a classification task; the "
        r"task is regression",
    ):
        estimator_class_weight(balanced, "regression")


def test_class_weight_and_sampling_together_is_an_error() -> None:
    with pytest.raises(ValidationError, match=r"both correct the class balance; choose one"):
        ImbalanceParams(class_weight="balanced", sampling="over", sampling_ratio=1.0)


# --- training rows ------------------------------------------------------------------------


def _rows() -> pd.DataFrame:
    """Ten rows labelled 100..109; row 108 is far out on a; classes 8:2."""
    return pd.DataFrame(
        {
            "a": [0.1, -0.2, 0.0, 0.3, -0.1, 0.2, -0.3, 0.1, 50.0, 0.0],
            "b": [1.0, 1.1, 0.9, 1.0, 1.2, 0.8, 1.0, 1.1, 1.0, np.nan],
            "c": ["x"] * 10,
            "y": [0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
        },
        index=range(100, 110),
    )


def test_no_row_options_keep_every_row() -> None:
    kept, report = prepare_training_rows(_rows(), AB_C, _params(), seed=0)

    pd.testing.assert_frame_equal(kept, _rows())
    assert report == TrainingRowsReport(10, 0, 0, 0, 10)


@pytest.mark.parametrize(
    "overrides",
    [
        ("outliers.rows=isolation_forest", "outliers.contamination=0.1"),
        (
            "outliers.rows=local_outlier_factor",
            "outliers.contamination=0.1",
            "outliers.n_neighbors=3",
        ),
    ],
)
def test_outlier_rows_are_removed(overrides: tuple[str, ...]) -> None:
    kept, report = prepare_training_rows(_rows(), AB_C, _params(*overrides), seed=0)

    assert list(kept.index) == [100, 101, 102, 103, 104, 105, 106, 107, 109]
    assert report.to_dict() == {
        "rows_in": 10,
        "outliers_removed": 1,
        "sampling_added": 0,
        "sampling_removed": 0,
        "rows_out": 9,
    }


def test_outlier_rows_need_numeric_columns() -> None:
    with pytest.raises(
        FeaturesError, match=r"outliers.rows=isolation_forest looks at numeric columns"
    ):
        prepare_training_rows(_rows(), C_ONLY, _params("outliers.rows=isolation_forest"), seed=0)


@pytest.mark.parametrize(
    ("overrides", "counts", "added", "removed"),
    [
        (("imbalance.sampling=over",), {0: 8, 1: 8}, 6, 0),
        (("imbalance.sampling=over", "imbalance.sampling_ratio=0.5"), {0: 8, 1: 4}, 2, 0),
        (("imbalance.sampling=under",), {0: 2, 1: 2}, 0, 6),
        (("imbalance.sampling=under", "imbalance.sampling_ratio=0.5"), {0: 4, 1: 2}, 0, 4),
    ],
)
def test_sampling_counts(
    overrides: tuple[str, ...], counts: dict[int, int], added: int, removed: int
) -> None:
    kept, report = prepare_training_rows(_rows(), AB_C, _params(*overrides), seed=0)
    again, _ = prepare_training_rows(_rows(), AB_C, _params(*overrides), seed=0)

    assert kept["y"].value_counts().to_dict() == counts
    assert (report.sampling_added, report.sampling_removed) == (added, removed)
    assert report.rows_out == len(kept) == sum(counts.values())
    pd.testing.assert_frame_equal(kept, again)
    assert set(kept.index) <= set(_rows().index)


def test_over_sampling_keeps_every_row_and_appends_seeded_copies_of_the_minority() -> None:
    kept, _ = prepare_training_rows(_rows(), AB_C, _params("imbalance.sampling=over"), seed=0)

    assert list(kept.index) == [*range(100, 110), 109, 109, 109, 108, 108, 108]
    pd.testing.assert_frame_equal(kept.iloc[10:], _rows().loc[[109, 109, 109, 108, 108, 108]])


def test_under_sampling_keeps_the_minority_and_the_order() -> None:
    kept, _ = prepare_training_rows(_rows(), AB_C, _params("imbalance.sampling=under"), seed=0)

    assert list(kept.index) == [105, 107, 108, 109]


def test_another_seed_draws_other_rows() -> None:
    params = _params("imbalance.sampling=under")

    first, _ = prepare_training_rows(_rows(), AB_C, params, seed=0)
    other, _ = prepare_training_rows(_rows(), AB_C, params, seed=1)

    assert list(first.index) != list(other.index)


def test_outliers_are_removed_before_over_sampling() -> None:
    params = _params(
        "outliers.rows=isolation_forest", "outliers.contamination=0.1", "imbalance.sampling=over"
    )

    kept, report = prepare_training_rows(_rows(), AB_C, params, seed=0)

    assert 108 not in kept.index
    assert list(kept.index) == [100, 101, 102, 103, 104, 105, 106, 107] + [109] * 8
    assert report == TrainingRowsReport(10, 1, 7, 0, 16)


def test_sampling_on_regression_is_an_error() -> None:
    regression = TableSchema("y", "regression", ("a", "b"), ("c",))

    with pytest.raises(
        FeaturesError,
        match=r"features.imbalance.sampling=under needs a classification task; the task is "
        r"regression",
    ):
        prepare_training_rows(_rows(), regression, _params("imbalance.sampling=under"), seed=0)


# --- serialisation: every option through skops ------------------------------------------------

# Every option at least once, compatible ones together (a skops round trip costs ~0.1 s).
OPTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("binary", ()),
    (
        "binary",
        (
            "missing.indicators=true",
            "missing.max_null_fraction=0.3",  # drops a
            "missing.numeric_imputation=constant",
            "missing.categorical_imputation=constant",
            "outliers.clip=iqr",
            "transform.skew=log",
            "transform.skew_columns=[b]",
            "transform.binning=quantile",
            "transform.bin_columns=[b]",
            "transform.scaling=minmax",
            "selection.method=variance",
            "pca.n_components=2",
        ),
    ),
    (
        "binary",
        (
            "outliers.clip=zscore",
            "transform.skew=yeo_johnson",
            "transform.binning=uniform",
            "transform.bin_columns=[a, b]",
            "transform.n_bins=3",
            "transform.scaling=maxabs",
            "encoding.method=ordinal",
            "selection.method=filter",
            "selection.filter.k=2",
            "pca.n_components=0.9",
        ),
    ),
    ("regression", ("transform.scaling=robust", "selection.method=filter", "selection.filter.k=2")),
    (
        "binary",
        (
            "transform.scaling=none",
            "selection.method=filter",
            "selection.filter.score=f_test",
            "selection.filter.k=2",
        ),
    ),
    (
        "regression",
        ("selection.method=filter", "selection.filter.score=f_test", "selection.filter.k=2"),
    ),
    ("binary", ("selection.method=embedded",)),
    ("regression", ("selection.method=embedded",)),
    (
        "binary",
        (
            "selection.method=embedded",
            "selection.embedded.model=extra_trees",
            "selection.embedded.n_estimators=5",
        ),
    ),
    (
        "regression",
        (
            "selection.method=embedded",
            "selection.embedded.model=random_forest",
            "selection.embedded.n_estimators=5",
        ),
    ),
    ("binary", ("selection.method=wrapper",)),
    (
        "regression",
        ("selection.method=wrapper", "selection.wrapper.method=rfecv", "selection.wrapper.cv=2"),
    ),
]


@functools.cache
def _served(task: str, overrides: tuple[str, ...]) -> tuple[Pipeline, pd.DataFrame, bytes]:
    """A fitted preprocessor with a model appended, the frame it saw, and its skops dump
    (cached: two tests read each; neither changes it)."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=24),
            "b": rng.lognormal(size=24),
            "c": np.array(["x", "y", "z", "x"] * 6, dtype=object),
        }
    )
    frame.loc[[1, 2, 3, 4, 5, 6, 7, 8], "a"] = np.nan  # a is 1/3 null
    frame.loc[[5], "c"] = np.nan
    target = frame["b"] * 2.0 if task == "regression" else (frame["b"] > 1).astype(int)
    schema = TableSchema("y", task, ("a", "b"), ("c",))  # type: ignore[arg-type]
    model = LinearRegression() if task == "regression" else LogisticRegression()
    preprocessor = build_preprocessor(schema, _params(*overrides), seed=0)
    pipeline = Pipeline([*preprocessor.steps, ("model", model)]).fit(frame, target)
    return pipeline, frame, sio.dumps(pipeline)


def test_the_options_cover_every_choice() -> None:
    covered = {override for _, overrides in OPTIONS for override in overrides}
    choices = {
        "missing.indicators": {"true"},
        "missing.max_null_fraction": {"0.3"},
        "missing.categorical_imputation": {"constant"},
        "missing.numeric_imputation": {"constant"},  # mean, median, most_frequent: SimpleImputer
        "outliers.clip": {"iqr", "zscore"},
        "transform.skew": {"log", "yeo_johnson"},
        "transform.binning": {"quantile", "uniform"},
        "transform.scaling": {"minmax", "maxabs", "robust", "none"},
        "encoding.method": {"ordinal"},
        "selection.method": {"variance", "filter", "embedded", "wrapper"},
        "selection.filter.score": {"f_test"},
        "selection.embedded.model": {"extra_trees", "random_forest"},
        "selection.wrapper.method": {"rfecv"},
        "pca.n_components": {"2", "0.9"},
    }

    for key, values in choices.items():
        assert {f"{key}={value}" for value in values} <= covered, key
    tasks_by_selection = {(t, "selection.method=embedded" in o) for t, o in OPTIONS}
    assert {("binary", True), ("regression", True)} <= tasks_by_selection


@pytest.mark.parametrize(("task", "overrides"), OPTIONS)
def test_every_option_round_trips_through_skops(task: str, overrides: tuple[str, ...]) -> None:
    pipeline, frame, dump = _served(task, overrides)
    serve = pd.DataFrame({"a": [np.nan, 0.5], "b": [1.0, 30.0], "c": ["never seen", np.nan]})

    loaded = sio.loads(dump, trusted=list(FEATURE_TRUSTED_TYPES) + list(TRUSTED_TYPES))

    for rows in (frame, serve):
        np.testing.assert_array_equal(loaded.predict(rows), pipeline.predict(rows))
        if task != "regression":
            np.testing.assert_array_equal(loaded.predict_proba(rows), pipeline.predict_proba(rows))


def test_feature_trusted_types_are_exactly_what_the_options_need() -> None:
    needed: set[str] = set()
    for task, overrides in OPTIONS:
        needed |= set(sio.get_untrusted_types(data=_served(task, overrides)[2]))

    assert needed - set(TRUSTED_TYPES) == set(FEATURE_TRUSTED_TYPES)


def test_custom_transformers_pickle_by_their_module_path() -> None:
    # pickle still carries pipelines to tuning workers (joblib, Dask), so the steps must pickle
    overrides = (
        "missing.max_null_fraction=0.5",
        "outliers.clip=iqr",
        "transform.skew=yeo_johnson",
        "transform.binning=quantile",
        "transform.bin_columns=[b]",
    )
    pipeline, frame, _ = _served("binary", overrides)
    branch = pipeline.named_steps["columns"].named_transformers_["numeric"]

    loaded = pickle.loads(pickle.dumps(pipeline))

    assert [type(step).__qualname__ for _, step in branch.steps] == [
        "NullFractionDropper", "OutlierClipper", "SimpleImputer", "SkewTransformer",
        "ColumnBinner", "StandardScaler",
    ]  # fmt: skip
    assert type(branch.named_steps["clip"]) is features.OutlierClipper
    np.testing.assert_array_equal(loaded.predict_proba(frame), pipeline.predict_proba(frame))


def test_importing_the_params_models_does_not_import_scikit_learn() -> None:
    code = (
        "import sys, tasks.steps.features, tasks.steps.models; "
        "print(sorted(m for m in ('sklearn', 'pandas', 'scipy', 'optuna') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
