"""Schemathesis against the endpoint's own OpenAPI document (``GET /openapi.json``), in this
process (the real ASGI app serving a real fitted Pipeline): for every generated request, valid
or not, no 5xx and every answer as the document says (status, content type, schema, headers).
The run's size: tests/fuzzing.py (``make fuzz`` for the long run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given, reject
from schemathesis.specs.openapi.checks import positive_data_acceptance

import tests.fuzzing  # noqa: F401  (the Hypothesis profile)
from tests.served import AUTH, scoring_app


@pytest.fixture
def api(tmp_path: Path) -> Any:
    """A fresh app per test: schemathesis ends an app's lifespan after each test, and the
    service (as under uvicorn) starts once."""
    app = scoring_app(tmp_path, "serve.max_rows=50")
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)


ROUTES = ["POST /invocations", "GET /ping", "GET /health", "GET /version", "GET /metadata",
          "GET /metrics", "GET /openapi.json", "POST /feedback",
          # the open inference protocol
          "GET /v2", "GET /v2/health/live", "GET /v2/health/ready", "GET /v2/models/{name}",
          "GET /v2/models/{name}/ready", "POST /v2/models/{name}/infer",
          "POST /v2/models/{name}/versions/{version}/infer"]  # fmt: skip


# negative cases: only where a request has something to get wrong (a body)
CASES = [(route, "positive") for route in ROUTES] + [
    ("POST /invocations", "negative"),
    ("POST /feedback", "negative"),
    ("POST /v2/models/{name}/infer", "negative"),
]


@pytest.mark.parametrize(("route", "mode"), CASES)
def test_no_request_gets_a_5xx_and_every_answer_is_as_documented(
    api: Any, route: str, mode: str
) -> None:
    operation = api.find_operation_by_label(route)
    assert operation is not None, [o.ok().label for o in api.get_all_operations()]

    @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
    def check(case: Any) -> None:
        if mode == "negative" and any(v is None or v == [] for v in (case.query or {}).values()):
            # a query parameter whose value is None or [] is never sent (requests drops it):
            # the request that arrives is a valid one, and a 200 is right (make fuzz found it)
            reject()
        # every default check but "a schema-valid request is accepted": the document cannot
        # say every rule (a CSV body is any text to it; a split row's types by position)
        response = case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance])
        statuses.append(response.status_code)

    statuses: list[int] = []
    check()

    print(f"{route} {mode}: {len(statuses)} requests, statuses {sorted(set(statuses))}")
    assert statuses and max(statuses) < 500
