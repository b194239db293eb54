"""The open inference protocol's request and answer (serving/v2.py): both input forms, every
refusal with its exact message, and the same value checks as MLflow's protocol."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import orjson
import pytest

from serving.protocol import RequestError, parse_request
from serving.v2 import (
    PREDICT,
    PROBA,
    InferRequest,
    model_metadata,
    output_tensors,
    parse_infer,
)
from tasks.types import Column, ServedModel

SIGNATURE = (
    Column("age", "double", True),
    Column("visits", "long", False),
    Column("member", "boolean", False),
    Column("device", "string", True),
)
NUMERIC = (Column("age", "double", True), Column("visits", "long", True))
JSON = "application/json"
BOTH = (PREDICT, PROBA)


def tensor(name: str, datatype: str, data: list[Any], shape: list[int] | None = None) -> dict:  # type: ignore[type-arg]
    return {"name": name, "shape": shape or [len(data)], "datatype": datatype, "data": data}


def infer(payload: object, signature: tuple[Column, ...] = SIGNATURE, max_rows: int = 100,
          content_type: str = JSON, outputs: tuple[str, ...] = BOTH) -> InferRequest:  # fmt: skip
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return parse_infer(body, content_type, signature, max_rows, outputs)


def refused(payload: object, signature: tuple[Column, ...] = SIGNATURE, max_rows: int = 100,
            content_type: str = JSON) -> tuple[int, str]:  # fmt: skip
    with pytest.raises(RequestError) as caught:
        infer(payload, signature, max_rows, content_type)
    return caught.value.status, caught.value.message


GOOD = [
    tensor("age", "FP64", [30, 41.5]),
    tensor("visits", "INT64", [2, None]),
    tensor("member", "BOOL", [True, False]),
    tensor("device", "BYTES", ["mobile", "desktop"]),
]


def test_one_tensor_per_column_gives_the_columns_mlflows_protocol_gives() -> None:
    request = infer({"id": "order-17", "inputs": GOOD})
    same = parse_request(
        orjson.dumps({"inputs": {t["name"]: t["data"] for t in GOOD}}),
        JSON,
        SIGNATURE,
        100,
    )

    assert request.id == "order-17"
    assert request.outputs == BOTH
    assert request.parsed.rows == 2
    assert request.parsed.columns == {
        "age": [30.0, 41.5],
        "visits": [2, None],
        "member": [True, False],
        "device": ["mobile", "desktop"],
    }
    assert request.parsed.columns == same.columns


def test_shape_n_by_1_nested_data_absent_optional_columns_and_mlservers_parameters() -> None:
    request = infer(
        {
            "parameters": {"content_type": "pd"},
            "inputs": [
                {**tensor("age", "INT32", [[30], [41]], [2, 1])},
                {**tensor("device", "BYTES", ["tv", None]), "parameters": {"content_type": "str"}},
            ],
            "outputs": [{"name": "predict_proba", "parameters": {"binary_data": False}}],
        }
    )

    assert request.id is None
    assert request.outputs == (PROBA,)
    assert request.parsed.columns["age"] == [30.0, 41.0]
    assert request.parsed.columns["visits"] == [None, None]
    assert request.parsed.columns["member"] == [None, None]
    assert request.parsed.columns["device"][0] == "tv"
    assert math.isnan(request.parsed.columns["device"][1])  # missing text: NaN, as for MLflow's


def test_one_2d_tensor_holds_every_column_in_signature_order() -> None:
    flat = infer({"inputs": [tensor("x", "FP64", [30, 2, 41.5, 3], [2, 2])]}, NUMERIC)
    nested = infer({"inputs": [tensor("x", "INT64", [[30, 2], [41, 3]], [2, 2])]}, NUMERIC)

    assert flat.parsed.columns == {"age": [30.0, 41.5], "visits": [2, 3]}
    assert nested.parsed.columns == {"age": [30.0, 41.0], "visits": [2, 3]}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            [*GOOD[:3], tensor("device", "FP64", [1.0, 2.0])],
            "input 'device': datatype FP64 does not fit column 'device' (string); send BYTES",
        ),
        (
            [tensor("age", "BYTES", ["30", "41"]), GOOD[3]],
            "input 'age': datatype BYTES does not fit column 'age' (double); send FP64",
        ),
        (
            [GOOD[0], tensor("member", "INT8", [1, 0]), GOOD[3]],
            "input 'member': datatype INT8 does not fit column 'member' (boolean); send BOOL",
        ),
        (
            [GOOD[0], tensor("device", "STRING", ["a", "b"])],
            "input 'device': datatype 'STRING' is not one of the protocol's ('BOOL', 'UINT8', "
            "'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', "
            "'FP64', 'BYTES')",
        ),
        (
            [GOOD[0], tensor("device", "BYTES", ["a", "b", "c"], [2])],
            "input 'device': shape [2] holds 2 values; 'data' has 3",
        ),
        (
            [GOOD[0], tensor("device", "BYTES", ["a", "b", "c", "d"], [2, 2])],
            "input 'device': shape [2, 2]; a column's tensor has shape [n] or [n, 1]",
        ),
        (
            [GOOD[0], tensor("device", "BYTES", ["a"])],
            "the inputs have different row counts ('age': 2, 'device': 1)",
        ),
        (
            [GOOD[0], GOOD[3], tensor("session", "FP64", [1, 2])],
            "input(s) 'session' are not columns of the model; its inputs are 'age', 'visits', "
            "'member', 'device' (GET /v2/models/<name>), or one 2-D tensor of them all",
        ),
        ([GOOD[0], GOOD[3], GOOD[3]], "input 'device' is sent twice"),
        ([GOOD[0]], "missing column(s) 'device': the model needs them"),
        (
            [tensor("age", "FP64", ["thirty", 3]), GOOD[3]],
            "column 'age' expects a number (double); 1 value(s) are not, e.g. ['thirty'] at "
            "rows [0]",
        ),
        (
            [GOOD[0], tensor("visits", "FP64", [2.5, 1]), GOOD[3]],
            "column 'visits' expects an integer (long); 1 value(s) are not, e.g. [2.5] at rows [0]",
        ),
        (
            [tensor("x", "FP64", [1, 2, 3, 4, 5, 6], [2, 3])],
            "input 'x': a 2-D tensor holds every column of the model, in signature order: "
            "shape [n, 4]; it has [2, 3]",
        ),
        (
            [tensor("x", "FP64", [1, 2, 3, 4, 5, 6, 7, 8], [2, 4])],
            "input 'x': datatype FP64 does not fit column 'member' (boolean); send BOOL: one "
            "2-D tensor has one datatype, so send this model's columns one tensor each",
        ),
        (
            [{"name": "age", "datatype": "FP64", "data": [1]}],
            "input 'age': ['shape'] missing; a tensor has 'shape', 'datatype' and 'data'",
        ),
        (
            [{**tensor("age", "FP64", [1]), "shape": [-1]}],
            "input 'age': 'shape' must be a list of whole numbers >= 0",
        ),
        (
            [{**tensor("age", "FP64", [1]), "contents": {}}],
            "input 0 has unknown field(s) 'contents'; known: ['name', 'shape', 'datatype', "
            "'parameters', 'data']",
        ),
        (
            [{**tensor("age", "FP64", [1]), "parameters": {"binary_data_size": 8}}],
            "input 'age': binary tensor data is not supported; send the tensor's values in 'data'",
        ),
        (
            [{**tensor("device", "BYTES", ["dHY="]), "parameters": {"content_type": "base64"}}],
            "input 'device': parameter 'content_type' is 'base64'; it may be one of ['pd', "
            "'np', 'str']",
        ),
        ([], "'inputs' must be a non-empty list of tensors"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None,
)
def test_a_bad_tensor_gets_a_400_naming_the_input_and_the_rule(
    inputs: list[Any], message: str
) -> None:
    assert refused({"inputs": inputs}) == (400, message)


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        (
            {"inputs": GOOD, "model": "shop"},
            400,
            "the body has unknown field(s) 'model'; known: ['id', 'parameters', 'inputs', "
            "'outputs']",
        ),
        ([GOOD], 400, "the body must be an object with ['id', 'parameters', 'inputs', 'outputs']"),
        ({"id": 17, "inputs": GOOD}, 400, "'id' must be text"),
        (
            {"inputs": GOOD, "parameters": {"top_k": 3}},
            400,
            "the request: unknown parameter 'top_k'; known here: ['content_type', "
            "'binary_data_output']",
        ),
        (
            {"inputs": GOOD, "outputs": [{"name": "transform"}]},
            400,
            "output 0: 'transform' is not an output of the model; its outputs: ['predict', "
            "'predict_proba']",
        ),
        (
            {"inputs": GOOD, "outputs": [{"name": "predict"}, {"name": "predict"}]},
            400,
            "output 1: 'predict' is asked for twice",
        ),
        (
            {"inputs": [tensor("age", "FP64", [1.0] * 3), tensor("device", "BYTES", ["a"] * 3)]},
            413,
            "the request has 3 rows; the limit is 2 (serve.max_rows)",
        ),
        (
            {"inputs": [tensor("x", "FP64", [], [3, 4])]},
            413,
            "the request has 3 rows; the limit is 2 (serve.max_rows)",
        ),
        (
            {"inputs": [tensor("age", "FP64", []), tensor("device", "BYTES", [])]},
            400,
            "the request has no rows",
        ),
    ],
)
def test_a_bad_request_gets_the_status_and_message_it_should(
    payload: object, status: int, message: str
) -> None:
    assert refused(payload, max_rows=2) == (status, message)


def test_the_row_limit_is_checked_before_any_per_row_work() -> None:
    # a shape that claims a million rows is refused before its data is even looked at
    payload = {
        "inputs": [tensor("age", "FP64", [1.0], [10**6]), tensor("device", "BYTES", [], [10**6])]
    }

    assert refused(payload) == (413, "the request has 1000000 rows; the limit is 100 "
                                     "(serve.max_rows)")  # fmt: skip


def test_a_body_that_is_not_json_is_refused() -> None:
    assert refused(b"{not json") == (
        400,
        "the body is not valid JSON: unexpected character, expected a string key: line 1 "
        "column 2 (char 1)",
    )
    assert refused(b"age=1", content_type="application/x-www-form-urlencoded") == (
        415,
        "content type 'application/x-www-form-urlencoded' is not accepted; send "
        "application/json (the binary tensor data extension is not supported)",
    )


def served(task: str, classes: tuple[Any, ...]) -> ServedModel:
    columns = (Column("age", "double", True), Column("device", "string", False))
    return ServedModel("shop", "3", None, columns, classes, task, 0.5, "run", "d" * 32, {})


def test_the_answer_as_tensors_labels_by_their_type_and_probabilities_row_major() -> None:
    proba = [[0.25, 0.75], [0.5, 0.5]]

    assert output_tensors(served("binary", (0, 1)), [1, 0], proba, BOTH) == [
        {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]},
        {"name": "predict_proba", "shape": [2, 2], "datatype": "FP64",
         "data": [0.25, 0.75, 0.5, 0.5]},
    ]  # fmt: skip
    assert output_tensors(served("binary", ("no", "yes")), ["yes", "no"], proba, (PREDICT,)) == [
        {"name": "predict", "shape": [2], "datatype": "BYTES", "data": ["yes", "no"]}
    ]
    assert output_tensors(served("binary", (False, True)), [True], proba[:1], (PREDICT,)) == [
        {"name": "predict", "shape": [1], "datatype": "BOOL", "data": [True]}
    ]
    assert output_tensors(served("regression", ()), [2.5], None, (PREDICT,)) == [
        {"name": "predict", "shape": [1], "datatype": "FP64", "data": [2.5]}
    ]


def test_model_metadata_names_the_signatures_columns_and_the_outputs() -> None:
    import numpy as np

    classifier = served("multiclass", tuple(np.array([1, 2, 3])))

    assert model_metadata(classifier, ["3", "4"], "sklearn_skops") == {
        "name": "shop",
        "versions": ["3", "4"],
        "platform": "sklearn_skops",
        "inputs": [
            {"name": "age", "datatype": "FP64", "shape": [-1]},
            {"name": "device", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
        ],
        "parameters": {
            "content_type": "pd",
            "task": "multiclass",
            "runtime": "sklearn",
            "classes": "[1, 2, 3]",
        },
    }
    regression = model_metadata(served("regression", ()), ["3"], "sklearn_skops")
    assert regression["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    assert regression["parameters"] == {
        "content_type": "pd",
        "task": "regression",
        "runtime": "sklearn",
    }
    why = replace(classifier, runtime_reason="serve.runtime is sklearn")
    assert model_metadata(why, ["3"], "sklearn_skops")["parameters"]["runtime_reason"] == (
        "serve.runtime is sklearn"
    )
