"""The MLflow UI shows a tuning experiment: the parent run, its nested trial runs, their metrics
and the parent's plots, as a person sees them in a real browser against a real ``mlflow server``.

How the pages are rendered (``tests/browser.py``): Debian's ``chromium`` (installed by the
``chromium`` fixture with apt-get when missing) runs headless and is driven through the Chrome
DevTools Protocol; the test polls ``document.body.innerText`` until the expected strings appear.
The flags, each needed here:

- ``--headless=new``: the full browser without a display (the old headless mode is a separate,
  reduced shell);
- ``--no-sandbox``: the tests run as root in containers, where Chromium's sandbox cannot start;
- ``--disable-gpu``: no GPU; software rendering only;
- ``--disable-dev-shm-usage``: docker's ``/dev/shm`` is 64 MB, too small for Chromium's shared
  memory; it uses ``/tmp`` instead (Debian's wrapper adds it only when it can measure
  ``/dev/shm``);
- ``--no-first-run``, ``--no-default-browser-check``, ``--disable-background-networking``: no
  first-run pages, prompts or calls out of the machine;
- ``--remote-debugging-address=127.0.0.1 --remote-debugging-port=0``: the DevTools endpoint on a
  free local port, which Chromium writes to ``<profile>/DevToolsActivePort``;
- ``--user-data-dir=<fresh temporary folder>``: no state (MLflow keeps view settings in local
  storage) from one page or test run to the next;
- ``--window-size=1600,1000``: the runs table renders only the columns that fit the window.

``--dump-dom --virtual-time-budget=<ms>`` (one browser process per page, printing the DOM) was
tried first. With a budget it does render the runs table, because virtual time stands still
while requests are pending (budgets from 500 to 60000 ms all showed the runs, 5-6 s per page);
without one it prints the empty app shell ("You need to enable JavaScript to run this app."),
and ``--virtual-time-budget=0`` hung until killed after 120 s. It was not kept: it gives the
DOM at one moment instead of waiting for the expected text, its HTML holds text nobody sees
(hidden tooltips, colour lists), and every page pays a cold browser start and loads MLflow's
4 MB bundle again (~20 s a page on a loaded two-core machine, against 2-5 s a page in one
browser whose cache stays warm).

The tracking server runs with ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: its job runner
(eight huey consumer processes, each importing MLflow) is not used by the UI, and on two cores
it added ~15 s to the start-up (29 s against 43-49 s, measured back to back) and slowed every
page that followed.

What MLflow 3's UI needs (measured on MLflow 3.17; UI text may change between versions):

- ``#/experiments/<id>`` opens the GenAI "Overview" (traces, tokens), not the runs; the query
  ``?workflowType=machine_learning`` (what the header's "Model training" switch sets) opens the
  runs table. Setting the experiment tag ``mlflow.experimentKind`` does not change that.
- The runs table nests child runs under their parent, collapsed: only the parent's row shows.
  Its expander is an unlabelled icon button; instead of clicking it, the test sorts by a metric
  (``orderByKey`` in the URL), which makes MLflow list every run flat, in metric order.
- A run's page lists its metrics, tags and "Child runs" by name; a child's page names its parent.
  The runs table shows no metric columns until a person picks them (kept in local storage), so
  the trials' values are read on the "Compare" page (``#/compare-runs?runs=[...]``), one column
  per run.
- The artifacts view lists folders collapsed; the URL ``.../artifacts/plots`` selects the folder
  and lists its files (a file name that is not in the run is not shown).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import mlflow
import pytest
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient

from tests.browser import ensure_chromium, open_browser, rendered_text

pytestmark = pytest.mark.integration

EXPERIMENT = "ui-check"
PARENT = "tune-random-abc123"
PARENT_TAGS = {"model.family": "hist_gradient_boosting", "tune.method": "random"}
TEST_ROC_AUC = 0.8421
PLOT = "plots/roc.png"  # the name the evaluate stage gives its ROC figure
# trial name -> (cv_roc_auc, duration_seconds)
TRIALS = {"trial-000": (0.81, 1.25), "trial-001": (0.83, 1.5), "trial-002": (0.79, 1.75)}
PAGE_TIMEOUT = 60.0


@dataclass(frozen=True)
class TuningRuns:
    """The ids of a logged tuning experiment: its parent run and its trials by run name."""

    experiment_id: str
    parent: str
    trials: dict[str, str]


def log_tuning_runs(client_or_uri: MlflowClient | str, experiment: str) -> TuningRuns:
    """Log a tuning experiment as the platform's tuning does: one parent run with the chosen
    model's tags, test metric and plots, and one nested run per trial with its CV score.

    Stand-in for the platform's real tuning output: replace the body, keep the return value.
    """
    uri = client_or_uri if isinstance(client_or_uri, str) else client_or_uri.tracking_uri
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0.0, 0.2, 1.0], [0.0, 0.7, 1.0])
    trials: dict[str, str] = {}
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI: put back what was there.
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment_id, run_name=PARENT) as parent:
            mlflow.set_tags(PARENT_TAGS)
            for name, (score, seconds) in TRIALS.items():
                with mlflow.start_run(
                    experiment_id=experiment_id, run_name=name, nested=True
                ) as run:
                    mlflow.log_metrics({"cv_roc_auc": score, "duration_seconds": seconds})
                    trials[name] = run.info.run_id
            mlflow.log_metric("test_roc_auc", TEST_ROC_AUC)
            mlflow.log_figure(figure, PLOT)
    finally:
        mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None unsets it
    return TuningRuns(experiment_id, parent.info.run_id, trials)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mlflow_server(folder: Path, startup_timeout: float = 180.0) -> Iterator[str]:
    """A real ``mlflow server`` on SQLite with proxied artifacts; its address."""
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        # No job runner (eight huey consumer processes, each importing MLflow): the UI does not
        # need it, and on two cores it costs ~15 s of start-up and competes with the browser.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    log_path = folder / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            assert process.poll() is None, f"mlflow server exited:\n{log_path.read_text()}"
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"mlflow server did not answer on {uri}"
            time.sleep(0.5)
        yield uri
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the CLI and its uvicorn child
        process.wait(timeout=60)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get on first use (the test fails if it cannot)."""
    return ensure_chromium()


def _flat(text: str) -> str:
    return " ".join(text.split())


# apt-get update and install of Chromium may come first (900 s each at most, tests/browser.py)
@pytest.mark.timeout(2400)
def test_the_mlflow_ui_shows_a_tuning_run_its_trials_metrics_and_plots(
    chromium: Path, tmp_path: Path
) -> None:
    with mlflow_server(tmp_path) as uri, open_browser(chromium) as browser:
        runs = log_tuning_runs(uri, EXPERIMENT)
        experiment = f"{uri}/#/experiments/{runs.experiment_id}"
        training = "workflowType=machine_learning"

        def page(url: str, *expect: str) -> str:
            return _flat(rendered_text(url, expect, PAGE_TIMEOUT, browser=browser))

        # The experiment's runs table: the parent's row, its trials collapsed under it.
        page(f"{experiment}?{training}", PARENT)

        # Sorted by the trials' metric, every run is listed flat, best trial first.
        order = {"orderByKey": "metrics.`cv_roc_auc`", "orderByAsc": "false"}
        text = page(f"{experiment}/runs?{training}&{urlencode(order)}", PARENT, *TRIALS)
        best_first = sorted(TRIALS, key=lambda name: -TRIALS[name][0])
        assert sorted(TRIALS, key=text.index) == best_first

        # The parent's page: its metric, tags and child runs.
        text = page(f"{experiment}/runs/{runs.parent}", PARENT, "test_roc_auc", *TRIALS)
        assert f"test_roc_auc {TEST_ROC_AUC}" in text
        for key, value in PARENT_TAGS.items():
            assert f"{key} : {value}" in text

        # The trials side by side (the "Compare" page): names and metric values, in run order.
        ids = list(runs.trials.values())
        compare = {"runs": json.dumps(ids), "experiments": json.dumps([runs.experiment_id])}
        scores = [str(score) for score, _ in TRIALS.values()]
        text = page(f"{uri}/#/compare-runs?{urlencode(compare)}", *TRIALS, "cv_roc_auc", *scores)
        assert f"Run Name: {' '.join(TRIALS)}" in text
        assert " ".join(scores) in text
        assert " ".join(str(seconds) for _, seconds in TRIALS.values()) in text

        # The parent's artifacts: the plots folder lists the figure.
        folder, file_name = PLOT.rsplit("/", 1)
        page(f"{experiment}/runs/{runs.parent}/artifacts/{folder}", file_name)
