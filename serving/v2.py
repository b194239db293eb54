"""The open inference protocol (KServe's, MLServer's and Triton's "V2" REST API): an inference
request in, the same validated columns as MLflow's protocol out; the answer as output tensors.

A request carries one tensor per input column (MLServer's pandas codec: each input named after
a column of the model's signature, shape ``[n]`` or ``[n, 1]``; ``BYTES`` for text, ``FP64``,
``INT64`` or another number type for numbers, ``BOOL`` for booleans), or one 2-D tensor
``[n, columns]`` holding every column in signature order (one datatype for all: a model with
both text and number columns takes them one tensor per column). The tensors' names, datatypes
and shapes are checked here; the values are then checked by the same rules as every other
request (:func:`serving.protocol.validated`: the same 400s, naming the column). The answer has
``predict`` (the label, by the rule of ``/invocations`` and batch scoring, or the regression's
value) and, for a classifier, ``predict_proba`` (``[n, classes]``, the classes in the order of
the model metadata's ``classes`` parameter); ``outputs`` in the request picks among them.

Not implemented: the binary tensor data extension (a binary body is a 415; outputs are always
JSON, which that extension's clients read too) and the gRPC API.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.protocol import (
    SHOWN_CHARS,
    Parsed,
    RequestError,
    load_json,
    too_many_rows,
    validated,
)
from tasks.types import Column, ServedModel

NUMBERS = ("UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
           "FP32", "FP64")  # fmt: skip
DATATYPES = ("BOOL", *NUMBERS, "BYTES")  # the protocol's tensor data types
# the datatype the model metadata gives each MLflow column type, and the ones a request may use
METADATA_TYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}
ACCEPTED = {
    "double": NUMBERS,
    "float": NUMBERS,
    "long": NUMBERS,  # a whole number however it is typed (the value check refuses 2.5)
    "integer": NUMBERS,
    "boolean": ("BOOL",),
}
PREDICT = "predict"
PROBA = "predict_proba"
REQUEST_FIELDS = ("id", "parameters", "inputs", "outputs")
INPUT_FIELDS = ("name", "shape", "datatype", "parameters", "data")
OUTPUT_FIELDS = ("name", "parameters")
# the parameters read, by where they are; their values are what MLServer's and Triton's
# clients send (the content types of MLServer's codecs: the tensors are read by their names
# and shapes whichever it says; Triton's binary-data flags, which only ask for binary outputs:
# the answer is JSON, which those clients read as well); any other parameter is a 400
PARAMETERS: dict[str, dict[str, tuple[Any, ...]]] = {
    "request": {"content_type": ("pd", "np"), "binary_data_output": (True, False)},
    "input": {"content_type": ("pd", "np", "str")},
    "output": {"binary_data": (True, False)},
}


@dataclass(frozen=True)
class InferRequest:
    """A validated inference request: its rows, its ``id`` and the output tensors it asks for."""

    parsed: Parsed
    id: str | None
    outputs: tuple[str, ...]


def output_names(served: ServedModel) -> tuple[str, ...]:
    """The output tensors of ``served``: the prediction, and the probabilities of a classifier."""
    return (PREDICT,) if served.task == "regression" or not served.classes else (PREDICT, PROBA)


def _quoted(value: Any) -> str:
    """``value`` as Python writes it, cut to a few characters (never an echo of the body)."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def _input(name: Any) -> str:
    """How a message names an input tensor (made only for a message: not on the way of a
    good request)."""
    return f"input {_quoted(name)}"


def _object(value: Any, what: str, fields: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(400, f"{what} must be an object with {list(fields)}")
    unknown = [_quoted(key) for key in value if key not in fields]
    if unknown:
        raise RequestError(
            400, f"{what} has unknown field(s) {', '.join(unknown[:5])}; known: {list(fields)}"
        )
    return value


def _parameters(value: Any, what: str, level: str) -> None:
    """Check a ``parameters`` object: the known names, each with a value it may have."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise RequestError(400, f"{what}: 'parameters' must be an object")
    known = PARAMETERS[level]
    for name, given in value.items():
        if name not in known:
            if name == "binary_data_size":
                raise RequestError(
                    400,
                    f"{what}: binary tensor data is not supported; send the tensor's "
                    "values in 'data'",
                )
            raise RequestError(
                400,
                f"{what}: unknown parameter {_quoted(name)}; known here: {list(known)}",
            )
        if given not in known[name] or type(given) is not type(known[name][0]):
            raise RequestError(
                400,
                f"{what}: parameter '{name}' is {_quoted(given)}; it may be one of "
                f"{list(known[name])}",
            )


def _outputs(value: Any, available: tuple[str, ...]) -> tuple[str, ...]:
    """The output tensors asked for (all of them when ``outputs`` is absent), in that order."""
    if value is None:
        return available
    if not isinstance(value, list) or not value:
        raise RequestError(400, "'outputs' must be a non-empty list of objects with a 'name'")
    names: list[str] = []
    for index, item in enumerate(value):
        output = _object(item, f"output {index}", OUTPUT_FIELDS)
        name = output.get("name")
        if name not in available:
            raise RequestError(
                400,
                f"output {index}: {_quoted(name)} is not an output of the model; its outputs: "
                f"{list(available)}",
            )
        if name in names:
            raise RequestError(400, f"output {index}: '{name}' is asked for twice")
        _parameters(output.get("parameters"), f"output '{name}'", "output")
        names.append(name)
    return tuple(names)


def _shape(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not all(type(d) is int and d >= 0 for d in value):
        raise RequestError(400, f"{_input(name)}: 'shape' must be a list of whole numbers >= 0")
    return value


def _flat(data: Any, name: str) -> list[Any]:
    """``data`` in row-major order: flat as sent, or flattened from its nested form."""
    if not isinstance(data, list):
        raise RequestError(400, f"{_input(name)}: 'data' must be a list of values")
    if not any(isinstance(value, list) for value in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def _fits(column: Column, datatype: str, name: str, hint: str = "") -> None:
    accepted = ACCEPTED.get(column.type, ("BYTES",))
    if datatype not in accepted:
        wanted = METADATA_TYPES.get(column.type, "BYTES")
        raise RequestError(
            400,
            f"{_input(name)}: datatype {datatype} does not fit column '{column.name}' "
            f"({column.type}); send {wanted}{hint}",
        )


@dataclass(frozen=True)
class _Tensor:
    name: str
    datatype: str
    shape: list[int]
    data: Any


def _tensor(item: Any, index: int) -> _Tensor:
    tensor = _object(item, f"input {index}", INPUT_FIELDS)
    name = tensor.get("name")
    if type(name) is not str:
        raise RequestError(400, f"input {index}: 'name' must be text")
    if "shape" not in tensor or "datatype" not in tensor or "data" not in tensor:
        missing = [key for key in ("shape", "datatype", "data") if key not in tensor]
        raise RequestError(400, f"{_input(name)}: {missing} missing; a tensor has 'shape', "
                                "'datatype' and 'data'")  # fmt: skip
    datatype = tensor["datatype"]
    if datatype not in DATATYPES:
        raise RequestError(
            400,
            f"{_input(name)}: datatype {_quoted(datatype)} is not one of the protocol's "
            f"{DATATYPES}",
        )
    if tensor.get("parameters") is not None:
        _parameters(tensor["parameters"], _input(name), "input")
    return _Tensor(name, datatype, _shape(tensor["shape"], name), tensor["data"])


def _values(tensor: _Tensor, count: int) -> list[Any]:
    values = _flat(tensor.data, tensor.name)
    if len(values) != count:
        raise RequestError(
            400,
            f"{_input(tensor.name)}: shape {tensor.shape} holds {count} values; 'data' has "
            f"{len(values)}",
        )
    return values


def _matrix(
    tensor: _Tensor, signature: Sequence[Column], max_rows: int
) -> tuple[dict[str, list[Any]], int]:
    """The columns of one ``[n, columns]`` tensor, in signature order."""
    rows, width = tensor.shape
    if width != len(signature):
        raise RequestError(
            400,
            f"{_input(tensor.name)}: a 2-D tensor holds every column of the model, in signature "
            "order: "
            f"shape [n, {len(signature)}]; it has {tensor.shape}",
        )
    if rows > max_rows:
        raise too_many_rows(rows, max_rows)
    hint = ": one 2-D tensor has one datatype, so send this model's columns one tensor each"
    for column in signature:
        _fits(column, tensor.datatype, tensor.name, hint)
    values = _values(tensor, rows * width)
    return {c.name: values[i::width] for i, c in enumerate(signature)}, rows


def _columnwise(
    tensors: list[_Tensor], signature: Sequence[Column], max_rows: int
) -> tuple[dict[str, list[Any]], int]:
    """The columns of one tensor per column (``[n]`` or ``[n, 1]``), all with the same ``n``."""
    by_name = {column.name: column for column in signature}
    unknown = [_quoted(t.name) for t in tensors if t.name not in by_name]
    if unknown:
        shown = ", ".join(f"'{c.name}'" for c in signature[:5])
        more = f" and {len(signature) - 5} more" if len(signature) > 5 else ""
        raise RequestError(
            400,
            f"input(s) {', '.join(unknown[:5])} are not columns of the model; its inputs are "
            f"{shown}{more} (GET /v2/models/<name>), or one 2-D tensor of them all",
        )
    rows: dict[str, int] = {}
    for tensor in tensors:
        shape = tensor.shape
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise RequestError(
                400,
                f"{_input(tensor.name)}: shape {shape}; a column's tensor has shape [n] or [n, 1]",
            )
        if tensor.name in rows:
            raise RequestError(400, f"{_input(tensor.name)} is sent twice")
        _fits(by_name[tensor.name], tensor.datatype, tensor.name)
        rows[tensor.name] = tensor.shape[0]
    if len(set(rows.values())) > 1:
        described = ", ".join(f"'{name}': {n}" for name, n in list(rows.items())[:5])
        raise RequestError(400, f"the inputs have different row counts ({described})")
    count = next(iter(rows.values()))
    if count > max_rows:
        raise too_many_rows(count, max_rows)
    return {t.name: _values(t, count) for t in tensors}, count


def parse_infer(
    body: bytes, content_type: str, signature: Sequence[Column], max_rows: int,
    outputs: tuple[str, ...],
) -> InferRequest:  # fmt: skip
    """Parse and validate one inference request against ``signature`` (``outputs``: the model's
    output tensors): the tensors' form here, their values by :func:`serving.protocol.validated`.
    The row count is checked against ``max_rows`` before any per-row work."""
    mime = content_type.split(";")[0].strip().lower()
    if mime != "application/json":
        raise RequestError(
            415,
            f"content type '{mime[:SHOWN_CHARS]}' is not accepted; send application/json (the "
            "binary tensor data extension is not supported)",
        )
    payload = _object(load_json(body), "the body", REQUEST_FIELDS)
    given_id = payload.get("id")
    if given_id is not None and type(given_id) is not str:
        raise RequestError(400, "'id' must be text")
    _parameters(payload.get("parameters"), "the request", "request")
    wanted = _outputs(payload.get("outputs"), outputs)
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, "'inputs' must be a non-empty list of tensors")
    tensors = [_tensor(item, index) for index, item in enumerate(inputs)]
    names = {column.name for column in signature}
    if len(tensors) == 1 and tensors[0].name not in names and len(tensors[0].shape) == 2:
        columns, rows = _matrix(tensors[0], signature, max_rows)
    else:
        columns, rows = _columnwise(tensors, signature, max_rows)
    return InferRequest(validated(columns, rows, {}, signature, max_rows), given_id, wanted)


def label_datatype(served: ServedModel) -> str:
    """The datatype of the ``predict`` tensor: the regression's values, or the classes' type."""
    if served.task == "regression" or not served.classes:
        return "FP64"
    kind = np.asarray(served.classes).dtype.kind
    return {"b": "BOOL", "i": "INT64", "u": "INT64", "f": "FP64"}.get(kind, "BYTES")


def output_tensors(
    served: ServedModel, predictions: list[Any], probabilities: list[list[float]] | None,
    names: tuple[str, ...],
) -> list[dict[str, Any]]:  # fmt: skip
    """The output tensors ``names`` of one answer (what ``/invocations`` answers, as tensors)."""
    rows = len(predictions)
    tensors: list[dict[str, Any]] = []
    for name in names:
        if name == PREDICT:
            datatype = label_datatype(served)
            data = [str(p) for p in predictions] if datatype == "BYTES" else predictions
            tensors.append({"name": PREDICT, "shape": [rows], "datatype": datatype, "data": data})
        elif probabilities is not None:
            width = len(served.classes)
            data = [chance for row in probabilities for chance in row]
            tensors.append(
                {"name": PROBA, "shape": [rows, width], "datatype": "FP64", "data": data}
            )
    return tensors


def model_metadata(served: ServedModel, versions: list[str], platform: str) -> dict[str, Any]:
    """``GET /v2/models/<name>``: the model's inputs (its signature's columns, one tensor each)
    and outputs; ``parameters`` say the task, the runtime that scores (``onnx`` or ``sklearn``,
    with ``runtime_reason`` then) and, for a classifier, its classes in the order of
    ``predict_proba``'s columns (JSON text: a parameter is a string, a number or a boolean)."""
    outputs = [{"name": PREDICT, "datatype": label_datatype(served), "shape": [-1]}]
    if PROBA in output_names(served):
        outputs.append({"name": PROBA, "datatype": "FP64", "shape": [-1, len(served.classes)]})
    parameters: dict[str, Any] = {"content_type": "pd", "task": served.task}
    parameters["runtime"] = served.runtime  # onnx, or sklearn with the reason
    if served.runtime_reason:
        parameters["runtime_reason"] = served.runtime_reason
    if served.classes:
        classes = [c.item() if hasattr(c, "item") else c for c in served.classes]
        parameters["classes"] = json.dumps(classes)
    return {
        "name": served.model_name,
        "versions": versions,
        "platform": platform,
        "inputs": [
            {"name": c.name, "datatype": METADATA_TYPES.get(c.type, "BYTES"), "shape": [-1]}
            for c in served.columns
        ],
        "outputs": outputs,
        "parameters": parameters,
    }
