"""Feature engineering configured by typed params: imputation, outliers, transforms, scaling,
encoding, feature selection, PCA and class imbalance.

Two kinds of steps, kept apart on purpose:

- what is learned on the training split and applied unchanged at serve time (imputation,
  clipping bounds, transforms, bins, encoding, scaling, selection, PCA) is one scikit-learn
  Pipeline, :func:`build_preprocessor`; the caller appends ``("model", estimator)`` and logs
  the whole, so that training and serving cannot disagree;
- what changes *which rows* the model learns from (outlier rows removed, classes re-sampled)
  cannot be a Pipeline step (a transformer keeps its rows), so it is a pure function,
  :func:`prepare_training_rows`, applied to the training split only.

Importing this module imports neither scikit-learn nor pandas: its params models belong to the
typed config, which is parsed before any heavy library is needed. The custom transformers
(:data:`TRANSFORMERS`) are therefore defined on first use, through the module's ``__getattr__``;
they are still module-level names, which is how skops and pickle find them again
(``tasks.steps.features.OutlierClipper``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tasks.config import (
    FeaturesParams,
    ImbalanceParams,
    OutliersParams,
    SelectionParams,
    TaskKind,
    TransformParams,
)

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from tasks.steps.ingest import TableSchema

TRANSFORMERS = ("NullFractionDropper", "OutlierClipper", "SkewTransformer", "ColumnBinner")

# Types a fitted preprocessor may hold beyond skops' own allow-list and tasks.adapters.tracking's
# TRUSTED_TYPES, for every option below (tests/unit/test_features.py checks the list is exact).
FEATURE_TRUSTED_TYPES: tuple[str, ...] = (
    "functools.partial",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.tree._tree.Tree",
    "tasks.steps.features.ColumnBinner",
    "tasks.steps.features.NullFractionDropper",
    "tasks.steps.features.OutlierClipper",
    "tasks.steps.features.SkewTransformer",
)


class FeaturesError(ValueError):
    """The features cannot be built or the rows prepared as configured."""


# ---------------------------------------------------------------------------------------------
# Custom transformers, defined on first use (see the module docstring).


# C901: debt: classes defined in a function (lazy sklearn import)
def _define_transformers() -> dict[str, type[Any]]:  # noqa: C901
    """The custom transformers' classes; called once, on first use."""
    import numpy as np
    import pandas as pd
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.utils.validation import check_is_fitted

    class _ColumnStep(TransformerMixin, BaseEstimator):  # type: ignore[misc]
        """A transformer on a DataFrame that keeps the column names it was fitted on."""

        def _learn_columns(self, X: Any) -> pd.DataFrame:
            if not isinstance(X, pd.DataFrame):
                raise TypeError(f"{type(self).__name__} needs a DataFrame, got {type(X).__name__}")
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            self.n_features_in_ = len(X.columns)
            return X

        def _columns_of(self, X: Any) -> pd.DataFrame:
            check_is_fitted(self)
            if not isinstance(X, pd.DataFrame):
                raise TypeError(f"{type(self).__name__} needs a DataFrame, got {type(X).__name__}")
            names = list(self.feature_names_in_)
            missing = [name for name in names if name not in X.columns]
            if missing:
                raise ValueError(f"{type(self).__name__}: columns {missing} are missing")
            return X[names]

        def get_feature_names_out(self, input_features: Any = None) -> Any:
            check_is_fitted(self)
            return np.asarray(self.feature_names_in_, dtype=object)

        def _named(self, X: pd.DataFrame, kind: str) -> list[str]:
            """The ``columns`` param as a list, each one present in ``X``."""
            columns = list(self.columns)
            unknown = [name for name in columns if name not in X.columns]
            if unknown:
                raise ValueError(
                    f"{kind}: columns {unknown} are not among the numeric columns reaching it "
                    f"{list(X.columns)} (dropped for their null share?)"
                )
            return columns

    class NullFractionDropper(_ColumnStep):
        """Drops the columns whose null share in the training data exceeds
        ``max_null_fraction``; ``dropped_columns_`` names them."""

        def __init__(self, max_null_fraction: float = 1.0) -> None:
            self.max_null_fraction = max_null_fraction

        def fit(self, X: Any, y: Any = None) -> NullFractionDropper:
            X = self._learn_columns(X)
            shares = X.isna().mean()
            self.null_fractions_ = {str(k): float(v) for k, v in shares.items()}
            self.dropped_columns_ = tuple(
                str(name) for name, share in shares.items() if share > self.max_null_fraction
            )
            self.kept_columns_ = tuple(
                str(name) for name in X.columns if name not in self.dropped_columns_
            )
            if not self.kept_columns_:
                raise ValueError(
                    f"every column {list(self.dropped_columns_)} has a null share above "
                    f"max_null_fraction={self.max_null_fraction}: {self.null_fractions_}"
                )
            return self

        def transform(self, X: Any) -> Any:
            return self._columns_of(X)[list(self.kept_columns_)]

        def get_feature_names_out(self, input_features: Any = None) -> Any:
            check_is_fitted(self)
            return np.asarray(self.kept_columns_, dtype=object)

    class OutlierClipper(_ColumnStep):
        """Clips each column to bounds learned in ``fit``.

        ``iqr``: ``[Q1 - factor * IQR, Q3 + factor * IQR]`` (a column whose IQR is 0, such as a
        mostly-zero count, is left unclipped: its bounds would collapse onto one value);
        ``zscore``: ``mean +- factor * std`` (population std, ``ddof=0``). Missing values are
        ignored and kept. ``n_clipped_`` counts, per column, the training values clipped.
        """

        def __init__(self, method: str = "iqr", factor: float = 1.5) -> None:
            self.method = method
            self.factor = factor

        def fit(self, X: Any, y: Any = None) -> OutlierClipper:
            if self.method not in ("iqr", "zscore"):
                raise ValueError(
                    f"OutlierClipper: method must be iqr or zscore, not {self.method!r}"
                )
            values = self._learn_columns(X).to_numpy(dtype="float64")
            n_columns = values.shape[1]
            lower, upper = np.full(n_columns, -np.inf), np.full(n_columns, np.inf)
            present = ~np.isnan(values).all(axis=0) if len(values) else np.zeros(n_columns, bool)
            if present.any():
                known = values[:, present]
                if self.method == "iqr":
                    q1, q3 = np.nanpercentile(known, [25, 75], axis=0)
                    spread = q3 - q1
                    lower[present] = np.where(spread > 0, q1 - self.factor * spread, -np.inf)
                    upper[present] = np.where(spread > 0, q3 + self.factor * spread, np.inf)
                else:
                    mean, std = np.nanmean(known, axis=0), np.nanstd(known, axis=0)
                    lower[present] = mean - self.factor * std
                    upper[present] = mean + self.factor * std
            self.lower_ = lower.astype("float64")
            self.upper_ = upper.astype("float64")
            outside = (values < self.lower_) | (values > self.upper_)
            self.n_clipped_ = {
                str(name): int(count)
                for name, count in zip(self.feature_names_in_, outside.sum(axis=0), strict=True)
            }
            return self

        def transform(self, X: Any) -> Any:
            frame = self._columns_of(X)
            clipped = np.clip(frame.to_numpy(dtype="float64"), self.lower_, self.upper_)
            return pd.DataFrame(clipped, columns=frame.columns, index=frame.index)

    class SkewTransformer(_ColumnStep):
        """``log`` (``log1p``) or ``yeo_johnson`` on chosen columns; the others pass unchanged.

        ``columns`` is a tuple of names, or ``"auto"``: the columns whose absolute skew in the
        training data (pandas' bias-corrected skew) exceeds ``threshold``; ``columns_`` holds
        the choice. ``log`` refuses negative values, in ``fit`` and in ``transform`` alike:
        log1p is not defined below -1 and distorts between -1 and 0.
        """

        def __init__(
            self, method: str = "log", columns: Any = "auto", threshold: float = 1.0
        ) -> None:
            self.method = method
            self.columns = columns
            self.threshold = threshold

        def fit(self, X: Any, y: Any = None) -> SkewTransformer:
            from sklearn.preprocessing import PowerTransformer

            X = self._learn_columns(X)
            if self.columns == "auto":
                skew = X.skew()
                chosen = [str(c) for c in X.columns if abs(skew[c]) > self.threshold]
            else:
                chosen = self._named(X, f"{self.method} transform")
            self.columns_ = tuple(chosen)
            self.power_: Any = None
            if self.method == "log":
                self._refuse_negatives(X)
            elif self.method == "yeo_johnson":
                if chosen:
                    self.power_ = PowerTransformer(method="yeo-johnson", standardize=False)
                    self.power_.fit(X[chosen].to_numpy(dtype="float64"))
            else:
                raise ValueError(
                    f"SkewTransformer: method must be log or yeo_johnson, not {self.method!r}"
                )
            return self

        def _refuse_negatives(self, X: pd.DataFrame) -> None:
            lowest = X[list(self.columns_)].min()
            negative = {str(k): float(v) for k, v in lowest.items() if v < 0}
            if negative:
                raise ValueError(
                    f"log transform: columns {sorted(negative)} have negative values "
                    f"(minimum {negative}); log1p needs values >= 0: use yeo_johnson"
                )

        def transform(self, X: Any) -> Any:
            frame = self._columns_of(X).astype("float64")
            chosen = list(self.columns_)
            if not chosen:
                return frame
            if self.method == "log":
                self._refuse_negatives(frame)
                frame[chosen] = np.log1p(frame[chosen].to_numpy())
            else:
                frame[chosen] = self.power_.transform(frame[chosen].to_numpy())
            return frame

    class ColumnBinner(_ColumnStep):
        """Replaces chosen columns by their bin number (0 .. n_bins - 1), with bin edges learned
        in ``fit`` (``quantile`` or ``uniform``); the other columns pass unchanged."""

        def __init__(
            self,
            columns: tuple[str, ...] = (),
            n_bins: int = 5,
            strategy: str = "quantile",
            random_state: int | None = None,
        ) -> None:
            self.columns = columns
            self.n_bins = n_bins
            self.strategy = strategy
            self.random_state = random_state

        def fit(self, X: Any, y: Any = None) -> ColumnBinner:
            from sklearn.preprocessing import KBinsDiscretizer

            X = self._learn_columns(X)
            self.columns_ = tuple(self._named(X, "binning"))
            self.binner_ = KBinsDiscretizer(
                n_bins=self.n_bins,
                encode="ordinal",
                strategy=self.strategy,
                quantile_method="averaged_inverted_cdf",
                random_state=self.random_state,
            )
            self.binner_.fit(X[list(self.columns_)].to_numpy(dtype="float64"))
            return self

        def transform(self, X: Any) -> Any:
            frame = self._columns_of(X).astype("float64")
            chosen = list(self.columns_)
            frame[chosen] = self.binner_.transform(frame[chosen].to_numpy())
            return frame

    classes: dict[str, type[Any]] = {
        "NullFractionDropper": NullFractionDropper,
        "OutlierClipper": OutlierClipper,
        "SkewTransformer": SkewTransformer,
        "ColumnBinner": ColumnBinner,
    }
    for cls in classes.values():
        cls.__qualname__ = (
            cls.__name__
        )  # pickle and skops look it up as tasks.steps.features.<name>
        cls.__module__ = __name__
    return classes


def _transformers() -> dict[str, type[Any]]:
    """The custom transformers' classes, defined once and kept as module attributes."""
    namespace = globals()
    if TRANSFORMERS[0] not in namespace:
        namespace.update(_define_transformers())
    return {name: namespace[name] for name in TRANSFORMERS}


def __getattr__(name: str) -> Any:
    if name in TRANSFORMERS:
        return _transformers()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------
# The preprocessing Pipeline.


def _check_columns(schema: TableSchema, transform: TransformParams) -> None:
    """Named transform columns must be numeric columns of the schema."""
    named: list[tuple[str, str, str, Any]] = [
        ("skew", transform.skew, "skew_columns", transform.skew_columns),
        ("binning", transform.binning, "bin_columns", transform.bin_columns),
    ]
    for setting, option, key, columns in named:
        if option == "none" or columns == "auto":
            continue
        if not columns:
            raise FeaturesError(
                f"features.transform.{setting}={option} names no columns: "
                f"set features.transform.{key}"
            )
        unknown = [name for name in columns if name not in schema.numeric]
        if unknown:
            raise FeaturesError(
                f"features.transform.{key}: {unknown} are not numeric columns "
                f"(numeric: {list(schema.numeric)})"
            )


def _numeric_branch(params: FeaturesParams, seed: int) -> list[tuple[str, Any]]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    classes = _transformers()
    missing, outliers, transform = params.missing, params.outliers, params.transform
    steps: list[tuple[str, Any]] = []
    if missing.max_null_fraction < 1.0:
        steps.append(("drop_nulls", classes["NullFractionDropper"](missing.max_null_fraction)))
    if outliers.clip != "none":
        factor = outliers.iqr_factor if outliers.clip == "iqr" else outliers.zscore_threshold
        steps.append(("clip", classes["OutlierClipper"](outliers.clip, factor)))
    steps.append(
        (
            "impute",
            SimpleImputer(
                strategy=missing.numeric_imputation, fill_value=missing.numeric_fill_value
            ),
        )
    )
    if transform.skew != "none":
        columns = transform.skew_columns
        chosen = columns if columns == "auto" else tuple(columns)
        steps.append(
            ("skew", classes["SkewTransformer"](transform.skew, chosen, transform.skew_threshold))
        )
    if transform.binning != "none":
        binner = classes["ColumnBinner"](
            tuple(transform.bin_columns), transform.n_bins, transform.binning, seed
        )
        steps.append(("bin", binner))
    scalers: dict[str, Callable[[], Any]] = {
        "standard": StandardScaler,
        "minmax": MinMaxScaler,
        "maxabs": MaxAbsScaler,
        "robust": RobustScaler,
    }
    if transform.scaling != "none":
        steps.append(("scale", scalers[transform.scaling]()))
    return steps


def _categorical_branch(params: FeaturesParams) -> list[tuple[str, Any]]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    missing, encoding = params.missing, params.encoding
    steps: list[tuple[str, Any]] = []
    if missing.max_null_fraction < 1.0:
        dropper = _transformers()["NullFractionDropper"](missing.max_null_fraction)
        steps.append(("drop_nulls", dropper))
    steps.append(
        (
            "impute",
            SimpleImputer(
                strategy=missing.categorical_imputation,
                fill_value=missing.categorical_fill_value,
            ),
        )
    )
    min_frequency = encoding.min_frequency or None
    encoder: Any
    if encoding.method == "one_hot":
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist", min_frequency=min_frequency, sparse_output=False
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=encoding.unknown_value,
            min_frequency=min_frequency,
        )
    steps.append(("encode", encoder))
    return steps


def _selector(task: TaskKind, params: SelectionParams, seed: int) -> Any:
    """The feature-selection step, or None."""
    from functools import partial

    from sklearn import ensemble, feature_selection, linear_model

    classify = task != "regression"
    if params.method == "none":
        return None
    if params.method == "variance":
        return feature_selection.VarianceThreshold(threshold=params.variance_threshold)
    if params.method == "filter":
        score: Any
        if params.filter.score == "f_test":
            score = feature_selection.f_classif if classify else feature_selection.f_regression
        else:
            mutual_info = (
                feature_selection.mutual_info_classif
                if classify
                else feature_selection.mutual_info_regression
            )
            score = partial(mutual_info, random_state=seed)
        return feature_selection.SelectKBest(score, k=params.filter.k)
    if params.method == "embedded":
        embedded = params.embedded
        model: Any
        if embedded.model == "l1":
            if task == "multiclass" and embedded.l1_solver == "liblinear":
                raise FeaturesError(
                    "features.selection.embedded.l1_solver=liblinear does not support "
                    "multiclass targets (deprecated in scikit-learn 1.7, an error from 1.8); "
                    "use saga"
                )
            model = (
                linear_model.LogisticRegression(
                    penalty="l1",
                    solver=embedded.l1_solver,
                    C=embedded.C,
                    max_iter=embedded.max_iter,
                    random_state=seed,
                )
                if classify
                else linear_model.Lasso(
                    alpha=embedded.alpha, max_iter=embedded.max_iter, random_state=seed
                )
            )
        else:
            kind = "ExtraTrees" if embedded.model == "extra_trees" else "RandomForest"
            forest = getattr(ensemble, f"{kind}{'Classifier' if classify else 'Regressor'}")
            model = forest(n_estimators=embedded.n_estimators, random_state=seed)
        return feature_selection.SelectFromModel(
            model, threshold=embedded.threshold, max_features=embedded.max_features
        )
    wrapper = params.wrapper
    linear: Any = (
        linear_model.LogisticRegression(C=wrapper.C, max_iter=wrapper.max_iter, random_state=seed)
        if classify
        else linear_model.Ridge(alpha=wrapper.alpha, max_iter=wrapper.max_iter, random_state=seed)
    )
    if wrapper.method == "rfe":
        return feature_selection.RFE(
            linear, n_features_to_select=wrapper.n_features_to_select, step=wrapper.step
        )
    return feature_selection.RFECV(
        linear,
        step=wrapper.step,
        min_features_to_select=wrapper.min_features_to_select,
        cv=wrapper.cv,
    )


def build_preprocessor(schema: TableSchema, params: FeaturesParams, seed: int) -> Pipeline:
    """The preprocessing Pipeline: a ColumnTransformer (numeric, categorical and missing
    indicator branches), then optional ``select`` and ``pca`` steps. Pandas output throughout,
    with plain column names (``a``, ``c_x``, ``missingindicator_a``, ``pca0``). The caller
    appends ``("model", estimator)``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.impute import MissingIndicator
    from sklearn.pipeline import Pipeline

    _check_columns(schema, params.transform)
    branches: list[tuple[str, Any, list[str]]] = []
    if schema.numeric:
        branches.append(("numeric", Pipeline(_numeric_branch(params, seed)), list(schema.numeric)))
    if schema.categorical:
        categorical = Pipeline(_categorical_branch(params))
        branches.append(("categorical", categorical, list(schema.categorical)))
    if params.missing.indicators:
        steps: list[tuple[str, Any]] = []
        if params.missing.max_null_fraction < 1.0:
            dropper = _transformers()["NullFractionDropper"](params.missing.max_null_fraction)
            steps.append(("drop_nulls", dropper))
        # error_on_new=False: a column complete in training may have a gap at serve time.
        steps.append(("indicate", MissingIndicator(features="missing-only", error_on_new=False)))
        branches.append(("indicators", Pipeline(steps), list(schema.features)))
    pipeline_steps: list[tuple[str, Any]] = [
        ("columns", ColumnTransformer(branches, verbose_feature_names_out=False))
    ]
    selector = _selector(schema.task, params.selection, seed)
    if selector is not None:
        pipeline_steps.append(("select", selector))
    if params.pca.n_components is not None:
        pipeline_steps.append(("pca", PCA(n_components=params.pca.n_components, random_state=seed)))
    pipeline = Pipeline(pipeline_steps)
    pipeline.set_output(transform="pandas")
    return pipeline


def dropped_columns(preprocessor: Pipeline) -> tuple[str, ...]:
    """The columns a fitted preprocessor dropped for their null share (numeric, categorical)."""
    fitted = preprocessor.named_steps["columns"].named_transformers_
    dropped: list[str] = []
    for branch in ("numeric", "categorical"):
        if branch in fitted and "drop_nulls" in fitted[branch].named_steps:
            dropped.extend(fitted[branch].named_steps["drop_nulls"].dropped_columns_)
    return tuple(dropped)


def clipped_counts(preprocessor: Pipeline) -> dict[str, int]:
    """Per numeric column, the training values a fitted preprocessor clipped ({} when none)."""
    fitted = preprocessor.named_steps["columns"].named_transformers_
    if "numeric" not in fitted or "clip" not in fitted["numeric"].named_steps:
        return {}
    return dict(fitted["numeric"].named_steps["clip"].n_clipped_)


def estimator_class_weight(params: ImbalanceParams, task: TaskKind) -> str | None:
    """The ``class_weight`` to pass to the estimator: ``"balanced"`` or None."""
    if params.class_weight == "none":
        return None
    if task == "regression":
        raise FeaturesError(
            f"features.imbalance.class_weight={params.class_weight} needs a classification "
            "task; the task is regression"
        )
    return params.class_weight


# ---------------------------------------------------------------------------------------------
# Training rows: outlier rows and class sampling, on the training split only.


@dataclass(frozen=True)
class TrainingRowsReport:
    """What :func:`prepare_training_rows` did to the training split."""

    rows_in: int
    outliers_removed: int
    sampling_added: int
    sampling_removed: int
    rows_out: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _outlier_rows(
    frame: pd.DataFrame, schema: TableSchema, params: OutliersParams, seed: int
) -> Any:
    """A boolean array: True for the rows the detector calls outliers."""
    from sklearn.ensemble import IsolationForest
    from sklearn.impute import SimpleImputer
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not schema.numeric:
        raise FeaturesError(
            f"features.outliers.rows={params.rows} looks at numeric columns; the table has none"
        )
    # Distances and splits need complete, comparable numbers: median-filled, standardised.
    prepare = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
    )
    values = prepare.fit_transform(frame[list(schema.numeric)].to_numpy(dtype="float64"))
    detector: Any
    if params.rows == "isolation_forest":
        detector = IsolationForest(
            n_estimators=params.n_estimators,
            contamination=params.contamination,
            random_state=seed,
        )
    else:
        detector = LocalOutlierFactor(
            n_neighbors=params.n_neighbors, contamination=params.contamination
        )
    return detector.fit_predict(values) == -1


def _resample(frame: pd.DataFrame, target: str, how: str, ratio: float, seed: int) -> pd.DataFrame:
    """Seeded random re-sampling. ``over``: every class smaller than ``ratio`` x the largest
    gets rows drawn from it with replacement up to that size (appended after the originals);
    ``under``: every class larger than the smallest / ``ratio`` keeps that many of its rows,
    drawn without replacement (original order kept)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = frame[target].to_numpy()
    counts = frame[target].value_counts().sort_index()
    if how == "over":
        goal = round(ratio * int(counts.max()))
        added = []
        for label, count in counts.items():
            if count < goal:
                rows = np.flatnonzero(labels == label)
                added.append(rng.choice(rows, size=goal - int(count), replace=True))
        positions = np.concatenate([np.arange(len(frame)), *added])
    else:
        goal = round(int(counts.min()) / ratio)
        kept = []
        for label, count in counts.items():
            rows = np.flatnonzero(labels == label)
            kept.append(rng.choice(rows, size=goal, replace=False) if count > goal else rows)
        positions = np.sort(np.concatenate(kept))
    return frame.iloc[positions]


def prepare_training_rows(
    frame: pd.DataFrame, schema: TableSchema, params: FeaturesParams, seed: int
) -> tuple[pd.DataFrame, TrainingRowsReport]:
    """The training split's rows the model learns from, and what changed.

    Outlier rows first (``features.outliers.rows``: IsolationForest or LocalOutlierFactor on
    the numeric columns), then class sampling (``features.imbalance.sampling``, classification
    only), so that over-sampling never copies an outlier. Index labels are kept: a row added by
    over-sampling repeats the label of the row it copies. Validation and test splits must not go
    through here.
    """
    imbalance = params.imbalance
    if imbalance.sampling != "none" and schema.task == "regression":
        raise FeaturesError(
            f"features.imbalance.sampling={imbalance.sampling} needs a classification task; "
            "the task is regression"
        )
    rows_in = len(frame)
    kept = frame
    if params.outliers.rows != "none":
        outliers = _outlier_rows(frame, schema, params.outliers, seed)
        kept = frame[~outliers]
    filtered = len(kept)
    if imbalance.sampling != "none":
        kept = _resample(kept, schema.target, imbalance.sampling, imbalance.sampling_ratio, seed)
    change = len(kept) - filtered
    report = TrainingRowsReport(
        rows_in=rows_in,
        outliers_removed=rows_in - filtered,
        sampling_added=max(change, 0),
        sampling_removed=max(-change, 0),
        rows_out=len(kept),
    )
    return kept, report
