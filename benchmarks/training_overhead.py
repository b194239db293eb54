"""The training flow against the same work written by hand and against a bare scikit-learn
script, side by side.

For each size, the three run as separate processes on the same generated CSV, one after the
other, and we report the ratios of wall time and of peak memory (RSS of the whole process tree,
so the flow's Prefect temporary server counts): the flow against the hand-written script
(benchmarks/hand_training.py: Great Expectations on the committed suite, the same fit and
scores, the model logged and registered in MLflow) and against the bare one
(benchmarks/bare_training.py: pandas and scikit-learn only). With ``--server`` the flow talks
to a running Prefect server, as under ``mlops up``, instead of starting a temporary one.
Absolute seconds vary with the machine's load; the ratios are the result. Writes
benchmarks/results/training_overhead.{json,md}.

    python -m benchmarks.training_overhead [--rows 100000 1000000] [--repeats 2] [--server]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement, measure
from tasks.adapters import versioning
from tasks.config import load_params
from tasks.steps.generate import generate_sessions
from tests.support import REPO, make_project

RESULTS = REPO / "benchmarks" / "results"


def prepare(base: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """A fresh project whose raw data is ``rows`` generated rows, DVC-tracked, with its data
    set's suite already profiled (as the hand-written script has its committed suite: the
    profiling is once per data set, 14 s at 1M rows, not part of a training run). Each run
    gets its own seed, so no run can reuse an earlier run's registered model version."""
    from tasks.pipeline.gate import init_suite

    project = make_project(base)
    params = load_params(project / "params.yaml")
    csv = project / params.generate.path
    csv.parent.mkdir(parents=True, exist_ok=True)
    generate_sessions(rows, seed).to_csv(csv, index=False)
    versioning.add_data(project, csv)
    init_suite(project, params)
    return project, csv


def run_pair(
    base: Path, rows: int, stores: Path, seed: int, server: str | None = None
) -> tuple[Measurement, Measurement, Measurement]:
    project, csv = prepare(base, rows, seed)
    env = {
        "PREFECT_HOME": str(stores / "prefect"),
        # one MLflow store for every run, as in a project that has trained before: its
        # one-time schema migration is paid in the warm-up, not in each measured run
        "MLFLOW_TRACKING_URI": f"sqlite:///{stores / 'mlflow.db'}",
        "PYTHONPATH": str(REPO),
    }
    bare = measure([sys.executable, "-m", "benchmarks.bare_training", str(csv)], REPO, env)
    hand = measure([sys.executable, "-m", "benchmarks.hand_training", str(csv)], REPO, env)
    flow_env = env if server is None else {**env, "PREFECT_API_URL": server}
    flow = measure([sys.executable, "-m", "benchmarks.flow_driver", str(project)], REPO, flow_env)
    return bare, hand, flow


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """``prefect server start`` on a free port of 127.0.0.1 (as ``mlops up`` runs it); its API
    URL once it answers."""
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen(
        [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the Prefect server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--server", action="store_true", help="the flow on a Prefect server")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp, ExitStack() as stack:
        base = Path(tmp)
        server = stack.enter_context(prefect_server(base / "server")) if args.server else None
        # Warm-up: Prefect's and MLflow's first starts migrate their databases; users pay
        # that once per machine or project, not per run.
        run_pair(base / "warmup", 2_000, base, seed=0, server=server)
        for rows in args.rows:
            runs = [
                run_pair(base / f"{rows}-{i}", rows, base, seed=1 + i, server=server)
                for i in range(args.repeats)
            ]
            seconds = [statistics.median(r[k].seconds for r in runs) for k in range(3)]
            peak = [statistics.median(r[k].peak_rss_mb for r in runs) for k in range(3)]
            results.append(
                {
                    "rows": rows,
                    "repeats": args.repeats,
                    "prefect": "a running server" if server else "the temporary server",
                    "bare_seconds": seconds[0],
                    "hand_seconds": seconds[1],
                    "flow_seconds": seconds[2],
                    "wall_ratio": seconds[2] / seconds[0],
                    "wall_ratio_hand": seconds[2] / seconds[1],
                    "bare_peak_mb": peak[0],
                    "hand_peak_mb": peak[1],
                    "flow_peak_mb": peak[2],
                    "memory_ratio": peak[2] / peak[0],
                    "memory_ratio_hand": peak[2] / peak[1],
                    "bare_phases": runs[-1][0].output,
                    "hand_phases": runs[-1][1].output,
                    "flow_phases": runs[-1][2].output,
                }
            )
            print(json.dumps(results[-1], indent=2), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m benchmarks.training_overhead", *sys.argv[1:]])
    (RESULTS / "training_overhead.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "training_overhead.md").write_text(render(results, command))


def render(results: list[dict[str, Any]], command: str) -> str:
    prefect = results[0]["prefect"] if results else "the temporary server"
    lines = [
        "# Training flow vs the same work by hand vs bare scikit-learn",
        "",
        f"Made by `{command}`. Same CSV, same model, same split; the three",
        "run one after the other as separate processes; medians of the repeats. Peak memory is",
        "the RSS of the whole process tree (the flow's Prefect server included when it is the",
        f"temporary one). The flow's Prefect: {prefect}; MLflow on SQLite (a store used before);",
        "the Great Expectations gate on the raw file (the data set's suite profiled before the",
        "flow runs, as in a project that has trained before; the hand-written script reads the",
        "committed one). *hand*: GE, fit,",
        "score, the model logged and registered in MLflow; *bare*: pandas and scikit-learn only.",
        "",
        "| rows | bare s | hand s | flow s | flow/hand | flow/bare | hand MB | flow MB | "
        "flow/hand memory | flow/bare memory |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['bare_seconds']:.1f} | {r['hand_seconds']:.1f} | "
            f"{r['flow_seconds']:.1f} | {r['wall_ratio_hand']:.2f}x | {r['wall_ratio']:.2f}x | "
            f"{r['hand_peak_mb']:.0f} | {r['flow_peak_mb']:.0f} | "
            f"{r['memory_ratio_hand']:.2f}x | {r['memory_ratio']:.2f}x |"
        )
    lines += ["", "## Where the time goes (last repeat, seconds)", ""]
    for r in results:
        lines.append(f"- {r['rows']:,} rows: bare {json.dumps(_rounded(r['bare_phases']))}")
        lines.append(f"  hand {json.dumps(_rounded(r['hand_phases']))}")
        lines.append(f"  flow {json.dumps(_rounded(r['flow_phases']))}")
    return "\n".join(lines) + "\n"


def _rounded(data: object) -> object:
    if isinstance(data, float):
        return round(data, 2)
    if isinstance(data, dict):
        return {k: _rounded(v) for k, v in data.items()}
    return data


if __name__ == "__main__":
    main()
