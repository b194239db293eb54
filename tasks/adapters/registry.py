"""The MLflow model registry side of the MLflow adapter: aliases, version tags, history.

The champion is sacred: it moves only through :func:`move_alias`, a single alias write (a
reader sees the old champion or the new one, never none), called under
``tasks.adapters.locks.promotion_lock`` so that two promotions at once are serialized. Every
move and every gate decision is one event in the model's history, stored as a registered-model
tag in the MLflow backend (SQLite locally, PostgreSQL in production), so it survives restarts
and is shared by every worker.
"""

from __future__ import annotations

import hashlib
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


class ModelRefused(RegistryError):
    """A registered version our loader will not load (its format, its code paths, a changed
    file, an unreviewed type): nothing of it ran."""


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


class RegistryUnreachable(RegistryError):
    """The registry did not answer (the tracking server down, a network or store error): not
    the same as "no such model", which it would have said."""


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def _unless_absent(error: Exception) -> None:
    """Return when MLflow's ``error`` is the registry's own answer "no such model or version";
    raise anything else (a refused connection, a 5xx, a locked store) as
    :class:`RegistryUnreachable`, never to be read as an empty registry."""
    from mlflow.protos.databricks_pb2 import (
        INVALID_PARAMETER_VALUE,
        RESOURCE_DOES_NOT_EXIST,
        ErrorCode,
    )

    code = getattr(error, "error_code", "")
    if code in (ErrorCode.Name(RESOURCE_DOES_NOT_EXIST), ErrorCode.Name(INVALID_PARAMETER_VALUE)):
        return
    raise RegistryUnreachable(
        f"the model registry at {_client().tracking_uri} did not answer: {error}"
    ) from None


def _registered(model_name: str) -> Any:
    """The registered model, or None when the registry says it does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_registered_model(model_name)
    except MlflowException as error:
        _unless_absent(error)
        return None


def model_exists(model_name: str) -> bool:
    return _registered(model_name) is not None


def aliases(model_name: str) -> dict[str, str]:
    """``{alias: version}`` of ``model_name`` (empty when the model is not registered; the
    registry down raises :class:`RegistryUnreachable`)."""
    model = _registered(model_name)
    if model is None:
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
    except MlflowException as error:
        _unless_absent(error)
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


MODEL_SHA256_TAG = "model.sha256"


def reviewed_types() -> tuple[str, ...]:
    """The types a model file may hold beyond skops' own safe list: the ones we reviewed (the
    scikit-learn internals, our feature steps, the model families), never the file's own list."""
    from tasks.adapters.tracking import TRUSTED_TYPES
    from tasks.steps.features import FEATURE_TRUSTED_TYPES
    from tasks.steps.models import MODEL_TRUSTED_TYPES

    return tuple(sorted({*TRUSTED_TYPES, *FEATURE_TRUSTED_TYPES, *MODEL_TRUSTED_TYPES}))


def model_file(local: Path) -> Path:
    """The skops file of a downloaded model folder, after checking its MLmodel says only what
    our loader accepts: the sklearn flavor, skops, no code paths, a file inside the folder.

    MLflow's own loader takes the serialization format, the trusted types and code paths from
    this file, so anyone who can write a version's artifacts could make it unpickle code;
    ours decides those itself and refuses any other answer."""
    import yaml

    where = local / "MLmodel"
    try:
        flavors = (yaml.safe_load(where.read_text(encoding="utf-8")) or {}).get("flavors") or {}
    except (OSError, yaml.YAMLError) as error:
        raise ModelRefused(f"{where}: unreadable ({error})") from None
    sklearn = flavors.get("sklearn")
    if not isinstance(sklearn, dict):
        raise ModelRefused(f"{where}: no sklearn flavor; only scikit-learn models are loaded")
    fmt = sklearn.get("serialization_format")
    if fmt != "skops":
        raise ModelRefused(
            f"{where}: serialization format {fmt!r}; only skops files are loaded "
            "(pickle and cloudpickle can run code when read)"
        )
    code = [f.get("code") for f in flavors.values() if isinstance(f, dict) and f.get("code")]
    if code:
        raise ModelRefused(f"{where}: code paths {code}; a model may not bring code")
    name = str(sklearn.get("pickled_model", ""))
    path = (local / name).resolve()
    if not name or path.parent != local.resolve() or not path.is_file():
        raise ModelRefused(f"{where}: model file {name!r} is not a file of the model folder")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checked(local: Path, expected_sha256: str | None, what: str) -> Any:
    """The Pipeline in a downloaded model folder, loaded by our rules only: the file's sha256
    must be the one recorded at registration, and skops loads only the reviewed types."""
    import skops.io

    path = model_file(local)
    if not expected_sha256:
        raise ModelRefused(
            f"{what} records no {MODEL_SHA256_TAG} (registered outside `mlops train`, or before "
            "checksums): it is not loaded; retrain it"
        )
    found = file_sha256(path)
    if found != expected_sha256:
        raise ModelRefused(
            f"{what}: its model file changed after registration (sha256 {found[:12]}..., "
            f"recorded {expected_sha256[:12]}...): it is not loaded"
        )
    try:
        return skops.io.load(path, trusted=list(reviewed_types()))
    except Exception as error:  # an untrusted type, a damaged file
        raise ModelRefused(f"{what}: skops refused it: {error}") from None


def seal_version(model_name: str, version: str) -> str:
    """Record the sha256 of ``version``'s model file as its ``model.sha256`` tag (at
    registration: every later load checks it); returns it."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory(prefix="mlops-seal-") as scratch:
        local = Path(
            mlflow.artifacts.download_artifacts(f"models:/{model_name}/{version}", dst_path=scratch)
        )
        sha = file_sha256(model_file(local))
    _client().set_model_version_tag(model_name, str(version), MODEL_SHA256_TAG, sha)
    return sha


ONNX_ARTIFACT = "onnx/model.onnx"
ONNX_SHA256_TAG = "runtime.onnx.sha256"
ONNX_URI_TAG = "runtime.onnx.artifact"


def attach_compiled(
    model_name: str, version: str, run_id: str, onnx_bytes: bytes | None, tags: Mapping[str, str]
) -> None:
    """Record ``version``'s compiled graph: the ONNX file as the run's artifact
    :data:`ONNX_ARTIFACT` with its sha256 and location as version tags (when there is one),
    and ``tags`` (the outcome: ``runtime.onnx`` = ok or unavailable, the parity figures, the
    reason). The graph is logged before its tags: a version tagged ok always has its file."""
    import tempfile

    recorded = dict(tags)
    if onnx_bytes is not None:
        with tempfile.TemporaryDirectory(prefix="mlops-onnx-") as scratch:
            path = Path(scratch) / Path(ONNX_ARTIFACT).name
            path.write_bytes(onnx_bytes)
            _client().log_artifact(run_id, str(path), str(Path(ONNX_ARTIFACT).parent))
        recorded[ONNX_SHA256_TAG] = hashlib.sha256(onnx_bytes).hexdigest()
        recorded[ONNX_URI_TAG] = f"runs:/{run_id}/{ONNX_ARTIFACT}"
    tag_version(model_name, version, recorded)


def load_compiled(model_name: str, version: str) -> bytes | None:
    """The ONNX graph of ``version`` when its parity passed (``runtime.onnx`` = ok), checked
    against the sha256 recorded at registration; None when it has none (served by
    scikit-learn). A changed file is refused (:class:`ModelRefused`)."""
    import tempfile

    import mlflow

    info = version_info(model_name, version)
    if info.tags.get("runtime.onnx") != "ok":
        return None
    expected = info.tags.get(ONNX_SHA256_TAG, "")
    with tempfile.TemporaryDirectory(prefix="mlops-onnx-") as scratch:
        local = Path(
            mlflow.artifacts.download_artifacts(
                run_id=info.run_id, artifact_path=ONNX_ARTIFACT, dst_path=scratch
            )
        )
        data = local.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise ModelRefused(
            f"{model_name} v{version}: its ONNX graph changed after registration (sha256 "
            f"{found[:12]}..., recorded {expected[:12] or 'none'}...): it is not loaded"
        )
    return data


def load_version(model_name: str, version: str) -> Any:
    """The scikit-learn Pipeline registered as ``version``, checked and loaded by our own
    rules (:func:`load_checked`), never by the rules its MLmodel file states."""
    import tempfile

    import mlflow

    info = version_info(model_name, version)
    with tempfile.TemporaryDirectory(prefix="mlops-load-") as scratch:
        local = Path(
            mlflow.artifacts.download_artifacts(f"models:/{model_name}/{version}", dst_path=scratch)
        )
        return load_checked(local, info.tags.get(MODEL_SHA256_TAG), f"{model_name} v{version}")


def load_served(model_name: str, version: str) -> ServedModel:
    """Download ``version`` to a folder removed afterwards, and load its Pipeline, signature
    and input example (no signature, or no example: refused, since the endpoint checks every
    request against the signature and tries the example before the version answers)."""
    import tempfile

    import mlflow
    from mlflow.models import Model

    info = version_info(model_name, version)
    what = f"{model_name} v{version}"
    with tempfile.TemporaryDirectory(prefix="mlops-serve-") as scratch:
        local = Path(
            mlflow.artifacts.download_artifacts(f"models:/{model_name}/{version}", dst_path=scratch)
        )
        meta = Model.load(str(local / "MLmodel"))
        if meta.signature is None or meta.signature.inputs is None:
            raise ModelRefused(
                f"model '{model_name}' version {version} was logged without a signature; "
                "the endpoint needs one to check requests (retrain it with `mlops train`)"
            )
        try:
            example = meta.load_input_example(str(local))
        except Exception as error:  # a missing or damaged example file
            raise ModelRefused(f"{what}: its input example cannot be read ({error})") from None
        if example is None:
            raise ModelRefused(
                f"{what} was logged without an input example; the endpoint tries one before "
                "a version answers (retrain it with `mlops train`)"
            )
        model = load_checked(local, info.tags.get(MODEL_SHA256_TAG), what)
    columns = tuple(
        Column(str(spec.name), str(spec.type.name), bool(spec.required))
        for spec in meta.signature.inputs.inputs
    )
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
        example=example,
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
    model = _registered(model_name)
    if model is None:
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
