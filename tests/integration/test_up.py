"""``mlops up`` / ``mlops down`` as processes in a throw-away project (issue 17): every service
answers, a second ``up`` is a no-op, a command meanwhile uses the ``up`` servers (no temporary
Prefect server), a killed service shows as crashed and is the only one the next ``up`` starts,
and ``down`` leaves no recorded process (nor any member of its process group) running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, make_project, run

SERVICES = ("prefect", "mlflow", "evidently", "runner", "serving")  # on ports
ALL = (*SERVICES, "commands")  # and the warm command server, on a Unix socket


def _mlops(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """An mlops command whose exit code the test reads itself (COLUMNS: tables unwrapped)."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    mlops = str(Path(sys.executable).parent / "mlops")
    return subprocess.run(
        [mlops, *args], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )


def _record(root: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((root / ".mlops" / "services.json").read_text())
    return {item["name"]: item for item in data["services"]}


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _post(url: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        url, data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return list(json.loads(answer.read()))


def _group(pgid: int) -> set[int]:
    """The live (not zombie) members of process group ``pgid``."""
    import psutil

    members = set()
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                members.add(process.pid)
        except (OSError, psutil.Error):
            continue
    return members


def _alive(psutil: Any, pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _log_a_run_before_up(root: Path) -> str:
    """A run in the project's own SQLite store, as `mlops train` makes without a server."""
    import mlflow

    from tasks.adapters import tracking

    # a store another test of this worker left in the environment is not this project's
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    assert tracking.configure(root) == tracking.default_tracking_uri(root)
    experiment = tracking.ensure_experiment("before-up", root)
    with mlflow.start_run(experiment_id=experiment) as logged:
        mlflow.log_metric("answer", 42.0)
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # set_tracking_uri exported it
    return str(logged.info.run_id)


@pytest.mark.timeout(1200)
def test_up_runs_every_service_once_and_down_stops_exactly_them(tmp_path: Path) -> None:
    began = time.monotonic()
    root = make_project(tmp_path)
    ports = {name: free_port() for name in SERVICES}
    params = (root / "params.yaml").read_text()
    for name, port in ports.items():
        params = re.sub(rf"(\n  {name}_port: )\d+", rf"\g<1>{port}", params)
    (root / "params.yaml").write_text(params)
    run_id = _log_a_run_before_up(root)

    started = _mlops(root, "up")
    assert started.returncode == 0, started.stdout + started.stderr
    record = _record(root)
    assert sorted(record) == sorted(ALL)
    warm_socket = root / ".mlops" / "warm" / "commands.sock"
    ports["commands"] = 0
    for name, service in record.items():
        assert service["port"] == ports[name]
        if name == "commands":
            assert service["url"] == service["health"] == f"unix:{warm_socket}"
        else:
            assert service["url"] == f"http://127.0.0.1:{ports[name]}"
        assert re.search(rf"│ {name} +│ started \(\d+ s\) +│ {service['url']} +│ "
                         rf"{service['pid']} +│", started.stdout), started.stdout  # fmt: skip
        assert (root / service["log"]).is_file()
    health = {name: _status(record[name]["health"]) for name in SERVICES}
    # the endpoint answers 503 "no model" until a champion is registered
    assert health == {"prefect": 200, "mlflow": 200, "evidently": 200, "runner": 200,
                      "serving": 503}  # fmt: skip
    from cli import warm

    assert warm.ping(warm_socket) == record["commands"]["pid"]
    mlflow_url, prefect_api = record["mlflow"]["url"], record["prefect"]["url"] + "/api"
    # the MLflow server is on the project's own store: the run made before `up` is there
    with urllib.request.urlopen(f"{mlflow_url}/api/2.0/mlflow/runs/get?run_id={run_id}") as got:
        assert json.loads(got.read())["run"]["data"]["metrics"][0]["value"] == 42.0
    # the runner registered the project's deployments on the `up` Prefect server
    deployments = sorted(d["name"] for d in _post(f"{prefect_api}/deployments/filter"))
    assert deployments == ["batch-predict", "monitoring", "retraining", "training"]
    assert (root / ".mlops" / "prefect" / "prefect.db").is_file()

    again = _mlops(root, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already running") == len(ALL), again.stdout
    assert _record(root) == record

    # a flow run meanwhile goes to the `up` server, not to a temporary one
    batch = tmp_path / "batch.csv"
    batch.write_text("a,b\n1,2\n")
    scored = _mlops(root, "predict", "--input", str(batch))
    assert "temporary server" not in scored.stdout + scored.stderr
    # ... and ran in the warm command server, with `up`'s servers from the client's setup()
    warm_log = (root / record["commands"]["log"]).read_text()
    assert re.search(r"warm: running \['predict', '--input', '[^']+'\] as pid \d+", warm_log)
    flows = {f["id"]: f["name"] for f in _post(f"{prefect_api}/flows/filter")}
    # the command's own run (no deployment); scheduled runs of the deployments may be there too
    ad_hoc = [flows[r["flow_id"]] for r in _post(f"{prefect_api}/flow_runs/filter")
              if r["deployment_id"] is None]  # fmt: skip
    assert ad_hoc == ["batch-predict"], scored.stdout + scored.stderr

    # a deployment's run (here the monitor, asked for now as the drift automation asks for a
    # retraining) starts as `mlops run-flow` in a fork of the warm server, not a new Python
    monitoring = next(d for d in _post(f"{prefect_api}/deployments/filter")
                      if d["name"] == "monitoring")  # fmt: skip
    request = urllib.request.Request(
        f"{prefect_api}/deployments/{monitoring['id']}/create_flow_run", data=b"{}",
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        asked = json.loads(answer.read())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{prefect_api}/flow_runs/{asked['id']}", timeout=10) as got:
            state = json.loads(got.read())["state"]
        if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            break
        time.sleep(0.5)
    # no champion yet: the check has nothing to check, and says so without failing
    assert (state["type"], state["name"]) == ("COMPLETED", "Completed"), state
    warm_log = (root / record["commands"]["log"]).read_text()
    assert re.search(r"warm: running \['run-flow'\] as pid \d+", warm_log), warm_log
    runner_log = (root / record["runner"]["log"]).read_text()
    assert "nothing to check yet: model 'customer-purchase' has no 'champion' version" in (
        runner_log
    ), runner_log

    evidently = record["evidently"]
    os.killpg(evidently["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _group(evidently["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    shown = _mlops(root, "status").stdout
    for name in ("prefect", "mlflow", "runner", "serving", "commands"):
        assert re.search(rf"│ {name} +│ up +│ {record[name]['url']} +│ pid {record[name]['pid']}",
                         shown), shown  # fmt: skip
    assert re.search(rf"│ evidently +│ crashed +│ {evidently['url']} +│ pid "
                     rf"{evidently['pid']} is gone", shown), shown  # fmt: skip
    assert "evidently crashed: last lines of .mlops/logs/evidently.log:" in shown
    assert f"Uvicorn running on {evidently['url']}" in shown

    restarted = _mlops(root, "up")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert restarted.stdout.count("already running") == 5, restarted.stdout
    now = _record(root)
    assert {k: v for k, v in now.items() if k != "evidently"} == {
        k: v for k, v in record.items() if k != "evidently"
    }
    assert now["evidently"]["pid"] != evidently["pid"]
    assert _status(now["evidently"]["health"]) == 200

    groups = {name: _group(service["pid"]) for name, service in now.items()}
    assert all(groups.values()), groups
    stopped = run([str(Path(sys.executable).parent / "mlops"), "down"], root)
    for name, service in now.items():
        assert f"stopped {name} (pid {service['pid']})" in stopped.stdout, stopped.stdout
    assert not (root / ".mlops" / "services.json").exists()
    left = {name: _group(service["pid"]) for name, service in now.items()}
    assert left == {name: set() for name in now}
    import psutil

    alive = [p for pids in groups.values() for p in pids if _alive(psutil, p)]
    assert alive == []
    print(f"mlops up/down integration test: {time.monotonic() - began:.0f} s wall time")
