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
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.adapters import registry, tracking, versioning
from tasks.config import load_params, write_overrides
from tasks.steps.generate import Drift, generate_sessions
from tests.support import make_project

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
    "train": "/.model.pkl.",  # the model fitted, the leaderboard written, model and trials not
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
