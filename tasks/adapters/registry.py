"""The MLflow model registry side of the MLflow adapter: aliases, version tags, history.

The champion is sacred: it moves only through :func:`move_alias`, a single alias write (a
reader sees the old champion or the new one, never none), called under
``tasks.adapters.locks.promotion_lock`` so that two promotions at once are serialized. Every
move and every gate decision is one event in the model's history, stored as a registered-model
tag in the MLflow backend (SQLite locally, PostgreSQL in production), so it survives restarts
and is shared by every worker.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks import clock
from tasks.types import CHALLENGER as CHALLENGER
from tasks.types import CHAMPION as CHAMPION
from tasks.types import MOVES as MOVES
from tasks.types import Column as Column
from tasks.types import Event as Event
from tasks.types import ServedModel as ServedModel

HISTORY_PREFIX = "mlops.history."


class RegistryError(ValueError):
    """The registry cannot do what was asked (unknown model or version, a lock timeout)."""


@dataclass(frozen=True)
class VersionInfo:
    """A registered version with what its run recorded."""

    model_name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    created: datetime
    tags: dict[str, str]
    run_tags: dict[str, str]
    metrics: dict[str, float]
    params: dict[str, str]
    source: str = ""
    experiment_id: str = ""


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def model_exists(model_name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        _client().get_registered_model(model_name)
    except MlflowException:
        return False
    return True


def aliases(model_name: str) -> dict[str, str]:
    """``{alias: version}`` of ``model_name`` (empty when the model is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        model = _client().get_registered_model(model_name)
    except MlflowException:
        return {}
    return {str(alias): str(version) for alias, version in model.aliases.items()}


def alias_version(model_name: str, alias: str) -> str | None:
    return aliases(model_name).get(alias)


def version_info(model_name: str, version: str) -> VersionInfo:
    """``version`` of ``model_name`` with its run's tags, metrics and params."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        found = client.get_model_version(model_name, str(version))
    except MlflowException:
        raise RegistryError(f"model '{model_name}' has no version {version}") from None
    run = client.get_run(found.run_id) if found.run_id else None
    return VersionInfo(
        model_name=model_name,
        version=str(found.version),
        run_id=str(found.run_id or ""),
        aliases=tuple(found.aliases),
        created=datetime.fromtimestamp(int(found.creation_timestamp) / 1000, UTC),
        tags=dict(found.tags),
        run_tags=dict(run.data.tags) if run else {},
        metrics=dict(run.data.metrics) if run else {},
        params=dict(run.data.params) if run else {},
        source=str(found.source or ""),
        experiment_id=str(run.info.experiment_id) if run else "",
    )


def versions(model_name: str) -> dict[str, dict[str, str]]:
    """Every version of ``model_name`` with its tags, oldest first (one registry query)."""
    found = _client().search_model_versions(f"name='{model_name}'")
    ordered = sorted(found, key=lambda item: int(item.version))
    return {str(item.version): dict(item.tags) for item in ordered}


def tag_version(model_name: str, version: str, tags: Mapping[str, str]) -> None:
    client = _client()
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), key, str(value))


def load_version(model_name: str, version: str) -> Any:
    """The scikit-learn Pipeline registered as ``version`` (skops, reviewed types only)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")


def load_served(model_name: str, version: str) -> ServedModel:
    """Download ``version`` once and load its Pipeline and signature (no signature: an error,
    since the endpoint validates every request against it)."""
    import mlflow
    from mlflow.models import Model

    info = version_info(model_name, version)
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{model_name}/{version}"))
    signature = Model.load(str(local / "MLmodel")).signature
    if signature is None or signature.inputs is None:
        raise RegistryError(
            f"model '{model_name}' version {version} was logged without a signature; "
            "the endpoint needs one to check requests (retrain it with `mlops train`)"
        )
    columns = tuple(
        Column(str(spec.name), str(spec.type.name), bool(spec.required))
        for spec in signature.inputs.inputs
    )
    model = mlflow.sklearn.load_model(str(local))
    classes = tuple(getattr(model, "classes_", ()))
    default_task = "regression" if not classes else "binary" if len(classes) == 2 else "multiclass"
    return ServedModel(
        model_name=model_name,
        version=str(version),
        model=model,
        columns=columns,
        classes=classes,
        # the decision rule evaluate used: the task and, for binary, the threshold it was run with
        task=info.run_tags.get("task", default_task),
        threshold=float(info.params.get("evaluate.threshold", 0.5)),
        run_id=info.run_id,
        data_md5=info.tags.get("data.dvc_md5", info.run_tags.get("data.dvc_md5", "")),
        tags=info.tags,
    )


def log_json(run_id: str, data: Mapping[str, Any], artifact_file: str) -> None:
    """Attach ``data`` as a JSON artifact to the (finished) run ``run_id``."""
    _client().log_dict(run_id, dict(data), artifact_file)


def move_alias(model_name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``: one write, so readers never see the alias missing."""
    _client().set_registered_model_alias(model_name, alias, str(version))


def record_event(event: Event) -> None:
    """Append ``event`` to the model's history (a registered-model tag, sortable by time)."""
    stamp = event.time.replace(":", "").replace("-", "")
    key = f"{HISTORY_PREFIX}{stamp}.{uuid.uuid4().hex[:8]}"
    _client().set_registered_model_tag(event.model_name, key, json.dumps(event.to_dict()))


def history(model_name: str) -> list[Event]:
    """Every recorded event of ``model_name``, oldest first."""
    from mlflow.exceptions import MlflowException

    try:
        model = _client().get_registered_model(model_name)
    except MlflowException:
        return []
    events = []
    for key in sorted(k for k in model.tags if k.startswith(HISTORY_PREFIX)):
        data = json.loads(model.tags[key])
        events.append(Event(**data))
    return sorted(events, key=lambda e: e.time)


def now() -> str:
    """The current time as history records it (UTC, microseconds: sortable as text)."""
    return clock.stamp()


def champion_chain(events: list[Event]) -> list[str]:
    """The versions that have been champion, in order, with rolled-back ones removed: the
    last is the champion, the one before it is where a rollback goes."""
    chain: list[str] = []
    for event in events:
        if event.event == "rollback":
            if chain:
                chain.pop()
            if event.version is not None and (not chain or chain[-1] != event.version):
                chain.append(event.version)
        elif event.moved and event.version is not None:
            chain.append(event.version)
    return chain
