"""The pipeline's stages: where files are read and written, around the pure steps in tasks/.

``dvc.yaml`` runs each stage as ``python -m flows.stages NAME``; the Prefect training flow calls
the same functions in-process. Either way a stage reads its deps and writes its outs at the
paths in ``params.paths``, so ``dvc repro`` and the flow produce the same files.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks import io
from tasks.config import Params, load_params
from tasks.ingest import TableSchema, ingest_table

Summary = dict[str, Any]


@dataclass(frozen=True)
class RunContext:
    """Who runs the pipeline: recorded as tags on the MLflow run."""

    flow_run_id: str | None = None
    trigger: str = "manual"
    orchestrator: str = "dvc"


def _path(root: Path, relative: str) -> Path:
    return root / relative


def _schema(root: Path, params: Params) -> TableSchema:
    return TableSchema.from_dict(io.read_json(_path(root, params.paths.schema_)))


def ingest(root: Path, params: Params, context: RunContext) -> Summary:
    """Read the raw table, type it, drop unlabeled rows; write the table, schema and report."""
    raw = io.read_table(_path(root, params.ingest.path))
    frame, schema, report = ingest_table(raw, params.ingest)
    io.write_frame(frame, _path(root, params.paths.ingested))
    io.write_json(schema.to_dict(), _path(root, params.paths.schema_))
    io.write_json(report.to_dict(), _path(root, params.paths.ingest_report))
    return {
        "rows": report.rows_out,
        "rows_missing_target": report.rows_missing_target,
        "id_columns": report.id_columns,
        "task": schema.task,
        "features": len(schema.features),
    }


def validate(root: Path, params: Params, context: RunContext) -> Summary:
    """Check the ingested table; write the result, and stop the pipeline when it fails."""
    from tasks.validate import ValidationFailed, check_table

    frame = io.read_frame(_path(root, params.paths.ingested))
    result = check_table(frame, _schema(root, params), params.validate_)
    if not result.success:
        raise ValidationFailed(result, params.ingest.path)
    io.write_json(result.to_dict(), _path(root, params.paths.validation))
    return {"success": result.success, "checks": result.checks}


def split(root: Path, params: Params, context: RunContext) -> Summary:
    """Split the ingested table into train, validation and test files."""
    from tasks.split import split_frame

    frame = io.read_frame(_path(root, params.paths.ingested))
    parts = split_frame(frame, _schema(root, params), params.split)
    paths = (params.paths.train, params.paths.valid, params.paths.test)
    for part, relative in zip(parts, paths, strict=True):
        io.write_frame(part, _path(root, relative))
    return {"train": len(parts[0]), "valid": len(parts[1]), "test": len(parts[2])}


def train(root: Path, params: Params, context: RunContext) -> Summary:
    """Fit the pipeline on the training split and save it."""
    from tasks.train import fit_pipeline

    frame = io.read_frame(_path(root, params.paths.train))
    model = fit_pipeline(frame, _schema(root, params), params.train)
    io.save_model(model, _path(root, params.paths.model))
    return {"model": params.train.model, "rows": len(frame)}


def evaluate(root: Path, params: Params, context: RunContext) -> Summary:
    """Score the model on the validation and test splits; write metrics and plot data."""
    from tasks.evaluate import evaluate_model, primary_metric

    schema = _schema(root, params)
    model = io.load_model(_path(root, params.paths.model))
    results = {
        split_name: evaluate_model(
            model, io.read_frame(_path(root, relative)), schema, params.evaluate
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
    io.write_json(metrics, _path(root, params.paths.metrics))
    roc = (
        test.roc
        if test.roc is not None
        else test.predictions.iloc[0:0].rename(columns={"actual": "fpr", "predicted": "tpr"})
    )
    io.write_csv(roc, _path(root, params.paths.roc))
    io.write_csv(test.predictions, _path(root, params.paths.predictions))
    return {f"{s}_{primary}": round(r.metrics[primary], 4) for s, r in results.items()}


def register(root: Path, params: Params, context: RunContext) -> Summary:
    """Log the run to MLflow and register the model; new versions are challengers."""
    from tasks import tracking, versioning
    from tasks.evaluate import primary_metric

    schema = _schema(root, params)
    metrics = io.read_json(_path(root, params.paths.metrics))
    model = io.load_model(_path(root, params.paths.model))
    train_frame = io.read_frame(_path(root, params.paths.train))
    data_path = _path(root, params.ingest.path)
    md5, tracked = versioning.data_version(root, data_path)
    primary = primary_metric(params.evaluate, schema.task)
    tracking.configure(root)
    experiment_id = tracking.ensure_experiment(
        params.register_.resolved_experiment(params.ingest.path), root
    )
    features = list(schema.features)
    commit = versioning.git_commit(root)
    tags = {
        "data.path": params.ingest.path,
        "data.dvc_md5": md5,
        "data.dvc_tracked": str(tracked).lower(),
        "git.commit": commit,
        "git.dirty": str(versioning.git_is_dirty(root)).lower(),
        "prefect.flow_run_id": context.flow_run_id or "",
        "orchestrator": context.orchestrator,
        "trigger": context.trigger,
        "task": schema.task,
        "model.family": params.train.model,
        "primary_metric": primary,
    }
    registration = tracking.log_training_run(
        experiment_id=experiment_id,
        run_name=f"{params.train.model}-{md5[:8]}",
        params=tracking.flatten(params.model_dump(by_alias=True, exclude={"paths"})),
        metrics={
            f"{split_name}_{name}": value
            for split_name in ("valid", "test")
            for name, value in metrics[split_name].items()
        },
        tags=tags,
        model=model,
        example=train_frame[features].head(params.register_.input_example_rows),
        dataset=train_frame[[*features, schema.target]],
        dataset_source=str(data_path.resolve()),
        dataset_name=f"{data_path.name}@{md5[:8]}",
        target=schema.target,
        model_name=params.register_.resolved_model_name(params.ingest.path),
        artifacts={
            "reports": _path(root, params.paths.metrics),
            "data": _path(root, params.paths.schema_),
        },
    )
    aliases = tracking.assign_initial_aliases(registration.model_name, registration.version)
    record = {**registration.to_dict(), "aliases": list(aliases), "data_md5": md5}
    io.write_json(record, _path(root, params.paths.registration))
    return {"model": registration.model_name, "version": registration.version, "aliases": aliases}


STAGES: dict[str, Callable[[Path, Params, RunContext], Summary]] = {
    "ingest": ingest,
    "validate": validate,
    "split": split,
    "train": train,
    "evaluate": evaluate,
    "register": register,
}


def main(argv: list[str]) -> int:
    """``python -m flows.stages NAME``: run one stage, as ``dvc repro`` does."""
    from flows.runtime import apply_defaults, project_root

    apply_defaults()
    if len(argv) != 1 or argv[0] not in STAGES:
        print(f"usage: python -m flows.stages {{{'|'.join(STAGES)}}}", file=sys.stderr)
        return 2
    root = project_root()
    params = load_params(root / "params.yaml")
    try:
        summary = STAGES[argv[0]](root, params, RunContext())
    except ValueError as error:  # our steps raise ValueError subclasses with clear messages
        print(f"stage {argv[0]} failed: {error}", file=sys.stderr)
        return 1
    print(f"stage {argv[0]}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
