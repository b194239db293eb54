"""The endpoint's request path, in this process, around a real fitted Pipeline (no MLflow: the
follower is handed the model): request ids, back-pressure, disconnects, slow bodies, the canary
role chosen after parsing, and a bad request in a batch (security review #4, #10, #11, #12)."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.served import TOKEN, scoring_app, shop_model
from tests.support import running

# every test on both runtimes: scikit-learn, then the compiled graph
pytestmark = pytest.mark.usefixtures("runtime")


def records(n: int = 1) -> list[dict[str, Any]]:
    _, rows = shop_model()
    return orjson.loads(rows.head(n).to_json(orient="records"))


class Call:
    """One raw ASGI request to the app: its answer's status, headers and body."""

    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


async def call(app: Any, body: bytes, headers: list[tuple[bytes, bytes]] = (), receive: Any = None,  # type: ignore[assignment]
               path: str = "/invocations", method: str = "POST", auth: bool = True,
               query: bytes = b"") -> Call:  # fmt: skip
    sent: list[bytes] = []

    async def give() -> dict[str, Any]:
        if sent:
            await asyncio.sleep(3600)
        sent.append(body)
        return {"type": "http.request", "body": body, "more_body": False}

    answer: dict[str, Any] = {"body": b""}

    async def take(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http", "http_version": "1.1", "method": method, "path": path,
        "raw_path": path.encode(), "root_path": "", "scheme": "http", "query_string": query,
        "headers": [(b"content-type", b"application/json"),
                    *([(b"authorization", f"Bearer {TOKEN}".encode())] if auth else []),
                    *headers],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    await app(scope, receive or give, take)
    return Call(answer["status"], answer["headers"], answer["body"])


@pytest.fixture
def started(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The app with its service started (the model loaded), as uvicorn's lifespan does."""
    overrides = getattr(request, "param", ())
    app = scoring_app(tmp_path, *overrides)
    app.service.start()
    yield app
    app.service.stop()


def errors(app: Any) -> dict[str, float]:
    text = app.service.metrics.render().decode()
    found = re.findall(r'^mlops_errors_total\{kind="(\w+)"\} (\S+)$', text, re.MULTILINE)
    return {kind: float(n) for kind, n in found if float(n)}


def test_a_request_id_that_could_forge_log_fields_is_replaced(
    started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body = orjson.dumps({"dataframe_records": records()})
    forged, kept, non_utf8 = (
        asyncio.run(call(started, body, [(b"x-request-id", value)]))
        for value in (b"abc model_version=7 role=champion", b"req-42:a.b_c", b"r\xff\xfe")
    )

    assert forged.status == kept.status == non_utf8.status == 200
    assert kept.headers[b"x-request-id"] == b"req-42:a.b_c"
    for answer in (forged, non_utf8):
        assert re.fullmatch(rb"[0-9a-f]{32}", answer.headers[b"x-request-id"])
    assert "model_version=7" not in caplog.text


def test_the_access_log_line_survives_any_header_byte(
    started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from serving.app import Guard

    # a route that echoes a header the client chose, bytes and all: the Guard's log line
    # decodes with errors="replace" instead of raising after the answer was sent
    async def echo(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"x-request-id", b"r\xff\xfe")]})  # fmt: skip
            await send({"type": "http.response.body", "body": b"{}"})

    guard = Guard(echo, started.service)
    with caplog.at_level(logging.INFO, logger="mlops.serving.access"):
        answer = asyncio.run(call(guard, b"{}"))

    assert answer.status == 200
    assert "POST /invocations 200" in caplog.text
    assert "request_id=r\ufffd\ufffd model_version=- role=-" in caplog.text


@pytest.mark.parametrize("started", [("serve.max_rows=5", "serve.max_pending_rows=5")],
                         indirect=True)  # fmt: skip
def test_rows_past_the_pending_limit_get_a_503_with_retry_after(started: Any) -> None:
    body = orjson.dumps({"dataframe_records": records(5)})

    async def both() -> list[Call]:
        return list(await asyncio.gather(call(started, body), call(started, body)))

    first, second = asyncio.run(both())

    assert first.status == 200 and len(first.json["predictions"]) == 5
    assert second.status == 503
    assert second.headers[b"retry-after"] == b"1"
    assert second.json == {
        "error_code": "BUSY",
        "message": "5 rows wait to be scored; 5 more would pass the limit of 5 "
        "(serve.max_pending_rows): retry later",
    }
    assert errors(started) == {"busy": 1.0}


def test_a_client_that_disconnects_is_no_predict_error(started: Any) -> None:
    async def gone() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    answer = asyncio.run(call(started, b"", receive=gone))

    assert answer.json["message"] == "the client disconnected before sending the whole body"
    assert errors(started) == {"client_disconnect": 1.0}


@pytest.mark.parametrize("started", [("serve.timeout_seconds=0.2",)], indirect=True)
def test_a_body_that_never_arrives_is_a_408_within_the_timeout(started: Any) -> None:
    async def slow() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {}

    answer = asyncio.run(asyncio.wait_for(call(started, b"", receive=slow), 10))

    assert (answer.status, answer.json["message"]) == (
        408,
        "the body did not arrive within 0.2 s (serve.timeout_seconds)",
    )


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Any]:
    from dataclasses import replace

    served, _ = shop_model()
    app = scoring_app(tmp_path, "serve.canary_fraction=1.0")
    versions = {"1": served, "2": replace(served, version="2")}
    app.service.follower.aliases = lambda name: {"champion": "1", "challenger": "2"}
    app.service.follower.loader = lambda name, version: versions[version]
    app.service.start()
    yield app
    app.service.stop()


def test_the_canary_role_is_chosen_after_parsing(canary: Any) -> None:
    deep = b'{"x": NaN, "dataframe_records": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    good = orjson.dumps({"dataframe_records": records()})

    refused = asyncio.run(call(canary, deep))
    answered = asyncio.run(call(canary, good))

    assert (refused.status, refused.json["message"]) == (
        400,
        "the body is not valid JSON: nested too deeply",
    )
    assert answered.status == 200 and answered.headers[b"x-model-role"] == b"challenger"
    assert errors(canary) == {}


def test_a_large_body_is_parsed_off_the_event_loop(started: Any) -> None:
    import threading

    import serving.app

    threads: list[str] = []
    parse = serving.app.parse_request

    def watched(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return parse(*args)

    rows = records(5) * 400  # 2,000 rows: over 64 KiB
    small = orjson.dumps({"dataframe_records": records(1)})
    big = orjson.dumps({"dataframe_records": rows})
    assert len(small) <= serving.app.INLINE_PARSE_BYTES < len(big)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serving.app, "parse_request", watched)
        answers = [asyncio.run(call(started, body)) for body in (small, big)]

    assert [a.status for a in answers] == [200, 200]
    assert len(answers[1].json["predictions"]) == 2000
    assert threads[0] == "MainThread" and threads[1] != "MainThread"


def test_uvicorn_refuses_connections_past_limit_concurrency(tmp_path: Path) -> None:
    app = scoring_app(tmp_path, "serve.limit_concurrency=2")
    request = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    with running(app.service.settings, app) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as first:
            first.sendall(request)
            assert first.recv(4096).startswith(b"HTTP/1.1 200")
            # kept open: 1 connection; a second one and its request make 2, the limit
            with socket.create_connection((host, int(port))) as second:
                second.sendall(request)
                answer = second.recv(4096)

    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable")
