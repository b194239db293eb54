"""The drift monitor: ``mlops monitor`` and the ``monitoring`` Prefect deployment.

One run compares the current production data (the inference log's latest window, or files
dropped in ``paths.incoming``; validated by the gate first) with the champion's own training
data (fetched through DVC by the data version recorded on the champion), and reaches exactly
one outcome: healthy, drift, insufficient data, or failed. Every run leaves a report folder
(``paths.monitoring/<report id>/``: result.json, report.html), an MLflow run in the
``<experiment>-monitoring`` experiment and Prefect artifacts. On drift it records a ``drift``
event in the model's history, emits the Prefect event ``mlops.drift.detected`` (deployed: the
automation runs the retraining deployment), starts the retraining itself when no Prefect
server is configured, and notifies on-call. A monitor that fails says so and never acts.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import load_model
from tasks import clock
from tasks.adapters import io
from tasks.config import Params, load_params
from tasks.pipeline.monitor import (
    Action,
    Current,
    MonitorFailed,
    MonitorResult,
    assess,
    check_choices,
    checked_result,
    drift_event,
    drift_payload,
    failed_result,
    from_incoming,
    from_log,
    new_report_id,
    no_champion_result,
    quality_metric,
    quality_text,
    record,
    reference_frame,
    requested_but_not_seen,
    silenced,
    summary_markdown,
)
from tasks.runtime import runbook_url
from tasks.types import ServedModel

if TYPE_CHECKING:
    from tasks.steps.drift import DriftCheck

DRIFT_EVENT = "mlops.drift.detected"
RETRAINING_DEPLOYMENT = "retraining/retraining"


@task(cache_policy=NO_CACHE)
def read_current(
    root: Path, params: Params, served: ServedModel, folder: Path, source: str, now: datetime
) -> Current:
    """The current window (the log) or the files waiting in ``paths.incoming``, through the
    gate."""
    if source == "log":
        return from_log(root, params, served, folder, now)
    return from_incoming(root, params, served, folder, now)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_reference(root: Path, params: Params, served: ServedModel) -> pd.DataFrame:
    """The champion's own training data, by the DVC version recorded on it (IO: retried)."""
    return reference_frame(root, params, served)


@task(cache_policy=NO_CACHE)
def judge(
    params: Params, served: ServedModel, reference: pd.DataFrame, current: Current
) -> DriftCheck:
    """The drift check and its verdict."""
    return assess(params, served, reference, current)


@task(cache_policy=NO_CACHE)
def record_check(
    root: Path,
    params: Params,
    result: dict[str, Any],
    check: DriftCheck | None,
    folder: Path,
    metric: str | None = None,
) -> tuple[str | None, str]:
    """The report folder, the MLflow run, the Evidently workspace: (run id, report link)."""
    return record(root, params, result, check, folder, metric)


def _wait_for_retraining(report_id: str, seconds: float) -> str | None:
    """The retraining flow run the automation started for ``report_id``, if one appears."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(RETRAINING_DEPLOYMENT)
        except ObjectNotFound:
            return None
        only = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        while True:
            newest = FlowRunSort.EXPECTED_START_TIME_DESC
            for run in client.read_flow_runs(deployment_filter=only, sort=newest, limit=50):
                if run.parameters.get("drift_report") == report_id:
                    return f"retraining flow run '{run.name}' ({run.id}) started by the automation"
            if time.monotonic() > deadline:
                return None
            time.sleep(1.0)


def _record_drift(result: MonitorResult, top: list[dict[str, Any]]) -> None:
    """The ``drift`` event in the model's history."""
    from tasks.adapters import registry

    registry.record_event(drift_event(result, top))


def _emit_drift(root: Path, result: MonitorResult, top: list[dict[str, Any]]) -> None:
    """The Prefect event the automation follows (it starts the retraining at once)."""
    from prefect.events import emit_event

    emitted = emit_event(
        event=DRIFT_EVENT,
        resource={
            "prefect.resource.id": f"mlops.model.{result.model_name}",
            "prefect.resource.name": result.model_name,
            "mlops.model.version": str(result.model_version),
        },
        payload=drift_payload(root, result, top),
    )
    print(f"event {DRIFT_EVENT} emitted ({emitted.id if emitted else 'no events client'})")


def _act(
    root: Path,
    params: Params,
    result: MonitorResult,
    check: DriftCheck,
    now: datetime,
    retrain: str,
) -> Action:
    """On drift: unless silenced, the events, then what becomes of the retraining."""
    from flows.retraining import retraining_plan
    from tasks.adapters import registry
    from tasks.steps.retraining import silenced_until

    silence = silenced_until(registry.history(result.model_name), now)
    if silence is not None:
        return silenced(silence)
    top = [asdict(c) for c in check.top_columns(params.monitor.top_columns)]
    _record_drift(result, top)
    if not params.monitor.retrain:
        _emit_drift(root, result, top)
        return Action("event_only", "none: monitor.retrain is false (event emitted)")
    # the plan before the event: the retraining the event starts records its own history
    # (its intake's `retrain` event) and would otherwise race this check's reading of it
    plan = retraining_plan(root, params, registry.history(result.model_name), now)
    _emit_drift(root, result, top)
    if plan.action != "retrain":
        return Action("not_retraining", f"no retraining: {plan.reason}")
    if retrain == "inline" or (retrain == "auto" and not os.environ.get("PREFECT_API_URL")):
        return Action(
            "inline", "retraining started in this process (no Prefect server: no automation)"
        )
    wait = params.monitor.action_wait_seconds
    found = _wait_for_retraining(result.report_id, wait)
    return Action("requested", found or requested_but_not_seen(RETRAINING_DEPLOYMENT, wait))


def _failed(
    root: Path, params: Params, result: MonitorResult, folder: Path, error: BaseException
) -> MonitorFailed:
    """No verdict: record it, tell on-call, and return the error the flow raises."""
    from tasks.adapters import webhook
    from tasks.steps import notify

    run_id, link = record_check(root, params, result.to_dict(), None, folder)
    message = notify.monitor_failed(
        model=result.model_name,
        report_id=result.report_id,
        error=str(result.error),
        runbook_url=runbook_url(root),
    )
    delivery = webhook.send(message, **params.notify.send_options())
    print(f"notification: {delivery.detail}")
    result = replace(result, mlflow_run_id=run_id, report_link=link, notification=delivery.detail)
    io.write_json(result.to_dict(), folder / "result.json")
    create_markdown_artifact(markdown=summary_markdown(result, None), key="drift-summary")
    return MonitorFailed(result)


def _alert(root: Path, params: Params, result: MonitorResult, check: DriftCheck) -> str:
    """The drift alert to on-call; what became of it."""
    from tasks.adapters import webhook
    from tasks.steps import notify

    message = notify.drift_alert(
        model=result.model_name,
        version=str(result.model_version),
        report_id=result.report_id,
        verdict=check.verdict,
        reasons=result.reasons,
        top_columns=result.top_columns,
        quality=quality_text(check),
        action=result.action,
        report_link=result.report_link,
        window=f"{result.window_start} to {result.window_end}",
        runbook_url=runbook_url(root),
    )
    return webhook.send(message, **params.notify.send_options()).detail


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def champion_version(model_name: str, alias: str) -> str | None:
    """The version ``alias`` names, None when there is none yet (IO: retried; the registry
    unreachable raises, and the check fails)."""
    from tasks.adapters import registry

    return registry.alias_version(model_name, alias)


def _nothing_to_check(params: Params, report_id: str, source: str, folder: Path) -> MonitorResult:
    """No champion yet (a fresh project under its schedule): say so, page nobody."""
    result = no_champion_result(report_id, params.model_name, params.serve.alias, source, folder)
    io.write_json(result.to_dict(), folder / "result.json")
    create_markdown_artifact(markdown=summary_markdown(result, None), key="drift-summary")
    print(f"{report_id}: {result.verdict}: " + "; ".join(result.reasons))
    return result


@flow(name="monitoring", log_prints=True)
def monitoring_flow(
    project: str = ".", source: str | None = None, retrain: str = "auto"
) -> MonitorResult:
    """Check the current production data for drift against the champion's training data.

    ``source``: ``log`` or ``incoming`` (default ``monitor.source``). ``retrain``: how drift
    leads to retraining: ``event`` (the automation runs the retraining deployment), ``inline``
    (this flow runs it), ``auto`` (``event`` when PREFECT_API_URL names a server). Raises
    MonitorFailed (the run ends Failed) when no verdict could be reached; nothing is retrained
    then.
    """
    from tasks.adapters import tracking

    root = Path(project).resolve()
    params, now = load_params(root / "params.yaml"), clock.now()
    report_id, chosen = new_report_id(now), source or params.monitor.source
    folder = root / params.paths.monitoring / report_id
    folder.mkdir(parents=True, exist_ok=True)
    tracking.configure(root)
    served: ServedModel | None = None
    current: Current | None = None
    try:
        check_choices(chosen, retrain)
        if champion_version(params.model_name, params.serve.alias) is None:
            return _nothing_to_check(params, report_id, chosen, folder)
        served = load_model(params.model_name, params.serve.alias)
        current = read_current(root, params, served, folder, chosen, now)
        check = judge(params, served, read_reference(root, params, served), current)
    except Exception as error:
        failed = failed_result(report_id, params.model_name, chosen, folder, served, current, error)
        raise _failed(root, params, failed, folder, error) from error
    result = checked_result(report_id, params, folder, served, current, check)
    run_id, link = record_check(
        root,
        params,
        {**result.to_dict(), "check": check.to_dict()},
        check,
        folder,
        quality_metric(params, served),
    )
    result = replace(
        result, mlflow_run_id=run_id, report_link=link, notification="not sent: no drift"
    )
    action = Action("none", "none")
    if check.verdict == "drift":
        action = _act(root, params, result, check, now, retrain)
        result = replace(result, action=action.text)
        sent = (
            "not sent: silenced"
            if action.kind == "silenced"
            else _alert(root, params, result, check)
        )
        result = replace(result, notification=sent)
    io.write_json({**result.to_dict(), "check": check.to_dict()}, folder / "result.json")
    create_link_artifact(
        key="drift-report",
        link=link,
        link_text=f"{report_id}: {check.verdict}",
        description=f"Drift report of {params.model_name} version {served.version}",
    )
    create_markdown_artifact(markdown=summary_markdown(result, check), key="drift-summary")
    print(f"{report_id}: {check.verdict}: " + "; ".join(result.reasons))
    print(f"action: {result.action}; notification: {result.notification}")
    if action.kind == "inline":
        from flows.retraining import retraining_flow

        retraining_flow(project=str(root), drift_report=report_id)
    return result
