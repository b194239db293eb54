"""Unit tests for the model zoo: family x task -> estimator, and search spaces for grid search,
randomized search and Optuna."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
import skops.io as sio
from pydantic import ValidationError
from sklearn.model_selection import ParameterSampler
from threadpoolctl import threadpool_limits

from tasks.adapters.tracking import TRUSTED_TYPES
from tasks.config import FamilyParams, ModelsParams, RangeParams, load_params, read_raw
from tasks.steps.models import (
    FAMILIES,
    MODEL_TRUSTED_TYPES,
    IntLogUniform,
    ModelError,
    distributions,
    estimator_class,
    grid,
    make_estimator,
    suggest,
)

PARAMS_FILE = Path(__file__).parents[2] / "params.yaml"

SUPPORTED = {
    ("logistic_regression", "binary"): "LogisticRegression",
    ("logistic_regression", "multiclass"): "LogisticRegression",
    ("linear", "regression"): "LinearRegression",
    ("ridge", "regression"): "Ridge",
    ("lasso", "regression"): "Lasso",
    ("svm", "binary"): "SVC",
    ("svm", "multiclass"): "SVC",
    ("svm", "regression"): "SVR",
    ("decision_tree", "binary"): "DecisionTreeClassifier",
    ("decision_tree", "multiclass"): "DecisionTreeClassifier",
    ("decision_tree", "regression"): "DecisionTreeRegressor",
    ("random_forest", "binary"): "RandomForestClassifier",
    ("random_forest", "multiclass"): "RandomForestClassifier",
    ("random_forest", "regression"): "RandomForestRegressor",
    ("hist_gradient_boosting", "binary"): "HistGradientBoostingClassifier",
    ("hist_gradient_boosting", "multiclass"): "HistGradientBoostingClassifier",
    ("hist_gradient_boosting", "regression"): "HistGradientBoostingRegressor",
    ("knn", "binary"): "KNeighborsClassifier",
    ("knn", "multiclass"): "KNeighborsClassifier",
    ("knn", "regression"): "KNeighborsRegressor",
}
UNSUPPORTED = [
    (family, task)
    for family in FAMILIES
    for task in ("binary", "multiclass", "regression")
    if (family, task) not in SUPPORTED
]
# Small and fast on 12 rows; the structure is the same as with the default spaces.
SMALL: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 5},
    "hist_gradient_boosting": {"max_iter": 5, "min_samples_leaf": 2},
    "knn": {"n_neighbors": 3},
}


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _data(task: str) -> tuple[pd.DataFrame, np.ndarray]:
    """12 rows, two numeric features; the target follows ``a``."""
    a = np.array([-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    b = np.array([0.3, -0.1, 0.2, 0.0, -0.2, 0.1, 0.1, -0.3, 0.2, 0.0, -0.1, 0.3])
    targets = {
        "binary": (a > 0).astype(int),
        "multiclass": np.repeat(np.array(["p", "q", "r"], dtype=object), 4),
        "regression": 2.0 * a + 1.0,
    }
    return pd.DataFrame({"a": a, "b": b}), targets[task]


def _range(low: float, high: float, log: bool, kind: str) -> RangeParams:
    return RangeParams(low=low, high=high, log=log, type=kind)  # type: ignore[arg-type]


# --- estimators ---------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "task"), sorted(SUPPORTED))
def test_each_family_and_task_builds_fits_and_survives_skops(family: str, task: str) -> None:
    X, y = _data(task)
    estimator = make_estimator(family, task, SMALL.get(family, {}), seed=3, class_weight=None)  # type: ignore[arg-type]

    estimator.fit(X, y)
    loaded = sio.loads(sio.dumps(estimator), trusted=[*MODEL_TRUSTED_TYPES, *TRUSTED_TYPES])

    assert type(estimator).__name__ == SUPPORTED[(family, task)]
    assert estimator.predict(X).shape == (12,)
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    if "random_state" in estimator.get_params():
        assert estimator.random_state == 3
    if task != "regression":
        assert estimator.predict_proba(X).shape == (12, len(set(y)))


@pytest.mark.parametrize(("family", "task"), UNSUPPORTED)
def test_unsupported_family_and_task_names_both(family: str, task: str) -> None:
    with pytest.raises(ModelError, match=rf"family '{family}' is a .* the task is {task}"):
        estimator_class(family, task)  # type: ignore[arg-type]


def test_unsupported_pairs_are_exactly_these() -> None:
    assert UNSUPPORTED == [
        ("logistic_regression", "regression"),
        ("linear", "binary"),
        ("linear", "multiclass"),
        ("ridge", "binary"),
        ("ridge", "multiclass"),
        ("lasso", "binary"),
        ("lasso", "multiclass"),
    ]


def test_ridge_for_classification_points_to_logistic_regression() -> None:
    with pytest.raises(ModelError, match=r"use logistic_regression \(penalty l2 for ridge"):
        make_estimator("ridge", "binary", {}, seed=0, class_weight=None)


def test_unknown_family() -> None:
    with pytest.raises(ModelError, match=r"unknown model family 'xgboost' \(families: logistic"):
        make_estimator("xgboost", "binary", {}, seed=0, class_weight=None)


def test_hyperparams_and_seed_are_passed() -> None:
    model = make_estimator(
        "hist_gradient_boosting",
        "binary",
        {"learning_rate": 0.05, "max_leaf_nodes": 15, "early_stopping": False},
        seed=11,
        class_weight=None,
    )

    assert (model.learning_rate, model.max_leaf_nodes, model.early_stopping) == (0.05, 15, False)
    assert model.random_state == 11
    assert model.class_weight is None


def test_estimators_without_random_state_get_none() -> None:
    knn = make_estimator("knn", "binary", {"n_neighbors": 7}, seed=5, class_weight=None)
    linear = make_estimator("linear", "regression", {}, seed=5, class_weight=None)

    assert "random_state" not in knn.get_params()
    assert "random_state" not in linear.get_params()
    assert knn.n_neighbors == 7


def test_svc_always_gives_probabilities() -> None:
    svc = make_estimator("svm", "binary", {"C": 2.0}, seed=0, class_weight=None)

    assert (svc.probability, svc.C, svc.random_state) == (True, 2.0, 0)
    with pytest.raises(ModelError, match=r"probability must be True"):
        make_estimator("svm", "binary", {"probability": False}, seed=0, class_weight=None)


def test_unknown_hyperparameter_names_family_task_and_key() -> None:
    with pytest.raises(
        ModelError,
        match=r"family 'svm' \(SVC, binary\) has no hyperparameter\(s\) \['epsilon'\]",
    ):
        make_estimator("svm", "binary", {"epsilon": 0.1}, seed=0, class_weight=None)


@pytest.mark.parametrize(
    ("key", "source"), [("random_state", "the seed"), ("class_weight", "class_weight")]
)
def test_seed_and_class_weight_come_from_their_own_arguments(key: str, source: str) -> None:
    with pytest.raises(ModelError, match=rf"'{key}' comes from {source}"):
        make_estimator("decision_tree", "binary", {key: 1}, seed=0, class_weight=None)


@pytest.mark.parametrize(
    "family",
    ["logistic_regression", "svm", "decision_tree", "random_forest", "hist_gradient_boosting"],
)
def test_balanced_class_weight_where_supported(family: str) -> None:
    model = make_estimator(family, "binary", {}, seed=0, class_weight="balanced")

    assert model.class_weight == "balanced"


@pytest.mark.parametrize(
    ("family", "task", "message"),
    [
        ("knn", "binary", r"family 'knn' \(KNeighborsClassifier, binary\) does not support"),
        ("ridge", "regression", r"family 'ridge' \(Ridge, regression\) does not support"),
        ("random_forest", "regression", r"family 'random_forest' \(RandomForestRegressor"),
    ],
)
def test_balanced_class_weight_where_unsupported_is_an_error(
    family: str, task: str, message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        make_estimator(family, task, {}, seed=0, class_weight="balanced")  # type: ignore[arg-type]


def test_class_weight_other_than_balanced_is_an_error() -> None:
    with pytest.raises(ModelError, match=r"class_weight must be 'balanced' or None, not 'heavy'"):
        make_estimator("decision_tree", "binary", {}, seed=0, class_weight="heavy")


def test_ball_tree_knn_survives_skops() -> None:
    X, y = _data("binary")
    knn = make_estimator(
        "knn", "binary", {"n_neighbors": 3, "algorithm": "ball_tree"}, seed=0, class_weight=None
    ).fit(X, y)

    dump = sio.dumps(knn)

    assert sio.get_untrusted_types(data=dump) == [
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.neighbors._ball_tree.BallTree",
    ]
    loaded = sio.loads(dump, trusted=list(MODEL_TRUSTED_TYPES))
    np.testing.assert_array_equal(loaded.predict(X), knn.predict(X))


def test_model_trusted_types_are_exactly_what_the_families_need() -> None:
    needed: set[str] = set()
    for family, task in SUPPORTED:
        X, y = _data(task)
        fitted = make_estimator(family, task, SMALL.get(family, {}), 0, None).fit(X, y)  # type: ignore[arg-type]
        needed |= set(sio.get_untrusted_types(data=sio.dumps(fitted)))
    X, y = _data("binary")
    ball = make_estimator("knn", "binary", {"n_neighbors": 3, "algorithm": "ball_tree"}, 0, None)
    needed |= set(sio.get_untrusted_types(data=sio.dumps(ball.fit(X, y))))

    assert needed - set(TRUSTED_TYPES) == set(MODEL_TRUSTED_TYPES)


# --- params ---------------------------------------------------------------------------------


def test_default_spaces_parse_and_every_family_builds_from_them() -> None:
    models = ModelsParams.model_validate(read_raw(PARAMS_FILE)["models"])

    assert load_params(PARAMS_FILE).models == models

    hgb = models.family("hist_gradient_boosting")
    assert hgb.fixed == {
        "max_iter": 1000,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 10,
    }
    assert hgb.space == {
        "learning_rate": _range(0.02, 0.3, True, "float"),
        "max_leaf_nodes": _range(15, 63, False, "int"),
        "min_samples_leaf": _range(10, 100, True, "int"),
        "l2_regularization": _range(0.0, 1.0, False, "float"),
    }
    assert models.family("random_forest").space["max_depth"] == (None, 8, 16)
    assert models.family("linear").space == {}
    for family, task in SUPPORTED:
        params = models.family(family)  # type: ignore[arg-type]
        first = {name: values[0] for name, values in grid(params.space, 2).items()}
        estimator = make_estimator(family, task, {**params.fixed, **first}, 0, None)  # type: ignore[arg-type]
        assert type(estimator).__name__ == SUPPORTED[(family, task)]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"low": 1, "high": 1, "log": False, "type": "float"}, r"low \(1.0\) must be below high"),
        ({"low": 0, "high": 1, "log": True, "type": "float"}, r"a log range needs low > 0, got 0"),
        ({"low": 1, "high": 2.5, "log": False, "type": "int"}, r"an int range needs whole bounds"),
        ({"low": 1, "high": 2, "log": False, "type": "str"}, r"type\n  Input should be 'int' or"),
        ({"low": 1, "high": 2, "log": False}, r"type\n  Field required"),
    ],
)
def test_bad_ranges_are_rejected(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FamilyParams.model_validate({"fixed": {}, "space": {"x": entry}})


def test_empty_choices_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"at least 1 item"):
        FamilyParams.model_validate({"fixed": {}, "space": {"weights": []}})


# --- search spaces ------------------------------------------------------------------------

SPACE = {
    "learning_rate": _range(0.01, 1.0, True, "float"),
    "l2_regularization": _range(0.0, 1.0, False, "float"),
    "max_leaf_nodes": _range(15, 63, False, "int"),
    "min_samples_leaf": _range(1, 100, True, "int"),
    "max_depth": (None, 8, 16),
}


def test_grid_spaces_ranges_evenly_and_keeps_choices() -> None:
    values = grid(SPACE, points_per_range=3)

    assert values["learning_rate"] == pytest.approx([0.01, 0.1, 1.0])
    assert values["learning_rate"][0] == 0.01 and values["learning_rate"][-1] == 1.0
    assert values["l2_regularization"] == [0.0, 0.5, 1.0]
    assert values["max_leaf_nodes"] == [15, 39, 63]
    assert values["min_samples_leaf"] == [1, 10, 100]
    assert values["max_depth"] == [None, 8, 16]
    assert all(type(v) is int for v in values["max_leaf_nodes"] + values["min_samples_leaf"])


def test_grid_deduplicates_int_points() -> None:
    values = grid({"n": _range(1, 3, False, "int"), "m": _range(1, 4, True, "int")}, 5)

    # linspace 1, 1.5, 2, 2.5, 3 and geomspace 1, 1.41, 2, 2.83, 4, rounded
    assert values == {"n": [1, 2, 3], "m": [1, 2, 3, 4]}


def test_grid_needs_two_points() -> None:
    with pytest.raises(ModelError, match=r"points_per_range must be at least 2, got 1"):
        grid(SPACE, 1)


def test_distributions_for_randomized_search() -> None:
    drawn = distributions(SPACE)

    lr, l2, leaves = drawn["learning_rate"], drawn["l2_regularization"], drawn["max_leaf_nodes"]
    assert (lr.dist.name, lr.args, lr.support()) == ("loguniform", (0.01, 1.0), (0.01, 1.0))
    assert (l2.dist.name, l2.args, l2.support()) == ("uniform", (0.0, 1.0), (0.0, 1.0))
    assert (leaves.dist.name, leaves.args, leaves.support()) == ("randint", (15, 64), (15, 63))
    assert drawn["min_samples_leaf"] == IntLogUniform(1, 100)
    assert drawn["max_depth"] == [None, 8, 16]


def test_int_log_uniform_draws_whole_numbers_within_bounds_reproducibly() -> None:
    dist = IntLogUniform(1, 100)

    first = dist.rvs(size=2000, random_state=0)
    again = dist.rvs(size=2000, random_state=0)

    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.int64
    assert (first.min(), first.max()) == (1, 100)
    # log-uniform: as many draws in [1, 10) as in [10, 100]
    assert abs(int((first < 10).sum()) - 1000) < 100
    assert type(dist.rvs(random_state=1)) is int


def test_parameter_sampler_takes_the_distributions() -> None:
    samples = list(ParameterSampler(distributions(SPACE), n_iter=20, random_state=0))

    assert len(samples) == 20
    for sample in samples:
        assert 0.01 <= sample["learning_rate"] <= 1.0
        assert 0.0 <= sample["l2_regularization"] <= 1.0
        assert 15 <= sample["max_leaf_nodes"] <= 63 and isinstance(
            sample["max_leaf_nodes"], int | np.integer
        )
        assert 1 <= sample["min_samples_leaf"] <= 100
        assert sample["max_depth"] in (None, 8, 16)


def test_suggest_with_a_fixed_trial() -> None:
    chosen = {
        "learning_rate": 0.1,
        "l2_regularization": 0.25,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "max_depth": 8,
    }

    assert suggest(optuna.trial.FixedTrial(chosen), SPACE) == chosen


def test_suggest_in_a_seeded_study_declares_the_space() -> None:
    def run() -> list[dict[str, Any]]:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
        points: list[dict[str, Any]] = []
        for _ in range(3):
            trial = study.ask()
            points.append(suggest(trial, SPACE))
            study.tell(trial, 0.0)
        return points

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    first = run()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    trial = study.ask()
    suggest(trial, SPACE)

    assert first == run()
    assert trial.distributions == {
        "learning_rate": optuna.distributions.FloatDistribution(0.01, 1.0, log=True),
        "l2_regularization": optuna.distributions.FloatDistribution(0.0, 1.0),
        "max_leaf_nodes": optuna.distributions.IntDistribution(15, 63),
        "min_samples_leaf": optuna.distributions.IntDistribution(1, 100, log=True),
        "max_depth": optuna.distributions.CategoricalDistribution((None, 8, 16)),
    }
    for point in first:
        assert type(point["max_leaf_nodes"]) is int
        assert 0.01 <= point["learning_rate"] <= 1.0
