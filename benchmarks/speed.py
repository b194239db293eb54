"""Every command's wall time with `mlops up` running, with and without its warm command server
(cli/warm.py), and without `up` at all (issue 17).

On a throw-away demo project (git + DVC + the pipeline, `mlops demo` run in it) with `mlops up`
on free ports, each command runs in three ways, as a user types it:

- **no up**: no services (SQLite MLflow, Prefect's temporary server), in-process;
- **up, in-process**: `up` running, ``MLOPS_NO_WARM=1`` (the servers are used, the imports paid);
- **up, warm**: `up` running, the command forwarded to the warm server.

Commands: `mlops train` with nothing changed, `mlops predict` on 500 rows, `mlops status`,
`mlops monitor` on a 3,000-row batch (``--source incoming``; the file is put back before each
run), `mlops validate` on the same batch, and `mlops --help`. The in-process "up" runs are made
with ``-X importtime`` to say how much of each is imports. Writes
benchmarks/results/speed.{json,md}.

    python -m benchmarks.speed [--runs 3] [--cold-runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MLOPS = str(Path(sys.executable).parent / "mlops")
TARGETS = {"train": 5.0, "predict": 5.0, "status": 1.5, "monitor": 10.0, "validate": 5.0,
           "help": 1.0}  # fmt: skip
PORTS = ("prefect", "mlflow", "serving", "evidently", "runner")
MODES = ("no up", "up, in-process", "up, warm")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "200", "PATH": f"{Path(sys.executable).parent}:"
           f"{os.environ['PATH']}"}  # fmt: skip
    for name in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "MLOPS_NO_WARM"):
        env.pop(name, None)
    env.update(extra or {})
    return env


def _mlops(root: Path, args: list[str], env: dict[str, str] | None = None,
           check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    done = subprocess.run([MLOPS, *args], cwd=root, env=_env(env), capture_output=True,
                          text=True, timeout=1800)  # fmt: skip
    if check and done.returncode != 0:
        raise RuntimeError(f"mlops {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def make_demo(base: Path) -> Path:
    """A new project with free ports for `up`, the demo run in it, and the batches."""
    from tests.support import free_port, make_project

    root = make_project(base)
    params = (root / "params.yaml").read_text()
    for name in PORTS:
        params = re.sub(rf"(\n  {name}_port: )\d+", rf"\g<1>{free_port()}", params)
    (root / "params.yaml").write_text(params)
    subprocess.run(["git", "commit", "-qam", "free ports"], cwd=root, check=True)
    _mlops(root, ["demo"], {"MLOPS_NO_WARM": "1"})
    _mlops(root, ["data", "generate", "--out", "batch500.csv", "--rows", "500", "--seed", "3"])
    _mlops(root, ["data", "generate", "--out", "batch3000.csv", "--rows", "3000", "--seed", "4"])
    return root


def commands(root: Path) -> dict[str, list[str]]:
    return {
        "train": ["train"],
        "predict": ["predict", "--input", "batch500.csv", "--output", "scored.csv"],
        "status": ["status"],
        "monitor": ["monitor", "--source", "incoming"],
        "validate": ["validate", "batch3000.csv"],
        "help": ["--help"],
    }


def _before(root: Path, name: str) -> None:
    if name == "monitor":  # the monitor moves what it took in to incoming/checked/
        incoming = root / "data" / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "batch3000.csv", incoming / "batch3000.csv")


def import_seconds(stderr: str) -> float:
    """The seconds of the top-level imports in a ``-X importtime`` report."""
    total = 0
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and not match.group(2):  # no indentation: a top-level import
            total += int(match.group(1))
    return total / 1e6


def time_one(root: Path, name: str, args: list[str], env: dict[str, str]) -> tuple[float, str]:
    _before(root, name)
    started = time.perf_counter()
    # validate exits 1 on a failing batch: the time counts, the code is reported
    done = _mlops(root, args, env, check=name != "validate")
    return time.perf_counter() - started, done.stderr


def run_mode(root: Path, mode: str, runs: int) -> dict[str, Any]:
    env = {"MLOPS_NO_WARM": "1"} if mode != "up, warm" else {}
    if mode == "up, in-process":
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    found: dict[str, Any] = {}
    for name, args in commands(root).items():
        seconds, imports = [], []
        for _ in range(runs):
            took, stderr = time_one(root, name, args, env)
            seconds.append(took)
            if mode == "up, in-process":
                imports.append(import_seconds(stderr))
        found[name] = {"seconds": seconds, "median": statistics.median(seconds)}
        if imports:
            found[name]["import_seconds"] = statistics.median(imports)
        print(f"{mode:>15} {name:>9}: {found[name]['median']:.2f} s", flush=True)
    return found


def _server_log(root: Path) -> str:
    path = root / ".mlops" / "logs" / "commands.log"
    return path.read_text() if path.is_file() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="Runs of each warm command.")
    parser.add_argument("--cold-runs", type=int, default=1, help="Runs of each in-process one.")
    parser.add_argument("--keep", action="store_true", help="Keep the project (path printed).")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mlops-speed-"))
    root = make_demo(base)
    results: dict[str, Any] = {}
    try:
        results["no up"] = run_mode(root, "no up", args.cold_runs)
        started = time.perf_counter()
        _mlops(root, ["up"])
        up_seconds = time.perf_counter() - started
        results["up, warm"] = run_mode(root, "up, warm", args.runs)
        results["up, in-process"] = run_mode(root, "up, in-process", args.cold_runs)
        log = _server_log(root)
    finally:
        _mlops(root, ["down"], check=False)
        if args.keep:
            print(f"project kept at {root}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    preload = re.search(r"imported in ([\d.]+) s", log)
    summary = {
        "command": "python -m benchmarks.speed " + " ".join(sys.argv[1:]),
        "up_seconds": up_seconds,
        "server_import_seconds": float(preload.group(1)) if preload else None,
        "targets": TARGETS,
        "results": results,
        "cpus": os.cpu_count(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        ).stdout.strip(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "speed.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = report(summary)
    (RESULTS / "speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def report(summary: dict[str, Any]) -> list[str]:
    results, targets = summary["results"], summary["targets"]
    lines = [
        "# Every command while `mlops up` runs: the warm command server",
        "",
        f"Made by `{summary['command'].strip()}` on {summary['cpus']} cores (shared): the "
        "median wall time of each command as a user types it, on a throw-away demo project "
        "(`mlops demo` in it, `mlops up` on free ports). `no up`: no services; `up, "
        "in-process`: `up` running, `MLOPS_NO_WARM=1`; `up, warm`: forwarded to `up`'s warm "
        "command server (cli/warm.py). `import s`: the top-level imports of the in-process run "
        "(`-X importtime`).",
        "",
        "| command | target s | no up s | up, in-process s | import s | up, warm s | "
        "in-process / warm | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, target in targets.items():
        cold = results["no up"][name]["median"]
        up_cold = results["up, in-process"][name]
        warm = results["up, warm"][name]["median"]
        met = "met" if warm <= target else "**missed**"
        lines.append(
            f"| `mlops {' '.join(commands(Path('.'))[name])}` | {target:g} | {cold:.2f} | "
            f"{up_cold['median']:.2f} | {up_cold.get('import_seconds', 0.0):.2f} | {warm:.2f} | "
            f"{up_cold['median'] / warm:.1f}x | {met} |"
        )
    lines += [
        "",
        f"`mlops up` took {summary['up_seconds']:.0f} s (all six services); the warm server "
        f"imported its libraries once in {summary['server_import_seconds'] or 0:.1f} s. Code "
        f"at commit {summary.get('commit', '?')}; the machine was shared with other jobs (the "
        "in-process columns move by 2x between runs), the ratios are within one run.",
        "",
        *WHERE,
    ]
    return lines


# Profiles (pyinstrument 5.1, a dev tool, not a dependency) of each command in one process
# after the warm server's preload, against `up`'s servers, on the same machine under the same
# shared load: what is left once the imports are paid.
WHERE = [
    "## Where the time goes",
    "",
    "- **Imports** are most of every in-process command (the `import s` column): pandas "
    "2.7 s, MLflow 3.1 s (it imports pandas itself, so status cannot avoid either), Great "
    "Expectations ~12 s, Evidently ~12 s, scipy.stats, skops, Prefect 3 s. The warm server "
    "pays them once, at `up`.",
    "- **Prefect's temporary server**: none while `up` runs (cli/common.setup points every "
    "command at `up`'s Prefect); without `up` each flow command starts and stops one.",
    "- **params.yaml parsed 4 times** per `mlops train` (setup, the flow, its stages: the "
    "pure-Python YAML 1.2 parser, 0.3 s each under load): now once per text "
    "(tasks/config.py), and the warm server parses the project's file before it forks.",
    "- **`mlops train`, nothing changed** (warm, profiled: 6.8 s under load, 2.4 s CPU): DVC's "
    "status of the 7 stages 2.9 s (a Repo opened per stage, ~0.4 s each), params 1.4 s (now "
    "~0.3 s), Prefect's flow and task runs with the `up` server ~1 s, the champion's table "
    "0.15 s. No DVC hashing beyond its status, no model logging (nothing ran).",
    "- **`mlops predict`, 500 rows** (warm, profiled: 6.1 s under load, 2.6 s CPU): Great "
    "Expectations validating the batch 2.2 s (65 checks), the MLflow run of the batch 0.6 s, "
    "loading the champion 0.5 s, scoring 0.1 s.",
    "- **`mlops status`** (warm: 1.1 s under load, 0.4 s CPU): params 0.26 s, Prefect's "
    "settings re-read for the client's environment 0.2 s, MLflow registry calls over HTTP "
    "0.4 s. Without `up` it reads MLflow's SQLite store: importing MLflow (and pandas) ~5.8 s "
    "and opening the SQLAlchemy store (Alembic's schema check) 1.8-3.8 s: the 1.5 s target "
    "is out of reach without `up` unless status stops going through MLflow.",
    "- **`mlops validate`, 3,000 rows** (warm: 3.7 s under load): Great Expectations' "
    "`Batch.validate` 2.7 s of it.",
    "- **`mlops monitor`, 3,000 rows** (profiled before the change below: 26.8 s inside the "
    "flow under load, 21 s CPU): the feature-attribution drift check 14.4 s (permutation "
    "importances: 14 columns x 3 shuffles x 2 sides = 86 `predict_proba` calls on 1,000 "
    "rows, mostly the pipeline's per-call overhead; now one call per side on all the "
    "shuffled copies, the same values, 0.76 s instead of 2.2 s per side on the demo "
    "champion), the Evidently report 3.9 s, Great Expectations on the incoming file 2.0 s, "
    "the Evidently workspace and MLflow run 2.3 s, the bootstrap of the metric's noise 1.0 s, "
    "scoring 0.7 s.",
    "- **The warm server's own costs**, found by this benchmark: a forked command that ended "
    "through the interpreter's normal exit spent ~7 s (under load) freeing the ~6,000 "
    "modules the server holds (and the collector walking, so copying, the shared heap); the "
    "command process now ends as the interpreter does (threads joined, atexit, flush) but "
    "with `os._exit`, and the server `gc.freeze()`s its heap before forking: a fork and exit "
    "cost 0.05 s. The first run of this benchmark, before that, measured `mlops --help` "
    "3.3 s and `mlops status` 4.5 s through the server.",
]


if __name__ == "__main__":
    main()
