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


@functools.cache
def shop_model() -> Any:
    """The demo's shop model (the project's own fit_pipeline on 600 generated sessions, a few
    boosting iterations) as a ServedModel, and a few of its test rows."""
    from tasks.config import load_params
    from tasks.steps.generate import Drift, generate_sessions
    from tasks.steps.ingest import ingest_table
    from tasks.steps.split import split_frame
    from tasks.steps.train import fit_pipeline
    from tasks.types import Column, ServedModel

    hgb = "models.hist_gradient_boosting.fixed"
    params = load_params(REPO / "params.yaml", [f"{hgb}.max_iter=3", f"{hgb}.max_leaf_nodes=3"])
    frame, schema, _ = ingest_table(generate_sessions(600, 5, Drift()), params.ingest)
    train, _, test = split_frame(frame, schema, params.split)
    fitted = fit_pipeline(train, schema, params.features, params.models, params.train).model
    features = train[list(schema.features)]
    columns = tuple(
        Column(str(name), KINDS[features[name].dtype.kind], True) for name in features.columns
    )
    classes = tuple(int(c) for c in fitted.classes_)
    served = ServedModel("shop", "1", fitted, columns, classes, "binary", 0.5, "run", "d" * 32, {})
    return served, test[list(schema.features)].head(5).reset_index(drop=True)


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
