"""The monitor's work, apart from Prefect: read the current production data through the
gate, fetch the champion's own training data, judge them (drift, prediction drift, quality on
labelled rows, attribution drift), and record the check (report folder, MLflow run,
Evidently workspace). flows/monitoring.py wires these into the ``monitoring`` flow and acts
on the verdict (the drift event, the alert, the retraining).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from tasks.adapters import io
from tasks.clock import compact_stamp, stamp
from tasks.config import Params
from tasks.pipeline.gate import gate_batch
from tasks.types import ServedModel

if TYPE_CHECKING:
    from tasks.steps.drift import DriftCheck
    from tasks.types import Event


INCOMING_FILES = ("*.csv", "*.parquet")


class MonitorFailed(RuntimeError):
    """The monitor could not reach a verdict; ``result`` says why (verdict ``failed``)."""

    def __init__(self, result: MonitorResult) -> None:
        super().__init__(f"monitor failed: {result.error}")
        self.result = result


@dataclass(frozen=True)
class Current:
    """The production data one check judges, and where it came from."""

    frame: pd.DataFrame  # the model's input columns, typed by the suite
    predictions: pd.Series  # what the model answered for each row
    labelled: pd.DataFrame  # rows with a label (the target column), for the quality check
    window_start: str
    window_end: str
    source: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MonitorResult:
    """The outcome of one check: exactly one verdict, and what was done about it."""

    report_id: str
    verdict: str  # healthy | drift | insufficient data | failed
    reasons: list[str]
    model_name: str
    model_version: str | None
    source: str
    window_start: str | None
    window_end: str | None
    current_rows: int
    report_dir: str
    report_link: str
    mlflow_run_id: str | None
    action: str
    notification: str
    top_columns: list[dict[str, Any]]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_report_id(now: datetime) -> str:
    return f"drift-{compact_stamp(now)}-{uuid.uuid4().hex[:8]}"


def column_kinds(served: ServedModel) -> tuple[list[str], list[str]]:
    """(numerical, categorical) input columns, from the model's signature."""
    numerical = [c.name for c in served.columns if c.type not in ("string", "boolean")]
    categorical = [c.name for c in served.columns if c.type in ("string", "boolean")]
    return numerical, categorical


def from_log(
    root: Path, params: Params, served: ServedModel, folder: Path, now: datetime
) -> Current:
    from tasks.adapters.inference_log import read_log

    m = params.monitor
    log_path = root / params.paths.inference_log
    since = stamp(now - timedelta(hours=m.window_hours))
    window = read_log(log_path, since=since, limit=m.window_rows)
    labelled = read_log(log_path, since=since, limit=m.window_rows, labelled_only=True)
    features = [c.name for c in served.columns]
    start = str(window["_time"].min()) if len(window) else since
    if len(window) < m.min_rows:  # nothing to validate: the check will say insufficient data
        frame = window.reindex(columns=features)
    else:
        path = folder / "current.csv"
        io.write_table(window.reindex(columns=features), path)
        frame = gate_batch(root, path, params)
    target = params.ingest.target
    labelled, note = parsed_log_labels(labelled, served)
    labels = labelled.reindex(columns=features).assign(**{target: labelled["_label"]})
    return Current(
        frame=frame.reset_index(drop=True),
        predictions=window["_prediction"].reset_index(drop=True),
        labelled=labels.reset_index(drop=True),
        window_start=start,
        window_end=stamp(now),
        source=f"inference log {params.paths.inference_log}",
        notes=[] if note is None else [f"inference log: {note}"],
    )


def parsed_log_labels(
    labelled: pd.DataFrame, served: ServedModel
) -> tuple[pd.DataFrame, str | None]:
    """The log's labelled rows whose label is a class of the model (a finite number for
    regression), and a line counting the others: a log written before labels were checked
    may hold ``{"a": 1}`` or ``"x"`` for integer classes, which are skipped, never the run."""
    from tasks.steps.labels import LabelRule, usable

    rule = LabelRule.of(served.task, served.classes, f"{served.model_name} v{served.version}")
    checked, skipped, note = usable(labelled["_label"].tolist(), rule)
    kept = labelled.assign(_label=pd.Series(checked, index=labelled.index, dtype=object))
    return kept.drop(index=labelled.index[skipped]).reset_index(drop=True), note


def from_incoming(
    root: Path, params: Params, served: ServedModel, folder: Path, now: datetime
) -> Current:
    from tasks.steps.predict import model_inputs, score_frame

    incoming = root / params.paths.incoming
    frames, notes = [], []
    with io.single_consumer(io.real_folder(incoming)) as mine:
        if not mine:
            notes.append(f"{params.paths.incoming}: another monitor run is taking it in")
        for path in io.drop_files(incoming, INCOMING_FILES) if mine else []:
            frame, note = _take_in_incoming(root, params, path, folder)
            notes.append(note)
            if frame is not None:
                frames.append(frame)
    target = params.ingest.target
    features = [c.name for c in served.columns]
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=features)
    if len(data):
        labels, _ = score_frame(served, model_inputs(served, data, "incoming"))
        predictions = pd.Series(labels, dtype=object)
    else:
        predictions = pd.Series([], dtype=object)
    labelled = (
        data[data[target].notna()].reset_index(drop=True)
        if target in data.columns
        else pd.DataFrame(columns=[*features, target])
    )
    return Current(
        frame=data.reindex(columns=features),
        predictions=predictions,
        labelled=labelled.reindex(columns=[*features, target]),
        window_start=stamp(now),
        window_end=stamp(now),
        source=f"{len(frames)} file(s) from {params.paths.incoming}",
        notes=notes,
    )


def _take_in_incoming(
    root: Path, params: Params, path: Path, folder: Path
) -> tuple[pd.DataFrame | None, str]:
    """One file of the incoming folder: read once through ``O_NOFOLLOW`` (a symlink, a folder
    or a file over ``monitor.incoming_max_bytes`` is set aside in ``rejected/`` unread), into
    this check's own folder, then through the gate; any error sets the file aside with a note
    and the others go on."""
    from tasks.steps.validate import ValidationFailed

    incoming = root / params.paths.incoming
    rejected = incoming / "rejected"
    try:
        data = io.read_drop_file(path, params.monitor.incoming_max_bytes)
        copy = io.real_folder(folder / "incoming") / path.name
        io.write_new(copy, data)
        frame = gate_batch(root, copy, params)
    except ValidationFailed as failure:
        path.unlink()  # the quarantine holds the copy
        return None, f"{path.name}: failed validation, quarantined and left out ({failure})"
    except Exception as error:  # this file only: set aside with the reason
        reason = str(error) if isinstance(error, io.DropFileError) else repr(error)
        io.set_aside(path, rejected, f"{reason}\n")
        return None, f"{path.name}: set aside in {rejected.relative_to(root)}/: {reason}"
    checked = io.real_folder(incoming / "checked" / folder.name)
    io.set_aside(path, checked)
    return frame, f"{path.name}: {len(frame)} rows, moved to {checked.relative_to(root)}/"


def reference_frame(root: Path, params: Params, served: ServedModel) -> pd.DataFrame:
    """The champion's own training data: the DVC version recorded on it, from the DVC cache or
    remote (never whatever ``data/`` holds now), read with the suite's types."""
    from tasks.adapters import versioning
    from tasks.pipeline.gate import suite_path
    from tasks.steps.expectations import declared_types, missing_values, scoring_suite

    md5 = served.data_md5
    if not md5:
        raise ValueError(
            f"{served.model_name} version {served.version} records no data version "
            "(tag data.dvc_md5): its training data cannot be fetched"
        )
    if not versioning.is_md5(md5):  # it names the file below: never a path of its own
        raise ValueError(
            f"{served.model_name} version {served.version}: tag data.dvc_md5 is {md5!r}, not "
            "a DVC md5 (32 hex digits)"
        )
    suffix = Path(served.tags.get("data.path", "data.csv")).suffix or ".csv"
    path = root / params.paths.reference / f"{md5}{suffix}"
    # A copy fetched earlier is used only while it still hashes to its name.
    if not path.is_file() or versioning.file_md5(path) != md5:
        where = versioning.fetch_data_version(root, md5, path)
        print(f"reference: data version {md5} fetched from the {where} into {path}")
    suite = io.read_json(suite_path(root, params))
    declared = declared_types(scoring_suite(suite))
    frame, problems = io.read_batch(
        path, declared, params.validate_.sample_size, missing_values(suite)
    )
    if frame is None:
        raise ValueError(
            f"reference data {path} cannot be read: " + "; ".join(p.message for p in problems)
        )
    return frame


def _predict_function(served: ServedModel) -> Any:
    """The model's output as the attribution sees it: the positive-class probability, the
    class probabilities, or the regression value."""
    model = served.model

    def predict(frame: pd.DataFrame) -> Any:
        if served.task == "regression":
            return model.predict(frame)
        proba = model.predict_proba(frame)
        return proba[:, -1] if served.task == "binary" else proba

    return predict


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(rows, random_state=seed) if 0 < rows < len(frame) else frame


def typed_labels(labels: pd.Series, served: ServedModel) -> pd.Series:
    """Labels as they arrived (JSON, a feedback file) in the model's own type, so they compare
    with its predictions: numbers for regression (text that is not a number: missing), the
    type of the model's classes for classification (``2.0`` or ``"2"`` is the class ``2``;
    ``"Adelie"`` stays text). A label that is no class stays as it is: a wrong answer."""
    import numpy as np

    if served.task == "regression" or not served.classes:
        return pd.to_numeric(labels.astype(object), errors="coerce").astype(np.float64)
    classes = {str(c): c for c in served.classes}
    numeric = all(isinstance(c, int | np.integer) for c in served.classes)

    def one(value: Any) -> Any:
        if value is None or (isinstance(value, float) and value != value):
            return None
        if numeric and isinstance(value, float | np.floating) and float(value).is_integer():
            value = int(value)
        if numeric and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return value
            value = int(number) if number.is_integer() else number
        return classes.get(str(value), value)

    return pd.Series([one(v) for v in labels], index=labels.index, dtype=object)


def assess(
    params: Params, served: ServedModel, reference: pd.DataFrame, current: Current
) -> DriftCheck:
    """The drift check: per-column drift, prediction drift, quality on labelled rows,
    feature-attribution drift, and the verdict."""
    from tasks.adapters import registry
    from tasks.adapters.evidently import check_drift
    from tasks.steps.drift import attribution_drift, attributions, quality_check
    from tasks.steps.evaluate import LOWER_IS_BETTER, compute_metrics, model_outputs, primary_metric
    from tasks.steps.ingest import TableSchema
    from tasks.steps.predict import model_inputs, score_frame
    from tasks.steps.promotion import metric_noise

    settings = params.monitor
    m = params.monitor
    numerical, categorical = column_kinds(served)
    features = [*numerical, *categorical]
    enough = len(current.frame) >= m.min_rows
    prediction = quality = quality_data = attribution = None
    if enough:
        sample = _sample(reference, m.sample_rows, m.seed)
        labels, _ = score_frame(served, model_inputs(served, sample, "reference"))
        prediction = (pd.Series(labels, dtype=object), current.predictions.astype(object))
        target = params.ingest.target
        labelled = current.labelled.assign(
            **{target: typed_labels(current.labelled[target], served)}
        )
        labelled = labelled[labelled[target].notna()].reset_index(drop=True)
        if len(labelled):
            schema = TableSchema(
                target=target,
                task=served.task,  # type: ignore[arg-type]
                numeric=tuple(numerical),
                categorical=tuple(categorical),
                classes=tuple(sorted(served.classes)),
            )
            metric = primary_metric(params.evaluate, schema.task)
            info = registry.version_info(served.model_name, served.version)
            out = model_outputs(served.model, labelled, schema, served.threshold)
            value = compute_metrics(out, [metric])[metric]
            # a metric on a few hundred labelled rows is noisy: the allowed drop is
            # quality_max_drop plus 1.96 bootstrap standard deviations of the current value
            noise = metric_noise(out, metric, m.quality_noise.samples, m.quality_noise.z, m.seed)
            quality = quality_check(
                metric,
                float(info.metrics.get(f"test_{metric}", float("nan"))),
                value,
                len(labelled),
                metric in LOWER_IS_BETTER,
                settings.model_copy(
                    update={"quality_max_drop": round(m.quality_max_drop + noise, 4)}
                ),
            )
            quality_data = (
                pd.Series(out.actual, dtype=object),
                pd.Series(out.predicted, dtype=object),
                served.task,
            )
        if m.attribution_rows:
            predict = _predict_function(served)
            ref = _sample(reference[features], m.attribution_rows, m.seed)
            cur = _sample(current.frame[features], m.attribution_rows, m.seed)
            repeats = m.attribution_repeats
            attribution = attribution_drift(
                attributions(predict, ref, features, m.seed, repeats),
                attributions(predict, cur, features, m.seed, repeats),
                settings,
            )
    return check_drift(
        reference[features],
        current.frame[features],
        numerical=numerical,
        categorical=categorical,
        settings=settings,
        prediction=prediction,
        prediction_kind="numerical" if served.task == "regression" else "categorical",
        quality=quality,
        quality_data=quality_data,
        attribution=attribution,
    )


def _ui_url(variable: str, default: str) -> str:
    return os.environ.get(variable, default).rstrip("/")


def report_link(experiment_id: str, run_id: str) -> str:
    """Where a person opens the report: the HTML in the MLflow UI (``MLOPS_MLFLOW_UI_URL``, or
    the tracking server, or ``mlops ui``'s local address)."""
    tracking = os.environ.get("MLFLOW_TRACKING_URI", "")
    base = _ui_url(
        "MLOPS_MLFLOW_UI_URL",
        tracking if tracking.startswith("http") else "http://127.0.0.1:5000",
    )
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/report.html"


def quality_metric(params: Params, served: ServedModel) -> str | None:
    """The primary metric the monitor computes on labelled rows for ``served`` (None: the
    data set names one that does not apply to the model's task)."""
    from tasks.steps.evaluate import EvaluationError, primary_metric

    try:
        return primary_metric(params.evaluate, served.task)  # type: ignore[arg-type]
    except EvaluationError:
        return None


def record(
    root: Path,
    params: Params,
    result: dict[str, Any],
    check: DriftCheck | None,
    folder: Path,
    metric: str | None = None,
) -> tuple[str | None, str]:
    """result.json and report.html in the report folder, the MLflow run, the Evidently
    workspace (the snapshot, and the model's dashboard, whose quality panel names ``metric``
    or the check's own); returns (MLflow run id, report link). MLflow down leaves the files."""
    from tasks.adapters import tracking
    from tasks.adapters.evidently import add_to_workspace, save_html

    io.write_json(result, folder / "result.json")
    artifacts = {"": folder / "result.json"}
    if check is not None and check.snapshot is not None:
        save_html(check, folder / "report.html")
        artifacts = {"": folder / "report.html", "data": folder / "result.json"}
        try:
            ref = add_to_workspace(
                check,
                root / params.paths.workspace,
                result["model_name"],
                settings=params.monitor,
                model_version=result.get("model_version"),
                metric=check.quality.metric if check.quality is not None else metric,
                report_id=result.get("report_id"),
            )
            print(f"evidently workspace: {ref}")
        except Exception as error:  # the UI's copy is a courtesy; the files stand
            print(f"the Evidently workspace could not take the report: {error!r}")
    link = (folder / "report.html").resolve().as_uri()
    try:
        tracking.configure(root)
        experiment = params.monitoring_experiment
        experiment_id = tracking.ensure_experiment(experiment, root)
        metrics: dict[str, float] = {"current_rows": float(result["current_rows"])}
        if check is not None:
            metrics.update(
                drifted_share=check.drifted_share,
                drifted_columns=float(check.drifted_columns),
                checked_columns=float(check.checked_columns),
            )
            for column in check.columns:
                if column.value is not None:
                    metrics[f"drift.{column.column}"] = column.value
            if check.prediction is not None and check.prediction.value is not None:
                metrics["drift.prediction"] = check.prediction.value
            if check.quality is not None and check.quality.current is not None:
                metrics[f"current_{check.quality.metric}"] = check.quality.current
            if check.attribution is not None and check.attribution.ndcg is not None:
                metrics["attribution_ndcg"] = check.attribution.ndcg
        m = params.monitor
        run_id = tracking.log_job_run(
            experiment_id=experiment_id,
            run_name=result["report_id"],
            params={
                "source": result["source"],
                "numerical_method": m.numerical_method,
                "numerical_threshold": m.numerical_threshold,
                "categorical_method": m.categorical_method,
                "categorical_threshold": m.categorical_threshold,
                "drift_share": m.drift_share,
                "sample_rows": m.sample_rows,
                "min_rows": m.min_rows,
            },
            metrics=metrics,
            tags={
                "mlops.kind": "monitor",
                "verdict": result["verdict"],
                "report_id": result["report_id"],
                "model.name": result["model_name"],
                "model.version": str(result["model_version"]),
                "window.start": str(result["window_start"]),
                "window.end": str(result["window_end"]),
            },
            artifacts=artifacts,
        )
        link = report_link(experiment_id, run_id)
    except Exception as error:  # the verdict and the files stand without MLflow
        print(f"MLflow could not record the check: {error!r}")
        run_id = None
    return run_id, link


def summary_markdown(result: MonitorResult, check: DriftCheck | None) -> str:
    lines = [
        f"# Drift check {result.report_id}: **{result.verdict}**",
        "",
        f"Model **{result.model_name}** version {result.model_version}; current data: "
        f"{result.source}, {result.current_rows} rows ({result.window_start} to "
        f"{result.window_end}).",
        "",
        *[f"- {reason}" for reason in result.reasons],
        "",
        f"Action: {result.action}. Report: {result.report_link}",
    ]
    if check is not None and check.columns:
        lines += ["", "| column | method | statistic | value | threshold | drifted |"]
        lines += ["|---|---|---|---|---|---|"]
        for c in check.columns:
            value = "undetermined" if c.value is None else f"{c.value:.4g}"
            lines.append(
                f"| {c.column} | {c.method} | {c.statistic} | {value} | {c.threshold:g} | "
                f"{'undetermined' if c.drifted is None else c.drifted} |"
            )
        for excluded in check.excluded:
            lines.append(f"| {excluded.column} | excluded | | | | {excluded.reason} |")
    return "\n".join(lines)


def check_choices(source: str, retrain: str) -> None:
    """The flow's two choices, checked before anything runs."""
    if source not in ("log", "incoming"):
        raise ValueError(f"source '{source}': expected log or incoming")
    if retrain not in ("auto", "event", "inline"):
        raise ValueError(f"retrain '{retrain}': expected auto, event or inline")


@dataclass(frozen=True)
class Action:
    """What the monitor did about a drift verdict: ``kind`` for the code, ``text`` for people."""

    kind: Literal["none", "silenced", "event_only", "not_retraining", "requested", "inline"]
    text: str


def silenced(event: Event) -> Action:
    """The action when ``mlops silence`` holds: nothing but the recorded check."""
    return Action(
        "silenced",
        f"none: silenced until {event.details['until']} by {event.actor} ({event.reason}); "
        "the check is recorded",
    )


def requested_but_not_seen(deployment: str, seconds: float) -> str:
    if seconds <= 0:
        return (
            f"retraining requested through the event (the '{deployment}' flow run not waited "
            "for: monitor.action_wait_seconds is 0)"
        )
    return (
        f"retraining requested through the event (no '{deployment}' flow run seen within "
        f"{seconds:g} s: is `mlops deploy` running with its automation?)"
    )


def failed_result(
    report_id: str,
    model_name: str,
    source: str,
    folder: Path,
    served: ServedModel | None,
    current: Current | None,
    error: BaseException,
) -> MonitorResult:
    """The result of a check that reached no verdict (before it is recorded)."""
    message = f"{type(error).__name__}: {error}"
    return MonitorResult(
        report_id=report_id,
        verdict="failed",
        reasons=[f"the monitor failed before a verdict: {message}"],
        model_name=model_name,
        model_version=served.version if served else None,
        source=current.source if current else source,
        window_start=current.window_start if current else None,
        window_end=current.window_end if current else None,
        current_rows=len(current.frame) if current else 0,
        report_dir=str(folder),
        report_link="",
        mlflow_run_id=None,
        action="none: no verdict, nothing retrained",
        notification="",
        top_columns=[],
        error=message,
    )


def no_champion_result(
    report_id: str, model_name: str, alias: str, source: str, folder: Path
) -> MonitorResult:
    """The result of a check with no model to check: a project that has not trained yet.
    Nothing to compare, nothing to page about (the schedule runs before the first champion)."""
    return MonitorResult(
        report_id=report_id,
        verdict="insufficient data",
        reasons=[
            f"nothing to check yet: model '{model_name}' has no '{alias}' version "
            "(mlops train makes the first)"
        ],
        model_name=model_name,
        model_version=None,
        source=source,
        window_start=None,
        window_end=None,
        current_rows=0,
        report_dir=str(folder),
        report_link="",
        mlflow_run_id=None,
        action="none: nothing to check yet",
        notification="not sent: nothing to check yet",
        top_columns=[],
    )


def checked_result(
    report_id: str,
    params: Params,
    folder: Path,
    served: ServedModel,
    current: Current,
    check: DriftCheck,
) -> MonitorResult:
    """The result of a check with a verdict (before it is recorded and acted on)."""
    return MonitorResult(
        report_id=report_id,
        verdict=check.verdict,
        reasons=[*check.reasons, *current.notes],
        model_name=params.model_name,
        model_version=served.version,
        source=current.source,
        window_start=current.window_start,
        window_end=current.window_end,
        current_rows=len(current.frame),
        report_dir=str(folder),
        report_link="",
        mlflow_run_id=None,
        action="none",
        notification="",
        top_columns=[asdict(c) for c in check.top_columns(params.monitor.top_columns)],
    )


def quality_text(check: DriftCheck) -> str:
    """The quality line of the alert."""
    if check.quality is None:
        return "not judged (no labelled rows yet)"
    q = check.quality
    return (
        f"{q.metric} {q.current} against the champion's {q.reference:.4g} (degraded: {q.degraded})"
    )


def drift_event(result: MonitorResult, top: list[dict[str, Any]]) -> Event:
    """The ``drift`` event of the model's history."""
    from tasks import clock
    from tasks.types import Event

    return Event(
        time=clock.stamp(),
        event="drift",
        model_name=result.model_name,
        version=result.model_version,
        previous=None,
        actor="monitor",
        reason="; ".join(result.reasons),
        details={
            "report_id": result.report_id,
            "window_start": result.window_start,
            "window_end": result.window_end,
            "report_link": result.report_link,
            "top_columns": top,
        },
    )


def drift_payload(root: Path, result: MonitorResult, top: list[dict[str, Any]]) -> dict[str, Any]:
    """The payload of the ``mlops.drift.detected`` event (what the automation passes on)."""
    return {
        "report_id": result.report_id,
        "project": str(root),
        "verdict": result.verdict,
        "reasons": result.reasons,
        "drifted_columns": [c["column"] for c in top if c["drifted"]],
        "scores": {c["column"]: c["value"] for c in top},
        "report_link": result.report_link,
        "window_start": result.window_start,
        "window_end": result.window_end,
    }
