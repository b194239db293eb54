"""Batch scoring: ``mlops predict`` and the ``batch-predict`` Prefect flow.

A file is validated through the gate (the suite's feature checks), scored with the version the
alias points at (the champion), written with that version beside every row, recorded as an
MLflow run and appended to the inference log, where the monitor reads it like served traffic.
A batch that fails validation is quarantined and nothing is scored.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import load_model
from tasks.adapters import io
from tasks.clock import compact_stamp
from tasks.config import Params, load_params
from tasks.pipeline.gate import gate_batch
from tasks.pipeline.predict import (
    ScoredBatch,
    batch_markdown,
    check_output,
    default_output,
    job_run,
    log_entry,
    scored_table,
)
from tasks.types import ServedModel


@dataclass(frozen=True)
class BatchResult:
    """What a batch run wrote and which version scored it."""

    input: str
    output: str
    rows: int
    model_name: str
    model_version: str
    batch_id: str
    mlflow_run_id: str
    seconds: float
    summary: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@task(cache_policy=NO_CACHE, retries=0)
def validate_batch(root: Path, path: Path, params: Params) -> pd.DataFrame:
    """The gate, on a batch to score."""
    return gate_batch(root, path, params)


@task(cache_policy=NO_CACHE)
def score_batch(
    served: ServedModel, frame: pd.DataFrame, source: str, chunk_rows: int, probabilities: bool
) -> pd.DataFrame:
    """The predictions of every row, scored ``chunk_rows`` at a time."""
    from tasks.steps.predict import model_inputs, predictions_frame, score_frame

    inputs = model_inputs(served, frame, source)
    parts = []
    for start in range(0, len(inputs), chunk_rows):
        chunk = inputs.iloc[start : start + chunk_rows]
        labels, proba = score_frame(served, chunk)
        parts.append(predictions_frame(served, labels, proba, probabilities))
    return pd.concat(parts, ignore_index=True)


@task(cache_policy=NO_CACHE)
def record_batch(root: Path, params: Params, batch: ScoredBatch) -> str:
    """The batch's rows in the inference log and its MLflow run; returns the run id."""
    from tasks.adapters import inference_log, tracking

    written = inference_log.append(root / params.paths.inference_log, [log_entry(batch)])
    tracking.configure(root)
    experiment = params.register_.resolved_experiment(params.ingest.path)
    experiment_id = tracking.ensure_experiment(f"{experiment}-predictions", root)
    run = job_run(batch, params.predict.chunk_rows, written)
    return tracking.log_job_run(experiment_id=experiment_id, artifacts={}, **run)


@flow(name="batch-predict", log_prints=True)
def batch_predict_flow(
    input: str,
    output: str | None = None,
    project: str = ".",
    alias: str | None = None,
    force: bool = False,
) -> BatchResult:
    """Validate ``input``, score it with the ``alias`` version (``serve.alias``: the champion),
    write ``output`` (CSV or Parquet by its suffix) and record the run. An ``output`` onto the
    pipeline's data (data/raw, ingest.path, a DVC-tracked file) is refused unless ``force``."""
    root = Path(project).resolve()
    params = load_params(root / "params.yaml")
    path = Path(input)
    path = (path if path.is_absolute() else root / path).resolve()
    target = Path(output) if output else default_output(root, params, path)
    target = target if target.is_absolute() else root / target
    check_output(root, params, target, force)
    started = time.perf_counter()
    frame = validate_batch(root, path, params)
    served = load_model(params.model_name, alias or params.serve.alias)
    source = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    predictions = score_batch(
        served, frame, source, params.predict.chunk_rows, params.predict.probabilities
    )
    batch_id = f"batch-{compact_stamp()}-{uuid.uuid4().hex[:8]}"
    written = scored_table(frame, predictions, served, batch_id)
    io.write_table(written, target)
    seconds = time.perf_counter() - started
    batch = ScoredBatch(served, frame, predictions, path, target, batch_id, seconds)
    run_id = record_batch(root, params, batch)
    result = BatchResult(
        input=source,
        output=str(target),
        rows=len(written),
        model_name=served.model_name,
        model_version=served.version,
        batch_id=batch_id,
        mlflow_run_id=run_id,
        seconds=seconds,
        summary=batch.summary,
    )
    create_markdown_artifact(key="batch-predictions", markdown=batch_markdown(result, run_id))
    return result
