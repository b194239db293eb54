"""Wall time and peak memory of a command's whole process tree (children included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil


@dataclass(frozen=True)
class Measurement:
    """One run of a command."""

    seconds: float
    peak_rss_mb: float
    output: dict[str, Any]


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def measure(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measurement:
    """Run ``command``; sample the RSS of its process tree every 50 ms; parse its last stdout
    line as JSON (the benchmark scripts print their phase timings there)."""
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    environment.update(env or {})
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watched = psutil.Process(process.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, _tree_rss(watched))
            except psutil.NoSuchProcess:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(
            f"{command} failed ({process.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}"
        )
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    output = json.loads(lines[-1]) if lines else {}
    return Measurement(seconds=seconds, peak_rss_mb=peak / 2**20, output=output)
