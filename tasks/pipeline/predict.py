"""Batch scoring's work apart from Prefect: the scored table written out, the inference-log
entry of the batch and the description of its MLflow run (flows/batch.py wires them)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tasks.clock import compact_stamp
from tasks.config import Params
from tasks.jsonsafe import plain
from tasks.types import ServedModel

if TYPE_CHECKING:
    from tasks.adapters.inference_log import Prediction


@dataclass(frozen=True)
class ScoredBatch:
    """One batch scored: the model, the rows read, its answers, where they came from and went."""

    served: ServedModel
    frame: pd.DataFrame
    predictions: pd.DataFrame
    path: Path
    output: Path
    batch_id: str
    seconds: float
    summary: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", _summary(self.served, self.predictions))


def records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
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


class OutputRefused(ValueError):
    """A predictions file that would overwrite the pipeline's own data."""


def _tracked_by_dvc(root: Path, target: Path) -> Path | None:
    """The ``.dvc`` pointer that tracks ``target`` (its own or a folder's above it, up to the
    project), or None."""
    if not target.is_relative_to(root):
        return None
    for node in (target, *target.parents):
        if node == root:
            break
        pointer = node.with_name(node.name + ".dvc")
        if pointer.is_file():
            return pointer
    return None


def check_output(root: Path, params: Params, target: Path, force: bool = False) -> None:
    """Refuse to write predictions onto the pipeline's inputs: anything under ``paths.raw``,
    the active data set's file (``ingest.path``), a DVC-tracked file, or a stage's data output
    (``paths.validated``, ``ingested``, ``train``, ``valid``, ``test``), unless ``force``."""
    if force:
        return
    where, base = target.resolve(), root.resolve()
    stage_data = {
        f"paths.{key}": getattr(params.paths, key)
        for key in ("validated", "ingested", "train", "valid", "test")
    }
    named = {"ingest.path": params.ingest.path, **stage_data}
    reason = next(
        (f"it is {key} ({value})" for key, value in named.items() if where == base / value),
        None,
    )
    if reason is None and where.is_relative_to(base / params.paths.raw):
        reason = f"it is under paths.raw ({params.paths.raw}), the immutable raw data"
    pointer = _tracked_by_dvc(base, where) if reason is None else None
    if pointer is not None:
        reason = f"it is tracked by DVC ({pointer.name})"
    if reason is not None:
        raise OutputRefused(
            f"output {target}: refused: {reason}; predictions are not written over the "
            "pipeline's data (mlops predict --force, or the batch-predict flow's force=True, "
            "writes there anyway)"
        )


def default_output(root: Path, params: Params, path: Path) -> Path:
    """Where predictions go without ``--output``: ``paths.predictions_dir/<name>-<time>.csv``."""
    return root / params.paths.predictions_dir / f"{path.stem}-{compact_stamp()}.csv"


def scored_table(
    frame: pd.DataFrame, predictions: pd.DataFrame, served: ServedModel, batch_id: str
) -> pd.DataFrame:
    """The rows read, their predictions, and which version answered each (request_id, row: the
    keys a label file joins on)."""
    keys = pd.DataFrame(
        {
            "model_name": served.model_name,
            "model_version": served.version,
            "request_id": batch_id,
            "row": range(len(frame)),
        }
    )
    return pd.concat([frame.reset_index(drop=True), predictions, keys], axis=1)


def log_entry(batch: ScoredBatch) -> Prediction:
    """The batch as one entry of the inference log (the monitor reads it like served traffic)."""
    from tasks.adapters import inference_log

    served, predictions = batch.served, batch.predictions
    features = [c.name for c in served.columns]
    probability_columns = [c for c in predictions.columns if c.startswith("probability_")]
    return inference_log.Prediction(
        time=inference_log.now(),
        request_id=batch.batch_id,
        model_name=served.model_name,
        model_version=served.version,
        role="champion",
        answered=True,
        source=f"batch:{batch.path.name}",
        latency_ms=None,
        features=records(batch.frame, features),
        predictions=predictions["prediction"].tolist(),
        probabilities=predictions[probability_columns].to_numpy().tolist()
        if probability_columns
        else None,
    )


def job_run(batch: ScoredBatch, chunk_rows: int, logged_rows: int) -> dict[str, Any]:
    """The batch's MLflow run: its name, params, metrics and tags."""
    served, rows, seconds = batch.served, len(batch.predictions), batch.seconds
    return {
        "run_name": f"predict-{batch.path.stem}-v{served.version}",
        "params": {
            "input": str(batch.path),
            "output": str(batch.output),
            "model_name": served.model_name,
            "model_version": served.version,
            "chunk_rows": chunk_rows,
        },
        "metrics": {
            "rows": float(rows),
            "seconds": seconds,
            "rows_per_second": rows / seconds if seconds > 0 else 0.0,
            "logged_rows": float(logged_rows),
            **batch.summary,
        },
        "tags": {
            "mlops.kind": "batch_predict",
            "batch_id": batch.batch_id,
            "input.md5": hashlib.md5(batch.path.read_bytes()).hexdigest(),
            "model.run_id": served.run_id,
            "model.data_md5": served.data_md5,
            "validation.success": "true",
        },
    }


def batch_markdown(result: Any, run_id: str) -> str:
    """The Prefect artifact of a batch run."""
    return (
        f"# Batch scored: {result.input}\n\n{result.rows} rows scored by **{result.model_name}** "
        f"version **{result.model_version}** into `{result.output}` in {result.seconds:.1f} s."
        f"\n\nBatch id `{result.batch_id}` (the inference log's request_id; join labels by it "
        f"and `row`). MLflow run `{run_id}`.\n\n"
        + "\n".join(f"- {k}: {v:.4f}" for k, v in result.summary.items())
    )
