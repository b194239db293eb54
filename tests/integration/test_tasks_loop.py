"""The whole loop for each task, on real tables that ship with scikit-learn: binary (breast
cancer), multiclass with text classes (wine) and regression (diabetes). Each test trains with
`mlops train --data`, serves the champion over real HTTP (probabilities checked against the
registered model), scores a batch with `mlops predict`, logs a shifted production window with
labels arriving through `POST /feedback` and a feedback file, runs the monitor (drift on the
features, the prediction and the task's own quality metric) and checks that the retraining it
starts went through the gate."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from typer.testing import CliRunner

from tests.support import make_project

pytestmark = pytest.mark.integration

WINE_CLASSES = {0: "barolo", 1: "grignolino", 2: "barbera"}
QUICK = [
    "models.hist_gradient_boosting.fixed.max_iter=20",
    "evaluate.importance_repeats=1",
    "monitor.min_rows=50",
    "monitor.window_rows=2000",
    "monitor.quality_min_labels=50",
    "monitor.attribution_rows=100",
    "monitor.attribution_repeats=1",
    "monitor.cooldown_minutes=0",
    "retrain.min_labelled_rows=100",
]


@dataclass(frozen=True)
class Case:
    name: str  # the data file's stem: the registered model's name
    frame: pd.DataFrame
    task: str
    shifted: tuple[str, ...]  # important numeric columns moved by a few standard deviations
    metric: str  # the primary metric the quality check uses
    train_rows: int  # rows of the table training sees; the rest are production rows
    shift_class: Any = None  # these rows move up by 3 standard deviations, the others down by 1


def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    frame: pd.DataFrame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].map(WINE_CLASSES).astype(object)
    return frame


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame: pd.DataFrame = load_diabetes(as_frame=True, scaled=False).frame
    return frame


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


def _with_gaps(frame: pd.DataFrame, column: str, rows: int, seed: int) -> pd.DataFrame:
    """A few missing values in ``column`` (the tables ship complete; production has gaps)."""
    out = frame.copy()
    out.loc[np.random.default_rng(seed).choice(len(out), rows, replace=False), column] = np.nan
    return out


@dataclass
class Served:
    url: str
    app: Any


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(k): (None if v != v else v) for k, v in row.items()}
        for row in rows.to_dict(orient="records")
    ]


def _loop(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Train, serve, batch-score, log labelled shifted rows, monitor and retrain; returns what
    the task-specific assertions need."""
    from cli.main import app as cli
    from flows.monitoring import monitoring_flow
    from serving.app import Settings
    from tasks.adapters import inference_log, io, registry, tracking
    from tasks.config import load_params
    from tests.integration.test_serving import invoke
    from tests.support import running

    root = make_project(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    table = _with_gaps(case.frame, case.frame.columns[1], 6, 0)
    order = np.random.default_rng(1).permutation(len(table))
    table = table.iloc[order].reset_index(drop=True)
    source = tmp_path / f"{case.name}.csv"
    table.iloc[: case.train_rows].to_csv(source, index=False)
    target = "target"
    features = [c for c in table.columns if c != target]

    # -- trained and gated
    sets = [arg for override in QUICK for arg in ("--set", override)]
    trained = CliRunner().invoke(
        cli, ["train", "--data", str(source), "--target", target, *sets], catch_exceptions=False
    )
    assert trained.exit_code == 0, trained.output
    assert f"Champion: {case.name} version 1" in trained.output
    schema = io.read_json(root / "data/processed/schema.json")
    assert schema["task"] == case.task
    tracking.configure(root)
    champion = registry.load_served(case.name, "1")
    assert champion.task == case.task
    model = champion.model

    # -- batch-scored: `mlops predict`
    batch = table.iloc[case.train_rows :].drop(columns=[target]).head(20)
    batch_in, batch_out = tmp_path / "batch.csv", tmp_path / "scored.csv"
    batch.to_csv(batch_in, index=False)
    scored = CliRunner().invoke(
        cli, ["predict", "--input", str(batch_in), "--output", str(batch_out)],
        catch_exceptions=False,
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    written = pd.read_csv(batch_out)
    assert len(written) == 20 and set(written["model_version"].astype(str)) == {"1"}

    # -- served: probabilities in the model's class order, the log, feedback
    params = load_params(root / "params.yaml")
    settings = Settings.from_project(root, params)
    settings = replace(settings, serve=params.serve.model_copy(update={"poll_seconds": 0.2}))
    first = table.iloc[case.train_rows + 20 : case.train_rows + 25]  # not in the batch
    shifted = table.copy()  # every row, a few standard deviations off on the shifted columns
    sigmas = (
        pd.Series(3.0, shifted.index)
        if case.shift_class is None
        else (shifted[target] == case.shift_class).map({True: 3.0, False: -1.0})
    )
    for column in case.shifted:
        shifted[column] = shifted[column] + sigmas * table[column].std()
    half = len(shifted) // 2
    with running(settings) as (url, guard):
        answer = invoke(url, {"dataframe_records": _records(first[features]),
                              "params": {"probabilities": True}},
                        headers={"X-Request-ID": "first"})  # fmt: skip
        production = invoke(url, {"dataframe_records": _records(shifted[features])},
                            headers={"X-Request-ID": "shifted"})  # fmt: skip
        guard.service.log.flush()
        labels = shifted[target].tolist()
        posted = requests.post(f"{url}/feedback", timeout=30, json={"labels": [
            {"request_id": "shifted", "row": i, "label": v} for i, v in enumerate(labels[:half])
        ]})  # fmt: skip
        folder = settings.feedback_dir
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(
            {"request_id": "shifted", "row": range(half, len(labels)), "label": labels[half:]}
        ).to_csv(folder / "late-labels.csv", index=False)
        deadline = time.monotonic() + 30
        while not (folder / "loaded" / "late-labels.csv").exists():
            assert time.monotonic() < deadline, list(folder.rglob("*"))
            time.sleep(0.1)
    assert answer.status_code == 200, answer.text
    assert production.status_code == 200, production.text
    assert posted.json() == {"accepted": half, "unchanged": 0}
    body = answer.json()
    log = inference_log.read_log(settings.log_path)
    served_rows = log[log["_source"] == "http"]
    assert served_rows["_request_id"].tolist() == ["first"] * 5 + ["shifted"] * len(shifted)
    assert served_rows["_prediction"].tolist()[:5] == body["predictions"]
    joined = served_rows[served_rows["_request_id"] == "shifted"]["_label"].tolist()
    assert joined == labels  # both halves, with their own type
    assert [type(v) for v in joined] == [type(v) for v in labels]

    # -- monitored on the shifted window, retrained through the gate
    result = monitoring_flow(project=str(root), source="log", retrain="inline")

    return {
        "root": root,
        "model": model,
        "champion": champion,
        "first": first,
        "features": features,
        "body": body,
        "batch": batch,
        "written": written,
        "table": table,
        "shifted": shifted,
        "production": production.json(),
        "result": result,
        "log": log,
    }


def _retraining(root: Path, name: str) -> dict[str, Any]:
    from tasks.adapters import io, registry, tracking

    tracking.configure(root)
    (retrain,) = [e for e in registry.history(name) if e.event == "retrain"]
    return {
        "retrain": retrain,
        "versions": registry.versions(name),
        "champion": registry.alias_version(name, registry.CHAMPION),
        "promotion": io.read_json(root / "reports/promotion.json"),
    }


def test_multiclass_text_classes_go_through_the_whole_loop(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = Case("wine", _wine(), "multiclass", ("proline", "flavanoids"), "f1", 120)
    out = _loop(case, tmp_path, monkeypatch)
    model, features = out["model"], out["features"]

    classes = sorted(WINE_CLASSES.values())
    assert list(model.classes_) == classes
    proba = model.predict_proba(out["first"][features])
    assert out["body"]["classes"] == classes
    assert len(out["body"]["probabilities"]) == len(proba)  # the compiled graph's, to 1e-12
    for served, own in zip(out["body"]["probabilities"], proba.tolist(), strict=True):
        assert served == pytest.approx(own, rel=1e-12, abs=1e-15)
    assert out["body"]["predictions"] == [classes[i] for i in proba.argmax(axis=1)]
    expected = model.predict_proba(out["batch"][features])
    for index, label in enumerate(classes):
        assert out["written"][f"probability_{label}"].tolist() == pytest.approx(
            expected[:, index].tolist(), rel=1e-12
        )
    assert out["written"]["prediction"].tolist() == [classes[i] for i in expected.argmax(axis=1)]

    result = out["result"]
    assert result.verdict == "drift", result.reasons
    quality = [r for r in result.reasons if r.startswith("quality: f1 ")]
    assert quality, result.reasons
    drifted = {c["column"] for c in result.top_columns if c["drifted"]}
    assert {"proline", "flavanoids"} <= drifted
    assert any(r.startswith("prediction drifted") for r in result.reasons), result.reasons
    assert result.action == "retraining started in this process (no Prefect server: no automation)"
    _check_retraining(out, case)


def test_regression_goes_through_the_whole_loop(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = Case("diabetes", _diabetes(), "regression", ("bmi", "s5"), "rmse", 300)
    out = _loop(case, tmp_path, monkeypatch)
    model, features = out["model"], out["features"]

    # the endpoint serves the version's compiled graph (parity recorded at registration): the
    # Pipeline's own numbers to the last bits or two (82.10161675854148 against ...415 seen)
    assert out["body"]["predictions"] == pytest.approx(
        model.predict(out["first"][features]).tolist(), rel=1e-12
    )
    assert "probabilities" not in out["body"] or out["body"]["probabilities"] is None
    assert out["written"]["prediction"].tolist() == pytest.approx(
        model.predict(out["batch"][features]).tolist(), rel=1e-12
    )
    assert not [c for c in out["written"].columns if c.startswith("probability_")]

    result = out["result"]
    assert result.verdict == "drift", result.reasons
    (quality,) = [r for r in result.reasons if r.startswith("quality: rmse ")]
    assert " (rise " in quality
    drifted = {c["column"] for c in result.top_columns if c["drifted"]}
    assert {"bmi", "s5"} <= drifted
    assert any(r.startswith("prediction drifted") for r in result.reasons), result.reasons
    _check_retraining(out, case)


def test_binary_goes_through_the_whole_loop(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = Case(
        "breast_cancer",
        _breast_cancer(),
        "binary",
        ("worst perimeter", "worst radius"),
        "roc_auc",
        400,
        shift_class=1,  # benign tumours that look malignant: the ranking itself goes wrong
    )
    out = _loop(case, tmp_path, monkeypatch)
    model, features = out["model"], out["features"]

    assert list(model.classes_) == [0, 1]
    proba = model.predict_proba(out["first"][features])
    assert out["body"]["classes"] == [0, 1]
    assert len(out["body"]["probabilities"]) == len(proba)  # the compiled graph's, to 1e-12
    for served, own in zip(out["body"]["probabilities"], proba.tolist(), strict=True):
        assert served == pytest.approx(own, rel=1e-12, abs=1e-15)
    assert out["body"]["predictions"] == [int(p >= 0.5) for p in proba[:, 1]]
    expected = model.predict_proba(out["batch"][features])
    for index in (0, 1):
        assert out["written"][f"probability_{index}"].tolist() == pytest.approx(
            expected[:, index].tolist(), rel=1e-12
        )

    result = out["result"]
    assert result.verdict == "drift", result.reasons
    assert [r for r in result.reasons if r.startswith("quality: roc_auc ")], result.reasons
    _check_retraining(out, case)


def _check_retraining(out: dict[str, Any], case: Case) -> None:
    from tasks.adapters.io import read_table
    from tasks.config import load_params

    root, shifted, table = out["root"], out["shifted"], out["table"]
    done = _retraining(root, case.name)
    assert done["retrain"].details["rows_added"] == len(shifted)
    raw_path = root / load_params(root / "params.yaml").ingest.path
    raw = read_table(raw_path)
    assert len(raw) == case.train_rows + len(shifted)
    added = raw.iloc[case.train_rows :].reset_index(drop=True)
    assert added["target"].tolist() == shifted["target"].tolist()
    gap = table.columns[1]
    pd.testing.assert_series_equal(added[gap], shifted[gap], check_names=False)
    # a missing value is an empty cell, as in the file the table came from
    lines = raw_path.read_text().splitlines()
    position = list(table.columns).index(gap)
    missing_rows = [i for i, v in enumerate(shifted[gap]) if v != v]
    assert missing_rows
    for i in missing_rows:
        assert lines[1 + case.train_rows + i].split(",")[position] == ""
    # the retrained version beat the champion on the new test split: the gate moved the alias
    assert done["promotion"]["event"] == "promote" and done["promotion"]["moved"] is True
    assert done["promotion"]["decision"]["primary_metric"] == case.metric
    assert (done["promotion"]["champion_before"], done["champion"]) == ("1", "2")
    assert sorted(done["versions"]) == ["1", "2"]
    assert done["versions"]["2"]["trigger"] == "drift"
    assert done["versions"]["2"]["trigger.drift_report"] == out["result"].report_id
