"""The Evidently adapter: the only module that calls Evidently (DESIGN principle 3).

``check_drift`` compares the current production window with the champion's training data
(the reference) in one Evidently ``Report``: a ``ValueDrift`` per checked column and one for
the prediction. The statistics are read back from the snapshot; the count, the share, the
verdict, the reasons and the data summary are ours. With labelled current rows, Evidently's
``ClassificationPreset``/``RegressionPreset`` runs on them (no reference: a second small
Report) and is merged into the same snapshot, so one HTML file shows everything.
``full_report=True`` adds ``DataSummaryPreset`` and ``DriftedColumnsCount``; they cost about
4 s more on 20 columns whatever the number of rows (Evidently draws a plotly figure for each
of the ~7 statistics of each column), so they are off by default. Pure: DataFrames in, a
:class:`DriftCheck` out; only ``save_html`` and ``add_to_workspace`` write.

Drift methods are always set explicitly (Evidently's default switches between p-values and
distances at 1,000 reference rows). Each method gives one kind of statistic:

- **p-values**, drift when the value is *below* the threshold (``ks`` and
  ``cramer_von_mises`` also at equality, as Evidently decides): ``ks``, ``t_test``,
  ``mannw``, ``anderson``, ``cramer_von_mises``, ``es`` (numerical); ``chisquare``, ``z``,
  ``g_test`` (categorical). A p-value shrinks with the number of rows: on tens of
  thousands of rows a negligible shift is "significant".
- **distances**, drift when the value is *at or above* the threshold (``ed`` only above):
  ``wasserstein`` (normed by the reference's std), ``ed`` (numerical); ``jensenshannon``,
  ``psi``, ``kl_div``, ``hellinger`` (numerical and categorical). A distance does not grow
  with the number of rows, which is why the monitor's defaults are distances.

Refused (``tasks.drift_methods.LEFT_OUT``): ``fisher_exact`` (needs equal row counts),
``empirical_mmd`` (an n x n kernel matrix), ``TVD`` (1,000 permutations in Python: about 20 s
per column at 20,000 rows) and the text-only methods.

Speed: each side is cut to a seeded random sample of at most ``sample_rows`` rows first; the
guards, the tests and the ``summary`` all see those rows. Evidently's time is mostly its
plotly figures (about 0.1 s per column), which grows with rows, while the statistics barely
change beyond tens of thousands of rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from tasks.drift_methods import CATEGORICAL, METHODS, NUMERICAL, drift_method

Verdict = Literal["healthy", "drift", "insufficient data"]
PREDICTION = "prediction"
_Frame = TypeVar("_Frame", pd.DataFrame, pd.Series)
_SUMMARY_TOP = 5


@dataclass(frozen=True)
class DriftSettings:
    """The drift check's knobs (``monitor:`` in params.yaml)."""

    min_rows: int = 200  # current rows below this: "insufficient data" (never "drift")
    sample_rows: int = 50_000  # seeded sample of at most this many rows per side (0: all rows)
    seed: int = 42
    numerical_method: str = "wasserstein"
    numerical_threshold: float = 0.1
    categorical_method: str = "jensenshannon"
    categorical_threshold: float = 0.1
    drift_share: float = 0.3  # dataset drift when drifted / checked columns >= this
    prediction_threshold: float = 0.1
    attribution_threshold: float = 0.9  # NDCG below this: attribution drift
    attribution_top: int = 10  # k of NDCG@k
    quality_max_drop: float = 0.05  # absolute
    quality_min_labels: int = 100


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift test: drift when a p-value is below the threshold or a distance at
    or above it. ``value``/``drifted`` None: the statistic came out NaN or infinite
    (undetermined: counted neither as drifted nor as healthy)."""

    column: str
    kind: str  # numerical | categorical
    method: str  # Evidently's method name, e.g. "wasserstein"
    statistic: str  # p_value | distance
    value: float | None
    threshold: float
    drifted: bool | None
    method_label: str = ""  # Evidently's display name, e.g. "Wasserstein distance (normed)"

    @property
    def severity(self) -> float:
        """How far beyond the threshold: value/threshold (distance), threshold/value
        (p-value); NaN when undetermined."""
        if self.value is None:
            return math.nan
        over, under = (
            (self.value, self.threshold)
            if self.statistic == "distance"
            else (self.threshold, self.value)
        )
        if under == 0:
            return math.inf if over > 0 else 1.0
        return over / under

    def describe(self) -> str:
        """``jensenshannon 0.18 >= 0.1``, ``ks p-value 0.001 < 0.05``, ``t_test undetermined``."""
        if self.value is None:
            return f"{self.method} undetermined"
        name = f"{self.method} p-value" if self.statistic == "p_value" else self.method
        if self.statistic == "p_value":
            sign = "<" if self.drifted else ">="
        else:
            sign = ">=" if self.drifted else "<"
        return f"{name} {_num(self.value)} {sign} {_num(self.threshold)}"


@dataclass(frozen=True)
class Excluded:
    """A column left out of the drift tests, with the reason in words."""

    column: str
    reason: str


@dataclass(frozen=True)
class QualityCheck:
    """The model's quality on the labelled current rows against its reference value."""

    metric: str
    reference: float
    current: float | None
    labelled_rows: int
    max_drop: float
    degraded: bool | None  # None: not judged (too few labels, or a NaN value)
    lower_is_better: bool

    def describe(self) -> str:
        """``roc_auc 0.71 vs 0.82 (drop 0.11 > 0.05)``."""
        if self.current is None or not math.isfinite(self.reference):
            side = "current" if self.current is None else "reference"
            return f"{self.metric} not judged (no {side} value)"
        if self.degraded is None:
            return f"{self.metric} not judged ({self.labelled_rows} labelled rows)"
        worse = (
            self.current - self.reference
            if self.lower_is_better
            else (self.reference - self.current)
        )
        word = "rise" if self.lower_is_better else "drop"
        sign = ">" if self.degraded else "<="
        return (
            f"{self.metric} {_num(self.current)} vs {_num(self.reference)} "
            f"({word} {_num(worse)} {sign} {_num(self.max_drop)})"
        )


@dataclass(frozen=True)
class AttributionDrift:
    """Did the model's reliance on its inputs change? NDCG@k of the current importance ranking
    with the reference importances as relevance (SageMaker Model Monitor's rule)."""

    ndcg: float | None
    threshold: float
    top: int
    drifted: bool | None
    reference: dict[str, float]
    current: dict[str, float]


@dataclass(frozen=True)
class DriftCheck:
    """The result of one drift check."""

    verdict: Verdict
    reasons: list[str]
    reference_rows: int
    current_rows: int
    sampled_reference_rows: int
    sampled_current_rows: int
    columns: list[ColumnDrift]  # one per checked column, in input order
    excluded: list[Excluded]
    drifted_columns: int
    checked_columns: int  # columns with a determined statistic
    drifted_share: float
    dataset_drift: bool
    prediction: ColumnDrift | None
    quality: QualityCheck | None
    attribution: AttributionDrift | None
    summary: dict[str, dict[str, Any]]  # column -> {kind, reference: {...}, current: {...}}
    snapshot: Any = field(default=None, repr=False, compare=False)  # Evidently's; None: no run

    def to_dict(self) -> dict[str, Any]:
        """Everything but the snapshot, JSON-safe (NaN and infinities as None)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "snapshot"}

    def top_columns(self, n: int = 5) -> list[ColumnDrift]:
        """The ``n`` most telling determined columns: drifted first, then by how far beyond
        the threshold (distance: value/threshold; p-value: threshold/value)."""
        judged = [c for c in self.columns if c.drifted is not None]
        return sorted(judged, key=lambda c: (not c.drifted, -c.severity))[:n]


# -- methods ---------------------------------------------------------------------------------


def _drifted(method: str, value: float | None, threshold: float) -> bool | None:
    if value is None:
        return None
    spec = METHODS[method]
    if value == threshold:
        return spec.at_threshold
    return value < threshold if spec.statistic == "p_value" else value > threshold


# -- quality and attribution -------------------------------------------------------------------


def quality_check(
    metric: str,
    reference_value: float,
    current_value: float | None,
    labelled_rows: int,
    lower_is_better: bool,
    settings: DriftSettings,
) -> QualityCheck:
    """Degraded when ``current_value`` is worse than ``reference_value`` by more than
    ``settings.quality_max_drop`` (absolute, rounded to 12 decimals so that 0.80 - 0.75 is not
    a drop of 0.05000000000000004); not judged (None) with fewer than
    ``settings.quality_min_labels`` labelled rows or a NaN value."""
    current = _finite(current_value)
    reference = _finite(reference_value)
    degraded: bool | None = None
    if (
        labelled_rows >= settings.quality_min_labels
        and current is not None
        and reference is not None
    ):
        worse = current - reference if lower_is_better else reference - current
        degraded = round(worse, 12) > settings.quality_max_drop
    return QualityCheck(
        metric=metric,
        reference=float(reference_value),
        current=current,
        labelled_rows=int(labelled_rows),
        max_drop=settings.quality_max_drop,
        degraded=degraded,
        lower_is_better=lower_is_better,
    )


def attributions(
    predict: Callable[[pd.DataFrame], np.ndarray],
    frame: pd.DataFrame,
    columns: Sequence[str],
    seed: int,
    repeats: int = 3,
) -> dict[str, float]:
    """Label-free permutation importance: per column, the mean absolute change of the model's
    output when that column alone is shuffled (seeded), averaged over ``repeats`` shuffles.
    ``predict`` returns a 1-D array (positive-class probability, regression value) or a 2-D
    array of class probabilities (then the change of a row is half the sum of the absolute
    changes: the probability mass that moved). Returns column -> importance (>= 0)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if len(frame) == 0:
        return {column: 0.0 for column in columns}
    base = _outputs(predict(frame), len(frame))
    rng = np.random.default_rng(seed)
    work = frame.copy()
    result: dict[str, float] = {}
    for column in columns:
        original = work[column]
        changes = []
        for _ in range(repeats):
            order = rng.permutation(len(frame))
            work[column] = original.iloc[order].set_axis(frame.index)
            moved = np.abs(_outputs(predict(work), len(frame)) - base)
            per_row = moved.sum(axis=1) / 2 if moved.ndim == 2 else moved
            changes.append(float(np.nanmean(per_row)))
        work[column] = original
        result[column] = float(np.mean(changes))
    return result


def _outputs(values: Any, rows: int) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64)
    if out.ndim not in (1, 2) or out.shape[0] != rows:
        raise ValueError(
            f"predict must return one value or one probability row per input row "
            f"({rows}), got shape {out.shape}"
        )
    return out


def attribution_drift(
    reference: Mapping[str, float], current: Mapping[str, float], settings: DriftSettings
) -> AttributionDrift:
    """NDCG@k (k = ``settings.attribution_top``) of the current importance ranking, with the
    reference importances as relevance: DCG = sum over the current top k of
    reference[column] / log2(rank + 2); the ideal DCG takes the reference's own top k. Drift
    when NDCG < ``settings.attribution_threshold``. Ties in the current ranking keep the
    current mapping's order. All-zero reference importances: undetermined (None)."""
    k = settings.attribution_top
    ranked = sorted(current, key=lambda c: -float(current[c]))[:k]
    dcg = sum(float(reference.get(c, 0.0)) / math.log2(i + 2) for i, c in enumerate(ranked))
    ideal = sorted((float(v) for v in reference.values()), reverse=True)[:k]
    idcg = sum(v / math.log2(i + 2) for i, v in enumerate(ideal))
    ndcg = dcg / idcg if idcg > 0 and math.isfinite(idcg) and math.isfinite(dcg) else None
    return AttributionDrift(
        ndcg=ndcg,
        threshold=settings.attribution_threshold,
        top=k,
        drifted=None if ndcg is None else ndcg < settings.attribution_threshold,
        reference={c: float(v) for c, v in reference.items()},
        current={c: float(v) for c, v in current.items()},
    )


# -- the check ---------------------------------------------------------------------------------


@dataclass
class _Prepared:
    """Checked columns (cast, on the samples) and the guards' verdicts."""

    reference: pd.DataFrame
    current: pd.DataFrame
    kinds: dict[str, str]  # checked column -> kind, in input order
    excluded: list[Excluded]


def check_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    settings: DriftSettings,
    prediction: tuple[pd.Series, pd.Series] | None = None,
    prediction_kind: str = CATEGORICAL,
    quality: QualityCheck | None = None,
    quality_data: tuple[pd.Series, pd.Series, str] | None = None,
    attribution: AttributionDrift | None = None,
    full_report: bool = False,
) -> DriftCheck:
    """Compare ``current`` with ``reference`` column by column, plus the prediction, and
    combine with ``quality`` and ``attribution`` into a verdict.

    ``numerical`` columns are tested with ``settings.numerical_method``, ``categorical`` ones
    (cast to text, missing kept missing) with ``settings.categorical_method``. ``prediction``
    is (reference predictions, current predictions): with one per frame row they follow the
    frames' sample, else each side is sampled on its own; ``prediction_kind`` "categorical"
    (labels) uses the categorical method, "numerical" (regression values, probabilities) the
    numerical one, both at ``settings.prediction_threshold``. ``quality_data`` (labels,
    predictions and task of the labelled current rows) adds Evidently's classification or
    regression section to the report; the verdict takes quality from ``quality``.
    ``full_report`` adds ``DataSummaryPreset`` and ``DriftedColumnsCount`` (slow).

    Fewer than ``settings.min_rows`` current rows: "insufficient data", nothing run. A column
    missing from a frame, empty or all missing on a side, constant with the same value on
    both sides, with fewer than 2 values on a side, or not numeric when declared numerical
    (all judged on the sampled rows) is listed in ``excluded`` with the reason and not
    tested. A statistic that comes out NaN leaves its column undetermined."""
    overlap = sorted(set(numerical) & set(categorical))
    if overlap:
        raise ValueError(f"columns declared both numerical and categorical: {overlap}")
    for name, kind in (
        (settings.numerical_method, NUMERICAL),
        (settings.categorical_method, CATEGORICAL),
    ):
        drift_method(name, kind)
    if prediction_kind not in (NUMERICAL, CATEGORICAL):
        raise ValueError(
            f"prediction_kind must be 'numerical' or 'categorical', got {prediction_kind!r}"
        )
    if quality_data is not None and quality_data[2] not in ("binary", "multiclass", "regression"):
        raise ValueError(
            f"quality_data's task must be binary, multiclass or regression, got {quality_data[2]!r}"
        )
    wanted = [*numerical, *categorical]
    kinds = {c: NUMERICAL for c in numerical} | {c: CATEGORICAL for c in categorical}
    kinds = {c: kinds[c] for c in wanted}
    if len(current) < settings.min_rows:
        return _insufficient(reference, current, settings, quality, attribution)

    limit, seed = settings.sample_rows, settings.seed
    ref_rows, cur_rows = _rows(len(reference), limit, seed), _rows(len(current), limit, seed)
    ref_sample = _take(reference, ref_rows)[[c for c in wanted if c in reference.columns]]
    cur_sample = _take(current, cur_rows)[[c for c in wanted if c in current.columns]]
    prepared = _prepare(ref_sample, cur_sample, kinds)
    pred_name = _prediction_name(wanted)
    pred_excluded: Excluded | None = None
    if prediction is not None:
        ref_pred = _aligned(prediction[0], len(reference), ref_rows, len(ref_sample), seed)
        cur_pred = _aligned(prediction[1], len(current), cur_rows, len(cur_sample), seed)
        pred_excluded = _attach_prediction(prepared, pred_name, ref_pred, cur_pred, prediction_kind)
    snapshot = _run_report(prepared, settings, pred_name, quality_data, full_report)
    values = _drift_values(snapshot)

    feature_columns = [
        _column_drift(c, k, values.get(c), settings, False)
        for c, k in prepared.kinds.items()
        if c != pred_name
    ]
    pred_drift: ColumnDrift | None = None
    if pred_name in prepared.kinds:
        kind = prepared.kinds[pred_name]
        pred_drift = _column_drift(pred_name, kind, values.get(pred_name), settings, True)
    excluded = prepared.excluded + ([pred_excluded] if pred_excluded else [])

    judged = [c for c in feature_columns if c.drifted is not None]
    drifted = sum(1 for c in judged if c.drifted)
    share = drifted / len(judged) if judged else 0.0
    dataset_drift = bool(judged) and share >= settings.drift_share

    summary = _summary(ref_sample, cur_sample, kinds)
    if prediction is not None:
        summary[pred_name] = _summary_column(prediction[0], prediction[1], prediction_kind)
    verdict, reasons = _verdict(
        drifted, len(judged), share, dataset_drift, settings, pred_drift, quality, attribution
    )
    return DriftCheck(
        verdict=verdict,
        reasons=reasons,
        reference_rows=len(reference),
        current_rows=len(current),
        sampled_reference_rows=len(ref_sample),
        sampled_current_rows=len(cur_sample),
        columns=feature_columns,
        excluded=excluded,
        drifted_columns=drifted,
        checked_columns=len(judged),
        drifted_share=share,
        dataset_drift=dataset_drift,
        prediction=pred_drift,
        quality=quality,
        attribution=attribution,
        summary=summary,
        snapshot=snapshot,
    )


def _insufficient(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    settings: DriftSettings,
    quality: QualityCheck | None,
    attribution: AttributionDrift | None,
) -> DriftCheck:
    reason = (
        f"current window has {len(current)} rows, fewer than monitor.min_rows {settings.min_rows}"
    )
    return DriftCheck(
        verdict="insufficient data",
        reasons=[reason],
        reference_rows=len(reference),
        current_rows=len(current),
        sampled_reference_rows=0,
        sampled_current_rows=0,
        columns=[],
        excluded=[],
        drifted_columns=0,
        checked_columns=0,
        drifted_share=0.0,
        dataset_drift=False,
        prediction=None,
        quality=quality,
        attribution=attribution,
        summary={},
        snapshot=None,
    )


def _verdict(
    drifted: int,
    judged: int,
    share: float,
    dataset_drift: bool,
    settings: DriftSettings,
    prediction: ColumnDrift | None,
    quality: QualityCheck | None,
    attribution: AttributionDrift | None,
) -> tuple[Verdict, list[str]]:
    if judged == 0:
        columns = "no column could be judged"
    else:
        sign = ">=" if dataset_drift else "<"
        columns = (
            f"{drifted} of {judged} columns drifted "
            f"({_num(share)} {sign} {_num(settings.drift_share)})"
        )
    causes = [columns] if dataset_drift else []
    if prediction is not None and prediction.drifted:
        causes.append(f"prediction drifted ({prediction.describe()})")
    if quality is not None and quality.degraded:
        causes.append(f"quality: {quality.describe()}")
    if attribution is not None and attribution.drifted:
        assert attribution.ndcg is not None
        causes.append(
            f"attribution ranking changed (NDCG@{attribution.top} {_num(attribution.ndcg)} "
            f"< {_num(attribution.threshold)})"
        )
    if causes:
        return "drift", causes
    return "healthy", [columns]


# -- preparing the data ------------------------------------------------------------------------


def _rows(length: int, limit: int, seed: int) -> np.ndarray | None:
    """Sorted positions of a seeded random sample of ``limit`` rows (the rows
    ``frame.sample(limit, random_state=seed)`` picks, in their original order: the current
    window's plots over the row index stay in time order); None: all rows (``limit`` 0 or not
    below ``length``)."""
    if 0 < limit < length:
        picked = pd.Series(np.arange(length)).sample(n=limit, random_state=seed)
        return np.sort(picked.to_numpy())
    return None


def _take(data: _Frame, rows: np.ndarray | None) -> _Frame:
    return (data if rows is None else data.iloc[rows]).reset_index(drop=True)


def _prepare(
    ref_sample: pd.DataFrame, cur_sample: pd.DataFrame, kinds: dict[str, str]
) -> _Prepared:
    """Decide which columns are tested (the guards look at the sampled rows, the rows the
    tests would see) and cast those."""
    ref_out: dict[str, pd.Series] = {}
    cur_out: dict[str, pd.Series] = {}
    checked: dict[str, str] = {}
    excluded: list[Excluded] = []
    for column, kind in kinds.items():
        reason = _missing(column, ref_sample, cur_sample)
        if reason is None:
            reason = _degenerate(ref_sample[column], cur_sample[column], kind)
        if reason is None:
            ref_col, ref_error = _cast(ref_sample[column], kind)
            cur_col, cur_error = _cast(cur_sample[column], kind)
            reason = _side_reason(ref_error, cur_error, "not numeric")
        if reason is not None:
            excluded.append(Excluded(column, reason))
            continue
        ref_out[column], cur_out[column] = ref_col, cur_col
        checked[column] = kind
    return _Prepared(
        reference=pd.DataFrame(ref_out, index=ref_sample.index),
        current=pd.DataFrame(cur_out, index=cur_sample.index),
        kinds=checked,
        excluded=excluded,
    )


def _missing(column: str, reference: pd.DataFrame, current: pd.DataFrame) -> str | None:
    in_ref, in_cur = column in reference.columns, column in current.columns
    if not in_ref and not in_cur:
        return "not in reference or current data"
    if not in_ref:
        return "not in reference data"
    if not in_cur:
        return "not in current data"
    return None


def _degenerate(ref: pd.Series, cur: pd.Series, kind: str) -> str | None:
    """Empty, all-missing, the same constant on both sides, or fewer than 2 values on a side."""
    reason = _both_sides(len(ref) == 0, len(cur) == 0, "empty in")
    reason = reason or _both_sides(
        not ref.notna().any(), not cur.notna().any(), "all values missing in"
    )
    if reason is not None:
        return reason
    ref_values, cur_values = _distinct(ref, 2), _distinct(cur, 2)
    if len(ref_values) == 1 and len(cur_values) == 1:
        ref_value, cur_value = ref_values[0], cur_values[0]
        if kind == CATEGORICAL:
            ref_value, cur_value = str(ref_value), str(cur_value)
        if ref_value == cur_value:
            return f"constant in reference and current (value {_show(ref_value)})"
    return _both_sides(
        int(ref.notna().sum()) < 2, int(cur.notna().sum()) < 2, "fewer than 2 values in"
    )


def _both_sides(in_ref: bool, in_cur: bool, what: str) -> str | None:
    if in_ref and in_cur:
        return f"{what} reference and current"
    if in_ref:
        return f"{what} reference"
    if in_cur:
        return f"{what} current"
    return None


def _distinct(series: pd.Series, limit: int) -> list[Any]:
    """Up to ``limit`` distinct non-missing values (cheap when there are many)."""
    head = series.iloc[:1000].dropna().unique()
    if len(head) >= limit:
        return list(head[:limit])
    return list(series.dropna().unique()[:limit])


def _cast(series: pd.Series, kind: str) -> tuple[pd.Series, str | None]:
    """Numerical: floats (an error text when not numbers); categorical: text, missing kept."""
    if kind == CATEGORICAL:
        if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in (
            "string",
            "empty",
        ):
            return series, None
        missing = series.isna()
        text = series.astype(str).astype(object)
        text[missing] = np.nan
        return text, None
    numbers = series
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        numbers = pd.to_numeric(series.astype(object), errors="coerce")
        bad = numbers.isna() & series.notna()
        if bad.any():
            return series, f"e.g. {_show(series[bad].iloc[0])}"
    numbers = numbers.astype(np.float64)
    return numbers.replace([np.inf, -np.inf], np.nan), None


def _side_reason(ref_error: str | None, cur_error: str | None, what: str) -> str | None:
    if ref_error is not None:
        return f"{what} in reference ({ref_error})"
    if cur_error is not None:
        return f"{what} in current ({cur_error})"
    return None


def _prediction_name(columns: Sequence[str]) -> str:
    name = PREDICTION
    while name in columns:
        name = f"_{name}"
    return name


def _aligned(
    values: pd.Series, frame_rows: int, rows: np.ndarray | None, sampled: int, seed: int
) -> pd.Series:
    """Predictions for the sampled rows: the same positions when there is one prediction per
    frame row; else a seeded sample of their own, padded with missing values to the sample's
    length when shorter."""
    values = pd.Series(values).reset_index(drop=True)
    if len(values) == frame_rows:
        return _take(values, rows)
    own = _take(values, _rows(len(values), min(len(values), sampled), seed))
    if len(own) == sampled:
        return own
    padding = pd.Series([None] * (sampled - len(own)), dtype=object)
    padded: pd.Series = pd.concat([own.astype(object), padding], ignore_index=True)
    if pd.api.types.is_numeric_dtype(own):
        padded = padded.astype(np.float64)
    return padded


def _attach_prediction(
    prepared: _Prepared, name: str, ref: pd.Series, cur: pd.Series, kind: str
) -> Excluded | None:
    reason = _degenerate(ref, cur, kind)
    if reason is None:
        ref_col, ref_error = _cast(ref, kind)
        cur_col, cur_error = _cast(cur, kind)
        reason = _side_reason(ref_error, cur_error, "not numeric")
    if reason is not None:
        return Excluded(name, reason)
    prepared.reference[name] = ref_col
    prepared.current[name] = cur_col
    prepared.kinds[name] = kind
    return None


# -- Evidently -----------------------------------------------------------------------------------


def _method_for(kind: str, settings: DriftSettings) -> tuple[str, float]:
    if kind == NUMERICAL:
        return settings.numerical_method, settings.numerical_threshold
    return settings.categorical_method, settings.categorical_threshold


def _run_report(
    prepared: _Prepared,
    settings: DriftSettings,
    pred_name: str,
    quality_data: tuple[pd.Series, pd.Series, str] | None,
    full_report: bool,
) -> Any:
    """One Evidently Report over the samples (plus the quality section's, merged in); None
    when there is nothing to report on."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift
    from evidently.presets import DataSummaryPreset

    if prepared.current.empty or not prepared.kinds:
        return _quality_report(quality_data)
    features = [c for c in prepared.kinds if c != pred_name]
    items: list[Any] = []
    for column, kind in prepared.kinds.items():
        method, threshold = _method_for(kind, settings)
        if column == pred_name:
            threshold = settings.prediction_threshold
        items.append(ValueDrift(column=column, method=method, threshold=threshold))
    if full_report and features:
        items.append(
            DriftedColumnsCount(
                columns=features,
                drift_share=settings.drift_share,
                num_method=settings.numerical_method,
                num_threshold=settings.numerical_threshold,
                cat_method=settings.categorical_method,
                cat_threshold=settings.categorical_threshold,
            )
        )
        items.append(DataSummaryPreset(columns=features))
    definition = DataDefinition(
        numerical_columns=[c for c, k in prepared.kinds.items() if k == NUMERICAL],
        categorical_columns=[c for c, k in prepared.kinds.items() if k == CATEGORICAL],
    )
    current = Dataset.from_pandas(prepared.current, data_definition=definition)
    reference = (
        Dataset.from_pandas(prepared.reference, data_definition=definition)
        if len(prepared.reference)
        else None
    )
    snapshot = Report(items).run(current, reference)
    quality = _quality_report(quality_data)
    return snapshot if quality is None else _merge(snapshot, quality)


def _quality_report(quality_data: tuple[pd.Series, pd.Series, str] | None) -> Any:
    """Evidently's ClassificationPreset/RegressionPreset on the labelled current rows (no
    reference: the training labels are not given), or None."""
    if quality_data is None:
        return None
    from evidently import (
        BinaryClassification,
        DataDefinition,
        Dataset,
        MulticlassClassification,
        Regression,
        Report,
    )
    from evidently.presets import ClassificationPreset, RegressionPreset

    labels, predicted, task = quality_data
    frame = (
        pd.DataFrame(
            {"target": pd.Series(labels).to_numpy(), "prediction": pd.Series(predicted).to_numpy()}
        )
        .dropna()
        .infer_objects()
    )
    if frame["target"].nunique() < 2:  # Evidently's metrics raise on a single class
        return None
    if task == "regression":
        frame = frame.astype(np.float64)
        definition = DataDefinition(
            numerical_columns=["target", "prediction"],
            regression=[Regression(target="target", prediction="prediction")],
        )
        preset: Any = RegressionPreset()
    else:
        classes = sorted({*frame["target"], *frame["prediction"]}, key=str)
        labelled: Any
        if task == "binary":
            positive = 1 if set(classes) <= {0, 1} else classes[-1]
            labelled = BinaryClassification(
                target="target", prediction_labels="prediction", pos_label=positive
            )
        else:
            labelled = MulticlassClassification(target="target", prediction_labels="prediction")
        definition = DataDefinition(
            categorical_columns=["target", "prediction"], classification=[labelled]
        )
        preset = ClassificationPreset()
    return Report([preset]).run(Dataset.from_pandas(frame, data_definition=definition), None)


def _merge(first: Any, second: Any) -> Any:
    """One snapshot with both reports' metrics and widgets (through the public dump/load)."""
    from evidently.core.report import Snapshot

    a, b = first.dump_dict(), second.dump_dict()
    a["metric_results"] = {**a["metric_results"], **b["metric_results"]}
    a["top_level_metrics"] = [*a["top_level_metrics"], *b["top_level_metrics"]]
    a["widgets"] = [*a["widgets"], *b["widgets"]]
    a["tests_widgets"] = [*a["tests_widgets"], *b["tests_widgets"]]
    return Snapshot.load_dict(a)


def _drift_values(snapshot: Any) -> dict[str, float | None]:
    """Column -> ValueDrift's statistic, from the snapshot (None: NaN or infinite)."""
    if snapshot is None:
        return {}
    return parse_drift_values(snapshot.dict()["metrics"])


def parse_drift_values(metrics: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Column -> statistic from ``snapshot.dict()["metrics"]``' ValueDrift items; a NaN or
    infinite statistic comes out as None (undetermined)."""
    values: dict[str, float | None] = {}
    for item in metrics:
        config = item.get("config") or {}
        if str(config.get("type", "")).endswith(":ValueDrift"):
            values[str(config["column"])] = _finite(item.get("value"))
    return values


def _column_drift(
    column: str, kind: str, value: float | None, settings: DriftSettings, is_prediction: bool
) -> ColumnDrift:
    method, threshold = _method_for(kind, settings)
    if is_prediction:
        threshold = settings.prediction_threshold
    spec = METHODS[method]
    return ColumnDrift(
        column=column,
        kind=kind,
        method=method,
        statistic=spec.statistic,
        value=value,
        threshold=threshold,
        drifted=_drifted(method, value, threshold),
        method_label=spec.label,
    )


def save_html(check: DriftCheck, path: Path) -> None:
    """Write Evidently's HTML report of ``check``."""
    if check.snapshot is None:
        raise ValueError(f"no Evidently report to save: the check's verdict is {check.verdict!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    check.snapshot.save_html(str(path))


def add_to_workspace(check: DriftCheck, workspace: Path, project: str) -> str:
    """Add the check's snapshot to the local Evidently workspace (``evidently ui`` shows it),
    in the project named ``project`` (created when missing); returns the snapshot's path."""
    from evidently.ui.workspace import Workspace

    if check.snapshot is None:
        raise ValueError(f"no Evidently report to add: the check's verdict is {check.verdict!r}")
    space = Workspace.create(str(workspace))
    found = space.search_project(project)
    target = found[0] if found else space.create_project(project, description="drift checks")
    ref = space.add_run(target.id, check.snapshot, include_data=False)
    return str(ref.url)


# -- the summary ---------------------------------------------------------------------------------


def _summary(
    reference: pd.DataFrame, current: pd.DataFrame, kinds: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Per column: rows, missing share and mean/std/min/max (numerical) or the top categories
    with their shares of all rows (categorical), on the sampled rows."""
    out: dict[str, dict[str, Any]] = {}
    for column, kind in kinds.items():
        ref = reference[column] if column in reference.columns else None
        cur = current[column] if column in current.columns else None
        out[column] = _summary_column(ref, cur, kind)
    return out


def _summary_column(ref: pd.Series | None, cur: pd.Series | None, kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "reference": None if ref is None else _describe(pd.Series(ref), kind),
        "current": None if cur is None else _describe(pd.Series(cur), kind),
    }


def _describe(series: pd.Series, kind: str) -> dict[str, Any]:
    rows = len(series)
    missing = int(series.isna().sum())
    out: dict[str, Any] = {"rows": rows, "missing_share": _finite(missing / rows) if rows else None}
    if kind == NUMERICAL:
        numbers = (
            pd.to_numeric(series.astype(object), errors="coerce")
            if (pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series))
            else series
        )
        numbers = numbers.astype(np.float64).replace([np.inf, -np.inf], np.nan)
        out.update(
            mean=_finite(numbers.mean()),
            std=_finite(numbers.std()),
            min=_finite(numbers.min()),
            max=_finite(numbers.max()),
        )
    else:
        counts: dict[str, int] = {}
        for value, count in series.value_counts(dropna=True).items():
            key = str(value)
            counts[key] = counts.get(key, 0) + int(count)
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:_SUMMARY_TOP]
        out["top"] = {k: v / rows for k, v in top}
    return out


# -- small helpers -------------------------------------------------------------------------------


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _num(value: float) -> str:
    """Three significant digits: 0.308, 0.18, 12.3, 1.23e+04."""
    return f"{value:.3g}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    number = _finite(value)
    if number is not None and number.is_integer():
        return str(int(number))
    return str(value)


def _plain(value: Any) -> Any:
    """JSON-safe copy: dataclasses to dicts, NaN/inf to None, numpy scalars to Python."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
