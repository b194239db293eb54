"""Drift-triggered retraining: the ``retraining`` flow the drift automation runs.

Under the model's retraining lock it decides (tasks/steps/retraining.py): silenced, in cooldown,
waiting for labels, or retrain. To retrain, it takes the labelled production rows from the
inference log that no earlier retraining took (at most ``retrain.label_max_age_days`` old; a
label that is no class of the training data is skipped and counted), adds them to the training
data (``retrain.data``: append, or a window of the newest rows), versions the result with DVC
as a new data version of ``ingest.path`` and pushes it, records a ``retrain`` event (the
cooldown starts), then runs the training flow with trigger ``drift`` and the report id: the
gate decides, and on-call gets the decision as the second notification. Any number of drift
events within the cooldown cause one retraining.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks.adapters import io
from tasks.config import Params, load_params
from tasks.steps.retraining import Plan, retrain_event

if TYPE_CHECKING:
    from flows.training import TrainingResult


@dataclass(frozen=True)
class RetrainingResult:
    """What one drift event led to."""

    drift_report: str
    action: str  # retrain | in cooldown | waiting for labels | silenced
    reason: str
    rows_added: int = 0
    data_md5: str | None = None
    version: str | None = None
    decision: str | None = None
    champion_after: str | None = None
    notification: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Intake:
    """What one retraining took in: rows added, the data's new DVC version, up to when."""

    rows: int
    data_md5: str
    taken_through: str | None
    pushed: bool


class Started(NamedTuple):
    plan: Plan
    intake: Intake | None  # None: the plan said not to retrain


@task(cache_policy=NO_CACHE)
def take_in_production_data(root: Path, params: Params, plan: Plan) -> Intake:
    """Labelled production rows newer than the last intake, added to ``ingest.path`` as a new
    DVC version (and pushed to the default remote)."""
    from tasks.adapters import versioning
    from tasks.adapters.inference_log import read_log
    from tasks.pipeline.gate import suite_path
    from tasks.steps.expectations import missing_values
    from tasks.steps.retraining import (
        combine,
        label_cutoff,
        parsed_labels,
        production_rows,
    )

    cutoff = label_cutoff(datetime.now(UTC), params.retrain.label_max_age_days)
    log = read_log(root / params.paths.inference_log, since=cutoff, labelled_only=True)
    if plan.watermark is not None:
        log = log[log["_time"] > plan.watermark]
    path = root / params.ingest.path
    # the data set's own missing-value tokens (its suite): an R export's NA stays missing
    raw = io.read_table(path, missing_values(io.read_json(suite_path(root, params))))
    schema = io.read_json(root / params.paths.schema_)
    log, skipped = parsed_labels(log, schema)
    if skipped:
        print(f"intake: {skipped}")
    rows = production_rows(log, raw, params.ingest.target, schema.get("id_columns", []))
    data = combine(raw, rows, params.retrain.data, params.retrain.window_rows)
    io.write_table(data, path)
    md5 = versioning.add_data(root, path)
    pushed = versioning.push_data(root, path)
    through = str(log["_time"].max()) if len(log) else plan.watermark
    print(
        f"intake: {len(rows)} labelled production row(s) added to {params.ingest.path} "
        f"({params.retrain.data}: {len(raw)} -> {len(data)} rows), DVC version {md5}"
        + (", pushed" if pushed else ", no DVC remote")
    )
    return Intake(len(rows), md5, through, pushed)


def retraining_plan(root: Path, params: Params, events: list[Any], now: datetime) -> Plan:
    """The decision on a drift event now, from the model's history and the labelled rows of
    the inference log since the drift began that no retraining took yet."""
    from tasks.adapters.inference_log import read_log
    from tasks.steps.retraining import (
        episode_start,
        label_cutoff,
        labels_needed,
        later,
        not_taken,
        parsed_labels,
        plan_retraining,
        watermark,
    )

    log = root / params.paths.inference_log
    times: list[str] = []
    if log.is_file():
        since = later(episode_start(events), label_cutoff(now, params.retrain.label_max_age_days))
        labelled = read_log(log, since=since, labelled_only=True)
        schema = root / params.paths.schema_
        if schema.is_file():  # labels that do not parse are not counted (nor taken in)
            labelled, _ = parsed_labels(labelled, io.read_json(schema))
        times = labelled["_time"].tolist()
    r = params.retrain
    needed, rule = labels_needed(r.data, r.window_rows, r.min_labelled_rows, r.window_after_drift)
    return plan_retraining(
        events,
        now,
        params.monitor.cooldown_minutes,
        not_taken(times, watermark(events)),
        needed,
        rule,
    )


def _start(root: Path, params: Params, drift_report: str, flow_run_id: str) -> Started:
    """Under the retraining lock: the plan, and when it says retrain, the intake and its
    ``retrain`` event (two drift events at once start one retraining)."""
    from tasks.adapters import locks, registry

    name = params.model_name
    with locks.promotion_lock(root, name, params.promote, purpose="retrain"):
        plan = retraining_plan(root, params, registry.history(name), datetime.now(UTC))
        print(f"{drift_report}: {plan.reason}")
        if plan.action != "retrain":
            return Started(plan, None)
        intake = take_in_production_data(root, params, plan)
        champion = registry.alias_version(name, registry.CHAMPION)
        registry.record_event(
            retrain_event(name, champion, drift_report, plan, intake, flow_run_id)
        )
        return Started(plan, intake)


def _announce(root: Path, params: Params, drift_report: str, training: TrainingResult) -> str:
    """The gate's decision on the retrained version, to on-call; what became of the message."""
    from tasks.adapters import registry, webhook
    from tasks.runtime import runbook_url
    from tasks.steps import notify

    promotion, version = training.promotion, training.registration.version
    message = notify.gate_decision(
        model=params.model_name,
        challenger=version,
        champion_before=promotion.champion_before,
        champion_after=promotion.champion_after,
        decision=promotion.event,
        reason=promotion.reason,
        metrics={k: v for k, v in training.metrics.get("test", {}).items() if isinstance(v, float)},
        trigger="drift",
        drift_report=drift_report,
        run_link=registry.version_info(params.model_name, version).run_id,
        runbook_url=runbook_url(root),
    )
    return webhook.send(message, **params.notify.send_options()).detail


def _failed(root: Path, params: Params, drift_report: str, error: Exception) -> str:
    """A retraining that crashed, to on-call (the champion did not move)."""
    from tasks.adapters import webhook
    from tasks.runtime import runbook_url
    from tasks.steps import notify

    message = notify.retraining_skipped(
        model=params.model_name,
        drift_report=drift_report,
        reason=f"retraining failed, the champion did not move: {error}",
        runbook_url=runbook_url(root),
    )
    return webhook.send(message, **params.notify.send_options()).detail


@flow(name="retraining", log_prints=True)
def retraining_flow(project: str = ".", drift_report: str = "manual") -> RetrainingResult:
    """Retrain on drift (``drift_report``: the report that caused it), unless silenced, in
    cooldown or waiting for labels."""
    from prefect.runtime import flow_run

    from flows.training import training_flow
    from tasks.adapters import tracking

    root = Path(project).resolve()
    params = load_params(root / "params.yaml")
    tracking.configure(root)
    plan, intake = _start(root, params, drift_report, str(flow_run.id))
    if intake is None:  # the monitor's alert already said so: no second page
        create_markdown_artifact(
            key="retraining", markdown=f"# No retraining for {drift_report}\n\n{plan.reason}"
        )
        return RetrainingResult(drift_report, plan.action, plan.reason)
    try:
        training = training_flow(project=str(root), trigger="drift", drift_report=drift_report)
    except Exception as error:
        print(f"notification: {_failed(root, params, drift_report, error)}")
        raise
    notification = _announce(root, params, drift_report, training)
    print(f"gate: {training.promotion.event}; notification: {notification}")
    return RetrainingResult(
        drift_report=drift_report,
        action="retrain",
        reason=plan.reason,
        rows_added=intake.rows,
        data_md5=intake.data_md5,
        version=training.registration.version,
        decision=training.promotion.event,
        champion_after=training.promotion.champion_after,
        notification=notification,
    )
