"""The services' own MLflow users, each with only what it needs (security review #6).

Run by the one-shot compose service ``mlflow-users`` once the MLflow server is up, logged in as
MLflow's admin (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD). The admin is for people
only: no long-running service holds its password. Every step is idempotent, so the job succeeds
again on each ``docker compose up``; a password changed in .env is applied to the user.

- the flows' user (MLFLOW_WORKER_USERNAME / MLFLOW_WORKER_PASSWORD; the worker and the
  deployments job): EDIT on the project's experiments (training, ``-monitoring``,
  ``-predictions``) and on its registered model: it logs runs, registers versions, tags them and
  moves aliases; it cannot delete them nor change anybody's permissions (MANAGE);
- the endpoint's user (MLFLOW_SERVING_USERNAME / MLFLOW_SERVING_PASSWORD): READ on the registered
  model and on the training experiment. READ on the model alone is not enough in MLflow 3: a
  version's files are a logged model of the experiment, and the server authorizes reading them
  (and the version's run) by the experiment.

The names come from the project's params.yaml (register.model_name and register.experiment,
``auto`` resolved as the pipeline resolves it); after changing the data set or those keys, run
the job again (``docker compose run --rm mlflow-users``). The experiments and the model are
created here, by the admin, when missing, so that the flows' user never owns (MANAGEs) them.

    python docker/mlflow-users.py [--project DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"


def resources(project: Path) -> tuple[str, list[str], str]:
    """(the registered model, the flows' experiments, the endpoint's experiment) of the
    project's params.yaml."""
    from tasks.config import load_params

    params = load_params(project / "params.yaml")
    model = params.register_.resolved_model_name(params.ingest.path)
    experiment = params.register_.resolved_experiment(params.ingest.path)
    # the experiments the flows write: register and validate (tasks/pipeline), the monitor
    # (Params.monitoring_experiment) and batch scoring (flows/batch.py: "<experiment>-predictions")
    flows = [experiment, params.monitoring_experiment, f"{experiment}-predictions"]
    return model, flows, experiment


def ensure_user(auth: Any, username: str, password: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        auth.create_user(username, password)
        state = "created"
    except MlflowException as error:
        if error.error_code != ALREADY_EXISTS:
            raise
        auth.update_user_password(username, password)
        state = "exists, password set from the environment"
    if auth.get_user(username).is_admin:
        auth.update_user_admin(username, False)
        state += ", admin rights removed"
    return state


def grant(auth: Any, username: str, kind: str, resource: str, permission: str) -> str:
    """Give ``username`` exactly ``permission`` on the resource (replacing another grant)."""
    from mlflow.exceptions import MlflowException

    try:
        auth.grant_user_permission(username, kind, resource, permission)
        return "granted"
    except MlflowException as error:
        if error.error_code != ALREADY_EXISTS:
            raise
    current = auth.get_user_permission(username, kind, resource).permission
    if current == permission:
        return "kept"
    auth.revoke_user_permission(username, kind, resource)
    auth.grant_user_permission(username, kind, resource, permission)
    return f"changed from {current}"


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"mlflow-users: {name} is not set")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.client import AuthServiceClient
    from mlflow.tracking import MlflowClient

    uri = _required("MLFLOW_TRACKING_URI")
    admin = _required("MLFLOW_TRACKING_USERNAME")
    worker = _required("MLFLOW_WORKER_USERNAME")
    serving = _required("MLFLOW_SERVING_USERNAME")
    names = [admin, worker, serving]
    if len(set(names)) != len(names):
        sys.exit(
            "mlflow-users: MLFLOW_AUTH_ADMIN_USERNAME, MLFLOW_WORKER_USERNAME and "
            "MLFLOW_SERVING_USERNAME must be three different users"
        )
    model, flow_experiments, serving_experiment = resources(args.project)
    auth = AuthServiceClient(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for username, variable in ((worker, "MLFLOW_WORKER_PASSWORD"),
                               (serving, "MLFLOW_SERVING_PASSWORD")):  # fmt: skip
        print(f"mlflow-users: user {username}: {ensure_user(auth, username, _required(variable))}")
    ids = {}
    for name in flow_experiments:
        found = client.get_experiment_by_name(name)
        ids[name] = str(found.experiment_id) if found else str(client.create_experiment(name))
    try:
        client.create_registered_model(model)
    except MlflowException as error:
        if error.error_code != ALREADY_EXISTS:
            raise
    grants = [(worker, "experiment", name, "EDIT") for name in flow_experiments]
    grants += [
        (worker, "registered_model", model, "EDIT"),
        (serving, "registered_model", model, "READ"),
        (serving, "experiment", serving_experiment, "READ"),
    ]
    for username, kind, name, permission in grants:
        resource = ids[name] if kind == "experiment" else name
        state = grant(auth, username, kind, resource, permission)
        print(f"mlflow-users: {username}: {permission} on {kind} {name}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
