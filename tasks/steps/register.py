"""What the MLflow run of a training records, decided from the stage's inputs alone.

The register stage reads its files and asks git and DVC where the data came from; this step
turns those facts into the run's name, params, metrics and tags and the registered version's
tags (:class:`RunDescription`), with no IO, so each rule is unit-tested on tiny inputs. The
tracking adapter then logs exactly that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tasks.config import Params
from tasks.records import TuningRecord, ValidationRecord


@dataclass(frozen=True)
class Provenance:
    """Where a training run comes from: its data version, code version, params and trigger."""

    data_path: str
    data_md5: str
    data_tracked: bool
    commit: str
    dirty: bool
    params_sha256: str
    flow_run_id: str
    orchestrator: str
    trigger: str
    drift_report: str


@dataclass(frozen=True)
class RunDescription:
    """The MLflow run of one training and the tags of the version it registers."""

    run_name: str
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    version_tags: dict[str, str]


def fingerprint(model_bytes: bytes, data_md5: str) -> str:
    """The same model bytes from the same data: one registered version, found again by this."""
    return hashlib.sha256(model_bytes + data_md5.encode()).hexdigest()[:32]


def params_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"seed": 1}}`` -> ``{"train.seed": 1}`` (lists kept as values)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def run_name(tuning: TuningRecord, data_md5: str) -> str:
    """``<family>-<md5[:8]>``, or ``tune-<method>-<family>-<md5[:8]>`` for a search."""
    if tuning.method == "none":
        return f"{tuning.family}-{data_md5[:8]}"
    return f"tune-{tuning.method}-{tuning.family}-{data_md5[:8]}"


def run_params(params: Params, tuning: TuningRecord) -> dict[str, Any]:
    """Every param but the paths, and only the chosen family's hyperparameters (the other
    families' are noise here), plus the search's best when there was one."""
    chosen = {tuning.family: params.models.family(tuning.family).model_dump()}
    best = {"best": (tuning.model_extra or {})["best_params"]} if tuning.method != "none" else {}
    return flatten(
        {
            **params.model_dump(by_alias=True, exclude={"paths", "models"}),
            "models": chosen,
            **best,
        }
    )


def run_metrics(metrics: Mapping[str, Any], tuning: TuningRecord) -> dict[str, float]:
    """Each split's metrics as ``<split>_<name>``, and what training kept and changed."""
    training = tuning.training
    return {
        **{
            f"{split}_{name}": value
            for split in ("valid", "test")
            for name, value in metrics[split].items()
        },
        **{f"train_{k}": float(v) for k, v in training["rows"].items()},
        "train_clipped_values": float(sum(training["clipped_values"].values())),
        "train_dropped_columns": float(len(training["dropped_columns"])),
    }


def describe_run(
    params: Params,
    task: str,
    primary: str,
    validation: ValidationRecord,
    tuning: TuningRecord,
    metrics: Mapping[str, Any],
    source: Provenance,
    version_fingerprint: str,
) -> RunDescription:
    """The run's name, params, metrics and tags, and the new version's tags."""
    tags = {
        "data.path": source.data_path,
        "data.dvc_md5": source.data_md5,
        "data.dvc_tracked": str(source.data_tracked).lower(),
        "git.commit": source.commit,
        "git.dirty": str(source.dirty).lower(),
        "prefect.flow_run_id": source.flow_run_id,
        "orchestrator": source.orchestrator,
        "trigger": source.trigger,
        "trigger.drift_report": source.drift_report,
        "params.sha256": source.params_sha256,
        "task": task,
        "model.family": tuning.family,
        "tune.method": tuning.method,
        "tune.trials": str(len(tuning.trials)),
        "primary_metric": primary,
        "validation.success": str(validation.success).lower(),
        "validation.suite": validation.suite,
        "validation.warnings": str(len(validation.warnings)),
    }
    version_tags = {
        "fingerprint": version_fingerprint,
        **{
            key: tags[key]
            for key in (
                "data.path",
                "data.dvc_md5",
                "git.commit",
                "params.sha256",
                "validation.success",
                "validation.suite",
                "trigger",
                "trigger.drift_report",
            )
        },
    }
    return RunDescription(
        run_name=run_name(tuning, source.data_md5),
        params=run_params(params, tuning),
        metrics=run_metrics(metrics, tuning),
        tags=tags,
        version_tags=version_tags,
    )
