"""The register stage's decisions, on tiny inputs: what the MLflow run of a training and the
version it registers record (tasks/steps/register.py)."""

from __future__ import annotations

from pathlib import Path

from tasks.config import load_params
from tasks.records import TuningRecord, ValidationRecord
from tasks.steps.register import Provenance, describe_run, fingerprint, run_name

REPO = Path(__file__).resolve().parents[2]
PARAMS = load_params(REPO / "params.yaml")
VALIDATION = ValidationRecord(
    source="data/raw/customer-purchase/customer-purchase.csv",
    suite="customer-purchase",
    rows=10,
    checks=3,
    success=True,
    failures=[
        {
            "rule": "scale",
            "column": "pages_viewed",
            "message": "2 values above 80",
            "severity": "warn",
            "count": 2,
            "percent": 20.0,
            "sample": [81, 99],
            "rows": [1, 2],
        }
    ],
)
TRAINING = {
    "rows": {"rows_in": 8, "rows_out": 8},
    "clipped_values": {"a": 2, "b": 1},
    "dropped_columns": ["constant"],
}
FIXED = TuningRecord(
    method="none",
    family="hist_gradient_boosting",
    primary="roc_auc",
    trials=[],
    leaderboard=[],
    training=TRAINING,
)
SEARCHED = TuningRecord.model_validate(
    {
        **FIXED.model_dump(),
        "method": "random",
        "family": "random_forest",
        "trials": [{"number": 0}, {"number": 1}],
        "best_params": {"n_estimators": 150},
    }
)
METRICS = {"valid": {"roc_auc": 0.8}, "test": {"roc_auc": 0.75, "f1": 0.5}}
SOURCE = Provenance(
    data_path="data/raw/customer-purchase/customer-purchase.csv",
    data_md5="5859cf8cd030f13f8abbaefd94cd539f",
    data_tracked=True,
    commit="abc123",
    dirty=False,
    params_sha256="ff" * 32,
    flow_run_id="",
    orchestrator="dvc",
    trigger="drift",
    drift_report="drift-20261204T010203Z-1a2b3c4d",
)


def test_the_run_name_says_the_family_the_search_and_the_data() -> None:
    assert run_name(FIXED, SOURCE.data_md5) == "hist_gradient_boosting-5859cf8c"
    assert run_name(SEARCHED, SOURCE.data_md5) == "tune-random-random_forest-5859cf8c"


def test_the_fingerprint_changes_with_the_model_or_the_data() -> None:
    first = fingerprint(b"model", "d1")
    assert len(first) == 32
    assert first == fingerprint(b"model", "d1")
    assert len({first, fingerprint(b"model2", "d1"), fingerprint(b"model", "d2")}) == 3


def test_a_run_records_its_provenance_validation_and_training() -> None:
    described = describe_run(
        PARAMS, "binary", "roc_auc", VALIDATION, FIXED, METRICS, SOURCE, "f" * 32
    )

    assert described.metrics == {
        "valid_roc_auc": 0.8,
        "test_roc_auc": 0.75,
        "test_f1": 0.5,
        "train_rows_in": 8.0,
        "train_rows_out": 8.0,
        "train_clipped_values": 3.0,
        "train_dropped_columns": 1.0,
    }
    assert described.tags == {
        "data.path": SOURCE.data_path,
        "data.dvc_md5": SOURCE.data_md5,
        "data.dvc_tracked": "true",
        "git.commit": "abc123",
        "git.dirty": "false",
        "prefect.flow_run_id": "",
        "orchestrator": "dvc",
        "trigger": "drift",
        "trigger.drift_report": "drift-20261204T010203Z-1a2b3c4d",
        "params.sha256": "ff" * 32,
        "task": "binary",
        "model.family": "hist_gradient_boosting",
        "tune.method": "none",
        "tune.trials": "0",
        "primary_metric": "roc_auc",
        "validation.success": "true",
        "validation.suite": "customer-purchase",
        "validation.warnings": "1",
    }
    assert described.version_tags == {
        "fingerprint": "f" * 32,
        "data.path": SOURCE.data_path,
        "data.dvc_md5": SOURCE.data_md5,
        "git.commit": "abc123",
        "params.sha256": "ff" * 32,
        "validation.success": "true",
        "validation.suite": "customer-purchase",
        "trigger": "drift",
        "trigger.drift_report": "drift-20261204T010203Z-1a2b3c4d",
    }


def test_params_hold_only_the_chosen_familys_hyperparameters_and_the_searchs_best() -> None:
    fixed = describe_run(PARAMS, "binary", "roc_auc", VALIDATION, FIXED, METRICS, SOURCE, "f")
    searched = describe_run(PARAMS, "binary", "roc_auc", VALIDATION, SEARCHED, METRICS, SOURCE, "f")

    families = {k.split(".")[1] for k in fixed.params if k.startswith("models.")}
    assert families == {"hist_gradient_boosting"}
    assert fixed.params["models.hist_gradient_boosting.fixed.max_iter"] == 1000
    assert not any(k.startswith(("paths.", "best.")) for k in fixed.params)
    assert {k.split(".")[1] for k in searched.params if k.startswith("models.")} == {
        "random_forest"
    }
    assert searched.params["best.n_estimators"] == 150
    assert searched.tags["tune.trials"] == "2"
