"""``mlops simulate --live``, a short scenario, as a user runs it (issue 17): ``mlops up`` in a
sandbox, the batches and labels over HTTP, the checks fired by the monitoring deployment's
schedule, the drift event turned into a retraining run by the automation on the runner, the
gate, the endpoint answering with the new champion, and ``mlops down`` leaving nothing running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(1500)
REPO = Path(__file__).resolve().parents[2]
# onset 3, labels one batch later, retraining on 2 batches of drifted labels: the drift is seen
# at batch 3, the labels of batches 3 and 4 are in by batch 5, whose check retrains; batch 6 must
# be answered by the new champion (a recovery delay of 3 batches)
SCENARIO = {"batches": 6, "onset": 3, "label_delay": 1, "batch_rows": 500,
            "training_rows": 4000, "seed": 7, "retrain_batches": 2}  # fmt: skip


TIMEOUT = 1500  # seconds: about 420 on an idle 2-core machine, up to 900 seen under load


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("live") / "run"
    options = [f"--{key.replace('_', '-')}={value}" for key, value in SCENARIO.items()]
    env = {**os.environ, "COLUMNS": "250"}
    for key in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "MLOPS_WEBHOOK_URL"):
        env.pop(key, None)
    mlops = str(Path(sys.executable).parent / "mlops")
    driver = subprocess.Popen(
        [mlops, "simulate", "--live", *options, f"--workdir={folder}"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stdout, stderr = driver.communicate(timeout=TIMEOUT - 120)
    finally:
        if driver.poll() is None:  # SIGTERM: the driver runs `mlops down` itself
            driver.terminate()
            stdout, stderr = driver.communicate(timeout=100)
    done = subprocess.CompletedProcess(driver.args, driver.returncode, stdout, stderr)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"output": done.stdout, "folder": folder,
            "result": json.loads((folder / "simulation.json").read_text())}  # fmt: skip


def test_every_batch_was_checked_by_a_scheduled_run_and_the_drift_seen_at_once(
    live: dict[str, Any],
) -> None:
    steps, latencies = live["result"]["steps"], live["result"]["summary"]["latencies"]

    assert [s["batch"] for s in steps] == [1, 2, 3, 4, 5, 6]
    assert [s["verdict"] for s in steps[:2]] == ["healthy", "healthy"]
    assert steps[2]["verdict"] == "drift"
    assert all(x["check_scheduled"] for x in latencies)
    assert len({x["check"] for x in latencies}) == 6  # one check per batch, each its own run
    assert live["result"]["summary"]["detection_delay"] == 0
    assert live["result"]["summary"]["false_retrainings_before_onset"] == 0


def test_the_drift_paged_on_call_and_the_automation_ran_the_retraining(
    live: dict[str, Any],
) -> None:
    summary = live["result"]["summary"]
    at_onset = summary["latencies"][2]

    assert at_onset["alert_seconds"] is not None
    assert 0 < at_onset["alert_seconds"] < at_onset["check_seconds"] + 1
    assert at_onset["retrain_created_by"] == "AUTOMATION"
    assert at_onset["retrain_running_seconds"] is not None
    assert summary["alerts_received"] >= 3  # batches 3, 4 and 5 drifted


def test_the_new_champion_answers_the_batch_after_its_promotion(live: dict[str, Any]) -> None:
    steps, summary = live["result"]["steps"], live["result"]["summary"]
    promoted = summary["first_promotion_after_onset"]

    assert promoted == 5
    assert (summary["recovered_at"], summary["recovery_delay"]) == (6, 3)
    assert steps[4]["gate"] == "promote"
    new_version = steps[4]["retrained"].removeprefix("v")
    assert steps[5]["champion"] == new_version != steps[0]["champion"]
    swap = summary["latencies"][4]["swap_seconds"]
    assert swap is not None
    assert 0 < swap < 10  # the endpoint asks the registry every second in the sandbox
    assert steps[5]["metric"] > steps[2]["metric"]  # the new champion knows the new concept


def test_the_timeline_prints_the_latencies_and_down_left_nothing(live: dict[str, Any]) -> None:
    import psutil

    output = live["output"]
    sandbox = (live["folder"] / "project").resolve()

    assert "mlops down: the sandbox's services are stopped" in output
    assert "drifted batch sent -> alert received: median" in output
    assert "new champion promoted -> endpoint answering with it: median" in output
    assert not (sandbox / ".mlops" / "services.json").exists()
    left = []
    for process in psutil.process_iter(["cwd", "cmdline"]):
        try:
            if process.info["cwd"] and Path(process.info["cwd"]).resolve() == sandbox:
                left.append(process.info["cmdline"])
        except (psutil.Error, OSError):
            continue
    assert left == []
