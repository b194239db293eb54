"""The local services of ``mlops up`` / ``mlops down``: what runs, how it starts, how it is found
again and how it stops.

``mlops up`` starts each service as a detached process (its own session and process group,
stdin from /dev/null, output to ``.mlops/logs/<name>.log``) on 127.0.0.1 and records it in
``.mlops/services.json``: pid, the process's create time, command, port, URL, health URL, log.
A record is ours only while a process with that pid *and* that create time runs, so a pid the
system has given to another program since is never signalled. Nothing here imports a heavy
library: :func:`use_running` is called by every command.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.config import Params

HOST = "127.0.0.1"
STATE_DIR = ".mlops"
RECORD = f"{STATE_DIR}/services.json"
LOGS = f"{STATE_DIR}/logs"
# The order they start in: the runner needs Prefect and MLflow, the endpoint needs MLflow, the
# warm command server (cli/warm.py) runs commands against both.
ORDER = ("prefect", "mlflow", "evidently", "runner", "serving", "commands")
NEEDS = {"runner": ("prefect", "mlflow"), "serving": ("mlflow",), "commands": ("prefect", "mlflow")}
UNIX = "unix:"  # a health "URL" that is a Unix socket (the commands server has no port)
LOG_TAIL_LINES = 15


class ServicesError(RuntimeError):
    """A service cannot be started or stopped as asked (the message says which and why)."""


@dataclass(frozen=True)
class Service:
    """One running service as ``mlops up`` recorded it."""

    name: str
    pid: int
    create_time: float
    command: list[str]
    port: int
    url: str
    health: str
    log: str  # relative to the project

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """How to start one service."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    url: str
    health: str


# --- the record ---------------------------------------------------------------------------


@contextmanager
def exclusive(root: Path) -> Iterator[None]:
    """Hold the project's services lock: one `mlops up` or `mlops down` at a time."""
    import fcntl

    path = root / STATE_DIR / "services.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServicesError(
                f"another `mlops up` or `mlops down` is running for this project "
                f"({STATE_DIR}/services.lock); wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def record_path(root: Path) -> Path:
    return root / RECORD


def read_record(root: Path) -> dict[str, Service]:
    """The recorded services by name (none when there is no record)."""
    path = record_path(root)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ServicesError(f"{path}: unreadable ({error}); delete it if no service runs") from None
    try:
        return {item["name"]: Service(**item) for item in data["services"]}
    except (KeyError, TypeError) as error:
        raise ServicesError(f"{path}: not a services record ({error})") from None


def write_record(root: Path, services: Iterable[Service]) -> None:
    """Write the record atomically (a reader never sees half a file)."""
    path = record_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(services, key=lambda s: ORDER.index(s.name) if s.name in ORDER else 99)
    body = {"project": str(root), "services": [s.to_dict() for s in ordered]}
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(body, indent=2) + "\n")
    temporary.replace(path)


# --- is it ours, is it alive, does it answer ------------------------------------------------


def create_time(pid: int) -> float | None:
    """The create time of process ``pid`` (psutil's), or None when no live process has it."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


# A create time is boot time + ticks since boot, and Linux gives the boot time in whole
# seconds (/proc/stat btime) computed from the wall clock: when the clock is slewed (NTP) it
# moves by a second between two readings, and with it every create time. With an exact
# comparison `mlops down` once took all six services for gone, removed the record and left
# them running. A reused pid would also need a create time within this window of the
# recorded one: the pid counter wrapping around within two seconds.
CREATE_TIME_SLACK_SECONDS = 2.0


def is_ours(service: Service) -> bool:
    """A live process has the recorded pid and the recorded create time (not a reused pid),
    within CREATE_TIME_SLACK_SECONDS."""
    started = create_time(service.pid)
    return started is not None and abs(started - service.create_time) < CREATE_TIME_SLACK_SECONDS


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``."""
    import psutil

    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                members.append(process.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def answers(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status ``url`` answers with (an error status is an answer), or None. A
    ``unix:PATH`` is the warm command server's socket: 200 when it answers a ping."""
    import urllib.error
    import urllib.request

    if url.startswith(UNIX):
        from cli.warm import ping

        return 200 if ping(Path(url[len(UNIX) :]), max(timeout, 2.0)) is not None else None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):
        return None


def healthy(name: str, status: int | None) -> bool:
    """Whether a health answer means the service is up: 200, or the endpoint's 503 (it runs
    but no champion is registered yet)."""
    return status == 200 or (name == "serving" and status == 503)


def port_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on ``host:port`` now (SO_REUSEADDR, as servers bind)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(wanted: dict[str, int]) -> None:
    """Refuse, naming every service and port, when a port to be used is taken by another
    program; nothing has started when this raises."""
    taken = [(name, port) for name, port in wanted.items() if port and not port_free(port)]
    if taken:
        lines = [
            f"{name}: port {port} on {HOST} is in use by another program "
            f"(free it, or set up.{name}_port in params.yaml)"
            for name, port in taken
        ]
        raise ServicesError("cannot start, nothing was started:\n" + "\n".join(lines))


@dataclass(frozen=True)
class State:
    """What one recorded service is doing now."""

    service: Service
    state: str  # up | crashed
    detail: str


def state_of(service: Service) -> State:
    if not is_ours(service):
        return State(service, "crashed", f"pid {service.pid} is gone")
    status = answers(service.health)
    if healthy(service.name, status):
        extra = " (no model served yet)" if status == 503 else ""
        return State(service, "up", f"pid {service.pid}{extra}")
    said = "nothing" if status is None else f"HTTP {status}"
    return State(service, "crashed", f"pid {service.pid} runs but {service.health} answers {said}")


def states(root: Path) -> list[State]:
    """Every recorded service's state, asked at once (a hung one costs its timeout once)."""
    from concurrent.futures import ThreadPoolExecutor

    recorded = list(read_record(root).values())
    with ThreadPoolExecutor(max_workers=max(1, len(recorded))) as pool:
        return list(pool.map(state_of, recorded))


def log_tail(root: Path, service: Service, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        text = (root / service.log).read_text(errors="replace")
    except OSError:
        return [f"(no log at {service.log})"]
    return text.splitlines()[-lines:]


def running(root: Path) -> dict[str, Service]:
    """The recorded services whose process still runs (none when the record is unreadable)."""
    try:
        return {name: s for name, s in read_record(root).items() if is_ours(s)}
    except ServicesError:
        return {}


def use_running(root: Path) -> dict[str, str]:
    """While ``mlops up`` runs for this project, point this process at its servers: set
    ``PREFECT_API_URL`` and ``MLFLOW_TRACKING_URI`` (each unless the user set it) when the
    recorded Prefect and MLflow processes are alive. Returns what it set."""
    if not record_path(root).is_file():
        return {}
    try:
        recorded = read_record(root)
    except ServicesError:
        return {}
    wanted = {"prefect": ("PREFECT_API_URL", "/api"), "mlflow": ("MLFLOW_TRACKING_URI", "")}
    done: dict[str, str] = {}
    for name, (variable, path) in wanted.items():
        service = recorded.get(name)
        if service is not None and variable not in os.environ and is_ours(service):
            os.environ[variable] = done[variable] = service.url + path
    return done


# --- what runs ------------------------------------------------------------------------------


def plans(root: Path, params: Params) -> dict[str, Plan]:
    """The command, environment, port and URLs of each service for the project at ``root``."""
    bin_dir = Path(sys.executable).parent
    ports = params.up.ports()
    url = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
    bind = {name: ["--host", HOST, "--port", str(port)] for name, port in ports.items()}
    prefect_home = root / STATE_DIR / "prefect"
    servers = {"PREFECT_API_URL": f"{url['prefect']}/api", "MLFLOW_TRACKING_URI": url["mlflow"]}
    mlops = str(bin_dir / "mlops")
    prefect_env = {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home}/prefect.db",
        "PREFECT_API_URL": servers["PREFECT_API_URL"],
    }
    mlflow_store = [
        "--backend-store-uri",
        _tracking_store(root),
        # Artifacts stay where the SQLite-only mode puts them, written and read by the client
        # itself: runs logged with or without the server load the same way.
        "--default-artifact-root",
        (root / "mlartifacts").resolve().as_uri(),
        "--no-serve-artifacts",
        "--workers",
        "1",
    ]
    runner_env = {
        **servers,
        "PREFECT_RUNNER_SERVER_ENABLE": "true",
        "PREFECT_RUNNER_SERVER_HOST": HOST,
        "PREFECT_RUNNER_SERVER_PORT": str(ports["runner"]),
        # how often the runner asks for due runs (Prefect's default 10 s): a drift event's
        # retraining starts within about a second of the automation creating it
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    workspace = ["--workspace", str(root / params.paths.workspace)]
    commands: dict[str, tuple[list[str], dict[str, str], str]] = {
        "prefect": (
            [str(bin_dir / "prefect"), "server", "start", *bind["prefect"]],
            prefect_env,
            "/api/health",
        ),
        # The job runner serves MLflow's GenAI jobs, which nothing here uses; without it the
        # server starts in half the time.
        "mlflow": (
            [sys.executable, "-m", "mlflow", "server", *mlflow_store, *bind["mlflow"]],
            {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            "/health",
        ),
        "evidently": (
            [str(bin_dir / "evidently"), "ui", *workspace, *bind["evidently"]],
            {},
            "/api/version",
        ),
        "runner": ([mlops, "deploy"], runner_env, "/health"),
        "serving": (
            [mlops, "serve", *bind["serving"]],
            {"MLFLOW_TRACKING_URI": servers["MLFLOW_TRACKING_URI"]},
            "/health",
        ),
    }
    found = {
        name: Plan(name, command, env, ports[name], url[name], url[name] + health)
        for name, (command, env, health) in commands.items()
    }
    from cli.warm import server_command, socket_path

    warm = f"{UNIX}{socket_path(root)}"
    found["commands"] = Plan("commands", server_command(root), {}, 0, warm, warm)
    return found


def _tracking_store(root: Path) -> str:
    from tasks.adapters.tracking import default_tracking_uri

    return default_tracking_uri(root)


def start(root: Path, plan: Plan) -> Service:
    """Start ``plan`` detached from this terminal: a new session, stdin from /dev/null, its
    output appended to its log file."""
    import subprocess

    import psutil

    from tasks.clock import stamp

    log = root / LOGS / f"{plan.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    (root / plan.env.get("PREFECT_HOME", STATE_DIR)).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **plan.env}
    with log.open("ab") as out:
        out.write(f"--- {stamp()} mlops up: {' '.join(plan.command)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            plan.command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(
        name=plan.name,
        pid=process.pid,
        create_time=float(psutil.Process(process.pid).create_time()),
        command=plan.command,
        port=plan.port,
        url=plan.url,
        health=plan.health,
        log=str(log.relative_to(root)),
    )


def wait_until_up(service: Service, timeout: float, poll: float = 0.5) -> State:
    """Wait until ``service`` answers its health URL; its state when it does, exits or the
    time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        found = state_of(service)
        if found.state == "up" or not is_ours(service) or time.monotonic() >= deadline:
            return found
        time.sleep(poll)


# --- stopping -------------------------------------------------------------------------------


def stop(service: Service, timeout: float) -> str:
    """Stop ``service``'s process group: SIGTERM, then SIGKILL after ``timeout``. Returns
    ``stopped`` or ``gone``.

    Only what is provably ours is signalled: the recorded process (pid and create time), or,
    when it is gone and no process holds its pid, the members left in its process group (the
    system does not reuse a pid while it names a live group). A pid that another program holds
    now is never signalled, nor its group."""
    import psutil

    pgid = service.pid
    if not is_ours(service) and psutil.pid_exists(service.pid) and create_time(pgid) is not None:
        return "gone"  # the pid belongs to another program now
    if not group_members(pgid):
        return "gone"
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return "stopped"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_members(pgid):
                return "stopped"
            time.sleep(0.1)
    raise ServicesError(f"{service.name} (pid {service.pid}) did not stop after SIGKILL")
