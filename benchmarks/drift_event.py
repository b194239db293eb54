"""Drift event -> retraining flow run started, through a real Prefect server and `mlops deploy`.

A real ``prefect server start`` (its own PREFECT_HOME and SQLite database, telemetry off) on a
free port of 127.0.0.1, and ``mlops deploy`` in a throw-away project (a temporary folder,
removed after), which registers the deployments and the automation
``mlops-drift-retrain-<model>``. This process then emits ``mlops.drift.detected`` events about
the model, one at a time, and reads from the API, for the retraining flow run the automation
created for each event:

- event -> created: the run's ``created`` minus the time ``emit_event`` was called (the event
  travelling over the websocket, the server's triggers service, the RunDeployment action);
- created -> pending: the runner of ``mlops deploy`` noticed the scheduled run (it polls the
  server every PREFECT_RUNNER_POLL_FREQUENCY seconds, 10 by default);
- pending -> running: the flow-run subprocess started and imported the flow (``start_time``);
- event -> running: the total, against the goal of 15 s.

The project has ``monitor.cooldown_minutes=0`` and ``retrain.min_labelled_rows`` of 10**9, so
each run ends at once as "waiting for labels" (before any data or model is touched: no
champion is needed): this measures the trigger path, not training. Three rows: ``mlops deploy``
with Prefect's default poll frequency, then restarted with PREFECT_RUNNER_POLL_FREQUENCY=2, then
as under ``mlops up``: the project's warm command server running and the runner polling every
second (each run then starts as ``mlops run-flow`` in a fork of the warm server).
Writes benchmarks/results/drift_event.md.

    python -m benchmarks.drift_event [--events 5] [--fast-poll 2] [--keep]

The helpers here (a Prefect server, a project, `mlops deploy`, emitting events, stopping
process trees) are shared with tests/integration/test_production.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from tests.support import REPO, free_port, make_project

RESULTS = REPO / "benchmarks" / "results"
MODEL = "customer-purchase"
RETRAINING = "retraining/retraining"
DRIFT_EVENT = "mlops.drift.detected"  # flows.monitoring.DRIFT_EVENT (not imported: heavy)
GOAL_SECONDS = 15.0
UP_GOAL_SECONDS = 5.0  # under `mlops up` (issue 17): poll 1 s, the run a fork of the warm server
# the monitoring deployment's default cron is hourly: a run crossing the hour would monitor
# (and maybe emit drift) by itself; once a year keeps it out of the measurement
QUIET_SCHEDULE = 'monitor.schedule="0 0 1 1 *"'
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUNNER_STARTED = "polling for scheduled runs"  # prefect serve's starting message


def environment(home: Path, **extra: str) -> dict[str, str]:
    """This environment for a subprocess: the venv's scripts first, telemetry off, Prefect's
    files in ``home``, no MLflow store inherited from this process (tests/support.run)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        DVC_NO_ANALYTICS="1",
    )
    env.update(extra)
    return env


def start(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``command`` in its own session (process group), its output in ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> int | None:
    """SIGTERM to ``process`` (and its process group), wait ``timeout`` s, then SIGKILL it and
    every descendant still alive (flow-run subprocesses included). Returns its exit code."""
    if process is None:
        return None
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    with contextlib.suppress(psutil.NoSuchProcess):
        family += psutil.Process(process.pid).children(recursive=True)
    for child in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(family, timeout=10)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    return process.returncode


@dataclass
class Server:
    """A ``prefect server start`` of our own."""

    process: subprocess.Popen[bytes]
    api_url: str
    home: Path
    log: Path


def start_server(folder: Path, **settings: str) -> Server:
    """``prefect server start`` on a free port, its PREFECT_HOME and SQLite file in ``folder``,
    ``settings`` in its environment (does not wait for it: see :func:`wait_for_server`)."""
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / "prefect-home"
    home.mkdir(exist_ok=True)
    port = free_port()
    env = environment(
        home,
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{folder / 'prefect.db'}",
        PREFECT_UI_ENABLED="false",
        **settings,
    )
    env.pop("PREFECT_API_URL", None)
    log = folder / "prefect-server.log"
    command = [str(Path(sys.executable).parent / "prefect"), "server", "start",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    process = start(command, folder, env, log)
    return Server(process, f"http://127.0.0.1:{port}/api", home, log)


def wait_for_server(server: Server, timeout: float = 90.0) -> float:
    """Seconds until ``GET /api/health`` answered."""
    import httpx

    began = time.monotonic()
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"prefect server exited:\n{server.log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                return time.monotonic() - began
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"prefect server never answered:\n{server.log.read_text()}")
        time.sleep(0.3)


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{result.stdout}\n{result.stderr}")
    return result


def prepare_project(base: Path, overrides: Sequence[str], rows: int = 0) -> Path:
    """A throw-away project (tests/support.make_project) with ``overrides`` in params.yaml and,
    with ``rows``, that many generated sessions as its DVC-versioned (and pushed) raw data."""
    from tasks.adapters import versioning
    from tasks.config import load_params, write_overrides
    from tasks.steps.generate import generate_sessions

    root = make_project(base)
    if rows:
        data = root / load_params(root / "params.yaml").generate.path  # the demo data set's file
        data.parent.mkdir(parents=True, exist_ok=True)
        generate_sessions(rows, 11).to_csv(data, index=False)
        versioning.add_data(root, data)
        versioning.push_data(root, data)
    write_overrides(root / "params.yaml", list(overrides))
    return root


def start_deploy(root: Path, server: Server, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    """``mlops deploy`` in ``root`` against ``server``."""
    env = environment(server.home, PREFECT_API_URL=server.api_url, **extra)
    return start([sys.executable, "-m", "cli.main", "deploy"], root, env, log)


@contextlib.contextmanager
def api(server: Server, auth_string: str | None = None) -> Iterator[Any]:
    """A sync Prefect client of ``server`` (with ``auth_string``: the server's API auth string),
    with PREFECT_API_URL set for this process while inside (emit_event in the block goes there
    too)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    settings: dict[Any, Any] = {PREFECT_API_URL: server.api_url}
    if auth_string is not None:
        settings[PREFECT_API_AUTH_STRING] = auth_string
    with temporary_settings(settings), get_client(sync_client=True) as client:
        yield client


def wait_for_deploy(
    client: Any, process: subprocess.Popen[bytes], log: Path, model: str = MODEL,
    timeout: float = 180.0,
) -> tuple[Any, Any]:  # fmt: skip
    """The retraining deployment and the automation, once ``mlops deploy`` (re)created the
    automation and its runner started polling (Prefect's starting message in ``log``, the
    output of this process only)."""
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    name = f"mlops-drift-retrain-{model}"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"mlops deploy exited:\n{log.read_text()}")
        text = log.read_text(errors="replace") if log.exists() else ""
        match = re.search(rf"automation '{re.escape(name)}' \(([0-9a-f-]{{36}})\)", text)
        if match and RUNNER_STARTED in text:
            with contextlib.suppress(ObjectNotFound):
                deployment = client.read_deployment_by_name(RETRAINING)
                found = [a for a in client.read_automations_by_name(name) if a.enabled]
                if [str(a.id) for a in found] == [match.group(1)]:
                    return deployment, found[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no deployment, automation and runner after {timeout:g} s:\n"
                               + log.read_text())  # fmt: skip
        time.sleep(0.5)


def emit_drift(report_ids: Sequence[str], model: str = MODEL) -> dict[str, float]:
    """Emit one drift event per report id (inside :func:`api`); wait until the events worker
    sent them all. Returns the wall time (``time.time()``) of each ``emit_event`` call."""
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(at_exit=False)  # a worker bound to another server must not be used
    emitted = {}
    for report_id in report_ids:
        emitted[report_id] = time.time()
        event = emit_event(
            event=DRIFT_EVENT,
            resource={
                "prefect.resource.id": f"mlops.model.{model}",
                "prefect.resource.name": model,
            },
            payload={"report_id": report_id, "verdict": "drift"},
        )
        if event is None:
            raise RuntimeError("emit_event sent nothing: no events client (PREFECT_API_URL?)")
    EventsWorker.drain_all(timeout=30, at_exit=False)  # flushed over the websocket, worker stopped
    return emitted


def retraining_runs(client: Any, deployment_id: Any) -> list[Any]:
    """Every flow run of the retraining deployment."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    only = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    # newest first (the default order, by id, is random: ids are uuid4)
    sort = FlowRunSort.EXPECTED_START_TIME_DESC
    return list(client.read_flow_runs(deployment_filter=only, sort=sort, limit=200))


def runs_for(
    client: Any, deployment_id: Any, report_ids: Sequence[str], timeout: float,
    final: bool = True, process: subprocess.Popen[bytes] | None = None, log: Path | None = None,
) -> dict[str, list[Any]]:  # fmt: skip
    """The retraining flow runs per report id (parameter ``drift_report``), once every id has
    one and (``final``) all of them reached a final state, or at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError("mlops deploy exited:\n" + (log.read_text() if log else ""))
        found: dict[str, list[Any]] = {r: [] for r in report_ids}
        for flow_run in retraining_runs(client, deployment_id):
            report = flow_run.parameters.get("drift_report")
            if report in found:
                found[report].append(flow_run)
        everyone = all(found.values())
        done = all(
            r.state is not None and r.state.type.value in FINAL for rs in found.values() for r in rs
        )
        if (everyone and (done or not final)) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@dataclass(frozen=True)
class Timing:
    """One event's way to a running retraining flow run (seconds)."""

    report_id: str
    to_created: float
    created_to_pending: float
    pending_to_running: float
    to_running: float
    outcome: str  # the final state and the retraining flow's decision


def _stamp(moment: datetime) -> float:
    return moment.timestamp()


def decision(client: Any, flow_run: Any, timeout: float = 15.0) -> str:
    """The retraining flow's decision line ("<report>: <action>: <reason>", printed), from the
    run's logs (they reach the API in batches: waits up to ``timeout``)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    report = flow_run.parameters["drift_report"]
    only = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
    deadline = time.monotonic() + timeout
    while True:
        for log in client.read_logs(log_filter=only, limit=200):
            if log.message.startswith(f"{report}: "):
                return log.message.removeprefix(f"{report}: ")
        if time.monotonic() > deadline:
            return "no decision logged"
        time.sleep(0.5)


def timing(client: Any, flow_run: Any, emitted: float) -> Timing:
    states = sorted(client.read_flow_run_states(flow_run.id), key=lambda s: s.timestamp)
    pending = next(s.timestamp for s in states if s.type.value == "PENDING")
    started = flow_run.start_time or next(s.timestamp for s in states if s.type.value == "RUNNING")
    created = _stamp(flow_run.created)
    return Timing(
        report_id=flow_run.parameters["drift_report"],
        to_created=created - emitted,
        created_to_pending=_stamp(pending) - created,
        pending_to_running=_stamp(started) - _stamp(pending),
        to_running=_stamp(started) - emitted,
        outcome=f"{flow_run.state.type.value.lower()}: " + decision(client, flow_run).split(":")[0],
    )


def measure(
    server: Server, root: Path, label: str, events: int, log: Path, **extra: str
) -> tuple[list[Timing], float]:
    """``mlops deploy`` (with ``extra`` in its environment), then ``events`` drift events one
    at a time, each after the previous run finished. Returns the timings and the seconds
    ``mlops deploy`` took to register everything."""
    began = time.monotonic()
    process = start_deploy(root, server, log, **extra)
    timings = []
    try:
        with api(server) as client:
            deployment, _ = wait_for_deploy(client, process, log)
            registered = time.monotonic() - began
            time.sleep(1.0)  # the runner's first poll of the server is not part of the measure
            for index in range(events):
                report_id = f"bench-{label}-{index}"
                emitted = emit_drift([report_id])[report_id]
                runs = runs_for(client, deployment.id, [report_id], 120, True, process, log)[
                    report_id
                ]
                if len(runs) != 1 or runs[0].start_time is None:
                    raise RuntimeError(f"{report_id}: runs {runs}:\n{log.read_text()}")
                timings.append(timing(client, runs[0], emitted))
                print(f"{label}: {timings[-1]}", flush=True)
    finally:
        stop(process)
    return timings, registered


def measure_warm(server: Server, root: Path, work: Path, events: int) -> tuple[list[Timing], float]:
    """The row of `mlops up`: the project's warm command server running (cli/warm.py), and
    ``mlops deploy`` polling every second, whose runner starts each run as ``mlops run-flow``
    in a fork of that server (flows/runs.py)."""
    from cli import warm

    process = start(warm.server_command(root), root, environment(server.home), work / "warm.log")
    try:
        deadline = time.monotonic() + 300
        while warm.ping(warm.socket_path(root)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the warm server did not start:\n" + (work / "warm.log").read_text()
                )
            time.sleep(0.5)
        return measure(
            server, root, "warm", events, work / "deploy-warm.log",
            PREFECT_RUNNER_POLL_FREQUENCY="1",
        )  # fmt: skip
    finally:
        stop(process)


def import_seconds(root: Path, home: Path, repeats: int = 3) -> float:
    """Median wall time of a new Python process importing Prefect's flow engine and the
    retraining flow (what a flow-run process does before it reports Running)."""
    env = environment(home)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run([sys.executable, "-c", "import prefect.flow_engine, flows.retraining"], root, env)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _row(label: str, timings: list[Timing], goal: float = GOAL_SECONDS) -> str:
    def both(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} / {max(values):.1f}"

    total = [t.to_running for t in timings]
    met = f"**met** (<= {goal:g} s)" if max(total) <= goal else f"**not met** (<= {goal:g} s)"
    return (
        f"| {label} | {len(timings)} | {both([t.to_created for t in timings])} | "
        f"{both([t.created_to_pending for t in timings])} | "
        f"{both([t.pending_to_running for t in timings])} | **{both(total)}** | {met} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5, help="events per row, one at a time")
    parser.add_argument("--fast-poll", type=int, default=2,
                        help="PREFECT_RUNNER_POLL_FREQUENCY of the second row")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="drift-event-"))
    load_before = os.getloadavg()
    server = start_server(work / "server")
    try:
        root = prepare_project(
            work,
            ["monitor.cooldown_minutes=0", f"retrain.min_labelled_rows={10**9}", QUIET_SCHEDULE],
        )
        startup = wait_for_server(server)
        rows = {}
        registered = {}
        default = "default poll (10 s)"
        fast = f"PREFECT_RUNNER_POLL_FREQUENCY={args.fast_poll}"
        rows[default], registered[default] = measure(
            server, root, "default", args.events, work / "deploy-default.log"
        )
        rows[fast], registered[fast] = measure(
            server, root, "fast", args.events, work / "deploy-fast.log",
            PREFECT_RUNNER_POLL_FREQUENCY=str(args.fast_poll),
        )  # fmt: skip
        warm_label = "as under `mlops up`: poll 1 s, the run a fork of the warm server"
        rows[warm_label], registered[warm_label] = measure_warm(server, root, work, args.events)
        imports = import_seconds(root, server.home)
        load_after = os.getloadavg()
    finally:
        stop(server.process)
        if args.keep:
            print(f"logs and project: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    write_results(rows, registered, startup, imports, (load_before, load_after), args.fast_poll)


def write_results(
    rows: dict[str, list[Timing]],
    registered: dict[str, float],
    startup: float,
    imports: float,
    loads: tuple[tuple[float, ...], tuple[float, ...]],
    fast_poll: int,
) -> None:
    from importlib.metadata import version as installed

    outcomes = sorted({t.outcome for ts in rows.values() for t in ts})
    lines = [
        "# Drift event -> retraining flow run started",
        "",
        f"Made by `python -m benchmarks.drift_event` on a shared, noisy machine: "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}; load average "
        f"over 5 minutes {loads[0][1]:.1f} before, {loads[1][1]:.1f} after: other users' "
        f"work too), Python {platform.python_version()}, Prefect {installed('prefect')}. A real "
        f"`prefect server start` (own PREFECT_HOME, SQLite; it answered `/api/health` after "
        f"{startup:.0f} s) and `mlops deploy` in a throw-away project "
        "(`monitor.cooldown_minutes=0`, `retrain.min_labelled_rows=10**9`: every run ends as "
        '"waiting for labels" before touching data or models). One `mlops.drift.detected` '
        "event at a time from the benchmark process (`emit_event`, then the events worker "
        "drained), the next after the previous run finished; times from the API: the flow "
        "run's `created`, its Pending state's timestamp and its `start_time`, minus the "
        "moment `emit_event` was called (one clock: same machine).",
        "",
        "Seconds, median / max:",
        "",
        "| `mlops deploy` | events | event -> run created (automation) | created -> pending "
        "(runner poll) | pending -> running (process start) | event -> running | goal |",
        "|---|---:|---:|---:|---:|---:|---|",
        *[
            _row(label, timings, UP_GOAL_SECONDS if "warm" in label else GOAL_SECONDS)
            for label, timings in rows.items()
        ],
        "",
        "Every event, event -> running (s): "
        + "; ".join(
            f"{label}: " + ", ".join(f"{t.to_running:.1f}" for t in timings)
            for label, timings in rows.items()
        )
        + f". Runs ended: {', '.join(outcomes)}. `mlops deploy` had registered the "
        "deployments and the automation, and its runner was polling, "
        + ", ".join(f"{registered[label]:.0f} s ({label})" for label in rows)
        + " after it started. A new Python process importing Prefect's flow engine and the "
        f"retraining flow (`python -c 'import prefect.flow_engine, flows.retraining'`) took "
        f"{imports:.1f} s (median of 3).",
        "",
        *paragraph(rows, imports, fast_poll),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "drift_event.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def paragraph(rows: dict[str, list[Timing]], imports: float, fast_poll: int) -> list[str]:
    (default_label, default), (_, fast), (_, up) = rows.items()
    everything = [t for ts in (default, fast) for t in ts]
    automation = statistics.median([t.to_created for t in everything])
    automation_max = max(t.to_created for t in everything)
    poll = statistics.median([t.created_to_pending for t in default])
    poll_max = max(t.created_to_pending for t in default)
    poll_fast = statistics.median([t.created_to_pending for t in fast])
    spawn = statistics.median([t.pending_to_running for t in everything])
    worst, worst_fast = automation + 10 + spawn, automation + fast_poll + spawn

    def verdict(seconds: float) -> str:
        return "**met**" if seconds <= GOAL_SECONDS else "**not met**"

    def goal(timings: list[Timing]) -> str:
        met = sum(t.to_running <= GOAL_SECONDS for t in timings)
        top = max(t.to_running for t in timings)
        return f"{met} of {len(timings)} events within it (max {top:.1f} s)"

    return [
        "**What this shows.** The server's part is small: the automation turned an event into "
        f"a flow run in {automation:.1f} s (median; at most {automation_max:.1f} s). The rest "
        "is the runner of `mlops deploy` (`prefect serve`), which is not told about new runs: "
        "it polls the server for scheduled runs every PREFECT_RUNNER_POLL_FREQUENCY seconds "
        "(10 by default), so a run waits anywhere between 0 and the interval for the next "
        f"poll ({poll:.1f} s median, {poll_max:.1f} s max here; {poll_fast:.1f} s median at "
        f"{fast_poll} s). It then starts a new Python process for the run, which imports "
        "Prefect's flow engine and the flow before it reports Running: "
        f"{spawn:.1f} s (median), the largest fixed part, about what a new process takes to import "
        f"them on this machine ({imports:.1f} s measured separately).",
        "",
        f"**Goal** (event -> running <= {GOAL_SECONDS:g} s). {default_label}: {goal(default)}; "
        f"the worst case is about automation + interval + process start = {worst:.0f} s: "
        f"{verdict(worst)}. At {fast_poll} s: {goal(fast)}, worst case about "
        f"{worst_fast:.0f} s: {verdict(worst_fast)}. The shorter interval costs the runner "
        f"one small API query every {fast_poll} s; `mlops deploy` keeps Prefect's default unless "
        "PREFECT_RUNNER_POLL_FREQUENCY is set in its environment. (A burst of events is "
        "another matter: the retraining lock and the cooldown let one of them retrain, see "
        "tests/integration/test_production.py.)",
        "",
        f"**Under `mlops up`** (goal event -> running <= {UP_GOAL_SECONDS:g} s, issue 17): the "
        "runner polls every second and starts each run as `mlops run-flow`, which the "
        "project's warm command server runs in a fork with every library imported "
        "(flows/runs.py): process start "
        f"{statistics.median([t.pending_to_running for t in up]):.1f} s (median) instead of "
        f"{spawn:.1f} s; {goal_of(up, UP_GOAL_SECONDS)}.",
    ]


def goal_of(timings: list[Timing], seconds: float) -> str:
    met = sum(t.to_running <= seconds for t in timings)
    top = max(t.to_running for t in timings)
    verdict = "**met**" if top <= seconds else "**not met**"
    return f"{met} of {len(timings)} events within it (max {top:.1f} s): {verdict}"


if __name__ == "__main__":
    main()
