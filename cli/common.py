"""What every command shares: the consoles, the error exit, finding the project and reading
its params once, and which exceptions are a user's mistake (printed, not a traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from tasks.config import Params

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def setup() -> tuple[Path, Params]:
    """Apply runtime defaults, find the project and read its params once. While `mlops up`
    runs for the project, point this process at its Prefect and MLflow servers (unless the
    user set PREFECT_API_URL or MLFLOW_TRACKING_URI): no temporary Prefect server then."""
    from cli.services import use_running
    from cli.warm import refresh_settings
    from tasks.config import ConfigError, load_params
    from tasks.runtime import ProjectNotFound, apply_defaults, project_root

    apply_defaults()
    try:
        root = project_root()
        params = load_params(root / "params.yaml")
    except (ProjectNotFound, ConfigError) as error:
        raise fail(str(error)) from None
    use_running(root)
    refresh_settings()  # in a warm command process the libraries were imported before this
    return root, params


def user_errors() -> tuple[type[Exception], ...]:
    from tasks.adapters.io import TableReadError
    from tasks.adapters.versioning import VersioningError
    from tasks.config import ConfigError
    from tasks.steps.evaluate import EvaluationError
    from tasks.steps.ingest import IngestError
    from tasks.steps.split import SplitError
    from tasks.steps.validate import ValidationFailed

    return (
        ConfigError,
        IngestError,
        TableReadError,
        SplitError,
        ValidationFailed,
        EvaluationError,
        VersioningError,
    )
