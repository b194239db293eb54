"""The monitoring loop on a real project: Evidently checks of the inference log, the champion's
training data fetched through DVC, MLflow runs, on-call webhooks (a local HTTP receiver),
drift-triggered retraining through the gate, the cooldown, and a monitor that fails."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.support import WebhookReceiver, log_scored, make_project

pytestmark = pytest.mark.integration
ROWS = 4000


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    os.environ["MLOPS_WEBHOOK_URL"] = hook.url
    yield hook
    os.environ.pop("MLOPS_WEBHOOK_URL", None)
    hook.close()


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, prefect_server: str, receiver: WebhookReceiver
) -> Path:
    """A project with a champion trained on 4,000 generated rows (DVC-versioned and pushed)."""
    from flows.training import training_flow
    from tasks.adapters import versioning
    from tasks.config import write_overrides
    from tasks.steps.generate import generate_sessions

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    root = make_project(tmp_path_factory.mktemp("monitoring"))
    data = root / "data" / "raw" / "customer-purchase" / "customer-purchase.csv"
    data.parent.mkdir(parents=True)
    generate_sessions(ROWS, 11).to_csv(data, index=False)
    versioning.add_data(root, data)
    versioning.push_data(root, data)
    write_overrides(
        root / "params.yaml",
        [
            "monitor.window_rows=600",
            "monitor.quality_min_labels=200",
            "retrain.min_labelled_rows=300",
            "monitor.cooldown_minutes=0",
            "monitor.attribution_rows=500",
        ],
    )
    training_flow(project=str(root))
    return root


def _set(root: Path, *overrides: str) -> None:
    from tasks.config import write_overrides

    write_overrides(root / "params.yaml", list(overrides))


def _versions(root: Path) -> dict[str, dict[str, str]]:
    from tasks.adapters import registry, tracking

    tracking.configure(root)
    return registry.versions("customer-purchase")


def _events(root: Path, kind: str) -> list[Any]:
    from tasks.adapters import registry, tracking

    tracking.configure(root)
    return [e for e in registry.history("customer-purchase") if e.event == kind]


def _champion(root: Path) -> str | None:
    from tasks.adapters import registry, tracking

    tracking.configure(root)
    return registry.alias_version("customer-purchase", registry.CHAMPION)


def test_a_window_like_the_training_data_is_healthy(
    trained: Path, receiver: WebhookReceiver
) -> None:
    import mlflow

    from flows.monitoring import monitoring_flow
    from tasks.steps.generate import generate_sessions

    log_scored(trained, generate_sessions(600, 101), "same", labelled=True)
    sent = len(receiver.received)

    result = monitoring_flow(project=str(trained), source="log", retrain="inline")

    assert result.verdict == "healthy"
    assert result.current_rows == 600
    assert result.action == "none"
    assert result.notification == "not sent: no drift"
    assert len(receiver.received) == sent
    folder = Path(result.report_dir)
    assert "<html" in (folder / "report.html").read_text(encoding="utf-8")[:2000].lower()
    run = mlflow.get_run(result.mlflow_run_id)
    assert run.data.tags["verdict"] == "healthy"
    assert run.data.tags["report_id"] == result.report_id
    assert run.data.metrics["current_rows"] == 600.0
    assert sorted(a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)) == [
        "data",
        "report.html",
    ]
    # the reference is the champion's own data version, fetched through DVC
    md5 = _versions(trained)["1"]["data.dvc_md5"]
    assert (trained / "data" / "reference" / f"{md5}.csv").is_file()
    assert any((trained / "evidently").rglob("*.json"))
    # the model's Evidently dashboard, made by the monitor: its panels, and this check's values
    from tests.unit.test_evidently_dashboard import TITLES, by_column, panels, snapshot_of

    check = json.loads((folder / "result.json").read_text())["check"]
    found = panels(trained / "evidently")
    assert list(found) == TITLES
    assert by_column(trained / "evidently", found["Share of drifted columns"]) == {
        "drifted_share": [check["drifted_share"]],
        "drift_share_threshold": [0.3],
    }
    assert by_column(trained / "evidently", found["Champion version at each check"]) == {
        "champion_version": [1.0]
    }
    quality = by_column(trained / "evidently", found["Primary metric on labelled rows (roc_auc)"])
    assert quality["quality_current"] == [check["quality"]["current"]]
    metadata = snapshot_of(trained / "evidently", 0).metadata
    assert (metadata["report_id"], metadata["model_version"]) == (result.report_id, "1")


def test_a_tiny_window_is_insufficient_data_never_drift(
    trained: Path, receiver: WebhookReceiver
) -> None:
    from flows.monitoring import monitoring_flow
    from tasks.steps.generate import Drift, generate_sessions

    log_scored(trained, generate_sessions(37, 5, Drift(covariate=3.0)), "tiny", labelled=False)
    sent = len(receiver.received)

    result = monitoring_flow(project=str(trained), source="log", retrain="inline")

    assert result.verdict == "insufficient data"
    assert result.reasons == ["current window has 37 rows, fewer than monitor.min_rows 200"]
    assert len(receiver.received) == sent
    assert _events(trained, "drift") == []


def test_concept_drift_alerts_retrains_through_the_gate_and_ten_events_train_once(
    trained: Path, receiver: WebhookReceiver
) -> None:
    """The features do not move; the labels show the model is worse: quality says drift, the
    monitor alerts and retrains (a new DVC version, the gate, a second notification); nine
    more drift events inside the cooldown retrain nothing."""
    from flows.monitoring import monitoring_flow
    from flows.retraining import retraining_flow
    from tasks.steps.generate import Drift, generate_sessions

    _set(trained, "monitor.cooldown_minutes=60")
    before = _versions(trained)
    md5_before = before["1"]["data.dvc_md5"]
    log_scored(trained, generate_sessions(600, 8, Drift(concept=1.0)), "concept", labelled=True)
    sent = len(receiver.received)

    result = monitoring_flow(project=str(trained), source="log", retrain="inline")

    assert result.verdict == "drift"
    assert [r for r in result.reasons if r.startswith("quality: roc_auc")]
    (quality,) = [r for r in result.reasons if r.startswith("quality: ")]
    # "roc_auc <now> vs <champion's test value> (drop <difference> > <allowed>)": the allowed
    # drop is monitor.quality_max_drop (0.05) plus the noise of 600 labelled rows
    found = re.fullmatch(
        r"quality: roc_auc (0\.\d+) vs (0\.\d+) \(drop (0\.\d+) > (0\.\d+)\)", quality
    )
    assert found is not None, quality
    current, reference, drop, allowed = map(float, found.groups())
    assert abs(reference - current - drop) <= 0.0015, quality  # 4 significant digits each
    assert drop > allowed > 0.05, quality
    assert result.action == "retraining started in this process (no Prefect server: no automation)"
    assert result.notification.startswith("sent to http://127.0.0.1:")
    assert "secret-token" not in result.notification
    alert, decision = receiver.received[sent:]
    assert alert["text"] == (
        f":rotating_light: Drift detected on customer-purchase v1 (report {result.report_id})"
    )
    assert "mlops rollback" in str(alert["blocks"])
    assert "customer-purchase v2" in decision["text"]
    # The gate refuses v2: 600 drifted rows appended to 4,000 of the old relation (retrain.data
    # append) do not give a model that beats v1 on the new test split. Measured, and stable:
    # the data, the split and the models are seeded.
    assert decision["text"] == (
        ":no_entry: customer-purchase v2 refused by the promotion gate; champion stays v1"
    ), decision
    assert "*Champion:* v1 (unchanged)" in str(decision["blocks"])
    assert _champion(trained) == "1"
    after = _versions(trained)
    assert (after["2"]["gate.decision"], after["2"]["gate.against"]) == ("refuse", "1")
    assert after["2"]["gate.rule.beats_champion"].startswith("fail: roc_auc "), after["2"]
    assert sorted(set(after) - set(before)) == ["2"]
    tags = after["2"]
    assert tags["trigger"] == "drift"
    assert tags["trigger.drift_report"] == result.report_id
    assert tags["data.dvc_md5"] != md5_before  # the production rows made a new DVC version
    (retrain,) = _events(trained, "retrain")
    assert retrain.details["report_id"] == result.report_id
    assert retrain.details["rows_added"] == 600
    assert retrain.details["data_md5"] == tags["data.dvc_md5"]
    raw = trained / "data" / "raw" / "customer-purchase" / "customer-purchase.csv"
    assert pd.read_csv(raw).shape[0] == ROWS + 600

    more = [retraining_flow(project=str(trained), drift_report=f"r{i}") for i in range(9)]

    assert [r.action for r in more] == ["in cooldown"] * 9
    assert more[0].reason.startswith("in cooldown until ")
    assert f"(retraining for {result.report_id} started " in more[0].reason
    assert len(_events(trained, "retrain")) == 1
    assert sorted(_versions(trained)) == sorted(after)
    assert len(receiver.received) == sent + 2  # no page per suppressed event
    assert _champion(trained) == "1"


def _start_cooldown(root: Path, report: str) -> None:
    """A drift-triggered retraining that started now, as the retraining flow records it (the
    watermark kept): the cooldown runs from here, whichever test ran before."""
    from tasks.adapters import registry, tracking
    from tasks.steps.retraining import watermark
    from tasks.types import Event

    _set(root, "monitor.cooldown_minutes=60")
    tracking.configure(root)
    events = registry.history("customer-purchase")
    champion = registry.alias_version("customer-purchase", registry.CHAMPION)
    assert champion is not None
    registry.record_event(
        Event(
            time=registry.now(),
            event="retrain",
            model_name="customer-purchase",
            version=champion,
            previous=None,
            actor=f"drift:{report}",
            reason="test set-up: a retraining started",
            details={
                "report_id": report,
                "taken_through": watermark(events),
                "rows_added": 0,
                "data_md5": registry.version_info("customer-purchase", champion).tags[
                    "data.dvc_md5"
                ],
            },
        )
    )


def test_covariate_drift_inside_the_cooldown_alerts_without_retraining(
    trained: Path, receiver: WebhookReceiver
) -> None:
    from flows.monitoring import monitoring_flow
    from tasks.steps.generate import Drift, generate_sessions

    _start_cooldown(trained, "cooldown-set-up")
    versions = _versions(trained)
    drifts = len(_events(trained, "drift"))
    log_scored(trained, generate_sessions(600, 7, Drift(covariate=1.5)), "cov", labelled=True)
    sent = len(receiver.received)

    result = monitoring_flow(project=str(trained), source="log", retrain="inline")

    assert result.verdict == "drift"
    assert " of 13 columns drifted (" in result.reasons[0]
    drifted = [c["column"] for c in result.top_columns if c["drifted"]]
    assert drifted
    # exactly what covariate drift moves in the generator: session duration and the days since
    # the last visit scale by 1 + covariate, device and traffic source mixes shift; 4 / 13 =
    # 0.308 reaches monitor.drift_share 0.3
    assert result.reasons == ["4 of 13 columns drifted (0.308 >= 0.3)"]
    assert sorted(drifted) == [
        "days_since_last_visit",
        "device",
        "session_duration_sec",
        "traffic_source",
    ]
    assert result.action.startswith("no retraining: in cooldown until ")
    assert "(retraining for cooldown-set-up started " in result.action
    (alert,) = receiver.received[sent:]
    assert drifted[0] in str(alert["blocks"])
    assert "in cooldown until" in str(alert["blocks"])
    assert _versions(trained) == versions
    events = _events(trained, "drift")
    assert len(events) == drifts + 1  # this check's, on top of any earlier test's
    assert events[-1].details["report_id"] == result.report_id


def test_a_monitor_that_crashes_is_failed_and_retrains_nothing(
    trained: Path, receiver: WebhookReceiver
) -> None:
    from flows.monitoring import monitoring_flow
    from tasks.adapters import registry, tracking
    from tasks.pipeline.monitor import MonitorFailed
    from tasks.steps.generate import Drift, generate_sessions

    tracking.configure(trained)
    champion = registry.alias_version("customer-purchase", "champion")
    assert champion is not None
    md5 = registry.version_info("customer-purchase", champion).tags["data.dvc_md5"]
    versions, retrains = _versions(trained), len(_events(trained, "retrain"))
    registry.tag_version("customer-purchase", champion, {"data.dvc_md5": "0" * 32})
    log_scored(trained, generate_sessions(600, 10, Drift(covariate=2.0)), "crash", labelled=True)
    sent = len(receiver.received)
    try:
        with pytest.raises(MonitorFailed) as failed:
            monitoring_flow(project=str(trained), source="log", retrain="inline")
    finally:
        registry.tag_version("customer-purchase", champion, {"data.dvc_md5": md5})

    result = failed.value.result
    assert result.verdict == "failed"
    assert result.error == (
        f"VersioningError: data version {'0' * 32} is in neither the DVC cache nor the "
        "default remote"
    )
    assert result.action == "none: no verdict, nothing retrained"
    assert _versions(trained) == versions
    assert len(_events(trained, "retrain")) == retrains
    (alert,) = receiver.received[sent:]
    assert alert["text"].startswith(":x: Drift monitor failed for customer-purchase")


def test_a_project_without_a_champion_has_nothing_to_check_and_pages_nobody(
    tmp_path: Path, prefect_server: str, receiver: WebhookReceiver
) -> None:
    """The schedule of a fresh project fires before its first `mlops train`: each tick says
    there is nothing to check yet, ends Completed, and sends nothing (it used to fail, after
    two retries, and page on-call every tick)."""
    from flows.monitoring import monitoring_flow
    from tasks.adapters import tracking

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    fresh = make_project(tmp_path)
    tracking.configure(fresh)
    sent = len(receiver.received)

    result = monitoring_flow(project=str(fresh), source="log", retrain="inline")

    assert result.verdict == "insufficient data"
    assert result.reasons == [
        "nothing to check yet: model 'customer-purchase' has no 'champion' version "
        "(mlops train makes the first)"
    ]
    assert (result.model_version, result.current_rows, result.mlflow_run_id) == (None, 0, None)
    assert result.action == "none: nothing to check yet"
    assert result.notification == "not sent: nothing to check yet"
    assert receiver.received[sent:] == []
    written = json.loads((Path(result.report_dir) / "result.json").read_text())
    assert written["verdict"] == "insufficient data"
    assert written["report_id"] == result.report_id
