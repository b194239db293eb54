"""The Evidently adapter: the only module that calls Evidently.

``check_drift`` samples both sides, prepares the columns (tasks/steps/drift.py: pure), runs one
Evidently Report of ValueDrift metrics (plus the classification or regression preset on the
labelled rows), reads each column's statistic back and lets the pure step judge it.
``save_html`` and ``add_to_workspace`` write the report for people: the HTML file beside the
check's result and a snapshot in the local Evidently workspace that ``mlops ui`` serves, whose
project dashboard (``dashboard_panels``, ``ensure_dashboard``) shows the checks over time.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tasks.config import MonitorParams
from tasks.drift_methods import CATEGORICAL, NUMERICAL, drift_method
from tasks.steps.drift import (
    AttributionDrift,
    ColumnDrift,
    DriftCheck,
    Excluded,
    Prepared,
    QualityCheck,
    aligned,
    attach_prediction,
    column_drift,
    finite_or_none,
    insufficient,
    method_for,
    prediction_name,
    prepare,
    sample_positions,
    summarize,
    summarize_column,
    take,
    verdict_of,
)


def check_drift(  # noqa: PLR0913  (keyword-only: each input of one drift check)
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    settings: MonitorParams,
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
        return insufficient(reference, current, settings, quality, attribution)

    limit, seed = settings.sample_rows, settings.seed
    ref_rows, cur_rows = (
        sample_positions(len(reference), limit, seed),
        sample_positions(len(current), limit, seed),
    )
    ref_sample = take(reference, ref_rows)[[c for c in wanted if c in reference.columns]]
    cur_sample = take(current, cur_rows)[[c for c in wanted if c in current.columns]]
    prepared = prepare(ref_sample, cur_sample, kinds)
    pred_name = prediction_name(wanted)
    pred_excluded: Excluded | None = None
    if prediction is not None:
        ref_pred = aligned(prediction[0], len(reference), ref_rows, len(ref_sample), seed)
        cur_pred = aligned(prediction[1], len(current), cur_rows, len(cur_sample), seed)
        pred_excluded = attach_prediction(prepared, pred_name, ref_pred, cur_pred, prediction_kind)
    snapshot = _run_report(prepared, settings, pred_name, quality_data, full_report)
    values = _drift_values(snapshot)

    feature_columns = [
        column_drift(c, k, values.get(c), settings, False)
        for c, k in prepared.kinds.items()
        if c != pred_name
    ]
    pred_drift: ColumnDrift | None = None
    if pred_name in prepared.kinds:
        kind = prepared.kinds[pred_name]
        pred_drift = column_drift(pred_name, kind, values.get(pred_name), settings, True)
    excluded = prepared.excluded + ([pred_excluded] if pred_excluded else [])

    judged = [c for c in feature_columns if c.drifted is not None]
    drifted = sum(1 for c in judged if c.drifted)
    share = drifted / len(judged) if judged else 0.0
    dataset_drift = bool(judged) and share >= settings.drift_share

    summary = summarize(ref_sample, cur_sample, kinds)
    if prediction is not None:
        summary[pred_name] = summarize_column(prediction[0], prediction[1], prediction_kind)
    verdict, reasons = verdict_of(
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


def _run_report(
    prepared: Prepared,
    settings: MonitorParams,
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
        method, threshold = method_for(kind, settings)
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
            values[str(config["column"])] = finite_or_none(item.get("value"))
    return values


def save_html(check: DriftCheck, path: Path) -> None:
    """Write Evidently's HTML report of ``check``."""
    if check.snapshot is None:
        raise ValueError(f"no Evidently report to save: the check's verdict is {check.verdict!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    check.snapshot.save_html(str(path))


# The dashboard each model's Evidently project shows (``evidently ui``). Beside Evidently's own
# ValueDrift results (one per column and the prediction), each snapshot carries the check's
# numbers that Evidently does not compute: a one-row table of them, reported with Evidently's
# MeanValue (the mean of one value is that value), so the panels read them like any metric.
VALUE_METRIC = "MeanValue"
DRIFT_METRIC = "ValueDrift"
DASHBOARD_TAB = "Monitoring"
PANEL_KEYS = (
    "last-check",
    "drift-share",
    "prediction-drift",
    f"{NUMERICAL}-columns",
    f"{CATEGORICAL}-columns",
    "quality",
    "champion",
)  # every panel the platform ever made: a key no longer wanted is removed, not kept
_IDS = uuid.UUID("0f7f5a52-8f0c-4b3f-9d7a-2a8e4c7f3d11")  # namespace of the panels' ids


@dataclass(frozen=True)
class Series:
    """One line (or counter) of a panel: the metric it reads, the labels that pick it, the
    legend Evidently's UI writes beside it (``{{column}}`` is the series' column)."""

    metric: str
    labels: dict[str, str]
    legend: str


@dataclass(frozen=True)
class Panel:
    """One dashboard panel, as the platform wants it: ``key`` names it for good (its id is
    derived from the project and the key), ``kind`` is Evidently's plot type."""

    key: str
    title: str
    subtitle: str
    kind: Literal["line", "counter", "bar"]
    size: Literal["full", "half"]
    series: tuple[Series, ...]


def _value(name: str, legend: str) -> Series:
    return Series(VALUE_METRIC, {"column": name}, legend)


def check_values(
    check: DriftCheck, settings: MonitorParams, model_version: str | None
) -> dict[str, float]:
    """The check's own numbers the dashboard reads (name -> value); a value the check does
    not have (no prediction, no labelled rows, a version that is not a number) is left out."""
    values: dict[str, float] = {
        "drifted_share": float(check.drifted_share),
        "drift_share_threshold": float(settings.drift_share),
        "drifted_columns": float(check.drifted_columns),
        "checked_columns": float(check.checked_columns),
        "numerical_threshold": float(settings.numerical_threshold),
        "categorical_threshold": float(settings.categorical_threshold),
        "current_rows": float(check.current_rows),
    }
    if check.prediction is not None:
        values["prediction_threshold"] = float(check.prediction.threshold)
    quality = check.quality
    if quality is not None:
        if quality.current is not None:
            values["quality_current"] = float(quality.current)
        values["quality_labelled_rows"] = float(quality.labelled_rows)
        if math.isfinite(quality.reference):
            values["quality_reference"] = float(quality.reference)
            values["quality_floor"] = quality_floor(quality)
    if model_version is not None and str(model_version).isdigit():
        values["champion_version"] = float(int(str(model_version)))
    return values


def quality_floor(quality: QualityCheck) -> float:
    """The value the primary metric may reach before the check calls it degraded: the
    champion's test value minus the allowed drop (plus it, when lower is better)."""
    step = quality.max_drop if quality.lower_is_better else -quality.max_drop
    return round(quality.reference + step, 12)


def dashboard_panels(
    kinds: Mapping[str, str], prediction: str, settings: MonitorParams, metric: str | None
) -> list[Panel]:
    """The panels of a model's dashboard: ``kinds`` are the model's input columns (column ->
    numerical | categorical), ``prediction`` the name its outputs have in the report,
    ``metric`` the primary metric (None: not known yet)."""
    named = f" ({metric})" if metric else ""
    panels = [
        Panel(
            "last-check",
            "Last check",
            "the latest drift check: the champion it judged and how many columns drifted",
            "counter",
            "full",
            (
                _value("champion_version", "champion version"),
                _value("drifted_columns", "drifted columns"),
                _value("checked_columns", "columns judged"),
                _value("drifted_share", "share drifted"),
            ),
        ),
        Panel(
            "drift-share",
            "Share of drifted columns",
            "dataset drift when the share reaches the threshold (monitor.drift_share)",
            "line",
            "half",
            (
                _value("drifted_share", "share of drifted columns"),
                _value("drift_share_threshold", "threshold"),
            ),
        ),
        Panel(
            "prediction-drift",
            "Prediction drift",
            "the model's outputs against its training data's (monitor.prediction_threshold)",
            "line",
            "half",
            (
                Series(DRIFT_METRIC, {"column": prediction}, "prediction: {{method}}"),
                _value("prediction_threshold", "threshold"),
            ),
        ),
    ]
    for kind, method, threshold in (
        (NUMERICAL, settings.numerical_method, settings.numerical_threshold),
        (CATEGORICAL, settings.categorical_method, settings.categorical_threshold),
    ):
        columns = sorted(c for c, k in kinds.items() if k == kind)
        if not columns:
            continue
        statistic = drift_method(method, kind).replace("_", "-")
        drifted = "below" if statistic == "p-value" else "at or above"
        panels.append(
            Panel(
                f"{kind}-columns",
                f"Drift per {kind} column: {method}",
                f"{statistic} per column; drift {drifted} the threshold "
                f"(monitor.{kind}_threshold: {threshold:g})",
                "line",
                "full",
                (
                    *(Series(DRIFT_METRIC, {"column": c}, "{{column}}") for c in columns),
                    _value(f"{kind}_threshold", "threshold"),
                ),
            )
        )
    panels += [
        Panel(
            "quality",
            f"Primary metric on labelled rows{named}",
            "labelled production rows; degraded below the floor: the champion's test value "
            "less monitor.quality_max_drop and the metric's bootstrap noise",
            "line",
            "half",
            (
                _value("quality_current", f"{metric or 'primary metric'} on labelled rows"),
                _value("quality_floor", "floor"),
                _value("quality_reference", "champion's test value"),
            ),
        ),
        Panel(
            "champion",
            "Champion version at each check",
            "the registry version the monitor judged (a bar per check: a step is a promotion)",
            "bar",
            "half",
            (_value("champion_version", "champion version"),),
        ),
    ]
    return panels


def _panel_model(project_id: Any, panel: Panel) -> Any:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import bar_plot_panel, counter_panel, line_plot_panel

    values = [
        PanelMetric(metric=s.metric, metric_labels=dict(s.labels), legend=s.legend)
        for s in panel.series
    ]
    common = {"title": panel.title, "description": panel.subtitle, "size": panel.size}
    if panel.kind == "counter":
        model = counter_panel(values=values, aggregation="last", **common)
    elif panel.kind == "bar":
        model = bar_plot_panel(values=values, **common)
    else:
        model = line_plot_panel(values=values, **common)
    model.id = uuid.uuid5(_IDS, f"{project_id}/panel/{panel.key}")
    return model


def ensure_dashboard(space: Any, project_id: Any, panels: Sequence[Panel]) -> bool:
    """Make the project's dashboard hold ``panels`` in the tab ``DASHBOARD_TAB`` (ids derived
    from the project and each panel's key, so a second call changes nothing); tabs and panels
    someone added by hand stay. Returns whether the dashboard was written."""
    from evidently.sdk.models import DashboardModel, DashboardTabModel

    tab_id = uuid.uuid5(_IDS, f"{project_id}/tab")
    wanted = [_panel_model(project_id, p) for p in panels]
    ours = {uuid.uuid5(_IDS, f"{project_id}/panel/{key}") for key in PANEL_KEYS}
    current = space.get_dashboard(project_id)
    kept_tabs = [t for t in current.tabs if t.id != tab_id]
    kept_panels = [p for p in current.panels if p.id not in ours]
    tab = DashboardTabModel(id=tab_id, title=DASHBOARD_TAB, panels=[p.id for p in wanted])
    dashboard = DashboardModel(tabs=[tab, *kept_tabs], panels=[*wanted, *kept_panels])
    if dashboard.dict() == current.dict():
        return False
    space.save_dashboard(project_id, dashboard)
    return True


def add_to_workspace(
    check: DriftCheck,
    workspace: Path,
    project: str,
    *,
    settings: MonitorParams,
    model_version: str | None = None,
    metric: str | None = None,
    report_id: str | None = None,
    timestamp: datetime | None = None,
) -> str:
    """Add the check's snapshot to the local Evidently workspace (``evidently ui`` shows it),
    in the project named ``project`` (created when missing), with the check's own numbers
    (``check_values``) and, as metadata and tags, the champion's version, the verdict and the
    report id, at ``timestamp`` (default: when the report ran); then make the project's
    dashboard the platform's (``ensure_dashboard``). Returns the snapshot's address."""
    from evidently.ui.workspace import Workspace

    if check.snapshot is None:
        raise ValueError(f"no Evidently report to add: the check's verdict is {check.verdict!r}")
    space = Workspace.create(str(workspace))
    found = space.search_project(project)
    target = found[0] if found else space.create_project(project, description="drift checks")
    metadata = {"model_name": project, "verdict": str(check.verdict)}
    tags = [str(check.verdict)]
    if model_version is not None:
        metadata["model_version"] = str(model_version)
        tags.append(f"v{model_version}")
    if report_id is not None:
        metadata["report_id"] = report_id
    if metric is not None:
        metadata["primary_metric"] = metric
    snapshot = _with_values(
        check.snapshot, check_values(check, settings, model_version), metadata, tags, timestamp
    )
    ref = space.add_run(target.id, snapshot, include_data=False)
    kinds = {c: str(v["kind"]) for c, v in check.summary.items() if c != _prediction_column(check)}
    ensure_dashboard(
        space, target.id, dashboard_panels(kinds, _prediction_column(check), settings, metric)
    )
    return str(ref.url)


def _prediction_column(check: DriftCheck) -> str:
    if check.prediction is not None:
        return check.prediction.column
    return prediction_name([c for c in check.summary])


def _with_values(
    snapshot: Any,
    values: Mapping[str, float],
    metadata: Mapping[str, str],
    tags: Sequence[str],
    timestamp: datetime | None,
) -> Any:
    """``snapshot`` plus the MeanValue of a one-row table of ``values`` (results only: the
    report page keeps the check's own widgets), with ``metadata`` and ``tags``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.core.report import Snapshot
    from evidently.metrics import MeanValue

    frame = pd.DataFrame([dict(values)], dtype=np.float64)
    table = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=[*values]))
    extra = Report([MeanValue(column=name) for name in values]).run(table, None).dump_dict()
    merged = snapshot.dump_dict()
    for result in extra["metric_results"].values():
        result["widget"] = []
    merged["metric_results"] = {**merged["metric_results"], **extra["metric_results"]}
    merged["metadata"] = {**merged.get("metadata", {}), **metadata}
    merged["tags"] = [*merged.get("tags", []), *(t for t in tags if t not in merged["tags"])]
    if timestamp is not None:
        merged["timestamp"] = timestamp
    return Snapshot.load_dict(merged)
