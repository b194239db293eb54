"""The ``register`` stage of dvc.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.adapters import io
from tasks.config import Params
from tasks.pipeline.common import (
    RunContext,
    Summary,
    load_schema,
    path_in,
    read_record,
    write_record,
)
from tasks.records import RegistrationRecord, TuningRecord, ValidationRecord
from tasks.steps import register as run
from tasks.steps.compile import RUNTIME_TAG


def register(root: Path, params: Params, context: RunContext) -> Summary:
    """Log the run to MLflow and register the model; new versions are challengers."""
    from tasks.adapters import registry, tracking, versioning
    from tasks.steps.evaluate import primary_metric
    from tasks.steps.features import FEATURE_TRUSTED_TYPES
    from tasks.steps.models import MODEL_TRUSTED_TYPES

    schema = load_schema(root, params)
    metrics = io.read_json(path_in(root, params.paths.metrics))
    validation = read_record(path_in(root, params.paths.validation), ValidationRecord)
    model = io.load_model(path_in(root, params.paths.model), registry.reviewed_types())
    tuning = read_record(path_in(root, params.paths.tuning), TuningRecord)
    train_frame = io.read_frame(path_in(root, params.paths.train))
    data_path = path_in(root, params.ingest.path)
    md5, tracked = versioning.data_version(root, data_path)
    primary = primary_metric(params.evaluate, schema.task)
    tracking.configure(root)
    model_name = params.register_.resolved_model_name(params.ingest.path)
    # The same model bytes from the same data: the version that holds them is the answer.
    fingerprint = run.fingerprint(path_in(root, params.paths.model).read_bytes(), md5)
    existing = tracking.find_version(model_name, fingerprint)
    if existing is not None:
        tags = registry.version_info(model_name, existing.version).tags
        sealed = registry.MODEL_SHA256_TAG in tags
        runtime = tags.get(RUNTIME_TAG)
        if runtime is None:  # registered before compiling, or killed before it
            runtime = _compile(
                root, params, model, schema.task, model_name, existing.version,
                existing.run_id,
            )  # fmt: skip
        if not sealed:  # a registration killed before its checksum: finish it as it would have
            registry.seal_version(model_name, existing.version)
            registry.move_alias(model_name, registry.CHALLENGER, existing.version)
        record = RegistrationRecord(
            model_name=model_name,
            version=existing.version,
            fingerprint=fingerprint,
            data_md5=md5,
        )
        write_record(record, path_in(root, params.paths.registration))
        return {
            "model": model_name,
            "version": existing.version,
            "reused": True,
            "finished": not sealed,
            "runtime": runtime,
        }
    experiment_id = tracking.ensure_experiment(
        params.register_.resolved_experiment(params.ingest.path), root
    )
    features = list(schema.features)
    source = run.Provenance(
        data_path=params.ingest.path,
        data_md5=md5,
        data_tracked=tracked,
        commit=versioning.git_commit(root),
        dirty=versioning.git_is_dirty(root),
        params_sha256=run.params_sha256((root / "params.yaml").read_text(encoding="utf-8")),
        flow_run_id=context.flow_run_id or "",
        orchestrator=context.orchestrator,
        trigger=context.trigger,
        drift_report=context.drift_report or "",
    )
    described = run.describe_run(
        params, schema.task, primary, validation, tuning, metrics, source, fingerprint
    )
    registration = tracking.log_training_run(
        experiment_id=experiment_id,
        run_name=described.run_name,
        params=described.params,
        metrics=described.metrics,
        tags=described.tags,
        model=model,
        example=train_frame[features].head(params.register_.input_example_rows),
        dataset=train_frame[[*features, schema.target]],
        dataset_source=str(data_path.resolve()),
        dataset_name=f"{data_path.name}@{md5[:8]}",
        target=schema.target,
        model_name=model_name,
        version_tags=described.version_tags,
        trials=tuning.trials,
        primary=primary,
        trusted_types=(*FEATURE_TRUSTED_TYPES, *MODEL_TRUSTED_TYPES),
        artifacts={
            "config": root / "params.yaml",
            "tuning": path_in(root, params.paths.tuning),
            "plots": path_in(root, params.paths.plots),
            "reports": path_in(root, params.paths.metrics),
            "validation": path_in(root, params.paths.validation),
            "data": path_in(root, params.paths.schema_),
        },
    )
    # Every later load checks the model file against this checksum (tasks/adapters/registry).
    registry.seal_version(registration.model_name, registration.version)
    # The compiled graph and its parity, before the version becomes the challenger.
    compiled = _compile(
        root, params, model, schema.task, registration.model_name, registration.version,
        registration.run_id,
    )  # fmt: skip
    # A new version is the challenger; only the promote stage's gate can make it champion.
    registry.move_alias(registration.model_name, registry.CHALLENGER, registration.version)
    record = RegistrationRecord(
        model_name=registration.model_name,
        version=registration.version,
        fingerprint=fingerprint,
        data_md5=md5,
    )
    write_record(record, path_in(root, params.paths.registration))
    return {
        "model": registration.model_name,
        "version": registration.version,
        "runtime": compiled,
    }


def _compile(
    root: Path,
    params: Params,
    model: Any,
    task: str,
    model_name: str,
    version: str,
    run_id: str,
) -> str:
    """Compile ``model`` to ONNX, check parity on the test split, and record the outcome on
    the version (its tags say why when it is not usable); returns the ``runtime.onnx`` tag.
    A model that cannot be converted is a tag, never a failed registration."""
    from tasks.adapters import registry
    from tasks.steps.compile import compile_pipeline

    schema = load_schema(root, params)
    test = io.read_frame(path_in(root, params.paths.test))
    result = compile_pipeline(model, test[list(schema.features)], task, params.evaluate.threshold)
    registry.attach_compiled(model_name, version, run_id, result.onnx, result.tags())
    return result.tags()[RUNTIME_TAG]
