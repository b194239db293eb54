"""The training flow against a bare scikit-learn script doing the same work, side by side.

For each size, both run as separate processes on the same generated CSV, alternating, and we
report the ratios of wall time and of peak memory (RSS of the whole process tree, so the flow's
Prefect temporary server counts). Absolute seconds vary with the machine's load; the ratios are
the result. Writes benchmarks/results/training_overhead.{json,md}.

    python -m benchmarks.training_overhead [--rows 100000 1000000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import Measurement, measure
from tasks.adapters import versioning
from tasks.config import load_params
from tasks.steps.generate import generate_sessions
from tests.support import REPO, make_project

RESULTS = REPO / "benchmarks" / "results"


def prepare(base: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """A fresh project whose raw data is ``rows`` generated rows, DVC-tracked. Each run gets
    its own seed, so no run can reuse an earlier run's registered model version."""
    project = make_project(base)
    csv = project / load_params(project / "params.yaml").generate.path
    csv.parent.mkdir(parents=True, exist_ok=True)
    generate_sessions(rows, seed).to_csv(csv, index=False)
    versioning.add_data(project, csv)
    return project, csv


def run_pair(base: Path, rows: int, stores: Path, seed: int) -> tuple[Measurement, Measurement]:
    project, csv = prepare(base, rows, seed)
    env = {
        "PREFECT_HOME": str(stores / "prefect"),
        # one MLflow store for every run, as in a project that has trained before: its
        # one-time schema migration is paid in the warm-up, not in each measured run
        "MLFLOW_TRACKING_URI": f"sqlite:///{stores / 'mlflow.db'}",
        "PYTHONPATH": str(REPO),
    }
    bare = measure([sys.executable, "-m", "benchmarks.bare_training", str(csv)], REPO, env)
    flow = measure([sys.executable, "-m", "benchmarks.flow_driver", str(project)], REPO, env)
    return bare, flow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        base = Path(tmp)
        # Warm-up: Prefect's and MLflow's first starts migrate their databases; users pay
        # that once per machine or project, not per run.
        run_pair(base / "warmup", 2_000, base, seed=0)
        for rows in args.rows:
            pairs = [
                run_pair(base / f"{rows}-{i}", rows, base, seed=1 + i) for i in range(args.repeats)
            ]
            bare_s = statistics.median(b.seconds for b, _ in pairs)
            flow_s = statistics.median(f.seconds for _, f in pairs)
            bare_mb = statistics.median(b.peak_rss_mb for b, _ in pairs)
            flow_mb = statistics.median(f.peak_rss_mb for _, f in pairs)
            results.append(
                {
                    "rows": rows,
                    "repeats": args.repeats,
                    "bare_seconds": bare_s,
                    "flow_seconds": flow_s,
                    "wall_ratio": flow_s / bare_s,
                    "bare_peak_mb": bare_mb,
                    "flow_peak_mb": flow_mb,
                    "memory_ratio": flow_mb / bare_mb,
                    "bare_phases": pairs[-1][0].output,
                    "flow_phases": pairs[-1][1].output,
                }
            )
            print(json.dumps(results[-1], indent=2), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training_overhead.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "training_overhead.md").write_text(render(results))


def render(results: list[dict[str, object]]) -> str:
    lines = [
        "# Training flow vs bare scikit-learn script",
        "",
        "Made by `python -m benchmarks.training_overhead` (`make bench`). Same CSV, same model,",
        "same split; each pair run back to back as separate processes; medians of the repeats.",
        "Peak memory is the RSS of the whole process tree (the flow's Prefect server included).",
        "The flow runs the default local mode: Prefect's temporary server, MLflow on SQLite",
        "(a store that has been used before), the Great Expectations gate on the raw file.",
        "",
        "| rows | bare s | flow s | wall ratio | bare peak MB | flow peak MB | memory ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['bare_seconds']:.1f} | {r['flow_seconds']:.1f} | "
            f"{r['wall_ratio']:.2f}x | {r['bare_peak_mb']:.0f} | {r['flow_peak_mb']:.0f} | "
            f"{r['memory_ratio']:.2f}x |"
        )
    lines += ["", "## Where the flow's time goes (last repeat)", ""]
    for r in results:
        bare, flow = r["bare_phases"], r["flow_phases"]
        lines.append(f"- {r['rows']:,} rows: bare {json.dumps(_rounded(bare))}")
        lines.append(f"  flow {json.dumps(_rounded(flow))}")
    return "\n".join(lines) + "\n"


def _rounded(data: object) -> object:
    if isinstance(data, float):
        return round(data, 2)
    if isinstance(data, dict):
        return {k: _rounded(v) for k, v in data.items()}
    return data


if __name__ == "__main__":
    main()
