"""The ``evaluate`` stage of dvc.yaml."""

from __future__ import annotations

from pathlib import Path

from tasks.adapters import io
from tasks.config import Params
from tasks.pipeline.common import RunContext, Summary, load_schema, path_in


def evaluate(root: Path, params: Params, context: RunContext) -> Summary:
    """Score the model on the validation and test splits; write metrics and plot data."""
    from tasks.adapters.registry import reviewed_types
    from tasks.steps.evaluate import evaluate_model, primary_metric

    schema = load_schema(root, params)
    model = io.load_model(path_in(root, params.paths.model), reviewed_types())
    results = {
        split_name: evaluate_model(
            model, io.read_frame(path_in(root, relative)), schema, params.evaluate
        )
        for split_name, relative in (("valid", params.paths.valid), ("test", params.paths.test))
    }
    primary = primary_metric(params.evaluate, schema.task)
    test = results["test"]
    metrics = {
        "task": schema.task,
        "primary_metric": primary,
        **{name: result.metrics for name, result in results.items()},
        "confusion_matrix": {"labels": list(test.labels), "matrix": test.confusion},
    }
    io.write_json(metrics, path_in(root, params.paths.metrics))
    roc = (
        test.roc
        if test.roc is not None
        else test.predictions.iloc[0:0].rename(columns={"actual": "fpr", "predicted": "tpr"})
    )
    io.write_csv(roc, path_in(root, params.paths.roc))
    io.write_csv(test.predictions, path_in(root, params.paths.predictions))
    from tasks.steps.plots import figures_for, save_figures

    figures = figures_for(
        test,
        model,
        io.read_frame(path_in(root, params.paths.valid)),
        schema,
        primary=primary,
        repeats=params.evaluate.importance_repeats,
        seed=params.train.seed,
        bins=params.evaluate.calibration_bins,
        top=params.evaluate.importance_top,
        rows=params.evaluate.importance_rows,
    )
    save_figures(figures, path_in(root, params.paths.plots))
    return {f"{s}_{primary}": round(r.metrics[primary], 4) for s, r in results.items()}
