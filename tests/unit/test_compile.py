"""The compiled runtime (tasks/steps/compile.py): parity between the ONNX graph and the
scikit-learn Pipeline for every model family of each task and every feature-engineering option
that converts, and the exact reason recorded for those that do not. Small frames, few trees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli.registry import runtime_text
from tasks.config import load_params
from tasks.steps import compile as compiled
from tasks.steps.compile import (
    MAX_PROBABILITY_DIFF,
    MAX_RELATIVE_DIFF,
    CompileResult,
    compile_pipeline,
    feeds,
    input_columns,
)
from tasks.steps.ingest import TableSchema
from tasks.steps.models import _ESTIMATORS, FAMILIES
from tasks.steps.train import build_pipeline

REPO = Path(__file__).parents[2]
NUMERIC = ("a", "b", "c", "d")
CATEGORICAL = ("color", "size")
FAST = (
    "models.random_forest.fixed.n_estimators=10",
    "models.hist_gradient_boosting.fixed.max_iter=20",
    "features.selection.wrapper.cv=2",
    "features.selection.embedded.n_estimators=10",
)
CLASSES = {"binary": (0, 1), "multiclass": ("high", "low", "mid"), "regression": ()}


def _frame(rows: int, seed: int, task: str) -> pd.DataFrame:
    """Continuous numbers (two of them skewed and positive, gaps in two), two categorical
    columns (one with a rare category and gaps) and a target of the task."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.exponential(2.0, rows),
            "c": rng.uniform(-3, 3, rows),
            "d": rng.lognormal(0.0, 1.0, rows),
            "color": rng.choice(["red", "green", "blue", "rare"], rows, p=[0.5, 0.3, 0.195, 0.005]),
            "size": rng.choice(["s", "m", "l"], rows),
        }
    )
    signal = frame["a"] + 0.5 * frame["c"] - 0.3 * frame["b"] + (frame["color"] == "red")
    noisy = signal + rng.normal(scale=0.5, size=rows)
    frame.loc[rng.random(rows) < 0.1, "a"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "b"] = np.nan
    color = frame["color"].astype(object)
    color[rng.random(rows) < 0.05] = np.nan
    frame["color"] = color
    if task == "binary":
        frame["y"] = (noisy > 0).astype("int64")
    elif task == "multiclass":
        frame["y"] = np.asarray(["low", "mid", "high"], dtype=object)[
            np.digitize(noisy, [-0.5, 0.8])
        ]
    else:
        frame["y"] = 3.0 * signal + rng.normal(scale=0.1, size=rows)
    return frame


def _fit(task: str, family: str, *overrides: str) -> tuple[Any, pd.DataFrame]:
    params = load_params(REPO / "params.yaml", [*FAST, *overrides])
    schema = TableSchema("y", task, NUMERIC, CATEGORICAL, classes=CLASSES[task])  # type: ignore[arg-type]
    pipeline = build_pipeline(schema, params.features, params.models, params.train, family=family)
    train, test = _frame(400, 1, task), _frame(200, 2, task)
    features = [*NUMERIC, *CATEGORICAL]
    pipeline.fit(train[features], train["y"])
    return pipeline, test[features]


def _assert_parity(result: CompileResult, task: str) -> None:
    assert result.reason == ""
    assert result.ok
    assert result.rows == 200
    assert result.max_abs_diff is not None
    if task == "regression":
        assert result.labels_agree is None
        assert result.max_rel_diff is not None
        assert result.max_rel_diff <= MAX_RELATIVE_DIFF
    else:
        assert result.labels_agree is True
        assert result.labels_differ == 0
        assert result.max_abs_diff <= MAX_PROBABILITY_DIFF


# every family the project trains, per kind (tasks/steps/models.py's table): a family added
# there is held to the same parity here
CLASSIFIERS = [f for f in FAMILIES if (f, True) in _ESTIMATORS]
REGRESSORS = [f for f in FAMILIES if (f, False) in _ESTIMATORS]


@pytest.mark.parametrize(
    ("task", "family"),
    [("binary", f) for f in CLASSIFIERS]
    + [("multiclass", f) for f in CLASSIFIERS]
    + [("regression", f) for f in REGRESSORS],
)
def test_every_model_family_converts_with_parity(task: str, family: str) -> None:
    pipeline, test = _fit(task, family)
    _assert_parity(compile_pipeline(pipeline, test, task), task)


OPTIONS = [
    ("features.transform.scaling=minmax",),
    ("features.transform.scaling=maxabs",),
    ("features.transform.scaling=robust",),
    ("features.transform.scaling=none",),
    ("features.encoding.method=ordinal",),
    ("features.encoding.min_frequency=0",),
    ("features.transform.skew=yeo_johnson",),
    ("features.transform.skew=yeo_johnson", "features.transform.skew_columns=[b,c]"),
    ("features.transform.binning=quantile", "features.transform.bin_columns=[a,d]"),
    ("features.transform.binning=uniform", "features.transform.bin_columns=[a,d]"),
    ("features.outliers.clip=iqr",),
    ("features.outliers.clip=zscore",),
    ("features.missing.max_null_fraction=0.08",),
    ("features.missing.indicators=true",),
    ("features.missing.indicators=true", "features.missing.max_null_fraction=0.08"),
    ("features.missing.numeric_imputation=mean",),
    ("features.missing.numeric_imputation=constant",),
    ("features.missing.categorical_imputation=constant",),
    ("features.selection.method=variance",),
    ("features.selection.method=filter", "features.selection.filter.k=5"),
    (
        "features.selection.method=filter",
        "features.selection.filter.score=f_test",
        "features.selection.filter.k=5",
    ),
    ("features.selection.method=embedded",),
    ("features.selection.method=embedded", "features.selection.embedded.model=extra_trees"),
    ("features.selection.method=embedded", "features.selection.embedded.model=random_forest"),
    ("features.selection.method=wrapper",),
    ("features.selection.method=wrapper", "features.selection.wrapper.method=rfecv"),
    ("features.pca.n_components=3",),
    ("features.pca.n_components=0.9",),
    ("features.outliers.rows=isolation_forest", "features.imbalance.sampling=over"),
]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("overrides", OPTIONS, ids=lambda o: " ".join(o))
def test_every_feature_option_converts_with_parity(task: str, overrides: tuple[str, ...]) -> None:
    if task == "regression" and "features.imbalance.sampling=over" in overrides:
        overrides = ("features.outliers.rows=isolation_forest",)
    if task == "multiclass" and overrides == ("features.selection.method=embedded",):
        overrides = (*overrides, "features.selection.embedded.l1_solver=saga")
    family = {"binary": "hist_gradient_boosting", "multiclass": "logistic_regression"}.get(
        task, "ridge"
    )
    pipeline, test = _fit(task, family, *overrides)
    _assert_parity(compile_pipeline(pipeline, test, task), task)


def test_the_demo_pipeline_agrees_to_the_last_bits() -> None:
    """Imputer, standard scaler, one-hot and histogram gradient boosting: the trees compare
    the double input to double thresholds, so the graph takes every branch scikit-learn takes."""
    pipeline, test = _fit("binary", "hist_gradient_boosting")
    result = compile_pipeline(pipeline, test, "binary")
    assert result.ok
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-14


def test_missing_indicators_convert_when_every_feature_is_numeric() -> None:
    params = load_params(REPO / "params.yaml", [*FAST, "features.missing.indicators=true"])
    schema = TableSchema("y", "binary", NUMERIC, (), classes=(0, 1))
    pipeline = build_pipeline(schema, params.features, params.models, params.train)
    train, test = _frame(400, 1, "binary"), _frame(200, 2, "binary")
    pipeline.fit(train[list(NUMERIC)], train["y"])
    _assert_parity(compile_pipeline(pipeline, test[list(NUMERIC)], "binary"), "binary")


def test_a_log_transform_flags_the_rows_the_pipeline_refuses() -> None:
    """SkewTransformer(log) raises on a negative value; the graph answers the other rows alike
    and flags those in its ``refused`` output, with NaN probabilities there."""
    pipeline, test = _fit("binary", "hist_gradient_boosting", "features.transform.skew=log")
    assert pipeline.named_steps["columns"].named_transformers_["numeric"]["skew"].columns_ == (
        "b",
        "d",
    )
    result = compile_pipeline(pipeline, test, "binary")
    _assert_parity(result, "binary")
    assert result.onnx is not None
    run = compiled.session(result.onnx)
    assert [o.name for o in run.get_outputs()] == ["label", "probabilities", "refused"]
    rows = test.head(4).copy()
    rows.loc[rows.index[[1, 3]], "d"] = -0.5
    _, proba, refused = run.run(None, feeds(rows, NUMERIC, CATEGORICAL))
    assert refused.ravel().tolist() == [False, True, False, True]
    assert np.isnan(proba[[1, 3]]).all()
    answered = rows.iloc[[0, 2]]
    assert float(np.abs(proba[[0, 2]] - pipeline.predict_proba(answered)).max()) <= 1e-15
    with pytest.raises(ValueError, match=r"log transform: columns \['d'\] have negative values"):
        pipeline.predict_proba(rows)


def test_what_does_not_convert_says_why() -> None:
    pipeline, test = _fit("binary", "knn", "models.knn.fixed.metric=chebyshev")
    result = compile_pipeline(pipeline, test, "binary")
    assert result == CompileResult(
        onnx=None,
        task="binary",
        reason="conversion failed: NotImplementedError: metric='chebyshev' is not implemented.",
    )
    assert result.tags() == {
        "runtime.onnx": "unavailable",
        "runtime.onnx.rows": "0",
        "runtime.onnx.reason": result.reason,
    }
    pipeline, test = _fit("regression", "svm", "models.svm.fixed.kernel=poly")
    assert compile_pipeline(pipeline, test, "regression").reason == (
        "not convertible: SVR(kernel='poly'): only rbf and linear"
    )


def test_knn_weighted_by_distance_fails_parity_and_records_its_figures() -> None:
    """skl2onnx's distance-weighted neighbours disagree with scikit-learn's: the version would
    be served by scikit-learn, with these numbers as the reason."""
    pipeline, test = _fit("binary", "knn", "models.knn.fixed.weights=distance")
    result = compile_pipeline(pipeline, test, "binary")
    assert result.onnx is None
    assert result.rows == 200
    assert result.max_abs_diff is not None and result.max_abs_diff > 0.1
    assert result.labels_agree is False
    assert result.reason == (
        f"parity failed on 200 rows: max probability difference {result.max_abs_diff:.3g} > "
        f"1e-06; {result.labels_differ} label(s) differ"
    )
    assert result.tags()["runtime.onnx.labels_agree"] == "false"


def test_no_rows_is_a_reason_not_an_error() -> None:
    pipeline, test = _fit("binary", "decision_tree")
    assert compile_pipeline(pipeline, test.iloc[:0], "binary").reason == (
        "no rows to check parity on"
    )


def test_skl2onnx_alone_fails_on_histogram_gradient_boosting_with_a_boolean_attribute() -> None:
    """The trap this module's tree converter removes (skl2onnx 1.20, scikit-learn 1.7): the
    stock converter mixes Python False and numpy uint8 in nodes_missing_value_tracks_true."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = _frame(200, 1, "binary")
    model = HistGradientBoostingClassifier(max_iter=3, random_state=0)
    model.fit(frame[["a", "b", "c", "d"]], frame["y"])
    with pytest.raises(
        ValueError, match="Unable to create node 'TreeEnsembleClassifier'"
    ) as raised:
        convert_sklearn(model, initial_types=[("x", FloatTensorType([None, 4]))])
    cause = raised.value.__cause__
    assert isinstance(cause, TypeError)
    assert str(cause) == "Field onnx.AttributeProto.ints: Expected an int, got a boolean."


def test_parity_failures_name_their_figures() -> None:
    expected = np.asarray([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
    got = np.asarray([[0.7, 0.3], [0.4, 0.6], [0.5000001, 0.4999999]])
    result = compiled._classification_parity(b"graph", "binary", expected, got, [0, 1], 0.5)
    assert result == CompileResult(
        onnx=None,
        task="binary",
        rows=3,
        max_abs_diff=pytest.approx(0.2),
        labels_agree=False,
        labels_differ=1,
        reason="parity failed on 3 rows: max probability difference 0.2 > 1e-06; 1 label(s) differ",
    )
    values = compiled._regression_parity(
        b"graph", np.asarray([2.0, 0.0]), np.asarray([2.0 + 4e-6, 0.0])
    )
    assert values.onnx is None
    assert values.reason == (
        "parity failed on 2 rows: max relative difference 2e-06 > 1e-06 (max absolute 4e-06)"
    )
    same = compiled._regression_parity(b"graph", np.asarray([2.0, 0.0]), np.asarray([2.0, 0.0]))
    assert (same.onnx, same.max_rel_diff, same.reason) == (b"graph", 0.0, "")


def test_the_inputs_are_one_array_per_column_with_missing_values_as_the_graph_expects() -> None:
    frame = pd.DataFrame({"x": [1.5, None], "k": ["a", None]})
    inputs = feeds(frame, ["x"], ["k"])
    assert inputs["x"].dtype == np.float64 and inputs["x"].shape == (2, 1)
    assert inputs["x"][0, 0] == 1.5 and np.isnan(inputs["x"][1, 0])
    assert inputs["k"].tolist() == [["a"], [""]]


def test_the_graph_takes_the_pipeline_columns_and_answers_labels_as_its_classes() -> None:
    pipeline, test = _fit("multiclass", "random_forest")
    assert input_columns(pipeline) == (NUMERIC, CATEGORICAL)
    result = compile_pipeline(pipeline, test, "multiclass")
    assert result.onnx is not None
    run = compiled.session(result.onnx)
    assert [o.name for o in run.get_outputs()] == ["label", "probabilities"]
    label, proba = run.run(None, feeds(test, NUMERIC, CATEGORICAL))
    assert label.tolist() == list(pipeline.predict(test))
    assert proba.dtype == np.float64


def test_tags_and_the_runtime_shown_for_a_compiled_version() -> None:
    ok = CompileResult(b"x", "binary", 150, 4.44e-16, None, True, 0, "")
    assert ok.tags() == {
        "runtime.onnx": "ok",
        "runtime.onnx.rows": "150",
        "runtime.onnx.max_abs_diff": "4.44e-16",
        "runtime.onnx.labels_agree": "true",
    }
    assert runtime_text(ok.tags()) == (
        "onnx (parity on 150 test rows: max |diff| of probability 4.44e-16, labels agree)"
    )
    regression = CompileResult(b"x", "regression", 10, 1e-13, 2e-15, None, 0, "")
    assert runtime_text(regression.tags()) == (
        "onnx (parity on 10 test rows: max relative |diff| 2e-15)"
    )
    refused = CompileResult(None, "binary", reason="not convertible: why")
    assert runtime_text(refused.tags()) == "scikit-learn (not convertible: why)"
    assert runtime_text({}) == "scikit-learn (not compiled: registered before ONNX compilation)"


@pytest.mark.parametrize(
    "overrides",
    [(), ("features.encoding.min_frequency=0",), ("features.encoding.method=ordinal",)],
    ids=["one_hot with infrequent", "one_hot without", "ordinal"],
)
def test_unseen_categories_and_missing_values_are_answered_as_scikit_learn_does(
    overrides: tuple[str, ...],
) -> None:
    """An unseen category goes to the infrequent column (or nowhere, or unknown_value), as in
    scikit-learn; skl2onnx's own OneHotEncoder fails on it at run time."""
    pipeline, test = _fit("binary", "logistic_regression", *overrides)
    result = compile_pipeline(pipeline, test, "binary")
    assert result.onnx is not None
    probe = test.head(30).copy()
    probe.loc[probe.index[:10], "color"] = "purple"
    probe.loc[probe.index[5:15], "size"] = "xl"
    probe.loc[probe.index[20:], ["a", "b", "c", "d"]] = np.nan
    # NaN, as the platform hands missing text to the Pipeline (tasks/steps/predict.py)
    probe.loc[probe.index[20:], ["color", "size"]] = np.nan
    proba = compiled.session(result.onnx).run(
        ["probabilities"], feeds(probe, NUMERIC, CATEGORICAL)
    )[0]
    assert float(np.abs(proba - pipeline.predict_proba(probe)).max()) <= MAX_PROBABILITY_DIFF
    encoder = pipeline.named_steps["columns"].named_transformers_["categorical"][-1]
    if not overrides:
        assert encoder.infrequent_categories_[0].tolist() == ["rare"]


def test_the_graph_states_its_inputs() -> None:
    import onnx

    pipeline, _ = _fit("binary", "decision_tree")
    model = onnx.load_from_string(compiled.convert(pipeline))
    assert {p.key: p.value for p in model.metadata_props} == {
        "mlops.numeric_inputs": '["a", "b", "c", "d"]',
        "mlops.categorical_inputs": '["color", "size"]',
        "mlops.missing_string": "",
    }
    assert [i.name for i in model.graph.input] == [*NUMERIC, *CATEGORICAL]
    assert {o.domain or "ai.onnx": o.version for o in model.opset_import}["ai.onnx.ml"] == 5
