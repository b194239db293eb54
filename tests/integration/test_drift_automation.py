"""The drift automation end to end on a real local Prefect server: `prefect server start` on a
free port, a project with a champion trained by `mlops train`, `mlops deploy` serving the
deployments and the automation, a burst of drift events emitted from this process, and a local
HTTP receiver as on-call's webhook. Ten events inside the cooldown: ten retraining flow runs,
one retraining (a new DVC data version, a new model version, the gate's decision on the
webhook), nine "in cooldown"."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmarks.drift_event import (
    MODEL,
    QUIET_SCHEDULE,
    Server,
    api,
    emit_drift,
    environment,
    prepare_project,
    retraining_runs,
    run,
    runs_for,
    start_deploy,
    start_server,
    stop,
    wait_for_deploy,
    wait_for_server,
)
from tests.support import WebhookReceiver, log_scored

pytestmark = pytest.mark.integration
ROWS, PRODUCTION_ROWS, EVENTS = 3000, 400, 10


@dataclass
class Stack:
    root: Path
    server: Server
    deploy_log: Path
    deploy: Any  # the `mlops deploy` process
    deployment_id: Any
    automation: Any
    receiver: WebhookReceiver


def _versions(root: Path) -> dict[str, dict[str, str]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    found = client.search_model_versions(f"name='{MODEL}'")
    return {str(v.version): dict(v.tags) for v in sorted(found, key=lambda v: int(v.version))}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A Prefect server of our own, a project with a champion and 400 labelled drifted
    production rows in its inference log, and `mlops deploy` serving it (webhook: a local
    receiver). Every process started here is stopped by pid at the end."""
    from tasks.generate import Drift, generate_sessions

    began = time.monotonic()

    def phase(name: str) -> None:
        print(f"{time.monotonic() - began:6.1f} s {name}", flush=True)

    base = tmp_path_factory.mktemp("drift-automation")
    receiver = WebhookReceiver()
    # starts while the project is made. The retraining lock is a global concurrency limit on
    # this server; a run refused its slot retries after up to ..._SLOT_WAIT_SECONDS (30 s by
    # default), 2 s here: the nine runs that wait for the lock do not idle for long
    server = start_server(
        base / "server", PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS="2"
    )
    deploy = None
    deploy_log = base / "deploy.log"
    try:
        root = prepare_project(
            base,
            [
                "retrain.min_labelled_rows=200",
                "monitor.cooldown_minutes=60",
                QUIET_SCHEDULE,
                # a quicker model: this test is about the automation, not the model
                "models.hist_gradient_boosting.fixed.max_iter=50",
                "evaluate.importance_repeats=1",
            ],
            rows=ROWS,
        )
        phase("project made")
        wait_for_server(server)
        phase("server up")
        # the deployments need no champion: register them while the first one trains
        deploy = start_deploy(root, server, deploy_log, MLOPS_WEBHOOK_URL=receiver.url)
        train_env = environment(server.home, PREFECT_API_URL=server.api_url)
        train_env.pop("MLOPS_WEBHOOK_URL", None)
        run([sys.executable, "-m", "flows.cli", "train"], root, train_env)
        phase("trained")
        assert list(_versions(root)) == ["1"]
        drifted = generate_sessions(PRODUCTION_ROWS, 7, Drift(covariate=1.5))
        log_scored(root, drifted, "production", labelled=True)
        with api(server) as client:
            deployment, automation = wait_for_deploy(client, deploy, deploy_log)
        phase("inference log written, `mlops deploy` ready")
        yield Stack(root, server, deploy_log, deploy, deployment.id, automation, receiver)
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)  # set by tracking.configure in _serve
        stop(deploy)
        stop(server.process)
        receiver.close()


def _run_logs(client: Any, runs: dict[str, Any], timeout: float = 60) -> dict[str, list[str]]:
    """Each run's log lines, once every run logged its decision (the retraining flow prints
    "<report>: ..." once decided) and one logged the gate's ("gate: ..."): logs reach the API
    in batches, possibly after the run's final state."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    deadline = time.monotonic() + timeout
    while True:
        found = {}
        for report, flow_run in runs.items():
            only = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
            logs = client.read_logs(log_filter=only, limit=200, sort=LogSort.TIMESTAMP_ASC)
            found[report] = [log.message for log in logs]
        decided = all(_decision(found[r], r) for r in found)
        gated = any(line.startswith("gate: ") for lines in found.values() for line in lines)
        if (decided and gated) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def _decision(lines: list[str], report: str) -> str:
    return next((line for line in lines if line.startswith(f"{report}: ")), "")


def test_a_burst_of_drift_events_runs_the_retraining_deployment_and_trains_once(
    stack: Stack,
) -> None:
    from tasks import registry, tracking

    automation = stack.automation
    trigger, (action,) = automation.trigger, automation.actions
    assert trigger.expect == {"mlops.drift.detected"}
    assert trigger.match.model_dump() == {"prefect.resource.id": f"mlops.model.{MODEL}"}
    assert action.deployment_id == stack.deployment_id
    assert action.parameters["drift_report"]["template"] == "{{ event.payload.report_id }}"
    ids = [f"drift-test-{i}" for i in range(EVENTS)]
    before = _versions(stack.root)

    with api(stack.server) as client:
        assert retraining_runs(client, stack.deployment_id) == []
        began = time.monotonic()
        emit_drift(ids)
        found = runs_for(
            client, stack.deployment_id, ids, timeout=600, process=stack.deploy,
            log=stack.deploy_log,
        )  # fmt: skip
        print(f"{time.monotonic() - began:.1f} s from the events to the runs' final states")
        # one run per event (no other run of the deployment), all completed
        states = {r: [f.state.type.value for f in fs] for r, fs in found.items()}
        assert states == {r: ["COMPLETED"] for r in ids}, (states, stack.deploy_log.read_text())
        assert len(retraining_runs(client, stack.deployment_id)) == EVENTS
        assert {fs[0].parameters["project"] for fs in found.values()} == {str(stack.root)}
        logs = _run_logs(client, {report: fs[0] for report, fs in found.items()})

    # exactly one run retrained: the gate's decision; the nine others were in its cooldown
    gated = [r for r in ids if any(line.startswith("gate: ") for line in logs[r])]
    assert len(gated) == 1, logs
    (winner,) = gated
    decisions = {r: _decision(logs[r], r) for r in ids}
    assert "intake: 400 labelled production row(s) added" in " ".join(logs[winner])
    assert not any(word in decisions[winner] for word in ("cooldown", "waiting", "silenced"))
    for report in set(ids) - {winner}:
        assert "in cooldown until " in decisions[report], decisions
        assert f"(retraining for {winner} started " in decisions[report], decisions

    # one new model version, trained by the drift on the new data version
    after = _versions(stack.root)
    new = [v for v in after if v not in before]
    assert len(new) == 1, after
    tags = after[new[0]]
    assert tags["trigger"] == "drift"
    assert tags["trigger.drift_report"] == winner
    assert tags["data.dvc_md5"] != before["1"]["data.dvc_md5"]
    # this store, whatever an earlier test of the session left in MLFLOW_TRACKING_URI
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{stack.root / 'mlflow.db'}"
    tracking.configure(stack.root)
    try:
        retrains = [e for e in registry.history(MODEL) if e.event == "retrain"]
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    assert [e.details["report_id"] for e in retrains] == [winner]
    assert retrains[0].details["rows_added"] == PRODUCTION_ROWS
    assert retrains[0].details["data_md5"] == tags["data.dvc_md5"]
    data = pd.read_csv(stack.root / "data" / "raw" / f"{MODEL}.csv")
    assert len(data) == ROWS + PRODUCTION_ROWS

    # on-call got the gate's decision on the new version, once (the POST was answered before
    # the run ended: nothing to wait for)
    assert len(stack.receiver.received) == 1, stack.receiver.texts()
    (message,) = stack.receiver.received
    assert MODEL in message["text"]
    assert f"customer-purchase v{new[0]}" in message["text"]
    assert winner in str(message["blocks"])  # the trigger: the drift report
