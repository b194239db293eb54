"""Process-level defaults applied at the edge (CLI, stage entry point), never at import.

Telemetry is off unless the user turned it on; the project root is found from the working
directory. Nothing here imports a heavy library.
"""

from __future__ import annotations

import os
from pathlib import Path

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
}

RUNTIME_DEFAULTS = {
    # The first start of Prefect's temporary local server migrates its database: give it time.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    # MLflow's sqlite store logs every Alembic migration at INFO otherwise.
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # Progress bars are for people at a terminal; flows and workers log to files.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # MLflow's own model loaders unpickle (and trust a model's own skops type list) unless this
    # is false; ours (tasks.adapters.registry.load_checked) never asks them to.
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
}


class ProjectNotFound(RuntimeError):
    """The working directory is not inside a project (no params.yaml and dvc.yaml)."""


def apply_defaults() -> None:
    """Turn telemetry off and set runtime defaults, leaving any value the user set."""
    for key, value in {**TELEMETRY_OFF, **RUNTIME_DEFAULTS}.items():
        os.environ.setdefault(key, value)


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding both params.yaml and dvc.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").is_file() and (folder / "dvc.yaml").is_file():
            return folder
    raise ProjectNotFound(f"no params.yaml and dvc.yaml at or above {here}")


def runbook_url(root: Path) -> str:
    """The runbook the alerts link to: ``MLOPS_RUNBOOK_URL`` (a wiki, the repository's page
    online), else this project's copy."""
    return os.environ.get("MLOPS_RUNBOOK_URL") or (root / "docs" / "runbook.md").as_uri()
