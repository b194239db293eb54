"""How the runner of ``mlops deploy`` starts a flow run: as ``mlops run-flow``, which under
``mlops up`` is a fork of the project's warm command server (cli/warm.py), with every library
already imported.

Prefect's runner starts each run of a served flow in a new *spawned* Python process, which
imports Prefect, pandas, scikit-learn and the project again before the run can even be marked
Running: 4 to 10 s on this machine between a drift event's automation and its retraining
running. Here the runner starts ``<venv>/bin/mlops run-flow`` instead (Prefect's own
command starter: the flow run's id, the control channel and the heartbeat reach it in the
environment as they reach ``python -m prefect.engine``); that client hands the command to the
warm server when one runs for the project, and otherwise runs it in its own process, as
Prefect's start would. :func:`execute` is then what ``python -m prefect.engine`` does, with
the flow taken from this project's deployments by name rather than loaded from a file.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

FLOW_RUN_ID = "PREFECT__FLOW_RUN_ID"


def served_flows() -> dict[str, Any]:
    """The flows ``mlops deploy`` serves, by flow name."""
    from flows.batch import batch_predict_flow
    from flows.monitoring import monitoring_flow
    from flows.retraining import retraining_flow
    from flows.training import training_flow

    return {
        f.name: f for f in (training_flow, monitoring_flow, retraining_flow, batch_predict_flow)
    }


def execute(flow_run_id: str | None = None) -> None:
    """Run the flow run ``flow_run_id`` (default: the one PREFECT__FLOW_RUN_ID names) in this
    process, as ``python -m prefect.engine`` would: its state, logs, cancellation and result
    go through Prefect's engine. Raises ValueError for a missing or malformed id and
    LookupError for a flow this project does not serve."""
    from uuid import UUID

    from prefect._internal.control_listener import configure_from_env
    from prefect.client.orchestration import get_client
    from prefect.engine import handle_engine_signals
    from prefect.flow_engine import load_flow_run, run_flow
    from prefect.logging.loggers import flow_run_logger

    text = flow_run_id or os.environ.get(FLOW_RUN_ID, "")
    try:
        run_id = UUID(text)
    except ValueError:
        raise ValueError(f"not a flow run id: {text!r} (from {FLOW_RUN_ID})") from None
    configure_from_env()  # the runner's control channel (cancellation), before any flow code
    with handle_engine_signals(run_id):
        flow_run = load_flow_run(flow_run_id=run_id)
        with get_client(sync_client=True) as client:
            name = client.read_flow(flow_run.flow_id).name
        flows = served_flows()
        if name not in flows:
            raise LookupError(
                f"flow run {run_id} is of flow '{name}', which this project does not serve "
                f"(it serves {sorted(flows)})"
            )
        logger: Any = flow_run_logger(flow_run=flow_run)  # an adapter of the run's logger
        run_flow(flows[name], flow_run=flow_run, error_logger=logger)


def command() -> str | None:
    """The command line the runner starts for a flow run: the ``mlops`` beside this Python
    (None when there is none: Prefect's own start is kept)."""
    script = Path(sys.executable).with_name("mlops")
    if not os.access(script, os.X_OK):
        return None
    return f"{shlex.quote(str(script))} run-flow"


def start_runs_warm(root: Path) -> bool:
    """Make this process's runner start each flow run as :func:`command` (in ``root`` unless
    the deployment's storage says where); False (Prefect's own start kept) when there is no
    ``mlops`` script or this Prefect lacks the starters it replaces.

    Prefect 3.8's runner picks a starter per run (``Runner._resolve_starter``): a spawned
    process for a flow it holds in memory, else ``python -m prefect.engine`` (our served
    deployments take that path). Both names are replaced in the runner's module, by an engine
    command starter whose command is ours.
    """
    line = command()
    if line is None:
        return False
    try:
        from prefect.runner import runner as runner_module
        from prefect.runner._starter_engine import EngineCommandStarter
    except ImportError:
        return False
    if not all(
        hasattr(runner_module, n) for n in ("DirectSubprocessStarter", "EngineCommandStarter")
    ):
        return False

    def engine_starter(**options: Any) -> Any:
        return EngineCommandStarter(**{"cwd": root, **options, "command": line})

    def direct_starter(*, flow: Any, **options: Any) -> Any:
        del flow  # the command finds it by name in this project's deployments
        return engine_starter(**options)

    setattr(runner_module, "DirectSubprocessStarter", direct_starter)  # noqa: B010
    setattr(runner_module, "EngineCommandStarter", engine_starter)  # noqa: B010
    return True
