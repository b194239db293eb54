"""The endpoint's open inference protocol routes (``/v2``), in this process around the real fitted
shop Pipeline (tests/served.py): the same answers as ``/invocations`` for the same rows, the
exact errors, auth, the inference log, metrics, canary and shadow, readiness."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.served import scoring_app, shop_model
from tests.unit.test_serving_app import Call, call, errors, records

# every test on both runtimes: scikit-learn, then the compiled graph
pytestmark = pytest.mark.usefixtures("runtime")

INFER = "/v2/models/shop/infer"
UNAUTHORIZED = "missing or wrong bearer token (Authorization: Bearer <SERVING_TOKEN>)"


def tensors(rows: list[dict[str, Any]], **datatypes: str) -> list[dict[str, Any]]:
    """One tensor per column of the shop model (MLServer's pandas codec): FP64 for its number
    columns, BYTES for its text ones, unless ``datatypes`` says otherwise."""
    served, _ = shop_model()
    return [
        {
            "name": column.name,
            "shape": [len(rows)],
            "datatype": datatypes.get(column.name, "FP64" if column.type == "double" else "BYTES"),
            "data": [row[column.name] for row in rows],
        }
        for column in served.columns
    ]


def v2(app: Any, payload: Any, path: str = INFER, **kwargs: Any) -> Call:
    return asyncio.run(call(app, orjson.dumps(payload), path=path, **kwargs))


def get(app: Any, path: str, **kwargs: Any) -> Call:
    return asyncio.run(call(app, b"", path=path, method="GET", **kwargs))


def mlflow(app: Any, payload: Any, **kwargs: Any) -> Call:
    return asyncio.run(call(app, orjson.dumps(payload), **kwargs))


@pytest.fixture
def started(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    overrides = getattr(request, "param", ())
    app = scoring_app(tmp_path, *overrides)
    app.service.start()
    yield app
    app.service.stop()


def two_versions(tmp_path: Path, *overrides: str) -> Any:
    """The app with version 1 as the champion and 2 (the same Pipeline) as the challenger."""
    served, _ = shop_model()
    app = scoring_app(tmp_path, *overrides)
    versions = {"1": served, "2": replace(served, version="2")}
    app.service.follower.aliases = lambda name: {"champion": "1", "challenger": "2"}
    app.service.follower.loader = lambda name, version: versions[version]
    return app


def logged(app: Any, answered_only: bool = True) -> Any:
    from tasks.adapters import inference_log

    app.service.log.flush(timeout=10)
    return inference_log.read_log(app.service.settings.log_path, answered_only=answered_only)


def test_v2_answers_exactly_what_invocations_answers_for_the_same_rows(
    started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    rows = records(5)
    classic = mlflow(started, {"dataframe_records": rows, "params": {"probabilities": True}})
    with caplog.at_level(logging.INFO, logger="mlops.serving.access"):
        answer = v2(started, {"id": "order-17", "inputs": tensors(rows)})
    pinned = v2(
        started,
        {"inputs": tensors(rows), "outputs": [{"name": "predict_proba"}]},
        path="/v2/models/shop/versions/1/infer",
    )

    assert classic.status == answer.status == pinned.status == 200
    chances = [chance for row in classic.json["probabilities"] for chance in row]
    assert answer.json == {
        "model_name": "shop",
        "model_version": "1",
        "id": "order-17",
        "outputs": [
            {"name": "predict", "shape": [5], "datatype": "INT64",
             "data": classic.json["predictions"]},
            {"name": "predict_proba", "shape": [5, 2], "datatype": "FP64", "data": chances},
        ],
    }  # fmt: skip
    assert classic.json["classes"] == [0, 1] and len(set(chances)) > 1  # not one constant row
    assert pinned.json["outputs"] == [answer.json["outputs"][1]]
    assert re.fullmatch(r"[0-9a-f]{32}", pinned.json["id"])  # no id sent: the request's own
    named = {k: answer.headers[k] for k in (b"x-model-name", b"x-model-version", b"x-model-role")}
    assert named == {
        b"x-model-name": b"shop",
        b"x-model-version": b"1",
        b"x-model-role": b"champion",
    }
    assert answer.headers[b"x-request-id"] == b"order-17"
    assert pinned.headers[b"x-request-id"] == pinned.json["id"].encode()
    assert "POST /v2/models/shop/infer 200 " in caplog.text
    assert "request_id=order-17 model_version=1 role=champion" in caplog.text


def test_the_value_checks_and_their_messages_are_those_of_invocations(started: Any) -> None:
    rows = records(2)
    bad = [{**row, "session_duration_sec": "long"} for row in rows]
    absent = [{k: v for k, v in row.items() if k != "membership"} for row in rows]
    without = [t for t in tensors(rows) if t["name"] != "membership"]

    for classic, answer in (
        (mlflow(started, {"dataframe_records": bad}), v2(started, {"inputs": tensors(bad)})),
        (mlflow(started, {"dataframe_records": absent}), v2(started, {"inputs": without})),
    ):
        assert classic.status == answer.status == 400
        assert answer.json == {"error": classic.json["message"]}
    assert v2(started, {"inputs": without}).json == {
        "error": "missing column(s) 'membership': the model needs them"
    }
    assert v2(started, {"inputs": tensors(bad)}).json == {
        "error": "column 'session_duration_sec' expects a number (double); 2 value(s) are not, "
        "e.g. ['long', 'long'] at rows [0, 1]"
    }


def shape_mismatch(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    inputs = tensors(rows)
    inputs[0]["data"] = [*inputs[0]["data"], 1.0]
    return inputs


@pytest.mark.parametrize(
    ("path", "payload", "status", "error"),
    [
        (
            INFER,
            {"inputs": tensors(records(2), device="FP64")},
            400,
            "input 'device': datatype FP64 does not fit column 'device' (string); send BYTES",
        ),
        (
            INFER,
            {"inputs": shape_mismatch(records(2))},
            400,
            "input 'session_duration_sec': shape [2] holds 2 values; 'data' has 3",
        ),
        (
            INFER,
            {"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP64", "data": [0.0] * 13}]},
            400,
            "input 'x': datatype FP64 does not fit column 'device' (string); send BYTES: one "
            "2-D tensor has one datatype, so send this model's columns one tensor each",
        ),
        (
            "/v2/models/other/infer",
            {"inputs": tensors(records(1))},
            404,
            "model 'other' is not served here; this endpoint serves 'shop' (GET /v2/models/shop)",
        ),
        (
            "/v2/models/shop/versions/7/infer",
            {"inputs": tensors(records(1))},
            404,
            "version '7' of 'shop' is not served here; the versions served: ['1'] "
            "(GET /v2/models/shop)",
        ),
    ],
    ids=["wrong-datatype", "shape-mismatch", "2d-mixed-types", "unknown-model", "other-version"],
)
def test_a_refused_inference_gets_the_protocols_error_body(
    started: Any, path: str, payload: Any, status: int, error: str
) -> None:
    answer = v2(started, payload, path=path, headers=[(b"x-request-id", b"req-9")])

    assert (answer.status, answer.json) == (status, {"error": error})
    assert answer.headers[b"x-request-id"] == b"req-9"
    assert errors(started) == {}


def test_the_metadata_routes_refuse_another_model_or_version(started: Any) -> None:
    assert get(started, "/v2/models/other").json == {
        "error": "model 'other' is not served here; this endpoint serves 'shop' "
        "(GET /v2/models/shop)"
    }
    assert get(started, "/v2/models/shop/versions/2/ready").status == 404
    assert get(started, "/v2/models/shop/versions/1/ready").json == {"name": "shop", "ready": True}
    assert get(started, "/v2/models/shop/versions/1").json["versions"] == ["1"]
    assert v2(started, {"inputs": tensors(records(1))}, query=b"probabilities=true").json == {
        "error": "unknown query parameter(s) 'probabilities': an inference request takes none"
    }


def test_the_token_guards_every_v2_route_but_the_health_probes(tmp_path: Path) -> None:
    guarded = scoring_app(tmp_path / "token")
    open_app = scoring_app(tmp_path / "open", token=None)
    for app in (guarded, open_app):
        app.service.start()
    try:
        body = {"inputs": tensors(records(1))}
        refused = [v2(guarded, body, auth=False)] + [
            get(guarded, path, auth=False)
            for path in ("/v2", "/v2/models/shop", "/v2/models/shop/ready")
        ]
        probes = [get(guarded, p, auth=False) for p in ("/v2/health/live", "/v2/health/ready")]
        classic = mlflow(guarded, {"dataframe_records": records(1)}, auth=False)
        with_token = v2(guarded, body)
        no_token_needed = v2(open_app, body, auth=False)
    finally:
        for app in (guarded, open_app):
            app.service.stop()

    for answer in refused:
        assert (answer.status, answer.json) == (401, {"error": UNAUTHORIZED})
        assert answer.headers[b"www-authenticate"] == b"Bearer"
    assert [(a.status, a.json) for a in probes] == [(200, {"live": True}), (200, {"ready": True})]
    assert classic.json == {"error_code": "UNAUTHORIZED", "message": UNAUTHORIZED}  # unchanged
    assert with_token.status == no_token_needed.status == 200


def test_the_inference_log_gets_the_v2_rows_as_it_gets_mlflows(started: Any) -> None:
    rows = records(3)
    mlflow(started, {"dataframe_records": rows}, headers=[(b"x-request-id", b"mlflow-1")])
    v2(started, {"id": "v2-1", "inputs": tensors(rows)})
    free_text = v2(started, {"id": "order #18", "inputs": tensors(rows[:1])})
    header_wins = v2(started, {"id": "v2-3", "inputs": tensors(rows[:1])},
                     headers=[(b"x-request-id", b"from-header")])  # fmt: skip

    log = logged(started)

    ours = free_text.headers[b"x-request-id"].decode()
    assert free_text.json["id"] == "order #18"  # returned as sent, as the protocol says
    assert re.fullmatch(r"[0-9a-f]{32}", ours)  # but logged under an id of ours
    assert header_wins.json["id"] == "v2-3" and header_wins.headers[b"x-request-id"] == (
        b"from-header"
    )
    assert log["_request_id"].tolist() == ["mlflow-1"] * 3 + ["v2-1"] * 3 + [ours, "from-header"]
    classic, ours_v2 = log[log._request_id == "mlflow-1"], log[log._request_id == "v2-1"]
    features = list(records(1)[0])
    same = ours_v2[features].reset_index(drop=True)
    assert same.equals(classic[features].reset_index(drop=True))  # NaN where NaN was sent
    assert ours_v2["_prediction"].tolist() == classic["_prediction"].tolist()
    assert ours_v2["_row"].tolist() == [0, 1, 2]
    assert set(ours_v2["_model_version"]) == {"1"} and set(ours_v2["_role"]) == {"champion"}
    assert set(ours_v2["_source"]) == {"http"}


def test_metrics_count_the_v2_routes_by_their_template(started: Any) -> None:
    v2(started, {"inputs": tensors(records(4))})
    v2(started, {"inputs": tensors(records(1))}, path="/v2/models/other/infer")
    get(started, "/v2/models/shop")
    get(started, "/v2/models/shop/versions/1/ready")

    text = started.service.metrics.render().decode()

    for line in (
        'mlops_requests_total{path="/v2/models/{name}/infer",status="200"} 1.0',
        'mlops_requests_total{path="/v2/models/{name}/infer",status="404"} 1.0',
        'mlops_requests_total{path="/v2/models/{name}",status="200"} 1.0',
        'mlops_requests_total{path="/v2/models/{name}/versions/{version}/ready",status="200"} 1.0',
        'mlops_predictions_total{role="champion",version="1"} 4.0',
    ):
        assert line in text.splitlines()
    assert 'path="/v2/models/other' not in text


def test_waiting_v2_and_mlflow_requests_are_scored_together(started: Any) -> None:
    rows = records(2)

    async def together() -> list[Call]:
        requests = [
            call(started, orjson.dumps({"inputs": tensors(rows)}), path=INFER)
            if i % 2
            else call(started, orjson.dumps({"dataframe_records": rows}))
            for i in range(6)
        ]
        return list(await asyncio.gather(*requests))

    answers = asyncio.run(together())

    assert [a.status for a in answers] == [200] * 6
    text = started.service.metrics.render().decode()
    count = float(re.search(r"^mlops_batch_rows_count (\S+)$", text, re.MULTILINE)[1])  # type: ignore[index]
    total = float(re.search(r"^mlops_batch_rows_sum (\S+)$", text, re.MULTILINE)[1])  # type: ignore[index]
    assert total == 12.0 and count < 6  # 6 requests, fewer calls of the model
    first = [a.json for a in answers]
    assert all(j["predictions"] == first[0]["predictions"] for j in first[0::2])
    assert all(j["outputs"][0]["data"] == first[0]["predictions"] for j in first[1::2])


def test_canary_routes_v2_requests_and_a_version_in_the_url_pins_one(tmp_path: Path) -> None:
    app = two_versions(tmp_path, "serve.canary_fraction=1.0")
    app.service.start()
    try:
        body = {"inputs": tensors(records(1))}
        routed = v2(app, body)
        pinned = {v: v2(app, body, path=f"/v2/models/shop/versions/{v}/infer") for v in "12"}
        other = v2(app, body, path="/v2/models/shop/versions/3/infer")
        metadata = get(app, "/v2/models/shop").json
    finally:
        app.service.stop()

    assert (routed.json["model_version"], routed.headers[b"x-model-role"]) == ("2", b"challenger")
    assert (pinned["1"].json["model_version"], pinned["1"].headers[b"x-model-role"]) == (
        "1",
        b"champion",
    )
    assert pinned["2"].json["model_version"] == "2"
    assert other.json == {
        "error": "version '3' of 'shop' is not served here; the versions served: ['1', '2'] "
        "(GET /v2/models/shop)"
    }
    assert metadata["versions"] == ["1", "2"]


def test_a_version_swapped_out_while_its_request_waited_is_not_answered_for_it(
    started: Any,
) -> None:
    champion = started.service.scorers["champion"]
    served, score = champion.served, champion.score

    async def swapped_meanwhile(parsed: Any) -> Any:
        champion.install(replace(served, version="5"))  # the follower's swap, mid-request
        return await score(parsed)

    champion.score = swapped_meanwhile
    answer = v2(started, {"id": "w-1", "inputs": tensors(records(1))},
                path="/v2/models/shop/versions/1/infer")  # fmt: skip
    routed = v2(started, {"id": "w-2", "inputs": tensors(records(1))})

    assert (answer.status, answer.json) == (
        404,
        {"error": "version '1' of 'shop' was replaced by version 5 while this request waited; "
         "send it again"},
    )  # fmt: skip
    assert routed.json["model_version"] == "5"  # without a version: whichever answers
    assert logged(started)["_request_id"].tolist() == ["w-2"]  # the refused one is not logged


def test_shadow_scores_v2_requests_with_the_challenger_too(tmp_path: Path) -> None:
    app = two_versions(tmp_path, "serve.shadow=true")
    app.service.start()

    async def and_the_shadow() -> Call:
        answer = await call(app, orjson.dumps({"id": "s-1", "inputs": tensors(records(2))}),
                            path=INFER)  # fmt: skip
        while app.service.background:
            await asyncio.sleep(0.01)
        return answer

    try:
        answer = asyncio.run(and_the_shadow())
        log = logged(app, answered_only=False)
    finally:
        app.service.stop()

    assert answer.json["model_version"] == "1"
    rows = log[log._request_id == "s-1"]
    assert list(zip(rows._model_version, rows._role, rows._answered, strict=True)) == [
        ("1", "champion", True), ("1", "champion", True),
        ("2", "challenger", False), ("2", "challenger", False),
    ]  # fmt: skip


def test_before_a_model_is_loaded_live_but_not_ready(tmp_path: Path) -> None:
    app = scoring_app(tmp_path)  # not started: the follower has not loaded anything
    try:
        answers = {
            path: get(app, path)
            for path in (
                "/v2/health/live",
                "/v2/health/ready",
                "/v2/models/shop/ready",
                "/v2/models/shop",
            )
        }
        infer = v2(app, {"inputs": tensors(records(1))})
    finally:
        app.service.stop()

    assert {path: (a.status, a.json) for path, a in answers.items()} == {
        "/v2/health/live": (200, {"live": True}),
        "/v2/health/ready": (400, {"ready": False}),
        "/v2/models/shop/ready": (400, {"name": "shop", "ready": False}),
        "/v2/models/shop": (503, {"error": "no version of 'shop' is 'champion' yet"}),
    }
    assert (infer.status, infer.json) == (503, {"error": "no version of 'shop' is 'champion' yet"})


def test_a_v2_path_or_method_no_route_takes_gets_the_protocols_error(started: Any) -> None:
    wrong_method = get(started, INFER)
    no_route = get(started, "/v2/models/shop/config")
    elsewhere = get(started, "/nothing")

    assert (wrong_method.status, wrong_method.json) == (
        405,
        {"error": "GET is not a method of /v2/models/shop/infer; it takes POST"},
    )
    assert wrong_method.headers[b"allow"] == b"POST"
    assert (no_route.status, no_route.json) == (
        404,
        {"error": "no route /v2/models/shop/config in the open inference protocol "
         "(GET /openapi.json)"},
    )  # fmt: skip
    assert (elsewhere.status, elsewhere.json) == (404, {"detail": "Not Found"})  # as before


def test_the_openapi_document_has_the_v2_routes(started: Any) -> None:
    document = get(started, "/openapi.json").json

    assert sorted(p for p in document["paths"] if p.startswith("/v2")) == [
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/versions/{version}/infer",
        "/v2/models/{name}/versions/{version}/ready",
    ]
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]
    assert infer["parameters"][0]["schema"] == {"type": "string", "enum": ["shop"]}
    assert document["paths"]["/v2/health/ready"]["get"]["security"] == []
    assert "security" not in document["paths"]["/v2/models/{name}"]["get"]
