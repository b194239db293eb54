"""The endpoint's OpenAPI 3 document (``GET /openapi.json``), built from the served model's
signature: what a client may send and every answer it may get, by MLflow's protocol and by the
open inference protocol (``/v2``). The fuzz tests (tests/unit/test_fuzz_endpoint.py) generate
requests from it and check the answers against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from serving.v2 import ACCEPTED, DATATYPES, PREDICT, PROBA
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
V2_ERROR = {"$ref": "#/components/schemas/V2Error"}
V2_OPEN = ("/v2/health/live", "/v2/health/ready")  # open to probes, as /ping and /health
ANY_OBJECT = {"type": "object"}


def _value(column: Column) -> dict[str, Any]:
    return {**VALUE_TYPES.get(column.type, {}), "nullable": True}


def _answer(status: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def _errors(*statuses: int, schema: dict[str, Any] = ERROR) -> dict[str, Any]:
    described = {
        400: "the request is not valid: the message names the column or the rule",
        401: "missing or wrong bearer token",
        403: "the token does not allow this route",
        404: "no such model or version here",
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
        answers.update(_answer(str(status), described[status], schema))
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


def _v2_input(column: Column) -> dict[str, Any]:
    """One column's tensor: its name, the datatypes it takes, shape [n] or [n, 1]."""
    value = _value(column)
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": [column.name]},
            "datatype": {"type": "string", "enum": list(ACCEPTED.get(column.type, ("BYTES",)))},
            "shape": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 1,
                "maxItems": 2,
            },
            "data": {"type": "array", "items": {"oneOf": [value, {"type": "array"}]}},
            "parameters": {"type": "object"},
        },
        "required": ["name", "shape", "datatype", "data"],
        "additionalProperties": False,
    }


def _v2_paths(
    signature: Sequence[Column], max_rows: int, model_name: str, outputs: Sequence[str]
) -> dict[str, Any]:
    """The open inference protocol's routes (serving/v2.py)."""
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [model_name]},
        "description": "the served registered model (another name: 404)",
    }
    version = {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "a version this endpoint has loaded (another one: 404)",
    }
    tensor: dict[str, Any] = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string", "enum": list(DATATYPES)},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["name", "datatype", "shape"],
    }
    metadata = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": tensor},
            "outputs": {"type": "array", "items": tensor},
            "parameters": {"type": "object"},
        },
        "required": ["name", "platform", "inputs", "outputs"],
    }
    limit = f"one tensor per column, at most {max_rows} rows (serve.max_rows); more: 413"
    request = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {
                "type": "array",
                # no model loaded yet: no columns to say
                "items": {"oneOf": [_v2_input(c) for c in signature]} if signature else ANY_OBJECT,
                "minItems": 1,
                "description": limit,
            },
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": list(outputs)},
                        "parameters": {"type": "object"},
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                },
                "minItems": 1,
            },
        },
        "required": ["inputs"],
        "additionalProperties": False,
    }
    answer = {
        "type": "object",
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {
                "type": "array",
                "items": {
                    **tensor,
                    "properties": {**tensor["properties"], "data": {"type": "array"}},
                    "required": ["name", "datatype", "shape", "data"],
                },
            },
        },
        "required": ["model_name", "model_version", "id", "outputs"],
    }
    headers = {
        header: {"schema": {"type": "string"}}
        for header in ("X-Model-Name", "X-Model-Version", "X-Model-Role", "X-Request-ID")
    }
    ok = _answer("200", f"the output tensors ({', '.join(outputs)}), row by row", answer)
    ok["200"]["headers"] = headers

    def infer(parameters: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "post": {
                "summary": "Score rows (the open inference protocol)",
                "parameters": parameters,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": request}},
                },
                "responses": {
                    **ok,
                    **_errors(400, 401, 404, 408, 413, 415, 500, 503, 504, schema=V2_ERROR),
                },
            }
        }

    def get(summary: str, schema: dict[str, Any], parameters: list[dict[str, Any]],
            *statuses: int) -> dict[str, Any]:  # fmt: skip
        ok = _answer("200", summary, schema)
        return {
            "get": {
                "summary": summary,
                "parameters": parameters,
                "responses": {**ok, **_errors(*statuses, schema=V2_ERROR)},
            }
        }

    ready: dict[str, Any] = {
        "type": "object",
        "properties": {"ready": {"type": "boolean"}},
        "required": ["ready"],
    }
    model_ready = {**ready, "properties": {**ready["properties"], "name": {"type": "string"}}}
    not_ready = _answer("400", "not ready (the protocol's 4xx)", ready)
    server = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "version", "extensions"],
    }
    paths: dict[str, Any] = {
        "/v2": get("the server: name, version, extensions", server, [], 401),
        "/v2/health/live": get(
            "live: the server answers",
            {"type": "object", "properties": {"live": {"type": "boolean"}}, "required": ["live"]},
            [],
        ),
        "/v2/health/ready": get("ready: a model answers", ready, []),
    }
    paths["/v2/health/ready"]["get"]["responses"].update(not_ready)
    for prefix, parameters in (
        ("/v2/models/{name}", [name]),
        ("/v2/models/{name}/versions/{version}", [name, version]),
    ):
        paths[prefix] = get(
            "the model: its input and output tensors", metadata, parameters, 401, 404, 503
        )
        paths[f"{prefix}/ready"] = get("ready: the model answers", model_ready, parameters,
                                       401, 404)  # fmt: skip
        paths[f"{prefix}/ready"]["get"]["responses"].update(
            _answer("400", "not ready (the protocol's 4xx)", model_ready)
        )
        paths[f"{prefix}/infer"] = infer(parameters)
    return paths


def document(
    signature: Sequence[Column], max_rows: int, token: bool, model_name: str = "model",
    outputs: Sequence[str] = (PREDICT, PROBA),
) -> dict[str, Any]:  # fmt: skip
    """The OpenAPI 3.0 document of the endpoint serving ``model_name``, a model of
    ``signature`` with the V2 output tensors ``outputs``."""
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
        **_v2_paths(signature, max_rows, model_name, outputs),
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
                },
                "V2Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
            }
        },
    }
    if token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
        for open_path in ("/ping", "/health", *V2_OPEN):
            doc["paths"][open_path]["get"]["security"] = []
    return doc
