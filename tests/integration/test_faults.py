"""Faults survived, each a test (issue 22): a training stage SIGKILLed midway, the MLflow server
down during a monitor run and during serving, a model file changed after registration.

Real processes and servers throughout: ``dvc repro`` and its stage subprocesses, ``mlflow
server``, the scoring endpoint over HTTP, a local webhook receiver as the on-call channel.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.adapters import registry, tracking, versioning
from tasks.config import load_params, write_overrides
from tasks.steps.generate import Drift, generate_sessions
from tests.integration.test_promotion import MlflowServer
from tests.support import WebhookReceiver, log_scored, make_project, running

pytestmark = pytest.mark.integration

ROWS = 3000
FAST = ["models.hist_gradient_boosting.fixed.max_iter=40", "evaluate.importance_repeats=1"]
NAME = "customer-purchase"
HOOK = Path(__file__).parent / "pause_hook"
# Where each stage is stopped (tests/integration/pause_hook): the first file opened whose path
# holds this text. Each point is past the stage's start and before its last write.
KILL_POINTS = {
    "validate": "/.validated.parquet.",  # the batch read and checked, its typed copy not written
    "ingest": "/.ingested.parquet.",  # the table typed, nothing written yet
    "split": "/.valid.parquet.",  # train.parquet written, valid and test not yet
    "train": "/.model.skops.",  # the model fitted, the leaderboard written, model and trials not
    "evaluate": "/.roc.csv.",  # metrics.json written, the plots not yet
    "register": "mlops-seal-",  # the version exists with its tags, its checksum not yet recorded
    "promote": "mlops-load-",  # under the promotion lock, judging, before any alias move
}


def _write_data(root: Path, seed: int) -> None:
    params = load_params(root / "params.yaml")
    path = root / params.generate.path
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_sessions(ROWS, seed, Drift()).to_csv(path, index=False)
    versioning.add_data(root, path)


def _registry_state(root: Path) -> dict[str, Any]:
    """Everything of the model the killed runs must not have changed (aliases and history) and
    what they may add (versions, with their tags)."""
    tracking.configure(root)
    return {
        "aliases": registry.aliases(NAME),
        "history": [(e.event, e.version, e.previous) for e in registry.history(NAME)],
        "versions": registry.versions(NAME),
    }


def _stage_env(marker: Path | None = None, pause_on: str = "") -> dict[str, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for key in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL"):  # the project's SQLite, a file lock
        env.pop(key, None)
    if marker is not None:
        env.update(
            PYTHONPATH=str(HOOK), MLOPS_TEST_PAUSE_ON=pause_on, MLOPS_TEST_PAUSE_MARKER=str(marker)
        )
    return env


def _kill_inside(root: Path, stage: str, marker: Path) -> str:
    """Start ``dvc repro STAGE``, wait until the stage reaches its kill point, SIGKILL dvc and
    the stage together; returns where the stage was."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", stage],
        cwd=root,
        env=_stage_env(marker, KILL_POINTS[stage]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            output = process.communicate()[0].decode()
            raise AssertionError(f"{stage} never reached {KILL_POINTS[stage]!r}:\n{output}")
        time.sleep(0.05)
    where = marker.read_text()
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return where


def _dvc(root: Path, *args: str) -> str:
    """``dvc ARGS`` in ``root`` as a person would run it; its output (it must succeed)."""
    command = [sys.executable, "-m", "dvc", *args]
    done = subprocess.run(
        command, cwd=root, env=_stage_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _lock_without_promote(root: Path) -> dict[str, Any]:
    stages = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    return {k: v for k, v in stages.items() if k != "promote"}


def _reports(root: Path) -> dict[str, Any]:
    reports = root / "reports"
    promotion = json.loads((reports / "promotion.json").read_text())
    return {
        "metrics": json.loads((reports / "metrics.json").read_text()),
        "registration": json.loads((reports / "registration.json").read_text()),
        "promotion": {k: promotion[k] for k in ("event", "champion_before", "champion_after")},
        "reason": promotion["reason"],
    }


def _comparable(state: dict[str, Any]) -> dict[str, Any]:
    """A registry's state without what differs between any two runs (times, run ids, and the
    checksum of the skops file MLflow writes, which is not byte-identical run to run; the
    fingerprint is: our model file's bytes and the data's md5)."""
    keep = ("fingerprint", "data.dvc_md5", "gate.decision", "gate.against")
    versions = {v: {k: t[k] for k in keep if k in t} for v, t in state["versions"].items()}
    return {"aliases": state["aliases"], "history": state["history"], "versions": versions}


def test_a_stage_killed_midway_reruns_to_the_same_result_and_never_moves_the_champion(
    prefect_server: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One project trained (champion v1), then new data: each stage in turn is SIGKILLed at a
    point inside it and rerun alone (``dvc repro STAGE``). The end is the same as an
    uninterrupted run on a twin project (the same data and params, the flow run through), and
    no killed run moved an alias or wrote history."""
    from flows.training import training_flow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    projects = []
    for label in ("reference", "killed"):
        root = make_project(tmp_path_factory.mktemp(f"faults-{label}"))
        write_overrides(root / "params.yaml", FAST)
        _write_data(root, seed=7)
        assert training_flow(project=str(root)).promotion.champion_after == "1"
        _write_data(root, seed=8)  # every stage has something new to do
        projects.append(root)
    reference, killed = projects
    training_flow(project=str(reference))
    monkeypatch.chdir(killed)

    for stage in KILL_POINTS:
        before = _registry_state(killed)
        marker = killed.parent / f"paused-{stage}"
        where = _kill_inside(killed, stage, marker)
        assert KILL_POINTS[stage] in where, where
        after = _registry_state(killed)
        assert after["aliases"] == before["aliases"], stage
        assert after["aliases"]["champion"] == "1", stage
        assert after["history"] == before["history"], stage
        rerun = _dvc(killed, "repro", stage)
        assert f"Running stage '{stage}'" in rerun, rerun

    assert _reports(killed) == _reports(reference)
    assert _lock_without_promote(killed) == _lock_without_promote(reference)
    assert _comparable(_registry_state(killed)) == _comparable(_registry_state(reference))
    assert "Data and pipelines are up to date." in _dvc(killed, "status")
    for version in ("1", "2"):  # sealed: each loads through the checksum check
        assert registry.load_version(NAME, version).classes_.tolist() == [0, 1]


def test_a_registry_that_does_not_answer_is_not_an_empty_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "No such model" is the registry's answer; a refused connection is no answer, and reading
    it as "no champion" would tell on-call to train one and /health that all is well."""
    from tests.support import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking.configure(tmp_path)
    assert (registry.aliases("nope"), registry.history("nope")) == ({}, [])
    with pytest.raises(registry.RegistryError, match=r"^model 'nope' has no version 1$"):
        registry.version_info("nope", "1")

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracking.configure(tmp_path)
    for call in (registry.aliases, registry.history, registry.model_exists):
        with pytest.raises(registry.RegistryUnreachable) as unreachable:
            call(NAME)
        message = str(unreachable.value)
        assert message.startswith(f"the model registry at {dead} did not answer: "), message
        assert "Connection refused" in message
    with pytest.raises(registry.RegistryUnreachable):
        registry.version_info(NAME, "1")


# --- The MLflow server down, and a model file changed after registration -------------------

TOKEN = "test-token-0123456789abcdef0123456789"


@dataclass
class Served:
    """A project trained against a real ``mlflow server``, with a local on-call webhook."""

    root: Path
    server: MlflowServer
    receiver: WebhookReceiver

    def artifact_file(self, version: str) -> Path:
        """Where the server keeps ``version``'s model file (its artifacts are proxied)."""
        from mlflow.tracking import MlflowClient

        uri = MlflowClient().get_model_version_download_uri(NAME, version)
        return (
            self.server.folder
            / "artifacts"
            / uri.removeprefix("mlflow-artifacts:/")
            / ("model.skops")
        )


@pytest.fixture(scope="module")
def served(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from flows.training import training_flow

    server = MlflowServer(tmp_path_factory.mktemp("faults-mlflow"))
    server.start()
    receiver = WebhookReceiver()
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLOPS_WEBHOOK_URL")}
    os.environ.update(
        MLFLOW_TRACKING_URI=server.uri,
        MLOPS_WEBHOOK_URL=receiver.url,
        # MLflow retries a refused connection 7 times with backoff (minutes); once is enough
        # to see the outage here
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="10",
    )
    root = make_project(tmp_path_factory.mktemp("faults-served"))
    write_overrides(
        root / "params.yaml",
        [*FAST, "monitor.window_rows=600", "monitor.cooldown_minutes=0", "serve.poll_seconds=0.2"],
    )
    _write_data(root, seed=7)
    versioning.push_data(root, root / load_params(root / "params.yaml").generate.path)
    before = Path.cwd()
    os.chdir(root)
    try:
        assert training_flow(project=str(root)).promotion.champion_after == "1"
        yield Served(root, server, receiver)
    finally:
        os.chdir(before)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
            os.environ.pop(key, None)
        receiver.close()
        if server.process is not None and server.process.poll() is None:
            server.stop()


@contextmanager
def _outage(server: MlflowServer) -> Iterator[None]:
    """The tracking server stopped (SIGTERM, as a crash or a redeploy would) and started again
    on the same store afterwards."""
    server.stop()
    try:
        yield
    finally:
        server.start()


def test_the_mlflow_server_down_fails_the_monitor_alerts_and_retrains_nothing(
    served: Served,
) -> None:
    from flows.monitoring import monitoring_flow
    from tasks.pipeline.monitor import MonitorFailed

    # a window that drifts: with MLflow up this retrains (inline)
    log_scored(served.root, generate_sessions(600, 10, Drift(covariate=2.0)), "down", True)
    before = _registry_state(served.root)
    sent = len(served.receiver.received)
    with _outage(served.server), pytest.raises(MonitorFailed) as failed:
        monitoring_flow(project=str(served.root), source="log", retrain="inline")

    result = failed.value.result
    assert result.verdict == "failed"
    assert result.action == "none: no verdict, nothing retrained"
    assert result.error is not None
    assert result.error.startswith(
        f"RegistryUnreachable: the model registry at {served.server.uri} did not answer: "
    )
    assert "Connection refused" in result.error
    (alert,) = served.receiver.received[sent:]
    assert alert["text"].startswith(":x: Drift monitor failed for customer-purchase")
    assert f"the model registry at {served.server.uri} did not answer" in str(alert["blocks"])
    assert _registry_state(served.root) == before  # nothing retrained, the champion unchanged
    assert before["aliases"]["champion"] == "1"


def test_the_mlflow_server_down_during_serving_keeps_the_loaded_champion_answering(
    served: Served, tmp_path: Path
) -> None:
    import requests

    from serving.app import Settings

    params = load_params(served.root / "params.yaml")
    settings = Settings.from_project(served.root, params)
    settings.log_path = tmp_path / "inference.db"
    settings.token = TOKEN
    auth = {"Authorization": f"Bearer {TOKEN}"}
    frame = generate_sessions(5, 3, Drift()).drop(columns=["purchased", "session_id"])
    rows = json.loads(frame.to_json(orient="records"))
    with running(settings) as (url, app):
        up = requests.post(f"{url}/invocations", json={"dataframe_records": rows}, headers=auth)
        assert (up.status_code, up.headers["X-Model-Version"]) == (200, "1")
        with _outage(served.server):
            deadline = time.monotonic() + 60
            while app.service.follower.last_error is None:  # a poll saw the server gone
                assert time.monotonic() < deadline, "no poll failed in 60 s"
                time.sleep(0.05)
            down = requests.post(
                f"{url}/invocations", json={"dataframe_records": rows}, headers=auth
            )
            health = requests.get(f"{url}/health", headers=auth, timeout=10)
        deadline = time.monotonic() + 60
        while app.service.follower.last_error is not None:  # back: the next poll clears it
            assert time.monotonic() < deadline, "the error outlived the outage by 60 s"
            time.sleep(0.05)
        again = requests.get(f"{url}/health", headers=auth, timeout=10).json()

    assert (down.status_code, down.headers["X-Model-Version"]) == (200, "1")
    assert down.json() == up.json()
    body = health.json()
    assert (health.status_code, body["status"], body["version"]) == (200, "ok", "1")
    assert body["last_error"].startswith(
        f"registry unreachable: RegistryUnreachable('the model registry at {served.server.uri} "
        "did not answer: "
    )
    assert (again["status"], again["version"], again["last_error"]) == ("ok", "1", None)


@contextmanager
def _tampered(served: Served, version: str) -> Iterator[None]:
    """``version``'s model file in the server's artifact store changed after registration (a
    byte appended), restored afterwards."""
    path = served.artifact_file(version)
    original = path.read_bytes()
    path.write_bytes(original + b"\0")
    try:
        yield
    finally:
        path.write_bytes(original)


CHANGED = "its model file changed after registration"


def test_batch_scoring_refuses_a_champion_whose_file_changed(served: Served) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    batch = served.root / "batch.csv"
    generate_sessions(50, 4, Drift()).drop(columns=["purchased"]).to_csv(batch, index=False)
    with _tampered(served, "1"):
        refused = CliRunner().invoke(app, ["predict", "--input", str(batch)])
    scored = CliRunner().invoke(app, ["predict", "--input", str(batch)])

    assert refused.exit_code == 1, refused.output
    assert f"customer-purchase v1: {CHANGED} (sha256 " in " ".join(refused.output.split())
    assert scored.exit_code == 0, scored.output
    assert "scored 50 rows of" in scored.output


def test_the_gate_refuses_a_challenger_or_champion_whose_file_changed(served: Served) -> None:
    from tasks.pipeline import promotion
    from tasks.pipeline.common import RunContext
    from tasks.pipeline.stages import STAGES

    root = served.root
    write_overrides(root / "params.yaml", ["models.hist_gradient_boosting.fixed.max_iter=41"])
    params = load_params(root / "params.yaml")
    for stage in ("train", "evaluate", "register"):  # version 2, the challenger
        STAGES[stage](root, params, RunContext())
    assert registry.aliases(NAME) == {"champion": "1", "challenger": "2"}

    with _tampered(served, "2"):
        challenger = STAGES["promote"](root, params, RunContext())
    with _tampered(served, "1"):
        outcome, _ = promotion.promote(root, params, "2", actor="user:tests")

    record = json.loads((root / "reports/promotion.json").read_text())
    assert (challenger["event"], challenger["champion"]) == ("refuse", "1")
    assert record["reason"].startswith(
        "challenger scored: version 2 could not be scored: ModelRefused('customer-purchase v2: "
        f"{CHANGED} (sha256 "
    )
    assert (outcome.event, outcome.champion_after) == ("refuse", "1")
    assert f"customer-purchase v1: {CHANGED}" in outcome.reason
    assert registry.aliases(NAME) == {"champion": "1", "challenger": "2"}
