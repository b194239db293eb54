"""Batch scoring: ``mlops predict`` and the ``batch-predict`` Prefect flow.

A file is validated through the gate (the suite's feature checks), scored with the version the
alias points at (the champion), written with that version beside every row, recorded as an
MLflow run and appended to the inference log, where the monitor reads it like served traffic.
A batch that fails validation is quarantined and nothing is scored.
"""

from __future__ import annotations

import hashlib
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
from tasks.jsonsafe import plain
from tasks.pipeline.gate import gate_batch
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


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values (JSON null in the log)."""
    chosen = frame.reindex(columns=columns)
    return [plain(row) for row in chosen.to_dict(orient="records")]


def _summary(served: ServedModel, predictions: pd.DataFrame) -> dict[str, float]:
    """What the monitor would want at a glance: the share of each class, or the mean value."""
    column = predictions["prediction"]
    if served.task == "regression":
        return {"prediction_mean": float(column.mean()), "prediction_std": float(column.std())}
    shares = column.value_counts(normalize=True)
    return {f"share_{label}": float(shares.get(label, 0.0)) for label in served.classes}


@task(cache_policy=NO_CACHE)
def record_batch(  # noqa: PLR0913  (debt: the batch record's fields, to become one record)
    root: Path,
    params: Params,
    served: ServedModel,
    frame: pd.DataFrame,
    predictions: pd.DataFrame,
    path: Path,
    output: Path,
    batch_id: str,
    seconds: float,
    summary: dict[str, float],
) -> str:
    """The MLflow run of the batch and its rows in the inference log; returns the run id."""
    from tasks.adapters import inference_log, tracking

    features = [c.name for c in served.columns]
    probability_columns = [c for c in predictions.columns if c.startswith("probability_")]
    log = inference_log.Prediction(
        time=inference_log.now(),
        request_id=batch_id,
        model_name=served.model_name,
        model_version=served.version,
        role="champion",
        answered=True,
        source=f"batch:{path.name}",
        latency_ms=None,
        features=_records(frame, features),
        predictions=predictions["prediction"].tolist(),
        probabilities=predictions[probability_columns].to_numpy().tolist()
        if probability_columns
        else None,
    )
    written = inference_log.append(root / params.paths.inference_log, [log])
    tracking.configure(root)
    experiment = params.register_.resolved_experiment(params.ingest.path)
    experiment_id = tracking.ensure_experiment(f"{experiment}-predictions", root)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    return tracking.log_job_run(
        experiment_id=experiment_id,
        run_name=f"predict-{path.stem}-v{served.version}",
        params={
            "input": str(path),
            "output": str(output),
            "model_name": served.model_name,
            "model_version": served.version,
            "chunk_rows": params.predict.chunk_rows,
        },
        metrics={
            "rows": float(len(predictions)),
            "seconds": seconds,
            "rows_per_second": len(predictions) / seconds if seconds > 0 else 0.0,
            "logged_rows": float(written),
            **summary,
        },
        tags={
            "mlops.kind": "batch_predict",
            "batch_id": batch_id,
            "input.md5": md5,
            "model.run_id": served.run_id,
            "model.data_md5": served.data_md5,
            "validation.success": "true",
        },
        artifacts={},
    )


def default_output(root: Path, params: Params, path: Path) -> Path:
    stamp = compact_stamp()
    return root / params.paths.predictions_dir / f"{path.stem}-{stamp}.csv"


@flow(name="batch-predict", log_prints=True)
def batch_predict_flow(
    input: str, output: str | None = None, project: str = ".", alias: str | None = None
) -> BatchResult:
    """Validate ``input``, score it with the ``alias`` version (``serve.alias``: the champion),
    write ``output`` (CSV or Parquet by its suffix) and record the run."""
    root = Path(project).resolve()
    params = load_params(root / "params.yaml")
    path = Path(input)
    path = (path if path.is_absolute() else root / path).resolve()
    target = Path(output) if output else default_output(root, params, path)
    target = target if target.is_absolute() else root / target
    started = time.perf_counter()
    frame = validate_batch(root, path, params)
    model_name = params.register_.resolved_model_name(params.ingest.path)
    served = load_model(model_name, alias or params.serve.alias)
    source = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    predictions = score_batch(
        served, frame, source, params.predict.chunk_rows, params.predict.probabilities
    )
    batch_id = f"batch-{compact_stamp()}-{uuid.uuid4().hex[:8]}"
    written = pd.concat(
        [
            frame.reset_index(drop=True),
            predictions,
            pd.DataFrame(
                {
                    "model_name": served.model_name,
                    "model_version": served.version,
                    "request_id": batch_id,
                    "row": range(len(frame)),
                }
            ),
        ],
        axis=1,
    )
    io.write_table(written, target)
    seconds = time.perf_counter() - started
    summary = _summary(served, predictions)
    run_id = record_batch(
        root, params, served, frame, predictions, path, target, batch_id, seconds, summary
    )
    result = BatchResult(
        input=source,
        output=str(target),
        rows=len(written),
        model_name=served.model_name,
        model_version=served.version,
        batch_id=batch_id,
        mlflow_run_id=run_id,
        seconds=seconds,
        summary=summary,
    )
    create_markdown_artifact(
        key="batch-predictions",
        markdown=(
            f"# Batch scored: {source}\n\n{result.rows} rows scored by **{served.model_name}** "
            f"version **{served.version}** into `{target}` in {seconds:.1f} s.\n\n"
            f"Batch id `{batch_id}` (the inference log's request_id; join labels by it and "
            f"`row`). MLflow run `{run_id}`.\n\n"
            + "\n".join(f"- {k}: {v:.4f}" for k, v in result.summary.items())
        ),
    )
    return result
