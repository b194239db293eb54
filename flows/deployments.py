"""The project's Prefect deployments, served by ``mlops deploy`` on a running Prefect server.

``training`` runs the pipeline of dvc.yaml; ``batch-predict`` scores a file with the champion.
Both are bound to this project folder; a run of either takes the usual parameters (see
``training_flow`` and ``batch_predict_flow``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TRAINING = "training"
BATCH_PREDICT = "batch-predict"


def deployments(root: Path) -> list[Any]:
    """The runner deployments of the project at ``root``."""
    from flows.batch import batch_predict_flow
    from flows.training import training_flow

    project = {"project": str(root)}
    return [
        training_flow.to_deployment(name=TRAINING, parameters=project, tags=["mlops"]),
        batch_predict_flow.to_deployment(name=BATCH_PREDICT, parameters=project, tags=["mlops"]),
    ]


def serve(root: Path) -> None:
    """Register the deployments and run their flows when asked (blocks until interrupted)."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments(root), print_starting_message=True)
