"""The model's Evidently dashboard, through Evidently's own API: three real checks added to a
temporary workspace give the project exactly the platform's panels (once, however many checks),
and the panel data Evidently's UI loads (its data storage's ``get_data_series``, what the
``data_series_batch`` endpoint answers) holds each check's exact values, in check order.

``tests/integration/test_evidently_ui.py`` opens the same dashboard in a real browser."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tasks.adapters.evidently import (
    DASHBOARD_TAB,
    add_to_workspace,
    check_drift,
    ensure_dashboard,
    quality_floor,
)
from tasks.config import MonitorParams, load_params
from tasks.steps.drift import DriftCheck, quality_check

MONITOR = load_params(Path(__file__).resolve().parents[2] / "params.yaml").monitor
SETTINGS = MONITOR.model_copy(update={"min_rows": 10, "quality_min_labels": 50})
PROJECT = "customer-purchase"
TITLES = [
    "Last check",
    "Share of drifted columns",
    "Prediction drift",
    "Drift per numerical column: wasserstein",
    "Drift per categorical column: jensenshannon",
    "Primary metric on labelled rows (roc_auc)",
    "Champion version at each check",
]


HOURLY = [datetime(2026, 12, 1, 9 + hour, 0, 0) for hour in range(3)]  # the checks' times


@dataclass(frozen=True)
class Added:
    check: DriftCheck
    version: str


def make_check(seed: int, shift: float, labelled: bool, settings: MonitorParams) -> DriftCheck:
    """A real check: two numerical and one categorical column (``shift`` moves ``a`` and
    ``b``), the prediction, and quality on labelled rows when ``labelled``."""
    rng = np.random.default_rng(seed)
    n = 1500
    reference = pd.DataFrame(
        {
            "a": rng.normal(0, 1, n),
            "b": rng.normal(5, 2, n),
            "channel": rng.choice(["ads", "direct", "mail"], n),
        }
    )
    current = pd.DataFrame(
        {
            "a": rng.normal(shift, 1, n),
            "b": rng.normal(5 + 2 * shift, 2, n),
            "channel": rng.choice(
                ["ads", "direct", "mail"], n, p=[(1 - shift) / 3, 1 / 3, (1 + shift) / 3]
            ),
        }
    )
    ref_pred = pd.Series(rng.choice([0, 1], n, p=[0.85, 0.15]), dtype=object)
    cur_pred = pd.Series(rng.choice([0, 1], n, p=[0.85 - shift / 4, 0.15 + shift / 4]))
    # the quality the monitor computed on labelled rows (the dashboard reads this, not the
    # report's classification section, which is left out: it costs seconds per check)
    quality = quality_check("roc_auc", 0.84, 0.8 - shift / 10, 120, False, settings)
    return check_drift(
        reference,
        current,
        numerical=["a", "b"],
        categorical=["channel"],
        settings=settings,
        prediction=(ref_pred, cur_pred.astype(object)),
        quality=quality if labelled else None,
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Added]]:
    """Three checks of one model: healthy (champion 3, no labels yet), drifted (3, labelled),
    then a new champion (4, labelled)."""
    folder = tmp_path_factory.mktemp("evidently")
    added = [
        Added(make_check(1, 0.0, False, SETTINGS), "3"),
        Added(make_check(2, 1.0, True, SETTINGS), "3"),
        Added(make_check(3, 0.3, True, SETTINGS), "4"),
    ]
    for number, item in enumerate(added):
        add_to_workspace(
            item.check,
            folder,
            PROJECT,
            settings=SETTINGS,
            model_version=item.version,
            metric="roc_auc",
            report_id=f"drift-{number}",
            timestamp=HOURLY[number],
        )
    return folder, added


def _project(folder: Path) -> Any:
    from evidently.ui.workspace import Workspace

    space = Workspace(str(folder))
    (project,) = space.search_project(PROJECT)
    return space, project


def series(folder: Path, panel: Any) -> list[dict[str, Any]]:
    """What Evidently's UI loads for ``panel``: per series its legend's column and values
    (one per check, in time order), through the UI's own data storage."""
    from evidently.ui.service.base import SeriesFilter
    from evidently.ui.service.storage.local.base import InMemoryDataStorage

    _, project = _project(folder)
    filters = [
        SeriesFilter(
            tags=v.tags, metadata=v.metadata, metric=v.metric, metric_labels=v.metric_labels
        )
        for v in panel.values
    ]
    answer = asyncio.run(
        InMemoryDataStorage(str(folder)).get_data_series(project.id, filters, None, None)
    )
    return [
        {"filter": s.filter_index, "params": s.params, "values": s.values} for s in answer.series
    ]


def by_column(folder: Path, panel: Any) -> dict[str, list[float | None]]:
    return {s["params"]["column"]: s["values"] for s in series(folder, panel)}


def snapshot_of(folder: Path, number: int) -> Any:
    """The project's ``number``-th snapshot in time order, as the UI stores it."""
    space, project = _project(folder)
    runs = [space.get_run(project.id, s) for s in space.list_runs(project.id)]
    return sorted(runs, key=lambda run: run.timestamp)[number]


def panels(folder: Path) -> dict[str, Any]:
    space, project = _project(folder)
    return {p.title: p for p in space.get_dashboard(project.id).panels}


def test_the_dashboard_has_exactly_the_platforms_panels_once(
    workspace: tuple[Path, list[Added]],
) -> None:
    folder, _ = workspace
    space, project = _project(folder)
    dashboard = space.get_dashboard(project.id)
    assert [p.title for p in dashboard.panels] == TITLES  # three checks, one set of panels
    ((tab),) = dashboard.tabs
    assert tab.title == DASHBOARD_TAB
    assert tab.panels == [p.id for p in dashboard.panels]
    kinds = {p.title: (p.plot_params["plot_type"], p.size) for p in dashboard.panels}
    assert kinds["Last check"] == ("counter", "full")
    assert kinds["Share of drifted columns"] == ("line", "half")
    assert kinds["Champion version at each check"] == ("bar", "half")
    reads = {
        p.title: [(v.metric.split(":")[-1], v.metric_labels, v.legend) for v in p.values]
        for p in dashboard.panels
    }
    assert reads["Share of drifted columns"] == [
        ("MeanValue", {"column": "drifted_share"}, "share of drifted columns"),
        ("MeanValue", {"column": "drift_share_threshold"}, "threshold"),
    ]
    assert reads["Prediction drift"] == [
        ("ValueDrift", {"column": "prediction"}, "prediction: {{method}}"),
        (
            "MeanValue",
            {"column": "prediction_threshold"},
            "threshold",
        ),
    ]
    assert reads["Drift per numerical column: wasserstein"] == [
        ("ValueDrift", {"column": "a"}, "{{column}}"),
        ("ValueDrift", {"column": "b"}, "{{column}}"),
        ("MeanValue", {"column": "numerical_threshold"}, "threshold"),
    ]
    assert reads["Primary metric on labelled rows (roc_auc)"] == [
        ("MeanValue", {"column": "quality_current"}, "roc_auc on labelled rows"),
        ("MeanValue", {"column": "quality_floor"}, "floor"),
        ("MeanValue", {"column": "quality_reference"}, "champion's test value"),
    ]
    assert reads["Champion version at each check"] == [
        ("MeanValue", {"column": "champion_version"}, "champion version")
    ]
    # the next check (or an existing workspace's) writes nothing: the same panels, same ids
    assert ensure_dashboard(space, project.id, _wanted(workspace)) is False
    assert space.get_dashboard(project.id).dict() == dashboard.dict()


def _wanted(workspace: tuple[Path, list[Added]]) -> Any:
    from tasks.adapters.evidently import dashboard_panels

    check = workspace[1][-1].check
    kinds = {c: v["kind"] for c, v in check.summary.items() if c != "prediction"}
    return dashboard_panels(kinds, "prediction", SETTINGS, "roc_auc")


def test_the_panels_read_each_checks_exact_values(workspace: tuple[Path, list[Added]]) -> None:
    folder, added = workspace
    checks = [a.check for a in added]
    found = panels(folder)
    share = by_column(folder, found["Share of drifted columns"])
    assert share == {
        "drifted_share": [c.drifted_share for c in checks],
        "drift_share_threshold": [0.3, 0.3, 0.3],
    }
    assert [c.drifted_share for c in checks] == [0.0, 1.0, pytest.approx(2 / 3)]
    numeric = by_column(folder, found["Drift per numerical column: wasserstein"])
    assert numeric == {
        "a": [c.columns[0].value for c in checks],
        "b": [c.columns[1].value for c in checks],
        "numerical_threshold": [0.1, 0.1, 0.1],
    }
    assert [c.columns[0].column for c in checks] == ["a", "a", "a"]
    categorical = by_column(folder, found["Drift per categorical column: jensenshannon"])
    assert categorical["channel"] == [c.columns[2].value for c in checks]
    prediction = series(folder, found["Prediction drift"])
    assert [s["params"]["method"] for s in prediction if s["filter"] == 0] == ["jensenshannon"]
    assert by_column(folder, found["Prediction drift"]) == {
        "prediction": [c.prediction.value for c in checks if c.prediction],
        "prediction_threshold": [0.1, 0.1, 0.1],
    }
    # quality only on the labelled checks: the first check is no point of this panel
    quality = by_column(folder, found["Primary metric on labelled rows (roc_auc)"])
    labelled = [c.quality for c in checks[1:] if c.quality is not None]
    assert quality["quality_current"] == [q.current for q in labelled]
    assert [round(q.current or 0, 12) for q in labelled] == [0.7, 0.77]
    assert quality["quality_reference"] == [0.84, 0.84]
    assert quality["quality_floor"] == [quality_floor(q) for q in labelled]
    assert [quality_floor(q) for q in labelled] == [0.79, 0.79]  # 0.84 - 0.05
    assert by_column(folder, found["Champion version at each check"]) == {
        "champion_version": [3.0, 3.0, 4.0]
    }
    last = by_column(folder, found["Last check"])
    assert last["drifted_columns"] == [float(c.drifted_columns) for c in checks]
    assert last["checked_columns"] == [3.0, 3.0, 3.0]


def test_each_snapshot_names_the_champion_and_the_verdict(
    workspace: tuple[Path, list[Added]],
) -> None:
    folder, added = workspace
    space, project = _project(folder)
    snapshots = sorted(space.list_runs(project.id), key=str)
    assert len(snapshots) == 3
    models = [space.get_run(project.id, s) for s in snapshots]
    seen = sorted(
        ((m.metadata["report_id"], m.metadata["model_version"], m.metadata["verdict"], m.tags)
         for m in models),
    )  # fmt: skip
    assert seen == [
        (f"drift-{n}", a.version, a.check.verdict, [a.check.verdict, f"v{a.version}"])
        for n, a in enumerate(added)
    ]
    assert [a.check.verdict for a in added] == ["healthy", "drift", "drift"]


def test_an_old_workspace_gets_the_panels_on_its_next_check_and_hand_made_ones_stay(
    tmp_path: Path,
) -> None:
    """A workspace from before this dashboard (a project, a snapshot as the monitor added it
    then, an empty dashboard a person put a panel of their own on) gets exactly the platform's
    panels on its next check, beside the person's; a later check renames what changed."""
    from evidently.sdk.panels import text_panel
    from evidently.ui.workspace import Workspace

    check = make_check(5, 0.0, False, SETTINGS)
    space = Workspace.create(str(tmp_path))
    project = space.create_project(PROJECT, description="drift checks")
    space.add_run(project.id, check.snapshot, include_data=False)  # as before this change
    assert space.get_dashboard(project.id).dict() == {"tabs": [], "panels": []}
    project.dashboard.add_panel(text_panel("Notes by on-call"), tab="Notes")

    add_to_workspace(check, tmp_path, PROJECT, settings=SETTINGS, model_version="1")
    before = space.get_dashboard(project.id)
    assert [p.title for p in before.panels] == [
        *TITLES[:5],
        "Primary metric on labelled rows",  # no metric named yet
        TITLES[6],
        "Notes by on-call",
    ]
    add_to_workspace(check, tmp_path, PROJECT, settings=SETTINGS, model_version="1", metric="f1")
    after = space.get_dashboard(project.id)
    assert [p.title for p in after.panels] == [
        *TITLES[:5],
        "Primary metric on labelled rows (f1)",
        TITLES[6],
        "Notes by on-call",
    ]
    assert [t.title for t in after.tabs] == [DASHBOARD_TAB, "Notes"]
    assert [p.id for p in after.panels] == [p.id for p in before.panels]  # the same panels
    assert len(space.list_runs(project.id)) == 3
