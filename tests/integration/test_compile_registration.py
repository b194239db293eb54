"""Registration compiles each version to ONNX: the real register stage (``dvc repro``) on a
small project with MLflow on SQLite, the version's tags, and the graph loaded back into ONNX
Runtime and compared with the registered Pipeline."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from typer.testing import CliRunner

from cli.main import app
from cli.registry import lineage_rows
from serving.app import Settings
from tasks.adapters import io, registry, tracking
from tasks.config import load_params
from tasks.steps.compile import MAX_PROBABILITY_DIFF, feeds, input_columns, session
from tests.integration.test_training_flow import add_generated_data
from tests.support import run, running

pytestmark = pytest.mark.integration

MODEL = "customer-purchase"


def _fast(root: Path, *extra: tuple[str, str]) -> None:
    params = root / "params.yaml"
    text = params.read_text().replace("{max_iter: 1000,", "{max_iter: 40,")
    text = text.replace("importance_repeats: 5 ", "importance_repeats: 1 ")
    for old, new in extra:
        assert old in text
        text = text.replace(old, new)
    params.write_text(text)


def test_registration_records_the_compiled_graph_and_a_refusal_with_its_reason(
    project: Path,
) -> None:
    add_generated_data(project, rows=1500)
    _fast(project)
    run([sys.executable, "-m", "dvc", "repro"], project, timeout=600)  # up to promote

    tracking.configure(project)
    info = registry.version_info(MODEL, "1")
    test = io.read_frame(project / "data/processed/test.parquet")
    assert info.tags["runtime.onnx"] == "ok"
    assert info.tags["runtime.onnx.rows"] == str(len(test)) == "150"
    assert info.tags["runtime.onnx.labels_agree"] == "true"
    assert float(info.tags["runtime.onnx.max_abs_diff"]) <= MAX_PROBABILITY_DIFF
    assert "runtime.onnx.reason" not in info.tags
    assert info.tags["runtime.onnx.artifact"] == f"runs:/{info.run_id}/onnx/model.onnx"

    graph = registry.load_compiled(MODEL, "1")
    assert graph is not None
    assert hashlib.sha256(graph).hexdigest() == info.tags["runtime.onnx.sha256"]
    model = registry.load_version(MODEL, "1")
    numeric, categorical = input_columns(model)
    features = [*numeric, *categorical]
    proba = session(graph).run(["probabilities"], feeds(test, numeric, categorical))[0]
    expected = model.predict_proba(test[features])
    assert proba.shape == expected.shape == (150, 2)
    assert float(np.abs(proba - expected).max()) <= MAX_PROBABILITY_DIFF

    shown = CliRunner().invoke(app, ["lineage", "1"], terminal_width=400)
    assert shown.exit_code == 0, shown.output
    assert "onnx (parity on 150 test rows: max |diff| of probability" in shown.output

    # A Pipeline skl2onnx cannot convert (neighbours by Chebyshev distance): registered all
    # the same, served by scikit-learn, and the tag says why.
    _fast(
        project,
        ("model: hist_gradient_boosting #", "model: knn #"),
        (
            "KNeighborsRegressor\n    fixed: {}",
            "KNeighborsRegressor\n    fixed: {metric: chebyshev}",
        ),
    )
    run([sys.executable, "-m", "dvc", "repro", "register"], project, timeout=600)
    second = registry.version_info(MODEL, "2")
    assert second.tags["runtime.onnx"] == "unavailable"
    assert second.tags["runtime.onnx.rows"] == "0"
    assert second.tags["runtime.onnx.reason"] == (
        "conversion failed: NotImplementedError: metric='chebyshev' is not implemented."
    )
    assert "runtime.onnx.sha256" not in second.tags
    assert registry.load_compiled(MODEL, "2") is None
    assert dict(lineage_rows(MODEL, second))["runtime"] == (
        "scikit-learn (conversion failed: NotImplementedError: metric='chebyshev' is not "
        "implemented.)"
    )
    shown = CliRunner().invoke(app, ["status"])
    assert shown.exit_code == 0, shown.output
    assert "champion runtime: onnx (parity on 150 test rows" in " ".join(shown.output.split())

    _served_over_http(project, test, model)


def _served_over_http(project: Path, test: Any, model: Any) -> None:
    """The endpoint over real HTTP: the champion (v1) scored by its graph, exactly as its
    Pipeline answers; the challenger (v2, no graph), in shadow, by scikit-learn, and why."""
    assert registry.aliases(MODEL) == {"champion": "1", "challenger": "2"}
    serve = load_params(project / "params.yaml", ["serve.shadow=true"]).serve
    settings = Settings(MODEL, serve, project / "logs" / "http.db", project / "feedback")
    threshold = float(registry.version_info(MODEL, "1").params["evaluate.threshold"])
    names = [c.name for c in registry.load_served(MODEL, "1").columns]
    rows = test[names].head(40)
    body = {
        "dataframe_records": [
            {k: None if v != v else v for k, v in row.items()}
            for row in rows.to_dict(orient="records")
        ],
        "params": {"probabilities": True},
    }
    with running(settings) as (url, _):
        answer = requests.post(f"{url}/invocations", json=body, timeout=30)
        health = requests.get(f"{url}/health", timeout=10).json()
        metadata = requests.get(f"{url}/metadata", timeout=10).json()
        v2 = requests.get(f"{url}/v2/models/{MODEL}", timeout=10).json()

    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Model-Version"] == "1"
    expected = model.predict_proba(rows)
    got = np.asarray(answer.json()["probabilities"])
    assert float(np.abs(got - expected).max()) <= 1e-9
    assert answer.json()["predictions"] == np.where(expected[:, 1] >= threshold, 1, 0).tolist()
    assert (health["runtime"], health["runtime_reason"]) == ("onnx", None)
    assert v2["platform"] == "onnxruntime_onnx" and v2["parameters"]["runtime"] == "onnx"
    challenger = metadata["challenger"]
    assert (challenger["version"], challenger["runtime"]) == ("2", "sklearn")
    assert challenger["runtime_reason"] == (
        "no compiled graph (runtime.onnx=unavailable: conversion failed: NotImplementedError: "
        "metric='chebyshev' is not implemented.)"
    )
