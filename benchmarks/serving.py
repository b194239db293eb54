"""Our scoring endpoint (`mlops serve`) against MLflow's `mlflow models serve`, side by side.

Both serve the same registered champion (``models:/customer-purchase@champion``, made by
``mlops demo`` in a throw-away project under benchmarks/.work/serving/, reused while it has a
champion) on this machine, one server at a time, each with one worker on 127.0.0.1, both with
their access logs on (their defaults). The same load generator, ``wrk`` (one thread, a fixed
``dataframe_split`` JSON body, a few seconds of warm-up before each measured run), drives:

1. single-row requests at 1 and at 8 connections, and 100-row requests at 8 connections, on
   each server; the servers alternate (ours, MLflow, MLflow, ours with ``--repeats 2``) and
   the table gives the median of the repeats;
2. a saturation run of single-row requests at 8 connections against ours only (60 s):
   errors and p50/p99;
3. the same 100-row request to both: how many of the 100 labels agree;
4. ours' ``GET /metrics``: rows per call of the model (``mlops_batch_rows``), per case.

Goal: at least 2x MLflow's single-row throughput with p99 <= 20 ms, and 0 errors in a 60 s run
at saturation. The machine is shared: the ratios are the result, not the absolute numbers.
Writes benchmarks/results/serving.md (every run's numbers: benchmarks/.work/serving/).

    python -m benchmarks.serving [--seconds 20] [--saturation-seconds 60] [--repeats 2]

With ``--against REV`` the other server is not MLflow's but ours at commit REV (its files by
``git archive``, first on PYTHONPATH, in a copy of the project whose params.yaml keeps only the
``serve`` keys REV knows): the same cases, old code against new, written to
benchmarks/results/serving_against.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from tests.support import REPO, make_project

RESULTS = REPO / "benchmarks" / "results"
WORK = REPO / "benchmarks" / ".work" / "serving"
MODEL = "customer-purchase"
TARGET = "purchased"
BIN = Path(sys.executable).parent
OURS, MLFLOW = "ours", "MLflow"
# (case name, rows per request, wrk connections)
CASES = (("1 row, 1 conn", 1, 1), ("1 row, 8 conns", 1, 8), ("100 rows, 8 conns", 100, 8))
GOAL_RATIO, GOAL_P99_MS = 2.0, 20.0
LUA = """-- POST the JSON body in {body}
local file = assert(io.open("{body}", "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = file:read("*a")
file:close()
"""


@dataclass
class Load:
    """One wrk run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    rows_per_call: float | None = None  # ours only, from /metrics

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


# -- the project ---------------------------------------------------------------------------------


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the project's own mlflow.db unless given
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "DO_NOT_TRACK": "1",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DVC_NO_ANALYTICS": "1",
            "GX_ANALYTICS_ENABLED": "false",
        }
    )
    env.update(extra or {})
    return env


def _champion(project: Path) -> str | None:
    """The version the champion alias points at in ``project``'s store, or None."""
    if not (project / "mlflow.db").is_file() or not (project / "data/processed").is_dir():
        return None
    code = (
        "import sys; from mlflow import MlflowClient\n"
        "try: v = MlflowClient().get_model_version_by_alias(sys.argv[1], 'champion').version\n"
        "except Exception: v = ''\n"
        "print(v)"
    )
    uri = f"sqlite:///{project / 'mlflow.db'}"
    result = subprocess.run(
        [sys.executable, "-c", code, MODEL],
        cwd=project,
        env=_environment({"MLFLOW_TRACKING_URI": uri}),
        capture_output=True,
        text=True,
    )
    version = result.stdout.strip().splitlines()[-1:] if result.returncode == 0 else []
    return version[0] if version and version[0] else None


def prepare() -> tuple[Path, str]:
    """The project (made and trained by ``mlops demo`` unless it already has a champion)."""
    project = WORK / "project"
    version = _champion(project)
    if version is not None:
        print(f"reusing {project} (champion: version {version})", flush=True)
        return project, version
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    project = make_project(WORK)
    print(f"running `mlops demo` in {project} (1-3 minutes)", flush=True)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo"],
        cwd=project,
        env=_environment(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mlops demo failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    version = _champion(project)
    if version is None:
        raise RuntimeError(f"mlops demo registered no champion:\n{result.stdout[-3000:]}")
    print(f"demo took {time.perf_counter() - started:.0f} s; champion: version {version}")
    return project, version


def payloads(project: Path) -> dict[int, bytes]:
    """``dataframe_split`` bodies of the first 1 and 100 rows of the test split (JSON nulls
    for missing values)."""
    import pandas as pd

    frame = pd.read_parquet(project / "data/processed/test.parquet").drop(columns=[TARGET])
    split = json.loads(frame.head(100).to_json(orient="split", index=False, date_format="iso"))
    bodies = {}
    for rows in (1, 100):
        body = {"dataframe_split": {"columns": split["columns"], "data": split["data"][:rows]}}
        bodies[rows] = json.dumps(body).encode()
    return bodies


# -- the servers ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def code_at(rev: str) -> tuple[Path, str]:
    """The files of commit ``rev`` (``git archive``) under WORK, and its short hash."""

    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                              check=True).stdout  # fmt: skip

    commit = git("rev-parse", "--short", f"{rev}^{{commit}}").decode().strip()
    code = WORK / f"code-{commit}"
    if not code.is_dir():
        code.mkdir(parents=True)
        subprocess.run(["tar", "-x", "-C", str(code)], input=git("archive", commit), check=True)
    return code, commit


def project_for(project: Path, code: Path) -> Path:
    """A copy of ``project`` for the code in ``code``: its files linked (the same store and
    model) but not its copy of our code (``python -m`` would import it first: the server runs
    ``code``'s, from PYTHONPATH), a logs folder of its own, and params.yaml with exactly the
    ``serve`` keys of ``code``'s own params.yaml (its config refuses unknown or missing keys),
    with the project's values where it has them."""
    import yaml

    from cli.simulate import PROJECT_FILES

    code_folders = [name for name in PROJECT_FILES if (REPO / name).is_dir()]
    copy = WORK / f"project-{code.name}"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir()
    for entry in project.iterdir():
        if entry.name not in (*code_folders, "params.yaml", "logs"):
            (copy / entry.name).symlink_to(entry)
    params = yaml.safe_load((project / "params.yaml").read_text())
    known = yaml.safe_load((code / "params.yaml").read_text())["serve"]
    params["serve"] = {k: params["serve"].get(k, v) for k, v in known.items()}
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return copy


class Server:
    """One server process (its own process group), stopped by SIGTERM to the group."""

    def __init__(self, name: str, project: Path, code: Path | None = None) -> None:
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if name != MLFLOW:
            command = [sys.executable, "-m", "cli.main", "serve", "--port", str(self.port)]
            command += ["--workers", "1"]
            env = _environment()  # PYTHONPATH: this tree, or the code of another commit
            env["PYTHONPATH"] = str(code or REPO)
            project = project_for(project, code or REPO)
        else:
            command = [sys.executable, "-m", "mlflow", "models", "serve"]
            command += ["-m", f"models:/{MODEL}@champion", "--env-manager", "local"]
            command += ["-h", "127.0.0.1", "-p", str(self.port), "-w", "1"]
            env = _environment({"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"})
        self.log = WORK / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.log"
        self.output = self.log.open("ab")
        self.output.write(f"\n=== {' '.join(command)}\n".encode())
        self.output.flush()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, limit: float = 180.0) -> float:
        """Seconds until ``GET /ping`` answered 200."""
        while time.perf_counter() - self.started < limit:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} before answering; "
                    f"see {self.log}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - self.started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not answer /ping within {limit:.0f} s; see {self.log}")

    def members(self) -> list[psutil.Process]:
        """The server's processes (`mlflow models serve` runs uvicorn as a child)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """CPU seconds the server's processes used so far."""
        total = 0.0
        for member in self.members():
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system + times.children_user + times.children_system
        return total

    def stop(self) -> None:
        """SIGTERM to the process group; wait until every process of it is gone (MLflow's
        uvicorn outlives its parent by a moment), SIGKILL after 30 s."""
        members = self.members()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(members, timeout=30)
        for member in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(alive, timeout=10)
        self.process.wait()
        self.output.close()


def post(url: str, body: bytes) -> tuple[list[Any], dict[str, str]]:
    request = urllib.request.Request(
        f"{url}/invocations", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        headers = {k.lower(): v for k, v in answer.headers.items()}
        return json.loads(answer.read())["predictions"], headers


def batch_rows(url: str) -> tuple[float, float]:
    """``mlops_batch_rows`` sum and count from ours' ``GET /metrics``."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    values = {}
    for name in ("mlops_batch_rows_sum", "mlops_batch_rows_count"):
        found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        values[name] = float(found.group(1)) if found else 0.0
    return values["mlops_batch_rows_sum"], values["mlops_batch_rows_count"]


def _cpu_seconds() -> tuple[float, float, float]:
    """CPU seconds used on the whole machine, CPU seconds of this process and of its reaped
    children (wrk), and the wall clock: with the server's own CPU time, their differences over
    a session give what other processes (other users) took meanwhile."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    machine = (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return machine, mine, time.perf_counter()


# -- the load ------------------------------------------------------------------------------------


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is needed: apt-get install -y wrk")
    return found


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> Load:
    def find(pattern: str) -> re.Match[str]:
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"no {pattern!r} in wrk's output:\n{output}")
        return found

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Load(
        requests_per_s=float(find(r"^Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=_ms(find(r"^\s+50%\s+(\S+)").group(1)),
        p99_ms=_ms(find(r"^\s+99%\s+(\S+)").group(1)),
        requests=int(find(r"^\s+(\d+) requests in").group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    )


def wrk(url: str, script: Path, connections: int, seconds: int) -> Load:
    command = [_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    command += ["-s", str(script), f"{url}/invocations"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout)


def session(
    name: str, project: Path, scripts: dict[int, Path], bodies: dict[int, bytes], args: Any,
    saturation: bool, code: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Start one server, run every case against it (and the saturation run), stop it."""
    cpu = _cpu_seconds()
    server = Server(name, project, code if name != OURS else None)
    try:
        ready = server.wait_ready()
        print(f"{name}: answering after {ready:.0f} s on {server.url}", flush=True)
        labels, headers = post(server.url, bodies[100])
        loads: dict[str, Load] = {}
        for case, rows, connections in CASES:
            wrk(server.url, scripts[rows], connections, args.warmup_seconds)
            before = batch_rows(server.url) if name != MLFLOW else None
            load = wrk(server.url, scripts[rows], connections, args.seconds)
            if before is not None:
                total, calls = (a - b for a, b in zip(batch_rows(server.url), before, strict=True))
                load.rows_per_call = total / calls if calls else None
            loads[case] = load
            print(f"  {name} {case}: {json.dumps(asdict(load))}", flush=True)
        sat = None
        if saturation:
            wrk(server.url, scripts[1], 8, args.warmup_seconds)
            before = batch_rows(server.url)
            sat = wrk(server.url, scripts[1], 8, args.saturation_seconds)
            total, calls = (a - b for a, b in zip(batch_rows(server.url), before, strict=True))
            sat.rows_per_call = total / calls if calls else None
            print(f"  {name} saturation: {json.dumps(asdict(sat))}", flush=True)
        overall = batch_rows(server.url) if name != MLFLOW else None
        # before the server stops: MLflow's uvicorn is not our child, its time is not reaped
        busy, mine, wall = (
            after - before for after, before in zip(_cpu_seconds(), cpu, strict=True)
        )
        others = max(0.0, busy - mine - server.cpu_seconds()) / wall
    finally:
        server.stop()
    return {
        "ready_seconds": ready,
        "labels": labels,
        "version": headers.get("x-model-version"),
        "others_cores": others,
        "loads": loads,
        "saturation": sat,
        "batch_rows": overall,
    }


# -- the report ----------------------------------------------------------------------------------


def _median(loads: list[Load]) -> Load:
    rows_per_call = [x.rows_per_call for x in loads if x.rows_per_call is not None]
    return Load(
        requests_per_s=statistics.median(x.requests_per_s for x in loads),
        p50_ms=statistics.median(x.p50_ms for x in loads),
        p99_ms=statistics.median(x.p99_ms for x in loads),
        requests=int(statistics.median(x.requests for x in loads)),
        non_2xx=sum(x.non_2xx for x in loads),
        socket_errors=sum(x.socket_errors for x in loads),
        rows_per_call=statistics.median(rows_per_call) if rows_per_call else None,
    )


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def _t(ms: float) -> str:
    """A latency for the table: 0.1 ms steps below 100 ms, whole ms above."""
    return f"{ms:.1f}" if ms < 100 else f"{ms:,.0f}"


def render(data: dict[str, Any], runs: dict[str, list[dict[str, Any]]], args: Any) -> str:
    medians: dict[str, dict[str, Load]] = data["medians"]
    ratios: dict[str, float] = data["ratios"]
    lines = [
        "# Scoring endpoint: `mlops serve` vs `mlflow models serve`",
        "",
        "Made by `python -m benchmarks.serving` (`make bench`) on a shared, noisy machine: "
        f"{data['machine']}; wrk {data['wrk']}, MLflow {data['mlflow']}. Absolute numbers move "
        "with the machine's load; the ratios, measured in the same run, are the result.",
        "",
        f"Both servers serve `models:/{MODEL}@champion` (version {data['version']}, made by "
        "`mlops demo`) from the same project, one at a time, one worker each, on 127.0.0.1, "
        "access logs on (both defaults). Load: `wrk -t1 -c<conns> "
        f"-d{args.seconds}s --latency --timeout 10s` (10 s: our `serve.timeout_seconds`; a "
        "slower answer counts as a socket error) POSTing one fixed `dataframe_split` JSON body "
        "(the first rows of the test split without the target; its `session_id` column is not "
        "an input of the model: ours ignores it, MLflow logs a warning per request) to "
        "`/invocations`, after "
        f"{args.warmup_seconds} s of warm-up per case; wrk shares the {os.cpu_count()} cores "
        f"with the server. {args.repeats} session(s) per server, alternating "
        f"({' / '.join(data['order'])}); the table gives medians (errors: summed).",
        "",
        "| server | case | requests/s | rows/s | p50 ms | p99 ms | errors | rows per model call |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in (OURS, MLFLOW):
        for case, rows, _ in CASES:
            load = medians[name][case]
            per_call = (
                f"{load.rows_per_call:.1f}"
                if load.rows_per_call is not None
                else f"{rows} (one request)"
            )
            lines.append(
                f"| {name} | {case} | {load.requests_per_s:,.0f} | "
                f"{load.requests_per_s * rows:,.0f} | {_t(load.p50_ms)} | {_t(load.p99_ms)} | "
                f"{load.errors} | {per_call} |"
            )
    for case, _, _ in CASES:
        ratio = ratios[case]
        lines.append(f"| **ours / MLflow** | {case} | **{ratio:.2f}x** | {ratio:.2f}x | | | | |")
    lines += ["", "Each session's requests/s (ours; MLflow), in order:", ""]
    spread = 1.0
    for case, _, _ in CASES:
        each = {name: [r["loads"][case].requests_per_s for r in runs[name]] for name in runs}
        for values in each.values():
            spread = max(spread, max(values) / max(min(values), 1e-9))
        shown = {name: ", ".join(f"{v:,.0f}" for v in values) for name, values in each.items()}
        lines.append(f"- {case}: {shown[OURS]}; {shown[MLFLOW]}")
    others = {name: ", ".join(f"{r['others_cores']:.2f}" for r in runs[name]) for name in runs}
    lines += [
        f"- CPU taken by other processes (other users) during each session, in cores of "
        f"{os.cpu_count()}: {others[OURS]}; {others[MLFLOW]}",
        f"- the sessions of one server differ by up to {spread:.1f}x (highest / lowest).",
    ]
    busiest = max(r["others_cores"] for name in runs for r in runs[name])
    if busiest >= 0.25:
        lines += [
            "",
            f"**Caution.** Other processes took up to {busiest:.2f} of the {os.cpu_count()} "
            "cores during a session of this run: its numbers, and the ratios if the sessions "
            "were not equally disturbed, are not those of a quiet machine.",
        ]
    sat: Load = data["saturation"]
    single = medians[OURS]["1 row, 8 conns"]
    lines += [
        "",
        "**Saturation** (ours only, single-row requests, 8 connections, "
        f"{args.saturation_seconds} s): {sat.requests:,} requests, "
        f"{sat.requests_per_s:,.0f} requests/s, p50 {_t(sat.p50_ms)} ms, p99 {_t(sat.p99_ms)} ms, "
        f"**{sat.errors} errors** ({sat.non_2xx} non-2xx, {sat.socket_errors} socket errors), "
        f"{sat.rows_per_call or 0:.1f} rows per model call.",
        "",
        f"**Same answers.** The same 100-row request to both: **{data['agree']} of 100** labels "
        f"agree (ours answered with `X-Model-Version: {data['our_version']}`).",
        "",
        "**Rows per model call**, from ours' `GET /metrics` (`mlops_batch_rows_sum / "
        "mlops_batch_rows_count`): over its whole last session, warm-ups included, "
        f"{data['mean_batch_rows']:.1f}; per case, measured part only, in the table.",
        "",
        "**What this shows.** MLflow's server scores each request alone: one call of the model "
        "per request, from a thread pool. Ours puts requests that wait together into one call "
        "of the Pipeline (`serving/engine.py`), whose cost is mostly fixed per call, so under "
        "concurrent load the fixed cost is shared by the requests of a batch. At one "
        "connection there is nothing to batch and the servers differ only by their own "
        f"overhead per request: ours / MLflow was {ratios['1 row, 1 conn']:.2f}x here. At 8 "
        f"connections ours scored {single.rows_per_call or 0:.1f} single-row requests per "
        f"call and was {ratios['1 row, 8 conns']:.2f}x MLflow; with 100-row requests the "
        f"model's own work weighs more and it was {ratios['100 rows, 8 conns']:.2f}x.",
        "",
        "**Goals.**",
        "",
    ]
    goals = data["goals"]
    lines += [
        f"- At least {GOAL_RATIO:.0f}x MLflow's single-row throughput (8 connections): "
        f"{ratios['1 row, 8 conns']:.2f}x. {'Met' if goals['throughput'] else 'Not met'}.",
        f"- p99 <= {GOAL_P99_MS:.0f} ms at that load: {_t(single.p99_ms)} ms in the cases, "
        f"{_t(sat.p99_ms)} ms in the saturation run. {'Met' if goals['p99'] else 'Not met'}.",
        f"- 0 errors in {args.saturation_seconds} s at saturation: {sat.errors}. "
        f"{'Met' if goals['errors'] else 'Not met'}.",
    ]
    return "\n".join(lines) + "\n"


def _alternating(first: str, second: str, repeats: int) -> list[str]:
    """ABBA...: each server goes first as often as the other; the last session is ``first``'s
    (it ends with the saturation run)."""
    order = [first, second, second, first] * ((repeats + 1) // 2)
    order = order[: 2 * repeats]
    return order if order[-1] == first else order[::-1]


AGAINST_START, AGAINST_END = "<!-- against: start -->", "<!-- against: end -->"


def against(args: Any) -> None:
    """This tree's server against ours at commit ``args.against``, side by side; the result
    replaces the before/after section of benchmarks/results/serving.md."""
    _wrk()
    project, version = prepare()
    code, commit = code_at(args.against)
    other = f"ours at {commit}"
    bodies = payloads(project)
    scripts = {}
    for rows, body in bodies.items():
        (WORK / f"body-{rows}.json").write_bytes(body)
        scripts[rows] = WORK / f"post-{rows}.lua"
        scripts[rows].write_text(LUA.format(body=WORK / f"body-{rows}.json"))
    order = _alternating(OURS, other, args.repeats)
    runs: dict[str, list[dict[str, Any]]] = {OURS: [], other: []}
    for index, name in enumerate(order):
        last = index == len(order) - 1
        runs[name].append(session(name, project, scripts, bodies, args, last, code))
    medians = {
        name: {case: _median([r["loads"][case] for r in runs[name]]) for case, _, _ in CASES}
        for name in runs
    }
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    lines = [
        AGAINST_START,
        f"## Before and after: this tree ({head}) against ours at {commit}",
        "",
        f"Made by `python -m benchmarks.serving --against {args.against}`: the same cases, "
        f"with ours at commit {commit} (`git archive`, first on PYTHONPATH) in place of MLflow; "
        f"{args.repeats} session(s) each, alternating ({' / '.join(order)}), medians; "
        f"{args.seconds} s per case after {args.warmup_seconds} s of warm-up; {_machine()}; "
        f"champion version {version}.",
        "",
        "| case | requests/s before | after | after / before | p50 ms before | after | "
        "p99 ms before | after | errors before, after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, _, _ in CASES:
        old, new = medians[other][case], medians[OURS][case]
        lines.append(
            f"| {case} | {old.requests_per_s:,.0f} | {new.requests_per_s:,.0f} | "
            f"**{new.requests_per_s / old.requests_per_s:.2f}x** | {_t(old.p50_ms)} | "
            f"{_t(new.p50_ms)} | {_t(old.p99_ms)} | {_t(new.p99_ms)} | "
            f"{old.errors}, {new.errors} |"
        )
    lines += ["", "Each session's requests/s (after; before), in order:", ""]
    for case, _, _ in CASES:
        shown = {n: ", ".join(f"{r['loads'][case].requests_per_s:,.0f}" for r in runs[n])
                 for n in runs}  # fmt: skip
        lines.append(f"- {case}: {shown[OURS]}; {shown[other]}")
    others = {n: ", ".join(f"{r['others_cores']:.2f}" for r in runs[n]) for n in runs}
    sat: Load = runs[OURS][-1]["saturation"]
    lines += [
        f"- CPU taken by other processes during each session, in cores of {os.cpu_count()}: "
        f"{others[OURS]}; {others[other]}",
        "",
        f"Saturation (after, single-row requests, 8 connections, {args.saturation_seconds} s): "
        f"{sat.requests:,} requests, {sat.requests_per_s:,.0f} requests/s, p50 "
        f"{_t(sat.p50_ms)} ms, p99 {_t(sat.p99_ms)} ms, {sat.errors} errors.",
        AGAINST_END,
    ]
    section = "\n".join(lines) + "\n"
    target = RESULTS / "serving.md"
    text = target.read_text() if target.is_file() else ""
    if AGAINST_START in text:
        before, rest = text.split(AGAINST_START, 1)
        text = before + section + rest.split(AGAINST_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    target.write_text(text)
    print(section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="each measured case")
    parser.add_argument("--saturation-seconds", type=int, default=60)
    parser.add_argument("--warmup-seconds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="sessions per server")
    parser.add_argument("--against", metavar="REV", help="ours at commit REV, not MLflow")
    args = parser.parse_args()
    if args.against:
        against(args)
        return

    wrk_path = _wrk()
    project, version = prepare()
    bodies = payloads(project)
    scripts = {}
    for rows, body in bodies.items():
        (WORK / f"body-{rows}.json").write_bytes(body)
        scripts[rows] = WORK / f"post-{rows}.lua"
        scripts[rows].write_text(LUA.format(body=WORK / f"body-{rows}.json"))

    order = _alternating(OURS, MLFLOW, args.repeats)
    runs: dict[str, list[dict[str, Any]]] = {OURS: [], MLFLOW: []}
    for index, name in enumerate(order):
        last = index == len(order) - 1
        runs[name].append(session(name, project, scripts, bodies, args, saturation=last))

    medians = {
        name: {case: _median([r["loads"][case] for r in runs[name]]) for case, _, _ in CASES}
        for name in (OURS, MLFLOW)
    }
    ratios = {
        case: medians[OURS][case].requests_per_s / medians[MLFLOW][case].requests_per_s
        for case, _, _ in CASES
    }
    ours, theirs = runs[OURS][-1], runs[MLFLOW][-1]
    agree = sum(a == b for a, b in zip(ours["labels"], theirs["labels"], strict=True))
    saturation: Load = ours["saturation"]
    total, calls = ours["batch_rows"]
    single = medians[OURS]["1 row, 8 conns"]
    version_of = subprocess.run([wrk_path, "-v"], capture_output=True, text=True)
    from importlib.metadata import version as installed

    data: dict[str, Any] = {
        "machine": _machine(),
        "wrk": (version_of.stdout + version_of.stderr).split()[1],
        "mlflow": installed("mlflow"),
        "version": version,
        "order": order,
        "medians": medians,
        "ratios": ratios,
        "saturation": saturation,
        "agree": agree,
        "our_version": ours["version"],
        "mean_batch_rows": total / calls if calls else 0.0,
        "goals": {
            "throughput": ratios["1 row, 8 conns"] >= GOAL_RATIO,
            "p99": max(single.p99_ms, saturation.p99_ms) <= GOAL_P99_MS,
            "errors": saturation.errors == 0,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / "serving.md"
    kept = target.read_text() if target.is_file() else ""
    section = AGAINST_START + kept.split(AGAINST_START, 1)[1] if AGAINST_START in kept else ""
    target.write_text(render(data, runs, args) + ("\n" + section if section else ""))

    def plain(value: Any) -> Any:
        if isinstance(value, Load):
            return {**asdict(value), "errors": value.errors}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k != "labels"}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    data["runs"] = runs
    (WORK / "results.json").write_text(json.dumps(plain(data), indent=2) + "\n")
    print(json.dumps(plain({k: v for k, v in data.items() if k != "runs"})))


if __name__ == "__main__":
    main()
