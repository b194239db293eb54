"""The endpoint scores with a version's compiled graph (ONNX Runtime) when its parity passed at
registration, else with scikit-learn, and says which and why: the same answers on both for the
same rows, the threshold rule, the rows a log transform refuses, the example tried through the
runtime that serves, and ``serve.runtime``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from serving.app import prepared
from serving.engine import Scorer, platform_of, with_runtime
from serving.protocol import validated
from tasks.adapters.registry import ModelRefused
from tasks.config import load_params
from tasks.steps.compiled import feeds_of
from tasks.steps.predict import UnfitModel, try_example
from tests.served import fitted_shop, scoring_app
from tests.support import REPO
from tests.unit.test_serving_app import call

LOG = ("features.transform.skew=log", "features.transform.skew_columns=[avg_order_value]")
UNAVAILABLE = {
    "runtime.onnx": "unavailable",
    "runtime.onnx.rows": "0",
    "runtime.onnx.reason": "conversion failed: NotImplementedError: metric='chebyshev' is not "
    "implemented.",
}


def serve_params(*overrides: str) -> Any:
    return load_params(REPO / "params.yaml", list(overrides)).serve


def both(overrides: tuple[str, ...] = ()) -> tuple[Any, Any, Any]:
    """The shop model on scikit-learn and on its graph, and its test split's features."""
    served, _, graph, test = fitted_shop(overrides)
    onnx = prepared(served, serve_params(), lambda: graph)
    sklearn = prepared(served, serve_params("serve.runtime=sklearn"), lambda: graph)
    return sklearn, onnx, test


def request_rows(test: Any) -> list[dict[str, Any]]:
    """The test split's rows, and some with every category unseen or every value missing."""
    rows: list[dict[str, Any]] = orjson.loads(test.to_json(orient="records"))
    unseen = [{**row, "device": "hologram", "region": "moon"} for row in rows[:5]]
    missing = [dict.fromkeys(row) for row in rows[:3]]
    return rows + unseen + missing


def answer(app: Any, rows: list[dict[str, Any]]) -> Any:
    body = orjson.dumps({"dataframe_records": rows, "params": {"probabilities": True}})
    return asyncio.run(call(app, body))


def started_with(tmp_path: Path, served: Any, *overrides: str) -> Any:
    app = scoring_app(tmp_path, *overrides)
    app.service.follower.loader = lambda name, version: served
    app.service.start()
    return app


def test_both_runtimes_answer_the_same_rows_alike(tmp_path: Path) -> None:
    sklearn, onnx, test = both()
    rows = request_rows(test)
    answers = {}
    for served in (sklearn, onnx):
        app = started_with(tmp_path / served.runtime, served)
        try:
            answers[served.runtime] = answer(app, rows)
        finally:
            app.service.stop()

    assert {runtime: a.status for runtime, a in answers.items()} == {"sklearn": 200, "onnx": 200}
    ours, theirs = answers["onnx"].json, answers["sklearn"].json
    assert len(ours["predictions"]) == len(rows) == 68
    assert ours["predictions"] == theirs["predictions"]
    assert ours["classes"] == theirs["classes"] == [0, 1]
    gap = np.abs(np.asarray(ours["probabilities"]) - np.asarray(theirs["probabilities"]))
    assert float(gap.max()) <= 1e-9
    assert answers["onnx"].headers[b"x-model-version"] == b"1"


def test_the_binary_label_follows_the_threshold_not_the_graphs_label() -> None:
    sklearn, onnx, test = both()
    proba = np.asarray(sklearn.model.predict_proba(test))[:, 1]
    threshold = float(np.sort(proba)[len(proba) // 2])  # about half the rows on each side
    columns = {name: test[name].tolist() for name in test.columns}
    graph_labels = onnx.compiled.session.run(["label"], feeds_of(onnx.compiled, columns))[0]
    rule = np.where(proba >= threshold, 1, 0).tolist()
    parsed = validated(columns, len(test), {}, sklearn.columns, 1000)
    labels = {}
    for served in (sklearn, onnx):
        scorer = Scorer("champion", 1000)
        scorer.install(replace(served, threshold=threshold))
        labels[served.runtime] = asyncio.run(scorer.score(parsed)).predictions
        scorer.close()

    assert labels["onnx"] == labels["sklearn"] == rule
    assert rule != graph_labels.ravel().tolist()  # the graph's own label: 0.5's rule


def test_a_row_the_graph_refuses_gets_the_answer_scikit_learn_gives(tmp_path: Path) -> None:
    sklearn, onnx, test = both(LOG)
    rows = orjson.loads(test.head(3).to_json(orient="records"))
    negative = [{**rows[0], "avg_order_value": -5.0}]
    statuses = {}
    for served in (sklearn, onnx):
        app = started_with(tmp_path / served.runtime, served)
        try:
            refused = answer(app, negative)
            answered = answer(app, rows)
            errors = app.service.metrics.render().decode()
        finally:
            app.service.stop()
        statuses[served.runtime] = (refused.status, refused.json, answered.status)
        assert 'mlops_errors_total{kind="predict"} 1.0' in errors

    assert (
        statuses["onnx"]
        == statuses["sklearn"]
        == (
            500,
            {"error_code": "ERROR", "message": "the model failed on this input: ValueError"},
            200,
        )
    )


def test_a_refused_request_fails_alone_in_its_batch_on_the_graph() -> None:
    _, onnx, test = both(LOG)
    rows = orjson.loads(test.head(2).to_json(orient="records"))
    signature = onnx.columns

    def parsed(records: list[dict[str, Any]]) -> Any:
        columns = {c.name: [r[c.name] for r in records] for c in signature}
        return validated(columns, len(records), {}, signature, 100)

    scorer = Scorer("champion", 100)
    scorer.install(onnx)
    calls: list[int] = []
    scorer.on_batch = calls.append

    async def together() -> list[Any]:
        requests = [rows, [{**rows[0], "avg_order_value": -1.0}], rows[:1]]
        return list(
            await asyncio.gather(
                *(scorer.score(parsed(r)) for r in requests), return_exceptions=True
            )
        )

    first, bad, third = asyncio.run(together())
    scorer.close()

    assert str(bad) == (
        "the compiled graph refuses 1 row(s), e.g. [0]: a log transform of a negative value "
        "(log1p needs values >= 0)"
    )
    assert isinstance(bad, ValueError)
    assert len(first.predictions) == 2 and len(third.predictions) == 1
    assert sorted(calls) == [1, 2]  # its batch-mates answered without it, as on scikit-learn


def test_the_example_is_tried_by_the_runtime_that_serves() -> None:
    served, _, graph, _ = fitted_shop()
    broken = replace(served, model=None)  # no Pipeline: only the graph can answer

    assert try_example(prepared(broken, serve_params(), lambda: graph)) == 5
    with pytest.raises(UnfitModel) as error:
        prepared(broken, serve_params("serve.runtime=sklearn"), lambda: graph)
    assert str(error.value) == (
        "shop v1 cannot score its own input example (AttributeError: 'NoneType' object has no "
        "attribute 'predict_proba')"
    )
    with pytest.raises(UnfitModel) as error:
        prepared(replace(served, classes=(0, 1, 2)), serve_params(), lambda: graph)
    assert str(error.value) == (
        "shop v1 answers its own input example with probabilities of shape (5, 2), not (5, 3)"
    )


def test_the_runtime_and_why_not_onnx(caplog: pytest.LogCaptureFixture) -> None:
    served, _, graph, _ = fitted_shop()
    fetched: list[str] = []

    def fetch() -> bytes:
        fetched.append("graph")
        return graph

    with caplog.at_level(logging.INFO, logger="mlops.serving"):
        onnx = prepared(served, serve_params(), fetch)
        forced = prepared(served, serve_params("serve.runtime=onnx", "serve.onnx_threads=2"), fetch)
        sklearn = prepared(served, serve_params("serve.runtime=sklearn"), fetch)
        unavailable = prepared(replace(served, tags=UNAVAILABLE), serve_params(), fetch)
        untagged = prepared(replace(served, tags={}), serve_params(), fetch)
        damaged = prepared(served, serve_params(), lambda: b"not a graph")
        renamed = replace(served, columns=tuple(
            replace(c, name="pages") if c.name == "pages_viewed" else c for c in served.columns
        ))  # fmt: skip
        elsewhere = with_runtime(renamed, "auto", 1, lambda: graph)

    assert (onnx.runtime, onnx.runtime_reason, onnx.compiled.threads) == ("onnx", "", 1)
    assert (forced.runtime, forced.compiled.threads) == ("onnx", 2)
    assert platform_of(onnx) == "onnxruntime_onnx" and platform_of(sklearn) == "sklearn_skops"
    assert fetched == ["graph", "graph"]  # only when the tags say the graph may serve
    assert [(s.runtime, s.runtime_reason) for s in (sklearn, unavailable, untagged)] == [
        ("sklearn", "serve.runtime is sklearn"),
        ("sklearn", "no compiled graph (runtime.onnx=unavailable: conversion failed: "
                    "NotImplementedError: metric='chebyshev' is not implemented.)"),
        ("sklearn", "not compiled at registration (no runtime.onnx tag)"),
    ]  # fmt: skip
    assert damaged.runtime == "sklearn"
    assert damaged.runtime_reason.startswith("ONNX Runtime cannot load its graph (")
    assert elsewhere.runtime_reason == (
        "the graph's inputs ['pages_viewed'] are not columns of its signature"
    )
    assert [s.compiled for s in (sklearn, unavailable, untagged, damaged, elsewhere)] == [None] * 5
    logged = [r.getMessage() for r in caplog.records if r.name == "mlops.serving"]
    assert logged[0] == (
        "shop v1: served by ONNX Runtime (its compiled graph, 1 intra-op thread(s); parity at "
        "registration on 60 rows, max |diff| " + served.tags["runtime.onnx.max_abs_diff"] + ")"
    )
    assert logged[2] == "shop v1: served by scikit-learn: serve.runtime is sklearn"

    with pytest.raises(ModelRefused) as error:
        with_runtime(replace(served, tags=UNAVAILABLE), "onnx", 1, fetch)
    assert str(error.value) == (
        "shop v1: serve.runtime is onnx and its graph cannot serve: no compiled graph "
        "(runtime.onnx=unavailable: conversion failed: NotImplementedError: metric='chebyshev' "
        "is not implemented.)"
    )


def test_health_metadata_and_v2_say_the_runtime_and_why(tmp_path: Path) -> None:
    served, _, graph, _ = fitted_shop()
    shown = {}
    for case, tags, overrides in (
        ("onnx", served.tags, ()),
        ("unavailable", UNAVAILABLE, ()),
        ("override", served.tags, ("serve.runtime=sklearn",)),
    ):
        chosen = prepared(replace(served, tags=tags), serve_params(*overrides), lambda: graph)
        app = started_with(tmp_path / case, chosen, *overrides)
        try:
            health = asyncio.run(call(app, b"", path="/health", method="GET")).json
            metadata = asyncio.run(call(app, b"", path="/metadata", method="GET")).json
            v2 = asyncio.run(call(app, b"", path="/v2/models/shop", method="GET")).json
        finally:
            app.service.stop()
        shown[case] = (
            (health["runtime"], health["runtime_reason"]),
            (metadata["runtime"], metadata["runtime_reason"]),
            v2["platform"],
            {k: v for k, v in v2["parameters"].items() if k.startswith("runtime")},
        )

    reason = (
        "no compiled graph (runtime.onnx=unavailable: conversion failed: NotImplementedError: "
        "metric='chebyshev' is not implemented.)"
    )
    assert shown == {
        "onnx": (("onnx", None), ("onnx", None), "onnxruntime_onnx", {"runtime": "onnx"}),
        "unavailable": (
            ("sklearn", reason), ("sklearn", reason), "sklearn_skops",
            {"runtime": "sklearn", "runtime_reason": reason},
        ),
        "override": (
            ("sklearn", "serve.runtime is sklearn"), ("sklearn", "serve.runtime is sklearn"),
            "sklearn_skops", {"runtime": "sklearn", "runtime_reason": "serve.runtime is sklearn"},
        ),
    }  # fmt: skip


def test_serve_runtime_is_one_of_auto_onnx_sklearn() -> None:
    from tasks.config import ConfigError

    assert serve_params().runtime == "auto" and serve_params().onnx_threads == 1
    with pytest.raises(ConfigError) as error:
        serve_params("serve.runtime=tensorrt")
    assert str(error.value) == (
        f"{REPO / 'params.yaml'} with --set serve.runtime=tensorrt: 'serve.runtime': Input "
        "should be 'auto', 'onnx' or 'sklearn' (got 'tensorrt')"
    )
    with pytest.raises(ConfigError) as error:
        serve_params("serve.onnx_threads=0")
    assert str(error.value).endswith(
        "'serve.onnx_threads': Input should be greater than or equal to 1 (got 0)"
    )
