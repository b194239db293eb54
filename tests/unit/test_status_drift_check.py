"""``mlops status`` names the monitor's newest drift check, healthy or not.

It used to look for ``drift_check`` events in the registry's history, which nothing writes
(the history holds only the checks that found drift), so it always said "none recorded".
The monitor records every check as an MLflow run tagged ``mlops.kind=monitor``; status reads
the newest one. A real MLflow store (SQLite in a temporary folder) is used.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from cli.registry import _last_drift_check
from tasks.adapters import tracking
from tasks.config import Params, load_params

REPO = Path(__file__).resolve().parents[2]


def _check(root: Path, params: Params, model: str, verdict: str, report: str) -> None:
    experiment = tracking.ensure_experiment(params.monitoring_experiment, root)
    tracking.log_job_run(
        experiment_id=experiment,
        run_name=report,
        params={},
        metrics={},
        tags={
            "mlops.kind": "monitor",
            "verdict": verdict,
            "report_id": report,
            "model.name": model,
            "model.version": "3",
            "window.start": "2026-12-03T00:00:00Z",
            "window.end": "2026-12-04T00:00:00Z",
        },
        artifacts={},
    )


def test_status_names_the_newest_check_even_when_it_was_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.configure(tmp_path)
    params = load_params(REPO / "params.yaml")
    model = params.model_name

    assert _last_drift_check(params, model) == "last drift check: none recorded"

    _check(tmp_path, params, model, "drift", "drift-20261203T010000Z")
    time.sleep(0.01)  # MLflow orders runs by their start time in milliseconds
    _check(tmp_path, params, model, "healthy", "drift-20261204T010000Z")
    _check(tmp_path, params, "another-model", "drift", "drift-20261204T020000Z")

    line = _last_drift_check(params, model)
    stamp, rest = line.removeprefix("last drift check: ").split(": ", 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp), line
    assert rest == (
        "healthy (report drift-20261204T010000Z, champion version 3, window "
        "2026-12-03T00:00:00Z to 2026-12-04T00:00:00Z)"
    )
