"""``mlops simulate --live``: the closed loop through the real running services.

The scenario of ``mlops simulate`` (cli/simulate.py), in a sandbox project that runs ``mlops
up`` on free ports of 127.0.0.1: the first champion is trained with ``mlops train`` against
those servers, then each production batch goes to the endpoint over HTTP (``POST
/invocations``), the labels of the batch ``label_delay`` batches back through ``POST
/feedback``, and the driver only watches: the monitoring deployment fires on its schedule (a
cron with seconds, ``simulate.live_schedule``), its drift event becomes a retraining run on the
runner through the automation, the gate decides, and the endpoint follows the alias. On-call's
webhook is a receiver in this process, so an alert's arrival is measured, not assumed.

Per batch the timeline adds what a user feels: batch sent -> alert received, alert -> the
retraining flow run Running, the promotion -> the endpoint answering with the new version.
``mlops down`` stops the sandbox's services at the end, whatever happened.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cli.simulate import Scenario, Simulation, Step, format_step, make_sandbox, summarize

HOST = "127.0.0.1"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
SERVICES = ("prefect", "mlflow", "serving", "evidently", "runner")


class LiveError(RuntimeError):
    """The live loop could not go on (a service down, a run that never came); says which."""


@dataclass(frozen=True)
class Latency:
    """What a user feels at one batch, in seconds (None: did not happen at this batch)."""

    batch: int
    check: str  # the monitoring flow run that checked this batch
    check_scheduled: bool  # created by the deployment's schedule (Prefect's auto_scheduled)
    check_seconds: float  # batch sent -> that check finished
    alert_seconds: float | None  # batch sent -> the on-call webhook received the alert
    retrain_running_seconds: float | None  # alert received -> retraining flow run Running
    retrain_run: str  # its name ("" when none)
    retrain_created_by: str  # who created it: AUTOMATION when the drift event did
    swap_seconds: float | None  # new champion promoted -> the endpoint answers with it
    answered_by: str  # the version the endpoint named in its answer to this batch


class Receiver:
    """A local webhook: each POST's arrival time and JSON body."""

    def __init__(self) -> None:
        received: list[tuple[float, dict[str, Any]]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {"unreadable": body[:200].decode(errors="replace")}
                received.append((time.time(), payload))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet
                return

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/alert"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def since(self, moment: float) -> list[tuple[float, dict[str, Any]]]:
        return [(t, p) for t, p in list(self.received) if t >= moment]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now."""
    import socket

    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
            ports.append(int(sock.getsockname()[1]))
    finally:
        for sock in sockets:
            sock.close()
    return ports


def sandbox_overrides(scenario: Scenario, schedule: str, ports: list[int]) -> list[str]:
    """The live sandbox's params: the inline simulation's, the short monitoring schedule, the
    endpoint asking the registry every second, and free ports for every service."""
    from cli.simulate import sandbox_overrides as inline

    return [
        *inline(scenario),
        f"monitor.schedule={schedule}",
        "serve.poll_seconds=1",
        *(f"up.{name}_port={port}" for name, port in zip(SERVICES, ports, strict=True)),
    ]


class Prefect:
    """The few REST calls the driver needs, on the sandbox's Prefect server."""

    def __init__(self, api: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=api, timeout=30.0)

    def deployment_id(self, flow: str, name: str) -> str:
        response = self.http.get(f"/deployments/name/{flow}/{name}")
        response.raise_for_status()
        return str(response.json()["id"])

    def runs(self, deployment: str, after: datetime) -> list[dict[str, Any]]:
        """The deployment's flow runs expected to start after ``after``, soonest first (at most
        200: the scheduler creates up to 100 ahead)."""
        body = {
            "deployments": {"id": {"any_": [deployment]}},
            "flow_runs": {"expected_start_time": {"after_": after.isoformat()}},
            "sort": "EXPECTED_START_TIME_ASC",
            "limit": 200,
        }
        response = self.http.post("/flow_runs/filter", json=body)
        response.raise_for_status()
        return list(response.json())

    def created_after(self, deployment: str, after: datetime) -> list[dict[str, Any]]:
        """Runs created after ``after``: an automation's run is created when the event lands,
        to start at once (so it is expected after ``after`` too: the server filters on that)."""
        return [r for r in self.runs(deployment, after) if _time(r["created"]) > after]

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/flow_runs/{run_id}")
        response.raise_for_status()
        return dict(response.json())


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _wait(what: str, until: Callable[[], Any], timeout: float, poll: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = until()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise LiveError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


class Endpoint:
    """The sandbox's scoring endpoint, with its tokens."""

    def __init__(self, url: str, token: str, feedback_token: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=60.0)
        self.token, self.feedback_token = token, feedback_token

    def score(self, frame: Any, request_id: str) -> str:
        """Send the batch as one request; the version that answered."""
        body = '{"dataframe_split": ' + frame.to_json(orient="split", index=False) + "}"
        response = self.http.post(
            "/invocations",
            content=body,
            headers={
                "content-type": "application/json",
                "authorization": f"Bearer {self.token}",
                "x-request-id": request_id,
            },
        )
        if response.status_code != 200:
            raise LiveError(f"POST /invocations answered {response.status_code}: {response.text}")
        return str(response.headers["x-model-version"])

    def label(self, request_id: str, labels: list[Any]) -> None:
        body = {"labels": [{"request_id": request_id, "row": i, "label": v}
                           for i, v in enumerate(labels)]}  # fmt: skip
        response = self.http.post(
            "/feedback", json=body, headers={"authorization": f"Bearer {self.feedback_token}"}
        )
        if response.status_code != 200:
            raise LiveError(f"POST /feedback answered {response.status_code}: {response.text}")

    def version(self) -> str | None:
        response = self.http.get("/health", headers={"authorization": f"Bearer {self.token}"})
        found = response.json().get("version") if response.status_code == 200 else None
        return None if found is None else str(found)


def _mlops(root: Path, env: dict[str, str], *args: str, timeout: float) -> str:
    """Run ``mlops args`` in the sandbox; its output; LiveError with its last lines if it
    fails."""
    command = [str(Path(sys.executable).parent / "mlops"), *args]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
        raise LiveError(f"`mlops {' '.join(args)}` failed ({done.returncode}):\n{tail}")
    return done.stdout


class Stopped(Exception):
    """SIGTERM or SIGHUP reached the driver: stop, through ``mlops down``."""


def _stop(signum: int, _frame: Any) -> None:
    raise Stopped(f"signal {signum}")


@contextmanager
def services(root: Path, env: dict[str, str], echo: Callable[[str], None]) -> Iterator[None]:
    """``mlops up`` in the sandbox; ``mlops down`` on the way out, whatever happened: an error,
    Ctrl-C, or SIGTERM/SIGHUP (a closed terminal, a supervisor's timeout), which would otherwise
    end the driver without its ``finally`` and leave five servers running."""
    import signal

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        started = time.monotonic()
        _mlops(root, env, "up", timeout=600)
        echo(f"mlops up: every service answered after {time.monotonic() - started:.0f} s")
        yield
    finally:
        try:
            _mlops(root, env, "down", timeout=300)
            echo("mlops down: the sandbox's services are stopped")
        except (LiveError, subprocess.TimeoutExpired) as error:
            echo(f"mlops down failed: {error}")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _reports(root: Path, folder: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The monitoring results written by a run between ``start`` and ``end``."""
    from tasks.clock import COMPACT

    found = []
    for path in sorted((root / folder).glob("drift-*/result.json")):
        stamp = path.parent.name.split("-")[1]
        made = datetime.strptime(stamp, COMPACT).replace(tzinfo=UTC)
        if start.replace(microsecond=0) <= made <= end:
            found.append(json.loads(path.read_text()))
    return found


@dataclass
class Loop:
    """What the driver holds while the sandbox's services run."""

    root: Path
    params: Any
    scenario: Scenario
    model_name: str
    prefect: Prefect
    endpoint: Endpoint
    receiver: Receiver
    monitoring: str  # deployment ids
    retraining: str
    wait_seconds: float
    metric_name: str
    batches: dict[int, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)

    def run_batch(self, batch: int) -> tuple[Step, Latency]:
        """Send batch ``batch`` and the labels due, wait for its scheduled check (and what
        that check set off), and say what happened."""
        from tasks.adapters import registry
        from tasks.steps.generate import FEATURES, TARGET, Drift, generate_sessions

        s = self.scenario
        drifting = batch >= s.onset
        drift = Drift(covariate=s.covariate, concept=s.concept) if drifting else Drift()
        frame = generate_sessions(s.batch_rows, s.seed * 1000 + batch, drift)
        self.batches[batch] = frame
        answered_by = self.endpoint.score(frame[list(FEATURES)], f"live-{batch}")
        labelled = batch - s.label_delay
        if labelled in self.batches:
            truth = [int(v) for v in self.batches[labelled][TARGET]]
            self.endpoint.label(f"live-{labelled}", truth)
        sent_wall, sent = time.time(), datetime.now(UTC)
        before = len(registry.history(self.model_name))
        check_run = _wait(
            f"the scheduled check of batch {batch}", lambda: self.finished_check(sent),
            self.wait_seconds,
        )  # fmt: skip
        check_end = _time(check_run["end_time"])
        results = _reports(
            self.root, self.params.paths.monitoring, _time(check_run["start_time"]), check_end
        )
        result: dict[str, Any] = results[-1] if results else {"verdict": "failed", "action": ""}
        alert_seconds = retrain_seconds = swap_seconds = None
        retrain_run = created_by = ""
        if result["verdict"] == "drift":  # its alert: sent by this check, after it began
            alert_at = self.alert_after(max(sent_wall, _time(check_run["start_time"]).timestamp()))
            alert_seconds = alert_at - sent_wall
            first = self.retraining_after(_time(check_run["start_time"]))
            retrain_run = str(first["name"])
            created_by = str((first.get("created_by") or {}).get("type") or "")
            if first.get("start_time"):
                retrain_seconds = _time(first["start_time"]).timestamp() - alert_at
        new = registry.history(self.model_name)[before:]
        retrained = next((e for e in new if e.event == "retrain"), None)
        gate = next((e for e in new if e.event in GATE_EVENTS), None)
        if gate is not None and gate.event in ("promote", "force"):
            wanted = gate.version
            _wait(
                f"the endpoint to answer with version {wanted}",
                lambda: self.endpoint.version() == wanted, 120, 0.1,
            )  # fmt: skip
            swap_seconds = time.time() - _time(gate.time).timestamp()
        step = Step(
            batch=batch,
            drifting=drifting,
            drifted_share=(result.get("check") or {}).get("drifted_share"),
            verdict=str(result["verdict"]),
            action=str(result.get("action", "")),
            retrained=_retrained(retrained, gate),
            gate=gate.event if gate else "",
            champion=answered_by,
            metric=self.metric(answered_by, frame),
        )
        latency = Latency(
            batch=batch,
            check=str(check_run["name"]),
            check_scheduled=bool(check_run.get("auto_scheduled")),
            check_seconds=check_end.timestamp() - sent_wall,
            alert_seconds=alert_seconds,
            retrain_running_seconds=retrain_seconds,
            retrain_run=retrain_run,
            retrain_created_by=created_by,
            swap_seconds=swap_seconds,
            answered_by=answered_by,
        )
        return step, latency

    def finished_check(self, sent: datetime) -> dict[str, Any] | None:
        """The first scheduled check due after ``sent`` that has finished (a tick cancelled
        because the previous check still ran does not count)."""
        runs = self.prefect.runs(self.monitoring, sent)
        done = [r for r in runs if r["state_type"] in FINAL - {"CANCELLED"}]
        return done[0] if done else None

    def alert_after(self, moment: float) -> float:
        """When the first alert after ``moment`` reached the webhook."""
        alerts = _wait("the on-call alert", lambda: self.receiver.since(moment), 60)
        return float(alerts[0][0])

    def retraining_after(self, started: datetime) -> dict[str, Any]:
        """Wait for the retraining runs the automation created since ``started`` to finish;
        the first of them, as it ended."""
        runs = _wait(
            "the automation's retraining run",
            lambda: self.prefect.created_after(self.retraining, started), 120,
        )  # fmt: skip
        for run in runs:
            self.wait_final(run["id"], f"retraining run {run['name']}")
        return self.prefect.run(runs[0]["id"])

    def wait_final(self, run_id: str, what: str) -> None:
        _wait(what, lambda: self.prefect.run(run_id)["state_type"] in FINAL, self.wait_seconds)

    def metric(self, version: str, frame: Any) -> float:
        """The primary metric of ``version`` (the one that answered) on the batch's labels."""
        from cli.simulate import batch_metric
        from tasks.adapters import registry

        if version not in self.models:
            self.models[version] = registry.load_served(self.model_name, version)
        return batch_metric(self.models[version], frame, self.metric_name)


GATE_EVENTS = ("promote", "refuse", "force", "pending")


def _retrained(retrained: Any, gate: Any) -> str:
    if retrained and gate:
        return f"v{gate.version}"
    return "yes" if retrained else ""


def simulate_live(
    source: Path,
    folder: Path,
    scenario: Scenario,
    echo: Callable[[str], None] = print,
    schedule: str = "* * * * * */30",
    wait_seconds: float = 900.0,
) -> Simulation:
    """Run ``scenario`` through the sandbox's running services; the timeline, with the
    latencies in ``summary['latencies']``."""
    from tasks.adapters import io, registry, tracking, versioning
    from tasks.config import load_params, write_overrides
    from tasks.steps.evaluate import primary_metric
    from tasks.steps.generate import generate_sessions

    s = scenario
    root = make_sandbox(source, folder)
    ports = free_ports(len(SERVICES))
    write_overrides(root / "params.yaml", sandbox_overrides(s, schedule, ports))
    params = load_params(root / "params.yaml")
    data = root / params.generate.path
    data.parent.mkdir(parents=True, exist_ok=True)
    generate_sessions(s.training_rows, s.seed).to_csv(data, index=False)
    versioning.add_data(root, data)  # the champion's data version, which the monitor fetches
    versioning.push_data(root, data)
    receiver = Receiver()
    token, feedback_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "PREFECT_HOME")
    } | {
        "MLOPS_WEBHOOK_URL": receiver.url,
        "SERVING_TOKEN": token,
        "SERVING_FEEDBACK_TOKEN": feedback_token,
    }
    url = dict(zip(SERVICES, (f"http://{HOST}:{p}" for p in ports), strict=True))
    steps: list[Step] = []
    latencies: list[Latency] = []
    metric_name = primary_metric(params.evaluate, "binary")
    try:
        with services(root, env, echo):
            echo(f"sandbox {root}: `mlops train` on {s.training_rows} rows, on its servers")
            _mlops(root, env, "train", timeout=wait_seconds)
            os.environ["MLFLOW_TRACKING_URI"] = url["mlflow"]  # this process reads the registry
            tracking.configure(root)
            prefect = Prefect(url["prefect"] + "/api")
            loop = Loop(
                root=root,
                params=params,
                scenario=s,
                model_name=params.register_.resolved_model_name(params.ingest.path),
                prefect=prefect,
                endpoint=Endpoint(url["serving"], token, feedback_token),
                receiver=receiver,
                monitoring=prefect.deployment_id("monitoring", "monitoring"),
                retraining=prefect.deployment_id("retraining", "retraining"),
                wait_seconds=wait_seconds,
                metric_name=metric_name,
            )
            first = registry.alias_version(loop.model_name, registry.CHAMPION)
            _wait(
                "the endpoint to serve the first champion",
                lambda: loop.endpoint.version() == first, wait_seconds,
            )  # fmt: skip
            echo(HEADER)
            for batch in range(1, s.batches + 1):
                step, latency = loop.run_batch(batch)
                steps.append(step)
                latencies.append(latency)
                echo(format_step(step, metric_name) + format_latency(latency))
    finally:
        receiver.close()
    summary = summarize(steps, s.onset) | {
        "latencies": [asdict(x) for x in latencies],
        "alerts_received": len(receiver.received),
    }
    summary["finished"] = datetime.now(UTC).isoformat()
    simulation = Simulation(s, metric_name, steps, str(root), summary)
    io.write_json(simulation.to_dict() | {"mode": "live"}, folder / "simulation.json")
    return simulation


HEADER = (
    f"{'batch':>5} {'drift':>5} {'share':>6} {'verdict':<17} {'retrain':<8} {'gate':<8} "
    f"{'champion':>8} {'metric':>7}  action | sent->alert, alert->retraining Running, "
    "promoted->answering"
)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def format_latency(latency: Latency) -> str:
    if latency.alert_seconds is None:
        return ""
    return (
        f" | {_seconds(latency.alert_seconds)}, {_seconds(latency.retrain_running_seconds)}, "
        f"{_seconds(latency.swap_seconds)}"
    )


def format_latencies(simulation: Simulation) -> list[str]:
    """The latencies' summary lines: each kind's median and worst over the batches."""
    import statistics

    rows = simulation.summary.get("latencies") or []
    lines = []
    for key, words in (
        ("alert_seconds", "drifted batch sent -> alert received"),
        ("retrain_running_seconds", "alert -> retraining flow run Running"),
        ("swap_seconds", "new champion promoted -> endpoint answering with it"),
    ):
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            times = "once" if len(values) == 1 else f"{len(values)} times"
            lines.append(
                f"{words}: median {statistics.median(values):.1f} s, worst "
                f"{max(values):.1f} s ({times})"
            )
        else:
            lines.append(f"{words}: did not happen")
    return lines
