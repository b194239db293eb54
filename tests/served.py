"""A real fitted model and the scoring app around it, in this process and without MLflow: the
registry follower is handed the model instead of asking a registry (the unit and fuzz tests of
the endpoint; the integration tests use MLflow)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tests.support import REPO

TOKEN = "test-token-0123456789abcdef0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# pandas dtype kind -> MLflow's type name, as infer_signature names them
KINDS = {"f": "double", "i": "long", "b": "boolean", "O": "string"}


# The runtime shop_model() and scoring_app() serve with, unless told: the `runtime` fixture
# (tests/conftest.py) sets it, so the endpoint's tests run on both.
RUNTIMES = ("sklearn", "onnx")
CURRENT = {"runtime": "sklearn"}


def shop_model(runtime: str | None = None, overrides: tuple[str, ...] = ()) -> Any:
    """The demo's shop model (the project's own fit_pipeline on 600 generated sessions, a few
    boosting iterations) as a ServedModel scored by ``runtime`` (scikit-learn, or its graph
    compiled as registration compiles it, on ONNX Runtime; default: the current one), and a
    few of its test rows; ``overrides`` change the project's params for the fit."""
    return _shop_model(runtime or CURRENT["runtime"], overrides)


@functools.cache
def _shop_model(runtime: str, overrides: tuple[str, ...]) -> Any:
    from serving.engine import with_runtime

    served, rows, graph, _ = fitted_shop(overrides)
    chosen = with_runtime(served, runtime, 1, lambda: graph)
    assert chosen.runtime == runtime, chosen.runtime_reason
    return chosen, rows


@functools.cache
def fitted_shop(overrides: tuple[str, ...] = ()) -> Any:
    """The shop model as a ServedModel scored by scikit-learn, its tags those of its graph
    compiled on the test split, a few test rows, the graph's bytes and the test split's
    features."""
    from tasks.config import load_params
    from tasks.steps.compile import compile_pipeline
    from tasks.steps.generate import Drift, generate_sessions
    from tasks.steps.ingest import ingest_table
    from tasks.steps.split import split_frame
    from tasks.steps.train import fit_pipeline
    from tasks.types import Column, ServedModel

    hgb = "models.hist_gradient_boosting.fixed"
    changes = [f"{hgb}.max_iter=3", f"{hgb}.max_leaf_nodes=3", *overrides]
    params = load_params(REPO / "params.yaml", changes)
    frame, schema, _ = ingest_table(generate_sessions(600, 5, Drift()), params.ingest)
    train, _, test = split_frame(frame, schema, params.split)
    fitted = fit_pipeline(train, schema, params.features, params.models, params.train).model
    features = train[list(schema.features)]
    columns = tuple(
        Column(str(name), KINDS[features[name].dtype.kind], True) for name in features.columns
    )
    classes = tuple(int(c) for c in fitted.classes_)
    rows = test[list(schema.features)].head(5).reset_index(drop=True)
    # compiled as the register stage compiles it: parity on the test split, the tags
    compiled = compile_pipeline(fitted, test[list(schema.features)], "binary", 0.5)
    assert compiled.ok, compiled.reason
    served = ServedModel("shop", "1", fitted, columns, classes, "binary", 0.5, "run", "d" * 32,
                         compiled.tags(), example=rows)  # fmt: skip
    return served, rows, compiled.onnx, test[list(schema.features)].reset_index(drop=True)


def scoring_app(tmp_path: Path, *overrides: str, token: str | None = TOKEN) -> Any:
    """The endpoint's ASGI app serving :func:`shop_model` (its lifespan not yet started)."""
    from serving.app import Settings, create_app
    from tasks.config import load_params

    served, _ = shop_model()
    serve = load_params(REPO / "params.yaml", ["serve.poll_seconds=3600", *overrides]).serve
    settings = Settings("shop", serve, tmp_path / "inference.db", tmp_path / "feedback", token)
    app = create_app(settings)
    follower = app.service.follower
    follower.aliases = lambda name: {"champion": served.version}
    follower.loader = lambda name, version: served
    return app
