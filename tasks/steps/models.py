"""The model zoo: one scikit-learn estimator per family and task, and each family's search space.

A family maps to one estimator per task kind:

===========================  ==========================  ==========================
family                       classification              regression
===========================  ==========================  ==========================
``logistic_regression``      LogisticRegression          (error)
``linear``                   (error)                     LinearRegression
``ridge``                    (error)                     Ridge
``lasso``                    (error)                     Lasso
``svm``                      SVC (probability=True)      SVR
``decision_tree``            DecisionTreeClassifier      DecisionTreeRegressor
``random_forest``            RandomForestClassifier      RandomForestRegressor
``hist_gradient_boosting``   HistGradientBoosting...     HistGradientBoosting...
``knn``                      KNeighborsClassifier        KNeighborsRegressor
===========================  ==========================  ==========================

``ridge`` and ``lasso`` are regression families on purpose: their classification cousin is
``logistic_regression`` with ``penalty: l2`` or ``l1`` (and ``solver: saga`` for l1) among its
``fixed`` hyperparameters. Mapping them onto LogisticRegression would make one hyperparameter
name (``alpha``) mean a different constructor argument (``C``) per task.

Each family's params (``models.<family>`` in params.yaml) hold ``fixed`` hyperparameters and a
``space`` to search: per hyperparameter (its scikit-learn constructor name), a list of choices
or a range ``{low, high, log, type}``. :func:`grid`, :func:`distributions` and :func:`suggest`
turn a space into what GridSearchCV, RandomizedSearchCV and an Optuna trial take.

Importing this module imports neither scikit-learn, SciPy nor Optuna.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, get_args

from tasks.config import (
    Family,
    RangeParams,
    Scalar,
    Space,
    TaskKind,
)

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

FAMILIES: tuple[Family, ...] = get_args(Family)

# Types a fitted model of any family holds beyond skops' own allow-list and
# tasks.adapters.tracking.TRUSTED_TYPES (tests/unit/test_models.py checks the list is exact).
# (knn: the neighbour index and its metric; trees and forests: their fitted trees.)
MODEL_TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.tree._tree.Tree",
)

_ESTIMATORS: dict[tuple[str, bool], str] = {
    ("logistic_regression", True): "sklearn.linear_model.LogisticRegression",
    ("linear", False): "sklearn.linear_model.LinearRegression",
    ("ridge", False): "sklearn.linear_model.Ridge",
    ("lasso", False): "sklearn.linear_model.Lasso",
    ("svm", True): "sklearn.svm.SVC",
    ("svm", False): "sklearn.svm.SVR",
    ("decision_tree", True): "sklearn.tree.DecisionTreeClassifier",
    ("decision_tree", False): "sklearn.tree.DecisionTreeRegressor",
    ("random_forest", True): "sklearn.ensemble.RandomForestClassifier",
    ("random_forest", False): "sklearn.ensemble.RandomForestRegressor",
    ("hist_gradient_boosting", True): "sklearn.ensemble.HistGradientBoostingClassifier",
    ("hist_gradient_boosting", False): "sklearn.ensemble.HistGradientBoostingRegressor",
    ("knn", True): "sklearn.neighbors.KNeighborsClassifier",
    ("knn", False): "sklearn.neighbors.KNeighborsRegressor",
}

# Constructor arguments the platform needs whatever the params say: evaluation scores
# classifiers by their probabilities.
_REQUIRED: dict[str, dict[str, Any]] = {"SVC": {"probability": True}}


class ModelError(ValueError):
    """A family, task, hyperparameter or search space that does not fit together."""


# ---------------------------------------------------------------------------------------------
# Estimators.


def estimator_class(family: str, task: TaskKind) -> type[Any]:
    """The scikit-learn class of ``family`` for ``task``; a clear error when there is none."""
    import importlib

    if family not in FAMILIES:
        raise ModelError(f"unknown model family '{family}' (families: {', '.join(FAMILIES)})")
    classify = task != "regression"
    path = _ESTIMATORS.get((family, classify))
    if path is None:
        if classify:
            raise ModelError(
                f"family '{family}' is a regression family and the task is {task}: for "
                "classification use logistic_regression (penalty l2 for ridge, l1 with solver "
                "saga for lasso)"
            )
        raise ModelError(
            f"family '{family}' is a classification family and the task is regression: use "
            "linear, ridge or lasso"
        )
    module, name = path.rsplit(".", 1)
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def make_estimator(
    family: str,
    task: TaskKind,
    hyperparams: Mapping[str, Any],
    seed: int,
    class_weight: str | None,
) -> Any:
    """An unfitted estimator of ``family`` for ``task`` with ``hyperparams`` (scikit-learn
    constructor names); ``seed`` goes to ``random_state`` where the estimator has one.

    ``class_weight`` (``"balanced"`` or None) is passed on; asking for it where the estimator
    has no such argument (regression, knn) is an error, not a silent no-op.
    """
    cls = estimator_class(family, task)
    accepted = set(cls().get_params(deep=False))
    where = f"family '{family}' ({cls.__name__}, {task})"
    for reserved, source in (("random_state", "the seed"), ("class_weight", "class_weight")):
        if reserved in hyperparams:
            raise ModelError(f"{where}: '{reserved}' comes from {source}, not the hyperparameters")
    unknown = sorted(set(hyperparams) - accepted)
    if unknown:
        raise ModelError(f"{where} has no hyperparameter(s) {unknown}; it takes {sorted(accepted)}")
    required = _REQUIRED.get(cls.__name__, {})
    for key, value in required.items():
        if key in hyperparams and hyperparams[key] != value:
            raise ModelError(f"{where}: {key} must be {value} (evaluation needs probabilities)")
    options: dict[str, Any] = {**hyperparams, **required}
    if "random_state" in accepted:
        options["random_state"] = seed
    if class_weight is not None:
        if class_weight != "balanced":
            raise ModelError(
                f"{where}: class_weight must be 'balanced' or None, not {class_weight!r}"
            )
        if task == "regression" or "class_weight" not in accepted:
            raise ModelError(f"{where} does not support class_weight='balanced'")
        options["class_weight"] = class_weight
    return cls(**options)


# ---------------------------------------------------------------------------------------------
# Search spaces.


class IntLogUniform:
    """Integers from ``low`` to ``high`` inclusive, log-uniformly distributed (what
    RandomizedSearchCV needs for an int log range: SciPy has no such distribution)."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        """Draw like a frozen SciPy distribution: a Python int when ``size`` is None."""
        import numpy as np
        from scipy.stats import loguniform

        drawn = loguniform(self.low, self.high + 1).rvs(size=size, random_state=random_state)
        values = np.minimum(np.floor(drawn), self.high).astype("int64")
        return int(values) if size is None else values

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntLogUniform) and (self.low, self.high) == (other.low, other.high)

    def __hash__(self) -> int:
        return hash((IntLogUniform, self.low, self.high))

    def __repr__(self) -> str:
        return f"IntLogUniform({self.low}, {self.high})"


def grid(space: Space, points_per_range: int) -> dict[str, list[Scalar]]:
    """Values for GridSearchCV: choices as given; a range as ``points_per_range`` evenly spaced
    points (log-spaced when ``log``), rounded and deduplicated for int ranges."""
    import numpy as np

    if points_per_range < 2:
        raise ModelError(f"points_per_range must be at least 2, got {points_per_range}")
    values: dict[str, list[Scalar]] = {}
    for name, entry in space.items():
        if not isinstance(entry, RangeParams):
            values[name] = list(entry)
            continue
        spaced = (np.geomspace if entry.log else np.linspace)(
            entry.low, entry.high, points_per_range
        )
        if entry.type == "int":
            values[name] = list(dict.fromkeys(round(float(v)) for v in spaced))
        else:
            values[name] = [float(v) for v in spaced]
    return values


def distributions(space: Space) -> dict[str, Any]:
    """Distributions for RandomizedSearchCV: choices as lists; float ranges ``uniform`` or
    ``loguniform``; int ranges ``randint`` or :class:`IntLogUniform` (bounds inclusive)."""
    from scipy import stats

    drawn: dict[str, Any] = {}
    for name, entry in space.items():
        if not isinstance(entry, RangeParams):
            drawn[name] = list(entry)
        elif entry.type == "int":
            low, high = int(entry.low), int(entry.high)
            drawn[name] = IntLogUniform(low, high) if entry.log else stats.randint(low, high + 1)
        elif entry.log:
            drawn[name] = stats.loguniform(entry.low, entry.high)
        else:
            drawn[name] = stats.uniform(entry.low, entry.high - entry.low)
    return drawn


def suggest(trial: BaseTrial, space: Space) -> dict[str, Scalar]:
    """One point of ``space`` from an Optuna trial (``suggest_float/int/categorical``)."""
    chosen: dict[str, Scalar] = {}
    for name, entry in space.items():
        if not isinstance(entry, RangeParams):
            chosen[name] = trial.suggest_categorical(name, list(entry))
        elif entry.type == "int":
            chosen[name] = trial.suggest_int(name, int(entry.low), int(entry.high), log=entry.log)
        else:
            chosen[name] = trial.suggest_float(name, entry.low, entry.high, log=entry.log)
    return chosen
