"""The pipeline's stages: where files are read and written, around the pure steps in tasks/.

``dvc.yaml`` runs each stage as ``python -m flows.stages NAME``; the Prefect training flow calls
the same functions in-process. Either way a stage reads its deps and writes its outs at the
paths in ``params.paths``, so ``dvc repro`` and the flow produce the same files.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import io
from tasks.config import Params, load_params
from tasks.ingest import TableSchema, ingest_table

if TYPE_CHECKING:
    import pandas as pd

    from tasks.validate import ValidationFailed, ValidationReport

Summary = dict[str, Any]


@dataclass(frozen=True)
class RunContext:
    """Who runs the pipeline: recorded as tags on the MLflow run."""

    flow_run_id: str | None = None
    trigger: str = "manual"  # manual | schedule | drift
    orchestrator: str = "dvc"
    drift_report: str | None = None  # for trigger "drift": the id of the report that caused it
    actor: str | None = None  # who moves aliases: user:<login>, schedule, drift:<report id>

    def resolved_actor(self) -> str:
        """``actor``, or one derived from the trigger."""
        if self.actor:
            return self.actor
        if self.trigger == "drift":
            return f"drift:{self.drift_report or 'unknown'}"
        if self.trigger == "schedule":
            return "schedule"
        from flows.promotion import user_actor

        return user_actor()


def _path(root: Path, relative: str) -> Path:
    return root / relative


def _schema(root: Path, params: Params) -> TableSchema:
    return TableSchema.from_dict(io.read_json(_path(root, params.paths.schema_)))


def suite_path(root: Path, params: Params) -> Path:
    """Where the data set's expectation suite lives (GE 1.x file-context layout)."""
    from tasks.validation import CONTEXT_DIR

    name = params.validate_.resolved_suite(params.ingest.path)
    return root / CONTEXT_DIR / "expectations" / f"{name}.json"


def profile_file(source: Path, params: Params) -> dict[str, Any]:
    """The suite of the data set whose first file is ``source``, for a person to review.

    The file is read exactly as the gate will read every later batch: the missing-value
    tokens it uses are found first, then each column's type, then the typed table is
    profiled, so the suite accepts the file it was profiled from.
    """
    from tasks.expectations import column_types, find_missing_tokens, profile_suite
    from tasks.ingest import infer_schema

    size = params.validate_.sample_size
    cells, problems = io.read_batch(source, {}, size)
    if cells is None:
        raise io.TableReadError("; ".join(p.message for p in problems))
    missing = find_missing_tokens(cells, params.validate_.missing_tokens)
    declared = column_types(cells, missing, params.ingest.numeric, params.ingest.categorical)
    frame, problems = io.read_batch(source, declared, size, missing)
    if frame is None or problems:
        raise io.TableReadError(
            f"{source.name}: cannot be read as its own columns' types: "
            + "; ".join(p.message for p in problems)
        )
    schema, _ = infer_schema(frame, params.ingest)
    return profile_suite(frame, schema, params.validate_.suite, params.validate_, missing)


def init_suite(root: Path, params: Params, data: Path | None = None) -> Path:
    """Profile ``data`` (default: the training data) into the suite, for a person to review."""
    path = suite_path(root, params)
    io.write_json(profile_file(data or _path(root, params.ingest.path), params), path)
    return path


def _header(path: Path) -> list[str]:
    """The column names of a table file ([] when it cannot be read: the read reports why)."""
    try:
        fmt = io.table_format(path)
        if fmt.kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        header, _ = io.csv_header(path, fmt)
        return header or []
    except Exception:  # unreadable: read_batch says why
        return []


def check_batch(
    root: Path, path: Path, params: Params, scoring: bool = False
) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Read ``path`` with the suite's types and validate it: reading, schema, expectations.

    ``scoring``: a batch to score, checked by the suite's feature checks only (the target
    column may be absent; it is read and left unchecked when present). Any exception inside
    validation is a failed report, never a pass.
    """
    from tasks.expectations import declared_types, missing_values, scoring_suite
    from tasks.validate import Failure, build_report, check_columns
    from tasks.validation import run_suite

    suite = io.read_json(suite_path(root, params))
    target = suite["meta"].get("target")
    ids = list(suite["meta"].get("id_columns", []))
    if scoring:  # the ID columns are optional: checked when the batch has them
        suite = scoring_suite(suite, [c for c in ids if c not in _header(path)])
    declared = declared_types(suite)
    size = params.validate_.sample_size
    source = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        frame, problems = io.read_batch(path, declared, size, missing_values(suite))
    except Exception as error:  # a crash while reading is a failure, never a pass
        crash = Failure("read_error", None, f"{path.name}: reading crashed: {error!r}")
        return None, build_report(source, suite, 0, [], [crash], [])
    if frame is None:
        return None, build_report(source, suite, 0, problems, [], [])
    columns = [str(c) for c in frame.columns]
    if scoring:
        expected = [c for c in declared if c not in (target, *ids) or c in columns]
        schema = check_columns(columns, expected, None)
    else:
        schema = check_columns(columns, list(declared), target)
    if schema:
        return frame, build_report(source, suite, len(frame), problems, schema, [])
    try:
        outcomes = run_suite(frame, suite, size)
    except Exception as error:  # a crash inside validation is a failure, never a pass
        crash = Failure("validation_error", None, f"validation crashed: {error!r}")
        return frame, build_report(source, suite, len(frame), problems, [crash], [])
    return frame, build_report(source, suite, len(frame), problems, [], outcomes)


def _gate_failed(
    root: Path, path: Path, params: Params, frame: pd.DataFrame | None, report: ValidationReport
) -> ValidationFailed:
    """Set the failed batch aside, rebuild Data Docs, record the result; return the error."""
    from datetime import UTC, datetime

    from tasks import tracking
    from tasks.validate import ValidationFailed
    from tasks.validation import build_data_docs

    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    note = (
        f"# Quarantined: {report.source}\n\nValidated against suite '{report.suite}' at {when}; "
        f"{len(report.errors)} rule(s) failed:\n\n"
        + "\n".join(f"- {f.message}" for f in report.errors)
        + "\n\nThe input file was left where it was. Fix it or the suite, then run again.\n"
    )
    folder = io.quarantine(
        path, report.to_dict(), note, _path(root, params.validate_.quarantine_dir), when
    )
    lines = [f"quarantined: {folder.relative_to(root)}/"]
    if frame is not None:
        try:
            docs = build_data_docs(root, frame, io.read_json(suite_path(root, params)))
            lines.append(f"data docs: {docs}")
        except Exception as error:  # the docs are a courtesy; the verdict stands
            lines.append(f"data docs could not be built: {error!r}")
    try:
        tracking.configure(root)
        run_id = tracking.log_validation(
            experiment=params.register_.resolved_experiment(params.ingest.path),
            root=root,
            report=report.to_dict(),
            report_path=folder / "validation.json",
        )
        lines.append(f"mlflow run: {run_id} (tag validation.success=false)")
    except Exception as error:  # MLflow down must not hide the verdict or the quarantine
        lines.append(f"mlflow could not record the failure: {error!r}")
    return ValidationFailed(report, "\n".join(lines))


def validate(root: Path, params: Params, context: RunContext) -> Summary:
    """The gate: validate the raw batch before anything else reads it. On failure the batch is
    quarantined with its report, Data Docs are rebuilt, MLflow records it, and the stage raises
    so that nothing downstream runs."""
    path = _path(root, params.ingest.path)
    if not suite_path(root, params).is_file():
        created = init_suite(root, params)
        print(f"no suite for {params.ingest.path}: profiled one into {created}; review it")
    frame, report = check_batch(root, path, params)
    if not report.success or frame is None:
        raise _gate_failed(root, path, params, frame, report)
    io.write_frame(frame, _path(root, params.paths.validated))
    io.write_json(report.to_dict(), _path(root, params.paths.validation))
    return {"success": True, "checks": report.checks, "warnings": len(report.warnings)}


def ingest(root: Path, params: Params, context: RunContext) -> Summary:
    """Type the validated table, drop unlabeled rows; write the table, schema and report."""
    from tasks.evaluate import check_success_definition, primary_metric

    raw = io.read_frame(_path(root, params.paths.validated))
    frame, schema, report = ingest_table(raw, params.ingest)
    # the success definition must fit the task found here, long before the gate judges
    primary = primary_metric(params.evaluate, schema.task)
    check_success_definition(schema.task, primary, params.promote.floors, params.dataset)
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
    """Fit ``train.model`` on the training split, or search ``tune.families`` with
    ``tune.method`` (the validation split picks the winner); save it and the trials."""
    from tasks.evaluate import primary_metric
    from tasks.train import describe_fit, fit_pipeline, training_rows

    frame = io.read_frame(_path(root, params.paths.train))
    schema = _schema(root, params)
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
        from tasks.tune import search

        rows, counts = training_rows(frame, schema, params.features, params.train.seed)
        result = search(
            rows,
            io.read_frame(_path(root, params.paths.valid)),
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
    from tasks.tune import leaderboard_frame

    io.write_csv(leaderboard_frame(tuning), _path(root, params.paths.leaderboard))
    io.save_model(fitted.model, _path(root, params.paths.model))
    io.write_json({**tuning, "training": fitted.report()}, _path(root, params.paths.tuning))
    return {
        "model": tuning["family"],
        "method": tuning["method"],
        "trials": len(tuning["trials"]),
        "rows": fitted.rows["rows_out"],
    }


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
    from tasks.plots import figures_for, save_figures

    figures = figures_for(
        test,
        model,
        io.read_frame(_path(root, params.paths.valid)),
        schema,
        primary=primary,
        repeats=params.evaluate.importance_repeats,
        seed=params.train.seed,
        bins=params.evaluate.calibration_bins,
        top=params.evaluate.importance_top,
    )
    save_figures(figures, _path(root, params.paths.plots))
    return {f"{s}_{primary}": round(r.metrics[primary], 4) for s, r in results.items()}


def register(root: Path, params: Params, context: RunContext) -> Summary:
    """Log the run to MLflow and register the model; new versions are challengers."""
    from tasks import registry, tracking, versioning
    from tasks.evaluate import primary_metric
    from tasks.features import FEATURE_TRUSTED_TYPES
    from tasks.models import MODEL_TRUSTED_TYPES

    schema = _schema(root, params)
    metrics = io.read_json(_path(root, params.paths.metrics))
    validation = io.read_json(_path(root, params.paths.validation))
    model = io.load_model(_path(root, params.paths.model))
    tuning = io.read_json(_path(root, params.paths.tuning))
    train_frame = io.read_frame(_path(root, params.paths.train))
    data_path = _path(root, params.ingest.path)
    md5, tracked = versioning.data_version(root, data_path)
    primary = primary_metric(params.evaluate, schema.task)
    tracking.configure(root)
    model_name = params.register_.resolved_model_name(params.ingest.path)
    # The same model bytes from the same data: the version that holds them is the answer.
    fingerprint = hashlib.sha256(
        _path(root, params.paths.model).read_bytes() + md5.encode()
    ).hexdigest()[:32]
    existing = tracking.find_version(model_name, fingerprint)
    if existing is not None:
        io.write_json(
            {**existing.to_dict(), "data_md5": md5}, _path(root, params.paths.registration)
        )
        return {"model": model_name, "version": existing.version, "reused": True}
    experiment_id = tracking.ensure_experiment(
        params.register_.resolved_experiment(params.ingest.path), root
    )
    features = list(schema.features)
    commit = versioning.git_commit(root)
    params_text = (root / "params.yaml").read_text(encoding="utf-8")
    params_hash = hashlib.sha256(params_text.encode()).hexdigest()
    tags = {
        "data.path": params.ingest.path,
        "data.dvc_md5": md5,
        "data.dvc_tracked": str(tracked).lower(),
        "git.commit": commit,
        "git.dirty": str(versioning.git_is_dirty(root)).lower(),
        "prefect.flow_run_id": context.flow_run_id or "",
        "orchestrator": context.orchestrator,
        "trigger": context.trigger,
        "trigger.drift_report": context.drift_report or "",
        "params.sha256": params_hash,
        "task": schema.task,
        "model.family": tuning["family"],
        "tune.method": tuning["method"],
        "tune.trials": str(len(tuning["trials"])),
        "primary_metric": primary,
        "validation.success": str(validation["success"]).lower(),
        "validation.suite": str(validation["suite"]),
        "validation.warnings": str(sum(f["severity"] == "warn" for f in validation["failures"])),
    }
    registration = tracking.log_training_run(
        experiment_id=experiment_id,
        run_name=(
            f"{tuning['family']}-{md5[:8]}"
            if tuning["method"] == "none"
            else f"tune-{tuning['method']}-{tuning['family']}-{md5[:8]}"
        ),
        params=tracking.flatten(
            {
                **params.model_dump(by_alias=True, exclude={"paths", "models"}),
                # the chosen family's own hyperparameters only: the other eight are noise here
                "models": {tuning["family"]: params.models.family(tuning["family"]).model_dump()},
                **({"best": tuning["best_params"]} if tuning["method"] != "none" else {}),
            }
        ),
        metrics={
            **{
                f"{split_name}_{name}": value
                for split_name in ("valid", "test")
                for name, value in metrics[split_name].items()
            },
            **{f"train_{k}": float(v) for k, v in tuning["training"]["rows"].items()},
            "train_clipped_values": float(sum(tuning["training"]["clipped_values"].values())),
            "train_dropped_columns": float(len(tuning["training"]["dropped_columns"])),
        },
        tags=tags,
        model=model,
        example=train_frame[features].head(params.register_.input_example_rows),
        dataset=train_frame[[*features, schema.target]],
        dataset_source=str(data_path.resolve()),
        dataset_name=f"{data_path.name}@{md5[:8]}",
        target=schema.target,
        model_name=model_name,
        version_tags={
            "fingerprint": fingerprint,
            "data.path": params.ingest.path,
            "data.dvc_md5": md5,
            "git.commit": commit,
            "params.sha256": params_hash,
            "validation.success": tags["validation.success"],
            "validation.suite": tags["validation.suite"],
            "trigger": context.trigger,
            "trigger.drift_report": context.drift_report or "",
        },
        trials=tuning["trials"],
        primary=primary,
        trusted_types=(*FEATURE_TRUSTED_TYPES, *MODEL_TRUSTED_TYPES),
        artifacts={
            "config": root / "params.yaml",
            "tuning": _path(root, params.paths.tuning),
            "plots": _path(root, params.paths.plots),
            "reports": _path(root, params.paths.metrics),
            "validation": _path(root, params.paths.validation),
            "data": _path(root, params.paths.schema_),
        },
    )
    # A new version is the challenger; only the promote stage's gate can make it champion.
    registry.move_alias(registration.model_name, registry.CHALLENGER, registration.version)
    record = {**registration.to_dict(), "aliases": [registry.CHALLENGER], "data_md5": md5}
    io.write_json(record, _path(root, params.paths.registration))
    return {"model": registration.model_name, "version": registration.version}


def promote(root: Path, params: Params, context: RunContext) -> Summary:
    """The promotion gate for the version just registered: promoted, refused or pending.

    A version already judged against the current champion is not judged again (the flow and
    ``dvc repro`` may both reach this stage with nothing new)."""
    from flows.promotion import model_name
    from flows.promotion import promote as run_gate
    from tasks import registry, tracking

    record = io.read_json(_path(root, params.paths.registration))
    version = str(record["version"])
    tracking.configure(root)
    name = model_name(params)
    champion = registry.alias_version(name, registry.CHAMPION)
    tags = registry.version_info(name, version).tags
    if champion == version or (
        "gate.decision" in tags and tags.get("gate.against") == (champion or "none")
    ):
        state = "champion" if champion == version else tags["gate.decision"]
        summary = {"version": version, "decision": state, "champion": champion, "judged": False}
        io.write_json(summary, _path(root, params.paths.promotion))
        return summary
    outcome, _ = run_gate(root, params, version, actor=context.resolved_actor())
    io.write_json(outcome.to_dict(), _path(root, params.paths.promotion))
    return {
        "version": version,
        "decision": outcome.event,
        "champion": outcome.champion_after,
        "judged": True,
    }


STAGES: dict[str, Callable[[Path, Params, RunContext], Summary]] = {
    "validate": validate,
    "ingest": ingest,
    "split": split,
    "train": train,
    "evaluate": evaluate,
    "register": register,
    "promote": promote,
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
