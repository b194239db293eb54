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
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from tasks.config import MonitorParams
from tasks.drift_methods import CATEGORICAL, METHODS, NUMERICAL
from tasks.jsonsafe import plain

Verdict = Literal["healthy", "drift", "insufficient data"]
PREDICTION = "prediction"
_Frame = TypeVar("_Frame", pd.DataFrame, pd.Series)
_SUMMARY_TOP = 5


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
        return {f.name: plain(getattr(self, f.name)) for f in fields(self) if f.name != "snapshot"}

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
    settings: MonitorParams,
) -> QualityCheck:
    """Degraded when ``current_value`` is worse than ``reference_value`` by more than
    ``settings.quality_max_drop`` (absolute, rounded to 12 decimals so that 0.80 - 0.75 is not
    a drop of 0.05000000000000004); not judged (None) with fewer than
    ``settings.quality_min_labels`` labelled rows or a NaN value."""
    current = finite_or_none(current_value)
    reference = finite_or_none(reference_value)
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
    rng = np.random.default_rng(seed)
    # Every shuffled copy is scored in one call (the model's per-call overhead, not its
    # per-row work, is most of a 1,000-row call): the frame itself first, then each column's
    # shuffles in order. A model scores each row on its own, so the values are the same.
    copies = [frame]
    for column in columns:
        for _ in range(repeats):
            order = rng.permutation(len(frame))
            work = frame.copy()
            work[column] = frame[column].iloc[order].set_axis(frame.index)
            copies.append(work)
    rows = len(frame)
    scored = _outputs(predict(pd.concat(copies, ignore_index=True)), rows * len(copies))
    base = scored[:rows]
    result: dict[str, float] = {}
    for index, column in enumerate(columns):
        changes = []
        for repeat in range(repeats):
            start = rows * (1 + index * repeats + repeat)
            moved = np.abs(scored[start : start + rows] - base)
            per_row = moved.sum(axis=1) / 2 if moved.ndim == 2 else moved
            changes.append(float(np.nanmean(per_row)))
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
    reference: Mapping[str, float], current: Mapping[str, float], settings: MonitorParams
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
class Prepared:
    """Checked columns (cast, on the samples) and the guards' verdicts."""

    reference: pd.DataFrame
    current: pd.DataFrame
    kinds: dict[str, str]  # checked column -> kind, in input order
    excluded: list[Excluded]


def insufficient(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    settings: MonitorParams,
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


def verdict_of(
    drifted: int,
    judged: int,
    share: float,
    dataset_drift: bool,
    settings: MonitorParams,
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


def sample_positions(length: int, limit: int, seed: int) -> np.ndarray | None:
    """Sorted positions of a seeded random sample of ``limit`` rows (the rows
    ``frame.sample(limit, random_state=seed)`` picks, in their original order: the current
    window's plots over the row index stay in time order); None: all rows (``limit`` 0 or not
    below ``length``)."""
    if 0 < limit < length:
        picked = pd.Series(np.arange(length)).sample(n=limit, random_state=seed)
        return np.sort(picked.to_numpy())
    return None


def take(data: _Frame, rows: np.ndarray | None) -> _Frame:
    return (data if rows is None else data.iloc[rows]).reset_index(drop=True)


def prepare(ref_sample: pd.DataFrame, cur_sample: pd.DataFrame, kinds: dict[str, str]) -> Prepared:
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
    return Prepared(
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


def prediction_name(columns: Sequence[str]) -> str:
    name = PREDICTION
    while name in columns:
        name = f"_{name}"
    return name


def aligned(
    values: pd.Series, frame_rows: int, rows: np.ndarray | None, sampled: int, seed: int
) -> pd.Series:
    """Predictions for the sampled rows: the same positions when there is one prediction per
    frame row; else a seeded sample of their own, padded with missing values to the sample's
    length when shorter."""
    values = pd.Series(values).reset_index(drop=True)
    if len(values) == frame_rows:
        return take(values, rows)
    own = take(values, sample_positions(len(values), min(len(values), sampled), seed))
    if len(own) == sampled:
        return own
    padding = pd.Series([None] * (sampled - len(own)), dtype=object)
    padded: pd.Series = pd.concat([own.astype(object), padding], ignore_index=True)
    if pd.api.types.is_numeric_dtype(own):
        padded = padded.astype(np.float64)
    return padded


def attach_prediction(
    prepared: Prepared, name: str, ref: pd.Series, cur: pd.Series, kind: str
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


def method_for(kind: str, settings: MonitorParams) -> tuple[str, float]:
    if kind == NUMERICAL:
        return settings.numerical_method, settings.numerical_threshold
    return settings.categorical_method, settings.categorical_threshold


def column_drift(
    column: str, kind: str, value: float | None, settings: MonitorParams, is_prediction: bool
) -> ColumnDrift:
    method, threshold = method_for(kind, settings)
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


# -- the summary ---------------------------------------------------------------------------------


def summarize(
    reference: pd.DataFrame, current: pd.DataFrame, kinds: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Per column: rows, missing share and mean/std/min/max (numerical) or the top categories
    with their shares of all rows (categorical), on the sampled rows."""
    out: dict[str, dict[str, Any]] = {}
    for column, kind in kinds.items():
        ref = reference[column] if column in reference.columns else None
        cur = current[column] if column in current.columns else None
        out[column] = summarize_column(ref, cur, kind)
    return out


def summarize_column(ref: pd.Series | None, cur: pd.Series | None, kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "reference": None if ref is None else _describe(pd.Series(ref), kind),
        "current": None if cur is None else _describe(pd.Series(cur), kind),
    }


def _describe(series: pd.Series, kind: str) -> dict[str, Any]:
    rows = len(series)
    missing = int(series.isna().sum())
    out: dict[str, Any] = {
        "rows": rows,
        "missing_share": finite_or_none(missing / rows) if rows else None,
    }
    if kind == NUMERICAL:
        numbers = (
            pd.to_numeric(series.astype(object), errors="coerce")
            if (pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series))
            else series
        )
        numbers = numbers.astype(np.float64).replace([np.inf, -np.inf], np.nan)
        out.update(
            mean=finite_or_none(numbers.mean()),
            std=finite_or_none(numbers.std()),
            min=finite_or_none(numbers.min()),
            max=finite_or_none(numbers.max()),
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


def finite_or_none(value: Any) -> float | None:
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
    number = finite_or_none(value)
    if number is not None and number.is_integer():
        return str(int(number))
    return str(value)
