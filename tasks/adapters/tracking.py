"""The MLflow adapter for runs: runs, datasets, logged models (tasks/adapters/registry.py: aliases).

Nothing happens at import time; :func:`configure` is called at the edge (CLI, flow, stage) and
picks the tracking URI: ``MLFLOW_TRACKING_URI`` when set, else SQLite in the project folder.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

# Models are stored with skops (MLflow's safe default), which loads only reviewed types. These
# are the scikit-learn internals our pipelines contain beyond skops' own allow-list; a new model
# family that needs more fails loudly at logging time, and its types are reviewed and added here.
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


class TrackingError(RuntimeError):
    """MLflow could not record or find what was asked."""


@dataclass(frozen=True)
class Registration:
    """A model version registered from one training run."""

    model_name: str
    version: str
    run_id: str
    experiment_id: str
    tracking_uri: str
    aliases: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        return data


@dataclass(frozen=True)
class JobRun:
    """One recorded run of a job (a drift check, a batch scored): when it started, its tags."""

    run_id: str
    started: datetime
    tags: dict[str, str]


def default_tracking_uri(root: Path) -> str:
    """SQLite in the project folder: the local-first default (no server to start)."""
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


_uri_we_set: str | None = None


def configure(root: Path) -> str:
    """Point MLflow at ``MLFLOW_TRACKING_URI`` or the project's SQLite file; return the URI.

    ``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI`` (for subprocesses), so a
    value equal to the one set here last is ours, not the user's, and does not pin a later
    project to an earlier one's store. The registry follows the tracking URI unless
    ``MLFLOW_REGISTRY_URI`` is set, which MLflow reads itself.
    """
    import mlflow

    global _uri_we_set
    # Inputs are float64 from ingest on; MLflow's hint about integer columns concerns class
    # labels (outputs, targets), which never carry missing values.
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    uri = from_env if from_env and from_env != _uri_we_set else default_tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    _uri_we_set = uri if uri != from_env else _uri_we_set
    return uri


def ensure_experiment(name: str, root: Path) -> str:
    """The id of experiment ``name``, created with artifacts under the project when local."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if client.tracking_uri.startswith("sqlite:"):
        location = (root / "mlartifacts").resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=location))


# What a logged model needs to be loaded elsewhere, pinned to the versions it was made with.
# Stating them spares MLflow's inference, which loads the model in a subprocess (11 s a model).
MODEL_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "pandas", "scipy")


def pip_requirements() -> list[str]:
    """``name==version`` of :data:`MODEL_REQUIREMENTS` as installed here."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


@contextmanager
def _mlflow_may_load_what_it_just_wrote() -> Iterator[None]:
    """Let MLflow's ``log_model`` check its serving input example on the model this process
    just fitted and wrote (it reloads it through its own loader, which
    ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false`` blocks: a warning on every registration).
    Nothing of ours loads through MLflow's loaders (tasks/adapters/registry.load_checked), so
    this window opens nothing an attacker chose; the setting is restored after."""
    key = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    before = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def log_training_run(  # noqa: PLR0913  (debt: to become one RunSpec built by a pure step)
    *,
    experiment_id: str,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    model: Any,
    example: pd.DataFrame,
    dataset: pd.DataFrame,
    dataset_source: str,
    dataset_name: str,
    target: str,
    model_name: str,
    artifacts: Mapping[str, Path],
    version_tags: Mapping[str, str],
    trials: Sequence[Mapping[str, Any]] | None = None,
    primary: str = "",
    trusted_types: tuple[str, ...] = (),
) -> Registration:
    """One MLflow run: params, metrics, tags, the training dataset, artifacts and the model,
    registered as a new version of ``model_name`` carrying ``version_tags``; with ``trials``,
    each tuning trial as a nested run under it. ``trusted_types`` are the types the model
    holds beyond :data:`TRUSTED_TYPES` (feature steps, model families), for skops.
    ``artifacts`` maps an artifact folder to a file or a folder of files."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.models import infer_signature

    signature = infer_signature(example, model.predict(example))
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags(dict(tags))
        mlflow.log_params({k: _param_value(v) for k, v in params.items()})
        mlflow.log_metrics(dict(metrics))
        with warnings.catch_warnings():
            # MLflow registers two local-file source classes under one name and warns that a
            # path "can be interpreted in multiple ways"; both read the same local file.
            warnings.filterwarnings("ignore", message="The specified dataset source")
            training_data = from_pandas(
                dataset, source=dataset_source, targets=target, name=dataset_name
            )
        # MLflow infers a dataset's schema value by value in Python (16 s for 240k rows here);
        # our frames are typed, so their dtypes say the same in milliseconds.
        training_data.__dict__["schema"] = _frame_schema(dataset)
        mlflow.log_input(training_data, context="training")
        for artifact_path, path in artifacts.items():
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=artifact_path)
            else:
                mlflow.log_artifact(str(path), artifact_path=artifact_path)
        with _mlflow_may_load_what_it_just_wrote():
            info = mlflow.sklearn.log_model(
                sk_model=model,
                name="model",
                signature=signature,
                input_example=example,
                registered_model_name=model_name,
                skops_trusted_types=sorted({*TRUSTED_TYPES, *trusted_types}),
                pip_requirements=pip_requirements(),
            )
    if trials:
        log_trials(
            experiment_id=experiment_id,
            parent_run_id=run.info.run_id,
            trials=trials,
            primary=primary,
            tags={k: v for k, v in tags.items() if k.startswith(("data.", "git.", "tune."))},
        )
    version = info.registered_model_version
    if version is None:
        raise TrackingError(f"model of run {run.info.run_id} was not registered as {model_name}")
    client = mlflow.tracking.MlflowClient()
    for key, value in version_tags.items():
        client.set_model_version_tag(model_name, str(version), key, value)
    return Registration(
        model_name=model_name,
        version=str(version),
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        tracking_uri=mlflow.get_tracking_uri(),
        aliases=(),
    )


def log_trials(
    *,
    experiment_id: str,
    parent_run_id: str,
    trials: Sequence[Mapping[str, Any]],
    primary: str,
    tags: Mapping[str, str],
) -> list[str]:
    """Each tuning trial as a nested run of ``parent_run_id``: its hyperparameters, the CV
    score of every fold and their mean and spread, its duration and state. Returns the run ids.

    Written with one ``log_batch`` per trial (no active-run switching): its cost is what the
    tuning benchmark measures against a trial's own time."""
    import time

    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    now = int(time.time() * 1000)
    ids = []
    for trial in trials:
        name = f"{trial['family']}-trial-{int(trial['number']):03d}"
        seconds = float(trial["seconds"])
        run = client.create_run(
            experiment_id,
            start_time=now - int(seconds * 1000),
            tags={"mlflow.parentRunId": parent_run_id, "mlflow.runName": name},
            run_name=name,
        )
        metrics = {f"cv_{primary}": trial["cv_mean"], f"cv_{primary}_std": trial["cv_std"]}
        metrics.update({f"cv_{primary}_fold{k}": v for k, v in enumerate(trial["cv_scores"])})
        metrics["duration_seconds"] = seconds
        if trial.get("valid") is not None:
            metrics[f"valid_{primary}"] = trial["valid"]
        run_tags = {
            **tags,
            "model.family": str(trial["family"]),
            "tune.trial": str(trial["number"]),
            "tune.state": str(trial["state"]),
        }
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if v == v],
            params=[Param(k, str(_param_value(v))) for k, v in trial["params"].items()],
            tags=[RunTag(k, v) for k, v in run_tags.items()],
        )
        status = "FINISHED" if trial["state"] == "complete" else "KILLED"
        client.set_terminated(run.info.run_id, status=status, end_time=now)
        ids.append(run.info.run_id)
    return ids


def log_validation(
    *, experiment: str, root: Path, report: Mapping[str, Any], report_path: Path
) -> str:
    """Record a gate verdict as its own MLflow run (tag ``validation.success``); return its id."""
    import mlflow

    experiment_id = ensure_experiment(experiment, root)
    success = bool(report.get("success"))
    name = f"validation-{'passed' if success else 'failed'}-{Path(str(report['source'])).name}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
        mlflow.set_tags(
            {
                "validation.success": str(success).lower(),
                "validation.suite": str(report.get("suite")),
                "data.path": str(report.get("source")),
            }
        )
        mlflow.log_metrics(
            {
                "validation_rows": float(report.get("rows", 0)),
                "validation_failed_rules": float(
                    sum(1 for f in report.get("failures", []) if f.get("severity") == "fail")
                ),
            }
        )
        mlflow.log_artifact(str(report_path), artifact_path="validation")
    return str(run.info.run_id)


def _frame_schema(frame: pd.DataFrame) -> Any:
    """An MLflow ``Schema`` from a typed frame's dtypes: a column with a gap is optional."""
    from mlflow.types import ColSpec, DataType, Schema

    kinds = {"f": DataType.double, "i": DataType.long, "u": DataType.long, "b": DataType.boolean}
    return Schema(
        [
            ColSpec(
                kinds.get(frame[name].dtype.kind, DataType.string),
                str(name),
                required=not bool(frame[name].isna().any()),
            )
            for name in frame.columns
        ]
    )


def _param_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "[]"
    return value


def download_artifact(run_id: str, artifact_path: str, destination: Path) -> Path:
    """One artifact of a run (``config/params.yaml``, say), downloaded under ``destination``."""
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=artifact_path, dst_path=str(destination)
    )
    return Path(local)


def find_version(model_name: str, fingerprint: str) -> Registration | None:
    """The version of ``model_name`` tagged with ``fingerprint``, if one exists."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    try:
        found = client.search_model_versions(
            f"name='{model_name}' and tags.fingerprint = '{fingerprint}'"
        )
    except MlflowException:
        return None
    if not found:
        return None
    version = max(found, key=lambda v: int(v.version))
    run = client.get_run(str(version.run_id))
    return Registration(
        model_name=model_name,
        version=str(version.version),
        run_id=str(version.run_id),
        experiment_id=str(run.info.experiment_id),
        tracking_uri=mlflow.get_tracking_uri(),
        aliases=tuple(version.aliases),
    )


def version_exists(model_name: str, version: str, fingerprint: str) -> bool:
    """Whether ``version`` of ``model_name`` exists in the current registry and holds the model
    bytes and data of ``fingerprint`` (its version tag)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        found = MlflowClient().get_model_version(model_name, version)
    except MlflowException:
        return False
    return bool((found.tags or {}).get("fingerprint") == fingerprint)


def last_job_run(experiment: str, kind: str, model_name: str) -> JobRun | None:
    """The newest run of job ``kind`` (``monitor``, ``predict``) for ``model_name`` in the
    experiment named ``experiment``, or None (no such experiment or run)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        f"tags.`mlops.kind` = '{kind}' and tags.`model.name` = '{model_name}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run = runs[0]
    started = datetime.fromtimestamp(run.info.start_time / 1000, UTC)
    return JobRun(str(run.info.run_id), started, dict(run.data.tags))


def log_job_run(
    *,
    experiment_id: str,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    artifacts: Mapping[str, Path],
) -> str:
    """One MLflow run of a job (a batch scored, a drift check); returns its id."""
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags(dict(tags))
        mlflow.log_params({k: _param_value(v) for k, v in params.items()})
        mlflow.log_metrics(dict(metrics))
        for artifact_path, path in artifacts.items():
            mlflow.log_artifact(str(path), artifact_path=artifact_path)
    return str(run.info.run_id)
