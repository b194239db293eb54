"""The ``train`` stage of dvc.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.adapters import io
from tasks.config import Params
from tasks.pipeline.common import RunContext, Summary, load_schema, path_in, write_record
from tasks.records import TuningRecord


def train(root: Path, params: Params, context: RunContext) -> Summary:
    """Fit ``train.model`` on the training split, or search ``tune.families`` with
    ``tune.method`` (the validation split picks the winner); save it and the trials."""
    from tasks.steps.evaluate import primary_metric
    from tasks.steps.train import describe_fit, fit_pipeline, training_rows

    frame = io.read_frame(path_in(root, params.paths.train))
    schema = load_schema(root, params)
    if params.tune.method == "none":
        fitted = fit_pipeline(frame, schema, params.features, params.models, params.train)
        tuning: dict[str, Any] = {
            "method": "none",
            "family": params.train.model,
            "primary": primary_metric(params.evaluate, schema.task),
            "trials": [],
            "leaderboard": [],
        }
    else:
        from tasks.steps.tune import search

        rows, counts = training_rows(frame, schema, params.features, params.train.seed)
        result = search(
            rows,
            io.read_frame(path_in(root, params.paths.valid)),
            schema,
            params.features,
            params.models,
            params.train,
            params.tune,
            primary_metric(params.evaluate, schema.task),
            params.evaluate.threshold,
        )
        fitted = describe_fit(result.model, counts)
        tuning = {**result.to_dict(), "family": result.best_family}
    from tasks.steps.tune import leaderboard_frame

    io.write_csv(leaderboard_frame(tuning), path_in(root, params.paths.leaderboard))
    io.save_model(fitted.model, path_in(root, params.paths.model))
    write_record(
        TuningRecord.model_validate({**tuning, "training": fitted.report()}),
        path_in(root, params.paths.tuning),
    )
    return {
        "model": tuning["family"],
        "method": tuning["method"],
        "trials": len(tuning["trials"]),
        "rows": fitted.rows["rows_out"],
    }
