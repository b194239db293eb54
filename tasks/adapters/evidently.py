"""The Evidently adapter: the only module that calls Evidently.

``check_drift`` samples both sides, prepares the columns (tasks/steps/drift.py: pure), runs one
Evidently Report of ValueDrift metrics (plus the classification or regression preset on the
labelled rows), reads each column's statistic back and lets the pure step judge it.
``save_html`` and ``add_to_workspace`` write the report for people: the HTML file beside the
check's result and a snapshot in the local Evidently workspace that ``mlops ui`` serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
