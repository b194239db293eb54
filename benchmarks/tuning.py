"""Tuning on Dask: the speed-up of 2 workers over 1, trials per minute on 100k rows, and the
cost of MLflow's logging per trial.

1. The same 16 random-search trials (one family, one seed: the same candidates) on a local
   Dask cluster of 1 worker and of 2 workers, alternating, each twice; ratio of medians.
   Goal: 2 workers at least 1.8x faster.
2. Random search on 100,000 generated rows with 2 workers: trials per minute.
3. MLflow: the nested runs of those trials logged into a fresh SQLite store, per trial,
   against a trial's own mean time. Goal: at most 5%.

Writes benchmarks/results/tuning.{json,md}.

    python -m benchmarks.tuning [--rows 20000] [--big-rows 100000] [--trials 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

from tasks.adapters import tracking
from tasks.config import Params, load_params
from tasks.steps.evaluate import primary_metric
from tasks.steps.generate import generate_sessions
from tasks.steps.ingest import ingest_table
from tasks.steps.split import split_frame
from tasks.steps.tune import SearchResult, search
from tests.support import REPO

RESULTS = REPO / "benchmarks" / "results"


def _params(trials: int, address: str) -> Params:
    return load_params(
        REPO / "params.yaml",
        [
            "tune.method=random",
            "tune.families=[hist_gradient_boosting]",
            f"tune.trials={trials}",
            f"tune.dask_address={address}",
            "tune.cv_folds=3",
        ],
    )


def _run(rows: int, trials: int, address: str) -> SearchResult:
    params = _params(trials, address)
    frame, schema, _ = ingest_table(generate_sessions(rows, 42), params.ingest)
    train, valid, _ = split_frame(frame, schema, params.split)
    return search(
        train,
        valid,
        schema,
        params.features,
        params.models,
        params.train,
        params.tune,
        primary_metric(params.evaluate, schema.task),
        params.evaluate.threshold,
    )


def _logging_cost(result: SearchResult) -> float:
    """Seconds to log every trial of ``result`` as nested runs, per trial."""
    import mlflow

    with tempfile.TemporaryDirectory() as scratch:
        mlflow.set_tracking_uri(f"sqlite:///{scratch}/mlflow.db")
        experiment = mlflow.create_experiment("bench", artifact_location=f"file://{scratch}/a")
        with mlflow.start_run(experiment_id=experiment) as parent:
            pass
        trials = result.to_dict()["trials"]
        tracking.log_trials(  # warm-up: the first call pays MLflow's store set-up
            experiment_id=experiment, parent_run_id=parent.info.run_id, trials=trials[:1],
            primary=result.primary, tags={},
        )  # fmt: skip
        started = time.perf_counter()
        tracking.log_trials(
            experiment_id=experiment, parent_run_id=parent.info.run_id, trials=trials,
            primary=result.primary, tags={"tune.method": "random"},
        )  # fmt: skip
        return (time.perf_counter() - started) / len(trials)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--big-rows", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--big-trials", type=int, default=8)
    args = parser.parse_args()

    from distributed import LocalCluster

    seconds: dict[int, list[float]] = {1: [], 2: []}
    total: dict[int, list[float]] = {1: [], 2: []}
    same: list[list[Any]] = []
    # Two running clusters, as a team has one: their start-up is not part of a search.
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as one_worker,
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as two_workers,
    ):
        clusters = {1: one_worker.scheduler_address, 2: two_workers.scheduler_address}
        for _ in range(2):
            for workers in (1, 2):
                started = time.perf_counter()
                result = _run(args.rows, args.trials, clusters[workers])
                total[workers].append(time.perf_counter() - started)
                seconds[workers].append(result.search_seconds)
                same.append([t.params for t in result.trials])
        started = time.perf_counter()
        big = _run(args.big_rows, args.big_trials, clusters[2])
        big_seconds = time.perf_counter() - started
    identical = all(candidates == same[0] for candidates in same)
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    one_total, two_total = statistics.median(total[1]), statistics.median(total[2])
    per_minute = len(big.trials) / (big_seconds / 60)
    trial_seconds = statistics.mean(t.seconds for t in big.trials)
    logging = _logging_cost(big)

    data = {
        "rows": args.rows,
        "trials": args.trials,
        "seconds_1_worker": seconds[1],
        "seconds_2_workers": seconds[2],
        "speedup": one / two,
        "total_seconds_1_worker": total[1],
        "total_seconds_2_workers": total[2],
        "total_speedup": one_total / two_total,
        "same_candidates": identical,
        "big_rows": args.big_rows,
        "big_trials": len(big.trials),
        "big_seconds": big_seconds,
        "trials_per_minute": per_minute,
        "mean_trial_seconds": trial_seconds,
        "logging_seconds_per_trial": logging,
        "logging_share": logging / trial_seconds,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tuning.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / "tuning.md").write_text(
        "# Tuning on Dask\n\n"
        "Made by `python -m benchmarks.tuning` (`make bench`) on this 2-core machine.\n\n"
        f"**Speed-up.** The same {args.trials} random-search trials (hist_gradient_boosting, "
        f"3-fold CV on {int(args.rows * 0.8):,} training rows; identical candidates in every "
        f"run: {identical}), alternating, twice each, on two running local clusters. "
        "*Trials* is the cross-validation of the trials, which Dask spreads; *whole search* "
        "adds making the data, the refit of the best trial on the whole training split and "
        "its validation score, which run once, in the calling process:\n\n"
        "| Dask workers | trials: median s | runs (s) | speed-up | whole search: median s "
        "| speed-up |\n|---:|---:|---:|---:|---:|---:|\n"
        f"| 1 | {one:.1f} | {', '.join(f'{s:.1f}' for s in seconds[1])} | 1.00x "
        f"| {one_total:.1f} | 1.00x |\n"
        f"| 2 | {two:.1f} | {', '.join(f'{s:.1f}' for s in seconds[2])} | {one / two:.2f}x "
        f"| {two_total:.1f} | {one_total / two_total:.2f}x |\n\n"
        f"Goal: at least 1.8x on the trials. {'Met' if one / two >= 1.8 else 'Not met'}.\n\n"
        f"**Throughput.** Random search on {args.big_rows:,} generated rows "
        f"({int(args.big_rows * 0.8):,} training rows), 2 workers: {len(big.trials)} trials in "
        f"{big_seconds:.0f} s, **{per_minute:.2f} trials per minute** (a trial: 3 folds, "
        f"{trial_seconds:.1f} s of fitting and scoring on average).\n\n"
        f"**MLflow's cost per trial** (one nested run: params, fold scores, duration, tags; "
        f"SQLite store): {logging * 1000:.0f} ms, **{logging / trial_seconds:.1%}** of a "
        f"trial's time. Goal: at most 5%. "
        f"{'Met' if logging / trial_seconds <= 0.05 else 'Not met'}.\n"
    )
    print(json.dumps(data))


if __name__ == "__main__":
    main()
