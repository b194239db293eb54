"""The endpoint's OpenAPI 3 document (``GET /openapi.json``), built from the served model's
signature: what a client may send and every answer it may get. The fuzz tests
(tests/unit/test_fuzz_endpoint.py) generate requests from it and check the answers against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tasks.types import Column

# MLflow's type name -> the JSON Schema of one value (null: missing)
VALUE_TYPES: dict[str, dict[str, Any]] = {
    "double": {"type": "number"},
    "float": {"type": "number"},
    "long": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    "integer": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
}
ERROR = {"$ref": "#/components/schemas/Error"}
ANY_OBJECT = {"type": "object"}


def _value(column: Column) -> dict[str, Any]:
    return {**VALUE_TYPES.get(column.type, {}), "nullable": True}


def _answer(status: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def _errors(*statuses: int) -> dict[str, Any]:
    described = {
        400: "the request is not valid: the message names the column or the rule",
        401: "missing or wrong bearer token",
        403: "the token does not allow this route",
        408: "the body did not arrive within serve.timeout_seconds",
        409: "a label for a row the endpoint never answered, or unlike the row's first label",
        413: "the body or the row count is over its limit",
        415: "the content type is not accepted",
        500: "the model failed on this input",
        503: "no model is loaded yet, or too many rows wait (Retry-After)",
        504: "not answered within serve.timeout_seconds",
    }
    answers: dict[str, Any] = {}
    for status in statuses:
        answers.update(_answer(str(status), described[status], ERROR))
    return answers


def _invocations(signature: Sequence[Column], max_rows: int) -> dict[str, Any]:
    record = {
        "type": "object",
        "properties": {column.name: _value(column) for column in signature},
        "required": [column.name for column in signature if column.required],
    }
    # the row limit (413) is said in words, not as maxItems: a fuzzer takes a schema violation
    # for a 400-class refusal of its own list, which has no 413
    limit = f"at most {max_rows} rows (serve.max_rows); more: 413"
    rows = {"type": "array", "items": record, "minItems": 1, "description": limit}
    columns = {
        "type": "object",
        "properties": {
            column.name: {"type": "array", "items": _value(column), "minItems": 1}
            for column in signature
        },
        "required": [column.name for column in signature if column.required],
    }
    split = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "items": {"type": "array"}, "description": limit},
        },
        "required": ["columns", "data"],
    }
    params = {
        "type": "object",
        "properties": {"probabilities": {"type": "boolean"}},
        "additionalProperties": False,
    }
    forms = {
        "dataframe_records": rows,
        "instances": rows,
        "inputs": columns,
        "dataframe_split": split,
    }
    body = {
        "oneOf": [
            {
                "type": "object",
                "properties": {key: form, "params": params},
                "required": [key],
                "additionalProperties": False,
            }
            for key, form in forms.items()
        ]
    }
    answer = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array"},
            "probabilities": {"type": "array", "items": {"type": "array"}},
            "classes": {"type": "array"},
        },
        "required": ["predictions"],
    }
    headers = {
        name: {"schema": {"type": "string"}}
        for name in ("X-Model-Name", "X-Model-Version", "X-Model-Role", "X-Request-ID")
    }
    ok = _answer("200", "the predictions, in the order of the rows", answer)
    ok["200"]["headers"] = headers
    return {
        "post": {
            "summary": "Score rows (MLflow's scoring protocol)",
            "parameters": [
                {
                    "name": "X-Request-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "kept when it is [A-Za-z0-9._:-]{1,128}, else replaced",
                },
                {
                    "name": "probabilities",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": body},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            "responses": {**ok, **_errors(400, 401, 408, 413, 415, 500, 503, 504)},
        }
    }


def _get(
    summary: str, schema: dict[str, Any], *statuses: int, text: bool = False
) -> dict[str, Any]:
    media = "text/plain" if text else "application/json"
    ok = {"200": {"description": summary, "content": {media: {"schema": schema}}}}
    return {"get": {"summary": summary, "responses": {**ok, **_errors(*statuses)}}}


def document(signature: Sequence[Column], max_rows: int, token: bool) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the endpoint serving a model of ``signature``."""
    feedback_label = {
        "type": "object",
        "properties": {
            "request_id": {"type": "string"},
            "row": {"type": "integer", "minimum": 0},
            "label": {},
        },
        "required": ["request_id", "label"],
    }
    paths: dict[str, Any] = {
        "/invocations": _invocations(signature, max_rows),
        "/ping": {
            "get": {
                "summary": "200 once a model answers, else 503",
                "responses": {
                    "200": {"description": "ready", "content": {"text/plain": {}}},
                    "503": {"description": "no model yet", "content": {"text/plain": {}}},
                },
            }
        },
        "/health": _get("the service's state", ANY_OBJECT, 401, 503),
        "/version": _get("versions", ANY_OBJECT, 401),
        "/metadata": _get("the served model", ANY_OBJECT, 401),
        "/metrics": _get("Prometheus metrics", {"type": "string"}, 401, text=True),
        "/openapi.json": _get("this document", ANY_OBJECT, 401),
        "/feedback": {
            "post": {
                "summary": "Labels for rows answered earlier",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "labels": {"type": "array", "items": feedback_label}
                                },
                                "required": ["labels"],
                            }
                        }
                    },
                },
                "responses": {
                    **_answer("200", "labels taken", ANY_OBJECT),
                    **_errors(400, 401, 403, 408, 409, 413, 415, 503),
                },
            }
        },
    }
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "mlops scoring service", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["error_code", "message"],
                }
            }
        },
    }
    if token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
        for open_path in ("/ping", "/health"):
            doc["paths"][open_path]["get"]["security"] = []
    return doc
