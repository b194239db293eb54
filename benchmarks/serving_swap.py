"""What a hot swap costs the requests in flight: latency around a champion move, under load.

The project of benchmarks/serving.py (``mlops demo``'s champion) gets a second registered
version (the same model artifact registered again, so both load the same way). ``mlops serve``
runs with ``serve.poll_seconds: 1``; 8 client threads send single-row requests without pause
and record each answer's time, latency, status and version. The champion alias is moved to the
other version and back, ``--swaps`` times, ``--settle`` seconds apart. For every swap: the time
from the alias move to the first answer by the new version, and the latency of the requests
sent while the new version was being loaded and installed (from the move to one second after
the first new answer) against the requests of the steady periods of the same run.

    python -m benchmarks.serving_swap [--swaps 4] [--settle 8]

Writes benchmarks/results/serving_swap.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks.serving import MODEL, OURS, RESULTS, Server, payloads, prepare

CLIENTS = 8


@dataclass(frozen=True)
class Answer:
    sent: float
    latency_ms: float
    status: int
    version: str


def add_version(project: Path) -> str:
    """Register the champion's artifact again as a new version; returns its number."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    champion = client.get_model_version_by_alias(MODEL, "champion")
    created = client.create_model_version(MODEL, champion.source, run_id=champion.run_id)
    return str(created.version)


def client(url: str, body: bytes, stop: threading.Event, out: list[Answer]) -> None:
    while not stop.is_set():
        request = urllib.request.Request(
            f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        sent = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                answer.read()
                status, version = answer.status, answer.headers.get("X-Model-Version", "")
        except Exception as error:  # an error is a result here, not a crash
            status, version = getattr(error, "code", 599), ""
        out.append(Answer(sent, (time.perf_counter() - sent) * 1000, status, version))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=4)
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()

    project, champion = prepare()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
    other = add_version(project)
    from tasks.adapters import registry
    from tasks.config import write_overrides

    write_overrides(project / "params.yaml", ["serve.poll_seconds=1"])
    body = payloads(project)[1]
    server = Server(OURS, project)
    answers: list[Answer] = []
    moves: list[tuple[float, str]] = []
    try:
        server.wait_ready()
        stop = threading.Event()
        per_client: list[list[Answer]] = [[] for _ in range(CLIENTS)]
        threads = [
            threading.Thread(target=client, args=(server.url, body, stop, out))
            for out in per_client
        ]
        for thread in threads:
            thread.start()
        time.sleep(args.settle)
        versions = [other, champion] * args.swaps
        for version in versions[: args.swaps]:
            moves.append((time.perf_counter(), version))
            registry.move_alias(MODEL, registry.CHAMPION, version)
            time.sleep(args.settle)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        answers = sorted((a for out in per_client for a in out), key=lambda a: a.sent)
    finally:
        server.stop()
        registry.move_alias(MODEL, registry.CHAMPION, champion)
        write_overrides(project / "params.yaml", ["serve.poll_seconds=10"])

    rows, swap_windows = [], []
    for moved_at, version in moves:
        first = next((a for a in answers if a.sent >= moved_at and a.version == version), None)
        if first is None:
            rows.append(f"| {version} | never | | | | |")
            continue
        end = first.sent + first.latency_ms / 1000 + 1.0
        window = [a for a in answers if moved_at <= a.sent < end]
        swap_windows.append((moved_at, end))
        latencies = [a.latency_ms for a in window]
        rows.append(
            f"| {version} | {first.sent + first.latency_ms / 1000 - moved_at:.2f} | "
            f"{len(window)} | {statistics.median(latencies):.1f} | "
            f"{percentile(latencies, 0.99):.1f} | {max(latencies):.1f} |"
        )
    steady = [a.latency_ms for a in answers if not any(s <= a.sent < e for s, e in swap_windows)]
    failed = [a for a in answers if a.status != 200]
    text = "\n".join(
        [
            "# Hot swap under load: latency while `mlops serve` changes models",
            "",
            "Made by `python -m benchmarks.serving_swap` (`make bench`) on a shared 2-core "
            f"machine. {CLIENTS} client threads send single-row requests without pause to one "
            "worker of `mlops serve` (`serve.poll_seconds: 1`); the champion alias is moved "
            f"{len(moves)} times, {args.settle:g} s apart, between two versions of the same "
            "artifact (each swap downloads and loads the model as a real promotion does).",
            "",
            f"**{len(answers)} requests, {len(failed)} failed** (non-200 or no answer).",
            "",
            "| swap to version | seconds from alias move to its first answer | requests in "
            "the swap window | p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            f"| steady periods | | {len(steady)} | {statistics.median(steady):.1f} | "
            f"{percentile(steady, 0.99):.1f} | {max(steady):.1f} |",
            "",
            "The swap window runs from the alias move to one second after the new version's "
            "first answer: it holds the registry poll, the download and load of the new "
            "version in the background thread, and the switch. Requests are answered by the "
            "old version until the switch, so none waits for the load; what they feel is the "
            "load's competition for the CPU and the GIL.",
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving_swap.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
