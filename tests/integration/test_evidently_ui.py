"""What the on-call engineer sees: the model's Evidently dashboard in a real browser.

Three real drift checks go into a temporary workspace (``add_to_workspace``, as the monitor
records them); ``evidently ui`` serves it on a free port of 127.0.0.1; Debian's headless
Chromium (``tests/browser.py``, installed by ``make test`` or the fixture when missing) opens
the project's dashboard and polls its visible text until every panel's title and the legends
drawn from the panel data are there. The last check is added while the UI runs (as under
``mlops up``). The page must not say the dashboard is empty, the last check's counters must
show its champion version and share, and a PNG of the page is
taken (``MLOPS_SCREENSHOT`` names a copy to keep: docs/img/evidently-dashboard.png was made so).
One UI start and one page. Where the time goes (~50 s on two busy cores): importing Evidently,
once in the test (the first check) and once in the ``evidently ui`` process (most of its
start-up); the three checks themselves, the page and the screenshot take about 3 s.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tasks.adapters.evidently import add_to_workspace
from tests.browser import ensure_chromium, open_browser
from tests.support import free_port
from tests.unit.test_evidently_dashboard import HOURLY, PROJECT, SETTINGS, TITLES, make_check

pytestmark = pytest.mark.integration

EMPTY = "This dashboard is currently empty"
LEGENDS = (  # drawn by the charts from the panel data, not from the dashboard's config alone
    "share of drifted columns",
    "threshold",
    "roc_auc on labelled rows",
    "floor",
)


@contextmanager
def evidently_ui(workspace: Path) -> Iterator[str]:
    """``evidently ui`` on a free local port, in its own process group, stopped on exit."""
    port = free_port()
    binary = Path(sys.executable).parent / "evidently"
    log = (workspace.parent / "evidently-ui.log").open("wb")
    command = [str(binary), "ui", "--workspace", str(workspace), "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (workspace.parent / "evidently-ui.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/api/projects", timeout=2) as answer:
                    json.loads(answer.read())
                break
            except OSError:
                assert time.monotonic() < deadline, f"evidently ui did not answer on {url}"
                time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get on first use (the test fails if it cannot)."""
    return ensure_chromium()


# apt-get update and install of Chromium may come first (900 s each at most, tests/browser.py)
@pytest.mark.timeout(2400)
def test_the_dashboard_shows_every_panel_with_the_checks_data(
    chromium: Path, tmp_path: Path
) -> None:
    from evidently.ui.workspace import Workspace

    workspace = tmp_path / "evidently"
    checks = [
        (make_check(1, 0.0, False, SETTINGS), "3"),
        (make_check(2, 1.0, True, SETTINGS), "3"),
        (make_check(3, 0.3, True, SETTINGS), "4"),
    ]

    def add(number: int) -> None:
        check, version = checks[number]
        add_to_workspace(
            check,
            workspace,
            PROJECT,
            settings=SETTINGS,
            model_version=version,
            metric="roc_auc",
            timestamp=HOURLY[number],
        )

    add(0)
    add(1)
    (project,) = Workspace(str(workspace)).search_project(PROJECT)
    with evidently_ui(workspace) as url, open_browser(chromium) as browser:
        add(2)  # while the UI runs, as the monitor does under `mlops up`
        snapshots = f"{url}/api/projects/{project.id}/snapshots"
        deadline = time.monotonic() + 30
        while len(json.loads(urllib.request.urlopen(snapshots, timeout=5).read())) < 3:
            assert time.monotonic() < deadline, "evidently ui did not pick up the third check"
            time.sleep(0.1)
        text = browser.rendered_text(f"{url}/projects/{project.id}", [*TITLES, *LEGENDS], 120)
        time.sleep(1.0)  # the charts' entry animation
        shot = browser.screenshot(tmp_path / "evidently-dashboard.png")
    assert EMPTY not in text
    flat = " ".join(text.split())
    # the "Last check" counters: the last check's champion and share, as the UI rounds them
    last = checks[-1][0]
    assert f"{round(last.drifted_share, 2)} share drifted" in flat
    assert f"{last.drifted_columns} drifted columns 3 columns judged 4 champion version" in flat
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(shot) > 50_000  # seven rendered panels, not a blank page
    keep = os.environ.get("MLOPS_SCREENSHOT")
    if keep:
        shutil.copyfile(tmp_path / "evidently-dashboard.png", keep)
