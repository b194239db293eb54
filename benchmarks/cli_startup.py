"""`mlops --help` wall time against Python starting and importing Typer + Rich alone.

Goal: `mlops --help` within 1 s. Writes benchmarks/results/cli_startup.{json,md}.

    python -m benchmarks.cli_startup [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
MLOPS = str(Path(sys.executable).parent / "mlops")
COMMANDS = {
    "mlops --help": [MLOPS, "--help"],
    "python -c 'import typer, rich.table'": [sys.executable, "-c", "import typer, rich.table"],
    "python -c pass": [sys.executable, "-c", "pass"],
}


def time_command(command: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` runs, after one unmeasured warm-up."""
    subprocess.run(command, capture_output=True, check=True)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results = {}
    for _ in range(2):  # interleave rounds so load affects every command alike
        for name, command in COMMANDS.items():
            results.setdefault(name, []).extend(time_command(command, args.runs // 2 or 1))
    medians = {name: statistics.median(values) for name, values in results.items()}
    base = medians["python -c 'import typer, rich.table'"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli_startup.json").write_text(json.dumps(medians, indent=2) + "\n")
    lines = [
        "# `mlops --help` start-up",
        "",
        "Made by `python -m benchmarks.cli_startup` (`make bench`): median wall time of "
        f"{len(results['mlops --help'])} runs each, interleaved. Goal: at most 1 s.",
        "",
        "| command | median s | vs Typer + Rich import |",
        "|---|---:|---:|",
    ]
    lines += [f"| `{n}` | {s:.3f} | {s / base:.2f}x |" for n, s in medians.items()]
    (RESULTS / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
