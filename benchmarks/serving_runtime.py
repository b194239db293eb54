"""One row through the endpoint on both runtimes: the Pipeline (scikit-learn) and its compiled
graph (ONNX Runtime), side by side, in this process.

The demo's kind of model (the project's own ``fit_pipeline`` with params.yaml's defaults on
generated sessions: imputer, scaler, one-hot, histogram gradient boosting), compiled as the
register stage compiles it (parity on its test split), served by the real app (serving/app.py)
with the registry follower handed the version, and called as uvicorn calls it (ASGI, no
network: the HTTP server's share is the same for both and is measured by benchmarks/serving.py).
Per runtime: sequential single-row ``/invocations`` requests after a warm-up, p50/p99 of the
whole call, and the share of the two steps that differ: parsing (the same code) and the
scoring call (``serving.engine.predict``). The machine is shared: the ratio is the result.
Writes benchmarks/results/serving_runtime.md.

    python -m benchmarks.serving_runtime [--requests 400] [--rows 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "serving_runtime.md"


def fitted(rows: int) -> tuple[Any, Any, bytes, Any]:
    from tasks.config import load_params
    from tasks.steps.compile import compile_pipeline
    from tasks.steps.generate import Drift, generate_sessions
    from tasks.steps.ingest import ingest_table
    from tasks.steps.split import split_frame
    from tasks.steps.train import fit_pipeline
    from tasks.types import Column, ServedModel

    params = load_params(REPO / "params.yaml")
    frame, schema, _ = ingest_table(generate_sessions(rows, 5, Drift()), params.ingest)
    train, _, test = split_frame(frame, schema, params.split)
    model = fit_pipeline(train, schema, params.features, params.models, params.train).model
    features = test[list(schema.features)].reset_index(drop=True)
    kinds = {"f": "double", "i": "long", "b": "boolean", "O": "string"}
    columns = tuple(Column(str(n), kinds[features[n].dtype.kind], True) for n in features.columns)
    compiled = compile_pipeline(model, features, schema.task, params.evaluate.threshold)
    if compiled.onnx is None:
        raise SystemExit(f"the model did not compile: {compiled.reason}")
    classes = tuple(int(c) for c in model.classes_)
    served = ServedModel("bench", "1", model, columns, classes, schema.task,
                         params.evaluate.threshold, "run", "d" * 32, compiled.tags(),
                         example=features.head(5))  # fmt: skip
    return served, features, compiled.onnx, compiled


async def _call(app: Any, body: bytes) -> int:
    answer: dict[str, Any] = {}

    async def give() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def take(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]

    scope = {"type": "http", "http_version": "1.1", "method": "POST", "path": "/invocations",
             "raw_path": b"/invocations", "root_path": "", "scheme": "http", "query_string": b"",
             "headers": [(b"content-type", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}  # fmt: skip
    await app(scope, give, take)
    return int(answer["status"])


def measure(served: Any, features: Any, requests: int, folder: Path) -> dict[str, float]:
    import orjson
    from threadpoolctl import threadpool_limits

    from serving.app import Settings, create_app
    from serving.engine import predict
    from serving.protocol import parse_request
    from tasks.config import load_params

    serve = load_params(REPO / "params.yaml", ["serve.poll_seconds=3600"]).serve
    app = create_app(Settings("bench", serve, folder / "inference.db", folder / "feedback"))
    app.service.follower.aliases = lambda name: {"champion": "1"}
    app.service.follower.loader = lambda name, version: served
    records = orjson.loads(features.to_json(orient="records"))
    bodies = [orjson.dumps({"dataframe_records": [r]}) for r in records]
    app.service.start()
    try:

        async def run() -> list[float]:
            times = []
            for i in range(requests + 50):
                started = time.perf_counter()
                status = await _call(app, bodies[i % len(bodies)])
                assert status == 200, status
                times.append((time.perf_counter() - started) * 1000)
            return times[50:]

        whole = asyncio.run(run())
        parse, score = [], []
        # as the endpoint's scoring thread: one OpenMP thread (serving/engine.py)
        limit = threadpool_limits(1, user_api="openmp")
        for i in range(requests):
            started = time.perf_counter()
            parsed = parse_request(bodies[i % len(bodies)], "application/json", served.columns,
                                   serve.max_rows)  # fmt: skip
            middle = time.perf_counter()
            predict(served, [parsed])
            parse.append((middle - started) * 1000)
            score.append((time.perf_counter() - middle) * 1000)
        limit.restore_original_limits()
    finally:
        app.service.stop()
    cut = statistics.quantiles(whole, n=100)
    return {
        "p50": statistics.median(whole),
        "p99": cut[98],
        "parse": statistics.median(parse),
        "score": statistics.median(score),
    }


def main() -> None:
    from serving.engine import with_runtime

    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--requests", type=int, default=400)
    options.add_argument("--rows", type=int, default=3000)
    args = options.parse_args()
    served, features, graph, compiled = fitted(args.rows)
    results = {}
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as scratch:
        for runtime in ("sklearn", "onnx"):
            chosen = with_runtime(replace(served), runtime, 1, lambda: graph)
            folder = Path(scratch) / runtime
            folder.mkdir()
            results[runtime] = measure(chosen, features, args.requests, folder)
    lines = [
        "# One row through the endpoint: scikit-learn against the compiled graph",
        "",
        f"`python -m benchmarks.serving_runtime --requests {args.requests} --rows {args.rows}`"
        f" (in-process ASGI calls of serving/app.py, sequential; parity on {compiled.rows} "
        f"test rows: max |diff| {compiled.max_abs_diff:.3g}). Medians and p99 in ms.",
        "",
        "| runtime | p50 whole call | p99 whole call | parse (median) | scoring call (median) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for runtime, r in results.items():
        lines.append(f"| {runtime} | {r['p50']:.3f} | {r['p99']:.3f} | {r['parse']:.3f} | "
                     f"{r['score']:.3f} |")  # fmt: skip
    ratio = results["sklearn"]["p50"] / results["onnx"]["p50"]
    lines += ["", f"p50 of the whole call: {ratio:.1f}x less with the compiled graph.", ""]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
