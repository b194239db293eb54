"""The production stack of docker-compose.yml, run as processes (no Docker engine here).

Each service runs the command and the environment that docker-compose.yml gives it, read from
the file and translated only where a container differs from a process: host names become
127.0.0.1, container ports become free ports, ``${VAR}`` takes this test's random secrets, and
the scripts of docker/ are called by their path in this repository. So a command, a setting or
a script that is wrong in the compose file fails here.

- PostgreSQL: the machine's binaries, ``initdb`` in a temporary folder, a free port, the
  databases and roles made by docker/postgres-init.sh;
- object storage: moto's S3 server in this process (MinIO does not run here), buckets
  ``mlflow`` and ``dvc``;
- ``mlflow server`` on Postgres with the basic-auth app, artifacts proxied to the bucket, then
  the one-shot ``mlflow-users`` job (docker/mlflow-users.py): the flows and the endpoint log in
  as their own users, never as the admin;
- ``prefect server start`` on Postgres with the API auth string and CSRF protection;
- the one-shot ``mlops deploy --pool mlops``, then ``prefect worker start`` on that pool;
- ``mlops serve`` with its bearer token.

Then: training through the deployment (the worker runs it), the first champion, the endpoint
answering with it, production rows with their labels, a drift event that makes the automation
run the retraining deployment, a new data version on the S3 remote, a new model version and
the gate's decision on on-call's webhook. Every process started here is stopped by its pid at
the end, and checked gone.

The drift step is a burst of three events inside the cooldown (the automation and the
retraining lock across flow-run processes): three retraining runs, one retraining.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from benchmarks.drift_event import (
    MODEL,
    QUIET_SCHEDULE,
    Server,
    api,
    emit_drift,
    environment,
    prepare_project,
    run,
    runs_for,
    start,
    stop,
    wait_for_server,
)
from tests.compose import compose, interpolate
from tests.support import REPO, WebhookReceiver, free_port

pytestmark = pytest.mark.integration
POOL = "mlops"
ROWS, PRODUCTION_ROWS, EVENTS = 3000, 400, 3
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Translation:
    """How a container's view maps onto this machine's processes."""

    values: dict[str, str]  # what .env would hold
    hosts: dict[str, str]  # container address -> 127.0.0.1:port
    ports: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> {arg: arg}

    def text(self, value: str) -> str:
        value = interpolate(value, self.values)
        for container, local in self.hosts.items():
            value = value.replace(container, local)
        return value

    def service(self, name: str) -> tuple[list[str], dict[str, str]]:
        """The command and environment docker-compose.yml gives ``name``, for a process here
        (our image's entrypoint, docker/require-env.sh, comes first, as in the container)."""
        spec = compose()["services"][name]
        swaps = {"0.0.0.0": "127.0.0.1", **self.ports.get(name, {})}
        command = []
        for arg in spec["command"]:
            arg = self.text(str(arg))
            for old, new in swaps.items():
                arg = arg.replace(old, new)
            if arg.startswith("docker/"):
                arg = str(REPO / arg)
            command.append(arg)
        env = {k: self.text(str(v)) for k, v in spec.get("environment", {}).items()}
        return ["sh", str(REPO / "docker" / "require-env.sh"), *command], env


@dataclass
class Postgres:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run ``command`` as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start_postgres(superuser_password: str) -> Postgres:
    """A new cluster in a temporary folder (outside pytest's root-only folders, so that the
    postgres user can reach it), listening on 127.0.0.1 only, password logins only."""
    folder = Path(tempfile.mkdtemp(prefix="mlops-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    password_file = folder / "superuser"
    password_file.write_text(superuser_password)
    if os.geteuid() == 0:
        shutil.chown(password_file, "postgres", "postgres")
    bin_dir = Path(shutil.which("initdb") or "initdb").parent
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                      "--auth=scram-sha-256", f"--pwfile={password_file}", "--no-sync"]),
        check=True, capture_output=True,
    )  # fmt: skip
    password_file.unlink()
    port = free_port()
    process = start(
        _as_postgres([str(bin_dir / "postgres"), "-D", str(folder / "data"), "-p", str(port),
                      "-c", "listen_addresses=127.0.0.1", "-k", str(folder), "-c", "fsync=off"]),
        folder, dict(os.environ), folder / "postgres.log",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                         capture_output=True).returncode != 0:  # fmt: skip
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((folder / "postgres.log").read_text())
        time.sleep(0.3)
    return Postgres(process, port, folder)


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited:\n{log.read_text()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} never answered:\n{log.read_text()}")
        time.sleep(0.5)


@dataclass
class Stack:
    root: Path
    base: Path
    translation: Translation
    prefect: Server
    mlflow_url: str
    s3: Any  # a boto3 S3 client of the object store
    client_env: dict[str, str]  # what the flow services get (worker, deployments)
    users_output: str  # what the mlflow-users job printed
    deploy_output: str
    worker_log: Path
    receiver: WebhookReceiver
    processes: dict[str, subprocess.Popen[bytes]]


def _s3_keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import boto3
    from moto.server import ThreadedMotoServer

    began = time.monotonic()

    def phase(name: str) -> None:
        print(f"{time.monotonic() - began:6.1f} s {name}", flush=True)

    base = tmp_path_factory.mktemp("production")
    receiver = WebhookReceiver()
    values = {  # 43 characters each: tokens must be at least 32
        name: secrets.token_urlsafe(32)
        for name in ("POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "PREFECT_DB_PASSWORD",
                     "MINIO_ROOT_PASSWORD", "MINIO_MLFLOW_ACCESS_KEY", "MINIO_MLFLOW_SECRET_KEY",
                     "MINIO_DVC_ACCESS_KEY", "MINIO_DVC_SECRET_KEY",
                     "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY",
                     "MLFLOW_WORKER_PASSWORD", "MLFLOW_SERVING_PASSWORD",
                     "PREFECT_AUTH_STRING", "SERVING_TOKEN", "SERVING_FEEDBACK_TOKEN",
                     "EVIDENTLY_SECRET")
    }  # fmt: skip
    values |= {"MINIO_ROOT_USER": "root", "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
               "MLFLOW_WORKER_USERNAME": "mlops-worker", "MLFLOW_SERVING_USERNAME": "mlops-serving",
               "MLOPS_WEBHOOK_URL": receiver.url, "GIT_COMMIT": "test"}  # fmt: skip
    processes: dict[str, subprocess.Popen[bytes]] = {}
    moto = None
    postgres = None
    try:
        # port 0: the system picks the port as the server binds it; read back after
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        s3_url = "http://{}:{}".format(*moto.get_host_and_port())
        # moto checks no policy: docker/create-buckets.sh's per-bucket users cannot be proven
        # here (tests/unit/test_compose.py checks the policies statically)
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                          aws_access_key_id=values["MINIO_MLFLOW_ACCESS_KEY"],
                          aws_secret_access_key=values["MINIO_MLFLOW_SECRET_KEY"])  # fmt: skip
        for bucket in ("mlflow", "dvc"):  # docker/create-buckets.sh's buckets
            s3.create_bucket(Bucket=bucket)

        postgres = start_postgres(values["POSTGRES_PASSWORD"])
        processes["postgres"] = postgres.process
        run(["sh", str(REPO / "docker" / "postgres-init.sh")], base,
            {**os.environ, "POSTGRES_USER": "postgres", "PGHOST": "127.0.0.1",
             "PGPORT": str(postgres.port), "PGPASSWORD": values["POSTGRES_PASSWORD"],
             "MLFLOW_DB_PASSWORD": values["MLFLOW_DB_PASSWORD"],
             "PREFECT_DB_PASSWORD": values["PREFECT_DB_PASSWORD"]})  # fmt: skip
        phase("postgres and the object store up")

        # each port is picked right before its server starts (they are processes: no socket can
        # be handed over), so another process has as little time as possible to take it
        mlflow_port, prefect_port = free_port(), free_port()
        mlflow_url = f"http://127.0.0.1:{mlflow_port}"
        prefect_api = f"http://127.0.0.1:{prefect_port}/api"
        translation = Translation(
            values,
            hosts={
                "postgres:5432": f"127.0.0.1:{postgres.port}",
                "http://minio:9000": s3_url,
                "http://mlflow:5000": mlflow_url,
                "http://prefect-server:4200/api": prefect_api,
                "/tmp/mlflow-auth": str(base / "mlflow-auth"),
            },
            ports={
                "mlflow": {
                    "--port=5000": f"--port={mlflow_port}",
                    "mlflow:5000": f"127.0.0.1:{mlflow_port}",
                },
                "prefect-server": {"4200": str(prefect_port)},
            },
        )
        home = base / "prefect-home"
        home.mkdir()

        command, env = translation.service("mlflow")
        mlflow_log = base / "mlflow.log"
        processes["mlflow"] = start(command, base, environment(home, **env), mlflow_log)
        command, env = translation.service("prefect-server")
        server_log = base / "prefect-server.log"
        # test pace, not the stack's: a run refused the retraining lock's slot retries after
        # 2 s (Prefect's default wait is up to 30 s)
        server_env = environment(
            home,
            PREFECT_UI_ENABLED="false",
            PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS="2",
            **env,
        )
        server_env.pop("PREFECT_API_URL", None)
        processes["prefect-server"] = start(command, base, server_env, server_log)
        prefect = Server(processes["prefect-server"], prefect_api, home, server_log)

        root = prepare_project(
            base,
            ["retrain.min_labelled_rows=200", "monitor.cooldown_minutes=60", QUIET_SCHEDULE,
             # a quicker model: this test is about the stack, not the model
             "models.hist_gradient_boosting.fixed.max_iter=50", "evaluate.importance_repeats=1"],
            rows=ROWS,
        )  # fmt: skip
        phase("project made")
        wait_for_http(f"{mlflow_url}/health", processes["mlflow"], mlflow_log, 180)
        wait_for_server(prefect, timeout=180)
        phase("mlflow and prefect servers up")

        # the one-shot job: the services' own MLflow users, on the project's names
        command, env = translation.service("mlflow-users")
        users = run(command, root, environment(home, **env))
        phase("mlflow users made")

        # the one-shot job: the deployments on the pool, and the automation
        command, env = translation.service("deployments")
        client_env = environment(home, **env)
        deployed = run(command, root, client_env)
        phase("deployed")

        command, env = translation.service("worker")
        worker_port = free_port()
        env["PREFECT_WORKER_WEBSERVER_PORT"] = str(worker_port)
        worker_log = base / "worker.log"
        processes["worker"] = start(command, root, environment(home, **env), worker_log)
        wait_for_http(f"http://127.0.0.1:{worker_port}/health", processes["worker"], worker_log,
                      120)  # fmt: skip
        phase("worker up")
        yield Stack(root, base, translation, prefect, mlflow_url, s3, client_env, users.stdout,
                    deployed.stdout, worker_log, receiver, processes)  # fmt: skip
    finally:
        codes = {name: stop(process) for name, process in reversed(processes.items())}
        print(f"stopped: {codes}", flush=True)
        if moto is not None:
            moto.stop()
        receiver.close()
        if postgres is not None:
            shutil.rmtree(postgres.folder, ignore_errors=True)
        gone = {name: not psutil.pid_exists(p.pid) for name, p in processes.items()}
        assert all(gone.values()), gone


def _wait_for_run(client: Any, flow_run_id: Any, log: Path, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        flow_run = client.read_flow_run(flow_run_id)
        if flow_run.state is not None and flow_run.state.type.value in FINAL:
            return flow_run
        if time.monotonic() > deadline:
            raise TimeoutError(f"flow run {flow_run.name} still {flow_run.state}:\n"
                               + log.read_text())  # fmt: skip
        time.sleep(1.0)


@contextlib.contextmanager
def _mlflow(stack: Stack, user: str = "AUTH_ADMIN") -> Iterator[Any]:
    """An MLflow client of the server, logged in as the admin (a person), or as a service's
    user: ``WORKER`` or ``SERVING``."""
    from mlflow.tracking import MlflowClient

    login = {
        "MLFLOW_TRACKING_USERNAME": stack.translation.values[f"MLFLOW_{user}_USERNAME"],
        "MLFLOW_TRACKING_PASSWORD": stack.translation.values[f"MLFLOW_{user}_PASSWORD"],
    }
    saved = {k: os.environ.get(k) for k in login}
    os.environ.update(login)
    try:
        yield MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# the first test starts the stack (the module fixture): Postgres, the object store, both
# servers (180 s each at most), `mlops deploy` and the worker (120 s)
@pytest.mark.timeout(1200)
def test_the_servers_refuse_anonymous_clients(stack: Stack) -> None:
    import base64

    search = requests.post(
        f"{stack.mlflow_url}/api/2.0/mlflow/experiments/search",
        json={"max_results": 1},
        timeout=10,
    )
    assert search.status_code == 401
    version = requests.get(f"{stack.prefect.api_url}/admin/version", timeout=10)
    assert (version.status_code, version.json()) == (401, {"exception_message": "Unauthorized"})
    # with the auth string, a write still needs the CSRF token Prefect's clients fetch first
    auth = base64.b64encode(stack.translation.values["PREFECT_AUTH_STRING"].encode()).decode()
    write = requests.post(
        f"{stack.prefect.api_url}/flows/filter",
        json={},
        headers={"Authorization": f"Basic {auth}"},
        timeout=10,
    )
    assert (write.status_code, write.json()) == (403, {"detail": "Missing CSRF token."})
    # the probes stay open: the compose healthchecks use them
    assert requests.get(f"{stack.mlflow_url}/health", timeout=10).status_code == 200
    assert requests.get(f"{stack.prefect.api_url}/health", timeout=10).status_code == 200


# training through the worker (600 s at most), the endpoint (120 s), the retraining runs
# (900 s) and their logs (60 s)
@pytest.mark.timeout(2100)
def test_train_serve_drift_and_retrain_on_the_stack(stack: Stack) -> None:
    from tasks.adapters import inference_log
    from tasks.steps.generate import Drift, generate_sessions

    auth = stack.translation.values["PREFECT_AUTH_STRING"]
    # `mlops deploy --pool mlops` printed one line per deployment, all on the pool
    listed = re.findall(r"deployment (\S+) on work pool 'mlops'", stack.deploy_output)
    assert listed == ["training", "monitoring", "retraining", "batch-predict"]
    with api(stack.prefect, auth) as client:
        assert client.read_work_pool(POOL).type == "process"
        training = client.read_deployment_by_name("training/training")
        retraining = client.read_deployment_by_name("retraining/retraining")
        assert (training.work_pool_name, training.entrypoint) == (
            POOL, "flows.training.training_flow",
        )  # fmt: skip
        assert training.parameters == {"project": str(stack.root), "trigger": "manual"}

        # 1. training through the deployment: the worker runs it
        first = client.create_flow_run_from_deployment(training.id)
        done = _wait_for_run(client, first.id, stack.worker_log, timeout=600)
        assert done.state.type.value == "COMPLETED", stack.worker_log.read_text()

    with _mlflow(stack) as mlflow_client:
        champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
        assert champion.version == "1"
        # the only kind of source the server accepts (security review #21): MLflow 3's
        # log_model(registered_model_name=...) registers this and nothing else
        assert re.fullmatch(r"models:/m-[0-9a-f]{32}", champion.source), champion.source
        # the worker registered it as its own user, who holds EDIT, not MANAGE
        assert mlflow_client.get_run(champion.run_id).info.user_id == "mlops-worker"
    # the model's files went through the tracking server into the artifact bucket
    assert any(key.endswith("MLmodel") for key in _s3_keys(stack.s3, "mlflow"))
    _least_privilege(stack, champion.version)

    # 2. the endpoint answers with the champion, behind its token
    command, env = stack.translation.service("serving")
    serving_port = free_port()
    command = [arg.replace("8080", str(serving_port)) for arg in command]
    serving_log = stack.base / "serving.log"
    serving = start(command, stack.root, environment(stack.prefect.home, **env), serving_log)
    stack.processes["serving"] = serving
    url = f"http://127.0.0.1:{serving_port}"
    production = generate_sessions(PRODUCTION_ROWS, 7, Drift(covariate=1.5))
    features = production.drop(columns=["purchased"])
    payload = {"dataframe_records": features.astype(object).where(features.notna(), None)
               .to_dict(orient="records")}  # fmt: skip
    try:
        wait_for_http(f"{url}/ping", serving, serving_log, 120)
        refused = requests.post(f"{url}/invocations", json=payload, timeout=60)
        answered = requests.post(
            f"{url}/invocations", json=payload, timeout=60,
            headers={"Authorization": f"Bearer {stack.translation.values['SERVING_TOKEN']}",
                     "X-Request-ID": "production-1"},
        )  # fmt: skip
    finally:
        stop(serving)  # the endpoint writes its inference log when it stops
    assert refused.status_code == 401
    assert (answered.status_code, answered.headers["X-Model-Version"]) == (200, "1")
    assert len(answered.json()["predictions"]) == PRODUCTION_ROWS

    # 3. the labels arrive for what the endpoint scored
    log = stack.root / "logs" / "inference.db"
    labels = [("production-1", i, int(v)) for i, v in enumerate(production["purchased"])]
    assert inference_log.add_feedback(log, labels, "test").taken == PRODUCTION_ROWS

    # 4. a burst of drift events inside the cooldown: the automation runs the retraining
    # deployment once per event on the worker; the retraining lock (a global concurrency limit
    # on this Prefect server) and the cooldown let exactly one of them retrain
    reports = [f"drift-production-{i}" for i in range(1, EVENTS + 1)]
    with api(stack.prefect, auth) as client:
        emit_drift(reports)
        found = runs_for(client, retraining.id, reports, timeout=900)
        states = {r: [f.state.type.value for f in fs] for r, fs in found.items()}
        assert states == {r: ["COMPLETED"] for r in reports}, (
            states, stack.worker_log.read_text(),
        )  # fmt: skip
        logs = _run_logs(client, {r: fs[0] for r, fs in found.items()})
    gated = [r for r in reports if any(line.startswith("gate: ") for line in logs[r])]
    assert len(gated) == 1, logs
    (winner,) = gated
    intake = f"intake: {PRODUCTION_ROWS} labelled production row(s) added"
    assert intake in " ".join(logs[winner]), logs[winner]
    for report in set(reports) - {winner}:
        decision = _decision(logs[report], report)
        assert "in cooldown until " in decision, logs
        assert f"(retraining for {winner} started " in decision, logs

    with _mlflow(stack) as mlflow_client:
        versions = {v.version: v for v in mlflow_client.search_model_versions(f"name='{MODEL}'")}
        assert sorted(versions) == ["1", "2"]
        tags = versions["2"].tags
        assert (tags["trigger"], tags["trigger.drift_report"]) == ("drift", winner)
        new_md5 = tags["data.dvc_md5"]
        assert new_md5 != versions["1"].tags["data.dvc_md5"]
    # the new data version is on the S3 remote (DVC 3's layout: files/md5/<2>/<30>)
    assert f"files/md5/{new_md5[:2]}/{new_md5[2:]}" in _s3_keys(stack.s3, "dvc")
    # on-call got the gate's decision on v2, once
    texts = stack.receiver.texts()
    assert len(texts) == 1, texts
    assert f"{MODEL} v2" in texts[0]
    assert winner in str(stack.receiver.received[0]["blocks"])  # the trigger: the drift report
    # the gate's verdict on v2, and the champion after it. Measured: refused. 400 rows of
    # covariate drift (the label relation unchanged) added to 3,000 do not make a model that
    # beats v1 on the new test split; the data, split and models are seeded.
    assert texts[0] == (
        f":no_entry: {MODEL} v2 refused by the promotion gate; champion stays v1"
    ), stack.receiver.received[0]
    assert "*Champion:* v1 (unchanged)" in str(stack.receiver.received[0]["blocks"])
    with _mlflow(stack) as mlflow_client:
        champion_after = mlflow_client.get_model_version_by_alias(MODEL, "champion").version
        gate = {k: v for k, v in mlflow_client.get_model_version(MODEL, "2").tags.items()
                if k.startswith("gate.")}  # fmt: skip
    assert champion_after == "1"
    assert (gate["gate.decision"], gate["gate.against"]) == ("refuse", "1"), gate
    assert gate["gate.rule.beats_champion"].startswith("fail: roc_auc "), gate


def _denied(call: Any) -> str:
    """The error of an MLflow client ``call`` that the server must refuse."""
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as caught:
        call()
    assert caught.value.error_code == "PERMISSION_DENIED", caught.value
    return str(caught.value)


def _least_privilege(stack: Stack, version: str) -> None:
    """Security review #6, against the real server: the endpoint's user reads the model (the
    serving step below loads it as that user) and writes nothing; the flows' user edits but
    cannot delete."""
    assert stack.users_output.splitlines()[-1] == (
        f"mlflow-users: mlops-serving: READ on experiment {MODEL}: granted"
    )
    alias = f"{MODEL}@champion"
    with _mlflow(stack, "SERVING") as serving:
        assert serving.get_model_version_by_alias(MODEL, "champion").version == version, alias
        assert _denied(lambda: serving.set_registered_model_alias(MODEL, "champion", version)) == (
            "API request to endpoint /api/2.0/mlflow/registered-models/alias failed with error "
            "code 403 != 200. Response body: 'Permission denied'"
        )
        assert "model-versions/set-tag failed with error code 403" in _denied(
            lambda: serving.set_model_version_tag(MODEL, version, "model.sha256", "0" * 64)
        )
        experiment = serving.get_experiment_by_name(MODEL).experiment_id
        assert "runs/create failed with error code 403" in _denied(
            lambda: serving.create_run(experiment)
        )
    with _mlflow(stack, "WORKER") as worker:
        assert "model-versions/delete failed with error code 403" in _denied(
            lambda: worker.delete_model_version(MODEL, version)
        )


def _run_logs(client: Any, runs: dict[str, Any], timeout: float = 60) -> dict[str, list[str]]:
    """Each run's log lines, once every run logged its decision (the retraining flow prints
    "<report>: ..." once decided) and one logged the gate's ("gate: ..."): logs reach the API
    in batches, possibly after the run's final state."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    deadline = time.monotonic() + timeout
    while True:
        found = {}
        for report, flow_run in runs.items():
            only = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
            logs = client.read_logs(log_filter=only, limit=200, sort=LogSort.TIMESTAMP_ASC)
            found[report] = [log.message for log in logs]
        decided = all(_decision(found[r], r) for r in found)
        gated = any(line.startswith("gate: ") for lines in found.values() for line in lines)
        if (decided and gated) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def _decision(lines: list[str], report: str) -> str:
    return next((line for line in lines if line.startswith(f"{report}: ")), "")
