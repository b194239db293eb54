"""The project's Prefect deployments and the drift automation, for ``mlops deploy``.

- ``training/training``: the pipeline of dvc.yaml (on ``retrain.schedule`` when set);
- ``monitoring/monitoring``: the drift check, on ``monitor.schedule``;
- ``retraining/retraining``: what a drift event runs (cooldown, intake, training, gate);
- ``batch-predict/batch-predict``: score a file with the champion;
- the automation ``mlops-drift-retrain-<model>``: the event ``mlops.drift.detected`` about the
  model runs the retraining deployment with the report id.

All are bound to this project folder. ``serve`` registers them on the Prefect server in
``PREFECT_API_URL`` and runs their flows in this process's runner (no work pool needed).
``deploy_to_pool`` binds them to a process work pool instead and returns: the flows run in
whichever ``prefect worker start --pool <name>`` picks them up, on this machine or another
one with the project installed and the same folder (the production stack, docs/production.md).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

from tasks.config import Params

TRAINING = "training"
MONITORING = "monitoring"
RETRAINING = "retraining"
BATCH_PREDICT = "batch-predict"


def automation_name(model_name: str) -> str:
    return f"mlops-drift-retrain-{model_name}"


def deployments(root: Path, params: Params, pool: str | None = None) -> list[Any]:
    """The deployments of the project at ``root``, with their schedules. With ``pool``, bound
    to that work pool and found by module path (``flows.training.training_flow``), which a
    worker imports from the installed project: no code is uploaded anywhere."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.types.entrypoint import EntrypointType

    from flows.batch import batch_predict_flow
    from flows.monitoring import monitoring_flow
    from flows.retraining import retraining_flow
    from flows.training import training_flow

    project = {"project": str(root)}
    common: dict[str, Any] = {"tags": ["mlops"]}
    if pool is not None:
        common |= {"work_pool_name": pool, "entrypoint_type": EntrypointType.MODULE_PATH}
    training_cron = params.retrain.schedule or None
    return [
        training_flow.to_deployment(
            name=TRAINING,
            parameters={**project, "trigger": "schedule" if training_cron else "manual"},
            cron=training_cron,
            **common,
        ),
        # One check at a time: a tick due while one still runs is cancelled, not queued (a
        # short schedule on a slow machine would otherwise pile up checks of the same window).
        monitoring_flow.to_deployment(
            name=MONITORING,
            parameters=project,
            cron=params.monitor.schedule,
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            **common,
        ),
        retraining_flow.to_deployment(name=RETRAINING, parameters=project, **common),
        batch_predict_flow.to_deployment(name=BATCH_PREDICT, parameters=project, **common),
    ]


def create_automation(root: Path, model_name: str, retraining_id: Any) -> Any:
    """(Re)create the automation: each ``mlops.drift.detected`` event about the model runs the
    retraining deployment with the event's report id. The retraining flow applies the cooldown
    (so that waiting for labels spends none of it)."""
    from prefect.automations import Automation
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture

    from flows.monitoring import DRIFT_EVENT

    name = automation_name(model_name)
    with suppress(ValueError):  # ValueError: none yet
        Automation.read(name=name).delete()  # type: ignore[attr-defined]
    return Automation(
        name=name,
        description=(
            f"Drift on {model_name} -> the retraining deployment (cooldown, labelled production "
            "data as a new DVC version, training with trigger 'drift', the promotion gate)"
        ),
        trigger=EventTrigger(
            expect={DRIFT_EVENT},
            match={"prefect.resource.id": f"mlops.model.{model_name}"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=retraining_id,
                job_variables=None,
                parameters={
                    "project": str(root),
                    "drift_report": {
                        "__prefect_kind": "jinja",
                        "template": "{{ event.payload.report_id }}",
                    },
                },
            )
        ],
    ).create()


def register(root: Path, params: Params) -> list[Any]:
    """Register the deployments and the automation; returns the runner deployments."""
    planned = deployments(root, params)
    ids = {d.name: d.apply() for d in planned}
    _automate(root, params, ids[RETRAINING])
    return planned


def _automate(root: Path, params: Params, retraining_id: Any) -> None:
    model_name = params.register_.resolved_model_name(params.ingest.path)
    automation = create_automation(root, model_name, retraining_id)
    print(f"automation '{automation.name}' ({automation.id}): {automation.description}")


def deploy_to_pool(root: Path, params: Params, pool: str) -> dict[str, Any]:
    """Create the process work pool ``pool`` when missing, register the deployments on it and
    the automation; returns {deployment name: id}. Nothing runs until a worker polls the pool."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments.runner import deploy
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    planned = deployments(root, params, pool=pool)
    created = deploy(
        *planned,
        work_pool_name=pool,
        build=False,
        push=False,
        print_next_steps_message=False,
        ignore_warnings=True,
    )
    assert isinstance(created, list)  # the sync call (deploy dispatches on the event loop)
    ids = dict(zip((d.name for d in planned), created, strict=True))
    _automate(root, params, ids[RETRAINING])
    return ids


def serve(root: Path, params: Params) -> None:
    """Register everything and run the flows when asked (blocks until interrupted)."""
    from prefect import serve as prefect_serve
    from prefect.settings import get_current_settings

    from flows.runs import start_runs_warm

    # each run as `mlops run-flow`: a fork of the warm command server under `mlops up`
    start_runs_warm(root)
    # prefect.serve runs every due flow run at once unless told; a burst of drift events
    # would start one process each. PREFECT_RUNNER_PROCESS_LIMIT (default 5) bounds them.
    limit = get_current_settings().runner.process_limit
    prefect_serve(*register(root, params), print_starting_message=True, limit=limit)
