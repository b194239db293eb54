"""Batch scoring and the real commands in a real project: the batch-predict flow on a good and a
bad batch (on the session's Prefect server), `mlops serve` as a process with a bearer token,
and `mlops deploy` serving the batch-predict deployment that a run is asked of."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest
import requests

from tasks.adapters import inference_log, registry, tracking
from tasks.config import load_params
from tasks.pipeline.gate import init_suite
from tasks.steps.generate import Drift, generate_sessions
from tasks.steps.ingest import ingest_table
from tasks.steps.split import split_frame
from tasks.steps.train import fit_pipeline
from tasks.steps.validate import ValidationFailed
from tests.integration.test_serving import register
from tests.support import free_port, make_project

pytestmark = pytest.mark.integration
MODEL = "customer-purchase"


@dataclass(frozen=True)
class Project:
    root: Path
    model: Any  # the champion's fitted Pipeline, as it was in this process before logging
    features: list[str]

    def expected(self, rows: pd.DataFrame) -> tuple[list[int], np.ndarray]:
        """The labels (P(1) >= evaluate.threshold 0.5, the threshold the version was logged
        with) and the class probabilities the fitted pipeline gives the batch's INPUT rows."""
        assert list(self.model.classes_) == [0, 1]
        proba = np.asarray(self.model.predict_proba(rows[self.features]), dtype=float)
        return [int(p >= 0.5) for p in proba[:, 1]], proba


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A project with its data, a suite profiled from it and a registered champion."""
    root = make_project(tmp_path_factory.mktemp("batch"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        params = load_params(root / "params.yaml")
        raw = generate_sessions(2000, 3, Drift())
        (root / params.ingest.path).parent.mkdir(parents=True, exist_ok=True)
        raw.to_csv(root / params.ingest.path, index=False)
        init_suite(root, params)
        frame, schema, _ = ingest_table(raw, params.ingest)
        train, _, _ = split_frame(frame, schema, params.split)
        quick = load_params(
            root / "params.yaml", ["models.hist_gradient_boosting.fixed.max_iter=20"]
        )
        model = fit_pipeline(train, schema, quick.features, quick.models, quick.train).model
        tracking.configure(root)
        version = register(MODEL, model, train[list(schema.features)].head(5), root)
        registry.move_alias(MODEL, registry.CHAMPION, version)
        yield Project(root, model, list(schema.features))


@pytest.fixture
def here(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project.root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.configure(project.root)
    return project.root


def batch(rows: int, seed: int) -> pd.DataFrame:
    return generate_sessions(rows, seed, Drift()).drop(columns=["purchased"])


def log_rows(root: Path) -> int:
    path = root / "logs" / "inference.db"
    return len(inference_log.read_log(path)) if path.exists() else 0


def test_the_batch_flow_scores_a_good_batch_and_quarantines_a_bad_one(
    here: Path, project: Project, prefect_server: str
) -> None:
    from mlflow.tracking import MlflowClient

    from flows.batch import batch_predict_flow

    good = here / "incoming.csv"
    rows = batch(300, 21)
    rows.to_csv(good, index=False)
    before = log_rows(here)

    result = batch_predict_flow(
        input=str(good), output=str(here / "out.parquet"), project=str(here)
    )

    written = pd.read_parquet(here / "out.parquet")
    labels, proba = project.expected(rows)  # the rows written to incoming.csv, in memory
    assert (result.rows, result.model_version, result.input) == (300, "1", "incoming.csv")
    assert written["prediction"].tolist() == labels
    assert written["probability_1"].tolist() == proba[:, 1].tolist()
    assert written["probability_0"].tolist() == proba[:, 0].tolist()
    assert 0 < sum(labels) < 300  # both classes occur: the labels are a real check
    assert set(written["model_version"]) == {"1"} and written["row"].tolist() == list(range(300))
    assert written["session_id"].tolist() == rows["session_id"].astype(float).tolist()
    log = inference_log.read_log(here / "logs" / "inference.db")
    assert log_rows(here) - before == 300
    mine = log[log["_request_id"] == result.batch_id]
    assert mine["_prediction"].tolist() == labels
    assert set(mine["_source"]) == {"batch:incoming.csv"}
    run = MlflowClient().get_run(result.mlflow_run_id)
    assert run.data.metrics["rows"] == 300.0
    assert run.data.params["model_version"] == "1"
    assert run.data.tags["mlops.kind"] == "batch_predict"
    assert run.data.metrics["share_1"] == pytest.approx(sum(labels) / 300)

    bad = here / "bad.csv"
    broken = batch(300, 22).astype({"device": object, "cart_adds": object})
    broken.loc[4, "device"] = "smartwatch"
    broken.loc[7, "cart_adds"] = "n/a"
    broken.to_csv(bad, index=False)
    quarantined = (
        set((here / "data" / "quarantine").glob("*"))
        if (here / "data" / "quarantine").exists()
        else set()
    )

    with pytest.raises(ValidationFailed) as failure:
        batch_predict_flow(input=str(bad), output=str(here / "bad-out.csv"), project=str(here))

    message = str(failure.value)
    assert (
        "column 'cart_adds': 1 value(s) (0.33%) are not numbers, e.g. ['n/a'] at rows [7]"
        in message
    )
    assert (
        "column 'device': 1 of 300 (0.33%) values are categories never seen in training, e.g. "
        "['smartwatch'] at rows [4]" in message
    )
    assert not (here / "bad-out.csv").exists()
    assert log_rows(here) - before == 300  # nothing of the bad batch was scored
    new = set((here / "data" / "quarantine").glob("*")) - quarantined
    assert len(new) == 1 and (new.pop() / "validation.json").is_file()


def test_a_labelled_batch_is_scored_and_keeps_its_labels(
    here: Path, project: Project, prefect_server: str
) -> None:
    from flows.batch import batch_predict_flow

    labelled = here / "labelled.csv"
    rows = generate_sessions(120, 31, Drift())
    rows.to_csv(labelled, index=False)

    result = batch_predict_flow(input=str(labelled), output=str(here / "l.csv"), project=str(here))

    # round_trip: pandas' default CSV float parser can miss the last digit of a float64
    written = pd.read_csv(here / "l.csv", float_precision="round_trip")
    assert result.rows == 120
    assert written["purchased"].tolist() == pd.read_csv(labelled)["purchased"].tolist()
    labels, proba = project.expected(rows)
    assert written["prediction"].tolist() == labels  # scored, the label column aside
    assert written["probability_1"].tolist() == proba[:, 1].tolist()


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered:\n{log.read_text()}")


def _environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return {**env, **extra}


TOKEN = "token-for-tests-0123456789abcdef0123"  # the service refuses tokens under 32 characters


def test_mlops_serve_binds_loopback_needs_the_token_and_flushes_its_log_on_stop(
    here: Path,
) -> None:
    port = free_port()
    log = here / "serve.log"
    before = log_rows(here)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
            cwd=here, stdout=out, stderr=out, start_new_session=True,
            env=_environment(SERVING_TOKEN=TOKEN),
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/ping", process, log)
        payload = {
            "dataframe_records": batch(2, 5)
            .astype(object)
            .where(batch(2, 5).notna(), None)
            .to_dict(orient="records")
        }
        without = requests.post(f"{url}/invocations", json=payload, timeout=30)
        with_token = requests.post(f"{url}/invocations", json=payload, timeout=30,
                                   headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        listening = {
            (c.laddr.ip, c.laddr.port)
            for c in psutil.Process(process.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(timeout=60)

    assert without.status_code == 401
    assert (with_token.status_code, with_token.headers["X-Model-Version"]) == (200, "1")
    assert listening == {("127.0.0.1", port)}
    assert code == -signal.SIGTERM  # uvicorn shuts down, then re-raises the signal
    text = log.read_text()
    assert (
        f"serving models:/{MODEL}@champion on http://127.0.0.1:{port} (bearer token required"
        in text
    )
    assert "model_version=1 role=champion" in text  # the access log names the version
    assert log_rows(here) - before == 2  # written when the server stopped


def test_mlops_deploy_serves_the_batch_deployment(
    here: Path, project: Project, prefect_server: str
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    log = here / "deploy.log"
    rows = batch(150, 41)
    rows.to_csv(here / "scheduled.csv", index=False)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "deploy"], cwd=here, stdout=out, stderr=out,
            start_new_session=True, env=_environment(PREFECT_API_URL=prefect_server),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        with get_client(sync_client=True) as client:
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    client.read_deployment_by_name("batch-predict/batch-predict")
                    break
                except Exception:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(1)
        run = run_deployment(
            "batch-predict/batch-predict",
            parameters={"input": "scheduled.csv", "output": "scheduled-out.csv"},
            timeout=600,
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)

    assert run.state is not None and run.state.is_completed(), log.read_text()
    written = pd.read_csv(here / "scheduled-out.csv")
    assert len(written) == 150 and set(written["model_version"]) == {1}
    labels, _ = project.expected(rows)
    assert written["prediction"].tolist() == labels
